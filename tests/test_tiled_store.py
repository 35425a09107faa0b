"""Reading an on-disk RDM store (rdm_widgets.tiled: OnDiskRDM, Window, overview levels),
including a store written by the code before the tiled package (tests/data/old_tiled_store)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

from _tiled_data import clustered_features
from rdm_widgets import OnDiskRDM, tiled_rdm
from rdm_widgets.distances import DegenerateRowsWarning
from rdm_widgets.tiled._format import overview_factors

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def clustered():
    return clustered_features()


def test_window_full_resolution_and_overview(clustered, tmp_path):
    x, labels = clustered
    s = tiled_rdm(x, tmp_path / "w", distance="correlation", tile_size=128)
    sq = squareform(pdist(x.astype(np.float64), "correlation"))
    w = s.window((100, 400), (900, 1100))           # crosses no diagonal
    assert w.factor == 1 and w.values.shape == (300, 200)
    np.testing.assert_allclose(w.values, sq[100:400, 900:1100], atol=2e-6)
    w = s.window((0, 700), (300, 1000))              # crosses the diagonal: both triangles + zeros
    np.testing.assert_allclose(w.values, sq[:700, 300:1000], atol=2e-6)
    np.testing.assert_allclose(s.row(5), sq[5], atol=2e-6)
    ov = s.window()                                  # 1100 > 1024 -> 8 x 8 block means
    assert s.factors == [1, 8] == [1] + overview_factors(1100) and ov.factor == 8
    assert ov.values.shape == (138, 138) and ov.rows == (0, 1100)
    edges = np.append(np.arange(0, 1100, 8), 1100)
    ref = np.add.reduceat(np.add.reduceat(sq, edges[:-1], 0), edges[:-1], 1) / np.outer(np.diff(edges), np.diff(edges))
    np.testing.assert_allclose(ov.values, ref, atol=2e-6)
    # the planted clusters show in the overview: within-cluster means are lower
    zoom = s.window((10, 20), (500, 505))            # widened to nothing: full res fits
    assert zoom.factor == 1 and zoom.values.shape == (10, 5)
    np.testing.assert_allclose(s.to_layer_rdm().matrix, sq, atol=2e-6)
    with pytest.raises(ValueError, match=r"Need 0 <= start < stop <= 1100"):
        s.window((5, 2000))
    with pytest.raises(MemoryError, match="window"):
        s.to_layer_rdm(max_stimuli=1000)


def test_pyramid_levels_are_count_weighted(tmp_path):
    # 9000 stimuli, 1-D features: the 64-level must equal the exact block means of the full matrix
    rng = np.random.default_rng(0)
    x = rng.normal(size=(9000, 1)).astype(np.float64)
    s = tiled_rdm(x, tmp_path / "p", distance="euclidean", tile_size=2048, dtype="float64")
    assert s.factors == [1, 8, 64]
    ov = s.window()
    assert ov.factor == 64 and ov.values.shape == (141, 141)
    v = x[:, 0]
    edges = np.append(np.arange(0, 9000, 64), 9000)
    rows = [np.abs(v[a:b, None] - v[None, :]) for a, b in zip(edges[:-1], edges[1:])]
    ref = np.stack([np.add.reduceat(r.sum(0), edges[:-1]) / (len(r) * np.diff(edges)) for r in rows])
    np.testing.assert_allclose(ov.values, ref, rtol=1e-5)
    mid = s.window((0, 4000), (0, 4000))
    assert mid.factor == 8 and mid.values.shape == (500, 500)


def test_loading_a_store_executes_no_code(clustered, tmp_path, no_pickle):
    s = tiled_rdm(clustered[0][:50], tmp_path / "s", tile_size=16)
    again = OnDiskRDM(tmp_path / "s")
    assert again.window((0, 50), (0, 50)).values.shape == (50, 50) and "complete" in repr(again)


def test_store_written_before_the_package_split_opens_and_resumes(tmp_path):
    # written by rdm_widgets/tiled.py (commit e49d355), cancelled after 3 of 6 tiles: see tests/data/README.md
    store = tmp_path / "old"
    shutil.copytree(DATA / "old_tiled_store", store)
    old = OnDiskRDM(store)
    assert not old.complete and old.tiles_done == (3, 6) and old.meta["distance"] == "correlation"
    assert old.stimuli[9] == "stimulus_09" and old.layer == "features"
    x = np.load(store / "features.npy")                  # the staged features, in stimulus order
    with pytest.warns(DegenerateRowsWarning, match="stimulus_09"):
        done = tiled_rdm(x, store, tile_size=16)         # same key: resumed, not refused
    assert done.complete and done.tiles_done == (6, 6) and not (store / "features.npy").exists()
    expected = np.load(DATA / "old_tiled_store_expected.npy")
    np.testing.assert_array_equal(np.asarray(done.condensed), expected)
    np.testing.assert_allclose(done.window().values, squareform(expected), atol=0)
