"""Acceptance, second pass: ``tiled_rdm`` on features with a NaN leaves an unfinished store, and
its error says so and how to go on (``resume=True`` after fixing the file, or ``overwrite=True``);
the resumed run then equals the in-memory RDM of the fixed features."""
import shutil
from pathlib import Path

import numpy as np
import pytest

from rdm_widgets import OnDiskRDM, pairwise_distances, tiled_rdm
from rdm_widgets.cli import main
from rdm_widgets.demo import demo_path

LAYER = "logits"


@pytest.fixture
def real_folder(tmp_path):
    """12 stimulus files of the bundled (real) MobileNetV2 features, one 'logits' value set to NaN."""
    src = sorted(Path(demo_path("mobilenetv2")).glob("*.npz"))[:12]
    folder = tmp_path / "feats"
    folder.mkdir()
    for f in src:
        shutil.copy(f, folder / f.name)
    bad = folder / src[5].name
    with np.load(bad, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    clean = arrays[LAYER].copy()
    arrays[LAYER] = clean.copy()
    arrays[LAYER].flat[17] = np.nan
    np.savez(bad, **arrays)
    return folder, bad, clean


def test_error_says_the_store_is_unfinished_and_resume_continues(real_folder, tmp_path):
    folder, bad, clean = real_folder
    store = tmp_path / "logits.rdm"
    with pytest.raises(ValueError, match="NaN") as info:
        tiled_rdm(folder, store, layer=LAYER, tile_size=8)
    msg = str(info.value)
    assert f"The store {str(store)!r} was left unfinished" in msg
    assert "resume=True" in msg and "overwrite=True" in msg
    assert store.is_dir() and not OnDiskRDM(store).complete

    with np.load(bad, allow_pickle=False) as z:                 # fix the file, then resume
        arrays = {k: z[k] for k in z.files}
    arrays[LAYER] = clean
    np.savez(bad, **arrays)
    done = tiled_rdm(folder, store, layer=LAYER, tile_size=8, resume=True)
    assert done.complete
    x = np.stack([np.load(f)[LAYER].reshape(-1) for f in sorted(folder.glob("*.npz"))]).astype(np.float64)
    ref = pairwise_distances(x, dtype=np.float64).numpy()        # float64 reference of the fixed features
    np.testing.assert_allclose(done.window((0, 12), (0, 12)).values, ref, atol=1e-5)


def test_in_memory_nan_and_the_cli(tmp_path, capsys):
    x = np.random.default_rng(0).standard_normal((30, 6)).astype("float32")
    x[4, 2] = np.nan
    with pytest.raises(ValueError, match=r"left unfinished.*resume=True.*overwrite=True"):
        tiled_rdm({"fc": x}, tmp_path / "a", tile_size=8)
    feats = tmp_path / "layers"
    feats.mkdir()
    np.savez(feats / "fc.npz", features=x, stimuli=np.array([f"s{i}" for i in range(30)]))
    code = main(["tiled-rdm", str(feats), str(tmp_path / "b"), "--tile-size", "8"])
    err = capsys.readouterr().err
    assert code == 1 and "left unfinished" in err, err


def test_other_errors_before_the_store_exists_say_nothing_of_it(tmp_path):
    x = np.random.default_rng(1).standard_normal((30, 6)).astype("float32")
    with pytest.raises(ValueError) as info:
        tiled_rdm({"fc": x}, tmp_path / "c", tile_size=8, distance="mahalanobis")
    assert "unfinished" not in str(info.value) and not (tmp_path / "c").exists()
