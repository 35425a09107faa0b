"""Out-of-core RDMs (rdm_widgets.tiled): tile values against scipy and the in-memory path.

The store's reading side: tests/test_tiled_store.py; cancel, resume and the lock:
tests/test_tiled_resume.py; the cost estimate: tests/test_estimate_tiled.py.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

from _tiled_data import clustered_features
from rdm_widgets import RDMCreator, tiled_rdm
from rdm_widgets.demo import demo_path
from rdm_widgets.distances import DegenerateRowsWarning, pairwise_distances
from rdm_widgets.features import open_features
from rdm_widgets.tiled._format import condensed_index

SCIPY = {"correlation": "correlation", "cosine": "cosine", "euclidean": "euclidean",
         "sqeuclidean": "sqeuclidean", "manhattan": "cityblock", "chebyshev": "chebyshev"}


@pytest.fixture(scope="module")
def clustered():
    return clustered_features()


@pytest.mark.parametrize("distance", sorted(SCIPY))
def test_tiles_match_scipy_and_memory(clustered, tmp_path, distance):
    x, _ = clustered
    store = tiled_rdm(x, tmp_path / "s", distance=distance, tile_size=250)   # 250 -> 256, N % 256 != 0
    ref = pdist(x.astype(np.float64), SCIPY[distance])
    got = np.asarray(store.condensed)
    scale = 1.0 if distance in ("correlation", "cosine") else ref.max()
    assert np.abs(got - ref).max() <= 2e-6 * scale * (10 if distance == "manhattan" else 1)
    mem = pairwise_distances(x, distance).numpy()
    np.testing.assert_allclose(squareform(got, checks=False), mem, atol=5e-6 * scale)
    assert store.complete and store.tiles_done == (15, 15) and store.meta["distance"] == distance


def test_spearman_and_custom_callable(clustered, tmp_path):
    x = clustered[0][:300]
    from scipy.stats import spearmanr

    s = tiled_rdm(x, tmp_path / "sp", distance="spearman", tile_size=64)
    rho = spearmanr(x.astype(np.float64), axis=1).statistic
    np.testing.assert_allclose(squareform(np.asarray(s.condensed)), 1 - rho - np.eye(300) * 0, atol=2e-6)

    def l1(z):                                     # a pairwise callable, like a user would write
        return (z[:, None, :] - z[None, :, :]).abs().sum(-1)

    c = tiled_rdm(x, tmp_path / "cu", distance=l1, tile_size=64)
    np.testing.assert_allclose(np.asarray(c.condensed), pdist(x.astype(np.float64), "cityblock"), rtol=1e-5)
    assert c.meta["distance"] == "l1"


def _per_stimulus_folder(root: Path, x: np.ndarray) -> Path:
    root.mkdir()
    for i, row in enumerate(x):
        np.savez(root / f"img_{i}.npz", conv=row.reshape(1, 2, 2, -1), fc=row[:7].reshape(1, 7))
    return root


def test_sources_stream_by_rows(clustered, tmp_path):
    x = clustered[0][:150].astype(np.float64)
    names = [f"img_{i}" for i in range(150)]
    mem = pairwise_distances(x.astype(np.float32), "correlation").numpy()
    folder = _per_stimulus_folder(tmp_path / "f", x)
    a = tiled_rdm(folder, tmp_path / "a", layer="conv", tile_size=40)
    np.testing.assert_allclose(a.to_layer_rdm().matrix, mem, atol=2e-6)
    assert a.stimuli == sorted(names, key=lambda s: int(s.split("_")[1]))
    # per-layer npz listing the stimuli in another order, compressed: streamed from the zip
    perm = np.random.default_rng(1).permutation(150)
    (tmp_path / "layers").mkdir()
    np.savez_compressed(tmp_path / "layers" / "conv.npz", features=x[perm], stimuli=np.array(names)[perm])
    b = tiled_rdm(tmp_path / "layers", tmp_path / "b", tile_size=48)
    src = open_features(tmp_path / "layers")
    order = [src.stimuli.index(n) for n in names]
    np.testing.assert_allclose(b.to_layer_rdm().matrix[np.ix_(order, order)], mem, atol=2e-6)
    import h5py

    with h5py.File(tmp_path / "f.h5", "w") as fh:
        fh["conv"] = x.reshape(150, 2, 2, -1)
        fh["tok"] = np.repeat(x[:, None, :], 3, axis=1)                # (N, seq, D): needs pooling
    c = tiled_rdm(tmp_path / "f.h5", tmp_path / "c", layer="tok", pooling="mean", tile_size=64)
    np.testing.assert_allclose(c.to_layer_rdm().matrix, mem, atol=2e-6)
    assert c.meta["pooling"] == "mean"


def test_real_features_equal_creator(tmp_path):
    # features.18 is 62,720 wide: float32 sums of that length carry ~3e-5 of rounding, which
    # differs between the tiled and the in-memory summation order. Run both in float64 to
    # compare the algorithms (the store keeps float32: ~1e-7), and check the float32 run
    # against that reference with the float32 accuracy.
    feats, layer = demo_path("mobilenetv2"), "features.18"
    mem = RDMCreator(dtype="float64").compute_rdms(feats, layers=[layer])[layer]
    s = tiled_rdm(feats, tmp_path / "m", layer=layer, tile_size=32, dtype="float64")
    got = s.to_layer_rdm()
    assert got.stimuli == mem.stimuli and got.layer == layer
    np.testing.assert_allclose(got.matrix, mem.matrix, atol=2e-6)
    f32 = tiled_rdm(feats, tmp_path / "f32", layer=layer, tile_size=32).to_layer_rdm()
    np.testing.assert_allclose(f32.matrix, mem.matrix, atol=1e-4)


def test_degenerate_rows_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)).astype(np.float32)
    x[7] = 3.0                                                        # constant: no correlation
    with pytest.warns(DegenerateRowsWarning, match=r"stimulus_07"):
        s = tiled_rdm(x, tmp_path / "d", tile_size=16)
    m = s.to_layer_rdm().matrix
    assert (np.delete(m[7], 7) == 1).all() and m[7, 7] == 0
    with pytest.raises(ValueError, match="cannot be computed in tiles"):
        tiled_rdm(x, tmp_path / "e", distance="mahalanobis")
    with pytest.raises(ValueError, match="Did you mean 'correlation'"):
        tiled_rdm(x, tmp_path / "e", distance="corelation")
    with pytest.raises(ValueError, match="choose one with layer="):
        tiled_rdm({"a": x, "b": x}, tmp_path / "e")
    with pytest.raises(ValueError, match="tile_size"):
        tiled_rdm(x, tmp_path / "e", tile_size=0)
    bad = x.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        tiled_rdm(bad, tmp_path / "n")
    assert condensed_index(0, 1, 40) == 0 and condensed_index(38, 39, 40) == 40 * 39 // 2 - 1


def test_dask_tiles_identical_to_local(clustered, tmp_path):
    distributed = pytest.importorskip("distributed")
    x = clustered[0][:400]
    local = tiled_rdm(x, tmp_path / "local", tile_size=64, distance="euclidean")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        remote = tiled_rdm(x, tmp_path / "remote", tile_size=64, distance="euclidean", client=client)
        addr = tiled_rdm(x, tmp_path / "addr", tile_size=64, distance="euclidean", client=cluster.scheduler_address)
    np.testing.assert_array_equal(np.asarray(remote.condensed), np.asarray(local.condensed))
    np.testing.assert_array_equal(np.asarray(addr.condensed), np.asarray(local.condensed))
    np.testing.assert_array_equal(remote.window().values, local.window().values)
