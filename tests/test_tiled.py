"""Out-of-core RDMs (rdm_widgets.tiled / rdm_widgets.ondisk) against scipy and the in-memory path."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

import rdm_widgets.tiled as tiled_mod
from rdm_widgets import Cancelled, OnDiskRDM, RDMCreator, tiled_rdm
from rdm_widgets.demo import demo_path
from rdm_widgets.distances import DegenerateRowsWarning, pairwise_distances
from rdm_widgets.features import open_features
from rdm_widgets.ondisk import condensed_index, overview_factors
from rdm_widgets.tiled import delete_store

SCIPY = {"correlation": "correlation", "cosine": "cosine", "euclidean": "euclidean",
         "sqeuclidean": "sqeuclidean", "manhattan": "cityblock", "chebyshev": "chebyshev"}


@pytest.fixture(scope="module")
def clustered():
    """1100 stimuli in 5 planted clusters (N > 1024, so the store has an overview level)."""
    rng = np.random.default_rng(3)
    proto = rng.normal(size=(5, 48))
    labels = rng.integers(0, 5, 1100)
    return (proto[labels] + 0.7 * rng.normal(size=(1100, 48))).astype(np.float32), labels


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


def _per_stimulus_folder(root: Path, x: np.ndarray) -> Path:
    root.mkdir()
    for i, row in enumerate(x):
        np.savez(root / f"img_{i}.npz", conv=row.reshape(1, 2, 2, -1), fc=row[:7].reshape(1, 7))
    return root


def test_sources_stream_by_rows(clustered, tmp_path):
    x = clustered[0][:150].astype(np.float64)
    names = [f"img_{i}" for i in range(150)]
    ref = RDMCreator().compute_rdms({"conv": x}, stimuli=None)["conv"].matrix if False else None
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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)          # the bundled info.json is skipped
        mem = RDMCreator().compute_rdms(demo_path("mobilenetv2"), layers=["features.18"])["features.18"]
        s = tiled_rdm(demo_path("mobilenetv2"), tmp_path / "m", layer="features.18", tile_size=32)
    got = s.to_layer_rdm()
    assert got.stimuli == mem.stimuli and got.layer == "features.18"
    np.testing.assert_allclose(got.matrix, mem.matrix, atol=2e-6)


def test_cancel_then_resume_computes_only_missing_tiles(clustered, tmp_path, monkeypatch):
    x = clustered[0][:500]
    fresh = tiled_rdm(x, tmp_path / "fresh", tile_size=64)        # 8 blocks -> 36 tiles
    calls = {"n": 0}

    def stop_after(done, total):
        if done >= 1 + 10:                                          # 1 staging block + 10 tiles
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        tiled_rdm(x, tmp_path / "r", tile_size=64, progress=stop_after)
    part = OnDiskRDM(tmp_path / "r")
    assert not part.complete and part.tiles_done == (10, 36)
    assert (tmp_path / "r" / "features.npy").exists() and not (tmp_path / "r" / ".lock").exists()
    with pytest.raises(RuntimeError, match="unfinished"):
        part.window()
    real = tiled_mod._tile_values

    def counting(*a, **k):
        calls["n"] += 1
        return real(*a, **k)

    monkeypatch.setattr(tiled_mod, "_tile_values", counting)
    seen = []
    done = tiled_rdm(x, tmp_path / "r", tile_size=64, progress=lambda d, t: seen.append((d, t)))
    assert calls["n"] == 26 and seen[1] == (11, 37)                 # resumed, progress starts at 11
    np.testing.assert_array_equal(np.asarray(done.condensed), np.asarray(fresh.condensed))
    assert not (tmp_path / "r" / "features.npy").exists()


def test_store_safety(clustered, tmp_path):
    x = clustered[0][:100]
    tiled_rdm(x, tmp_path / "s", tile_size=32)
    with pytest.raises(FileExistsError, match="complete RDM"):
        tiled_rdm(x, tmp_path / "s", tile_size=32)
    with pytest.raises(Cancelled):
        tiled_rdm(x, tmp_path / "p", tile_size=32, progress=lambda d, t: (_ for _ in ()).throw(Cancelled()) if d > 2 else None)
    with pytest.raises(ValueError, match=r"distance: stored 'correlation', now 'euclidean'"):
        tiled_rdm(x, tmp_path / "p", tile_size=32, distance="euclidean")
    with pytest.raises(FileExistsError, match="resume=True"):
        tiled_rdm(x, tmp_path / "p", tile_size=32, resume=False)
    again = tiled_rdm(x, tmp_path / "p", tile_size=32, distance="euclidean", overwrite=True)
    np.testing.assert_allclose(np.asarray(again.condensed), pdist(x, "euclidean"), rtol=1e-5)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not an on-disk RDM store"):
        tiled_rdm(x, tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    m = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert m["format"] == "rdm_widgets.ondisk" and m["n_tiles"] == 10
    delete_store(tmp_path / "p")
    assert not (tmp_path / "p").exists()
    with pytest.raises(FileNotFoundError, match="not an on-disk RDM store"):
        delete_store(tmp_path / "mine")


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


def test_loading_a_store_executes_no_code(clustered, tmp_path, no_pickle):
    s = tiled_rdm(clustered[0][:50], tmp_path / "s", tile_size=16)
    again = OnDiskRDM(tmp_path / "s")
    assert again.window((0, 50), (0, 50)).values.shape == (50, 50) and "complete" in repr(again)


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


def test_estimate_matches_store_sizes(clustered, tmp_path):
    from rdm_widgets.tiled import estimate_tiled

    x = clustered[0]
    s = tiled_rdm(x, tmp_path / "k", tile_size=256, keep_features=True)
    est = estimate_tiled(len(x), x.shape[1], tile_size=250)
    on_disk = sum(p.stat().st_size for p in s.path.iterdir())
    assert abs(est.disk_bytes - on_disk) <= 0.1 * on_disk
    assert est.work["tiles"] == s.tiles_done[1] == 15 and est.work["pairs"] == len(x) * (len(x) - 1) // 2
    assert est.seconds > 0 and est.peak_bytes >= 2 * 256 * 48 * 4 + 3 * 256 ** 2 * 4
    big = estimate_tiled(50_000, 4096, tile_size=2048)
    assert big.work["flops"] == 2 * 325 * 2048 ** 2 * 4096 and big.peak_bytes < 2 ** 30   # bounded by the tile
    with pytest.raises(ValueError, match="n_stimuli"):
        estimate_tiled(1, 10)
