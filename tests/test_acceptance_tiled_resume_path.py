"""Acceptance pass (tiled_rdm): an unfinished store resumes when the same feature folder is given
by another spelling of its path (relative in a job script, absolute in a notebook), and is still
refused for another folder. The unfinished store comes from a real user mistake: a NaN in one
stimulus file, fixed before the rerun. Seeded synthetic features, scipy as the reference."""
import shutil

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

from rdm_widgets import tiled_rdm


def _folder(path, x):
    path.mkdir()
    for i, row in enumerate(x):
        np.savez(path / f"img_{i:02d}.npz", fc=row[None].astype(np.float32))


def test_resume_after_fixing_a_nan_with_another_path_spelling(tmp_path, monkeypatch):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(12, 16))
    x[3, :4] += 2.0
    monkeypatch.chdir(tmp_path)
    _folder(tmp_path / "feats", x)
    bad = x[5].copy()
    bad[2] = np.nan
    np.savez(tmp_path / "feats" / "img_05.npz", fc=bad[None].astype(np.float32))
    with pytest.raises(ValueError, match=r"NaN"):
        tiled_rdm("feats", "store", layer="fc", tile_size=8)             # relative, as in a job script
    assert (tmp_path / "store" / "manifest.json").is_file()            # an unfinished store is left

    np.savez(tmp_path / "feats" / "img_05.npz", fc=x[5][None].astype(np.float32))   # the fix
    shutil.copytree(tmp_path / "feats", tmp_path / "other")
    with pytest.raises(ValueError, match=r"Cannot resume .*source: stored 'feats'"):
        tiled_rdm(tmp_path / "other", tmp_path / "store", layer="fc", tile_size=8)   # another folder

    rdm = tiled_rdm(tmp_path / "feats", tmp_path / "store", layer="fc", tile_size=8)  # absolute
    ref = squareform(pdist(x.astype(np.float32).astype(np.float64), "correlation"))
    got = squareform(np.asarray(rdm.condensed, dtype=np.float64))
    np.testing.assert_allclose(got, ref, atol=2e-6)
