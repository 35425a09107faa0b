"""Cost estimate of an out-of-core RDM (rdm_widgets.estimate.estimate_tiled) against a real store."""
from __future__ import annotations

import pytest

from _tiled_data import clustered_features
from rdm_widgets import tiled_rdm
from rdm_widgets.estimate import estimate_tiled


@pytest.fixture(scope="module")
def clustered():
    return clustered_features()


def test_estimate_matches_store_sizes(clustered, tmp_path):
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


def test_estimate_validates_like_the_run(tmp_path):
    # the estimate resolves its options with tiled_rdm's own check: same errors, same tile rounding
    x = clustered_features()[0][:50]
    for kwargs, match in (({"distance": "mahalanobis"}, "cannot be computed in tiles"),
                          ({"distance": "corelation"}, "Did you mean 'correlation'"),
                          ({"tile_size": 0}, "tile_size"), ({"dtype": "float16"}, "dtype")):
        with pytest.raises(ValueError, match=match):
            estimate_tiled(50, 48, **kwargs)
        with pytest.raises(ValueError, match=match):
            tiled_rdm(x, tmp_path / "e", **kwargs)
    assert estimate_tiled(1000, 8, tile_size=9).work["tiles"] == estimate_tiled(1000, 8, tile_size=16).work["tiles"]


def test_small_tiles_cost_their_fixed_overhead():
    # each tile is a durable write and a progress record: 5050 tiles of 8 cost far more than
    # one tile of the whole layer, although the flops are the same (issue 14: 0.04 s estimated
    # for a run of over a minute)
    many, one = estimate_tiled(800, 64, tile_size=8), estimate_tiled(800, 64, tile_size=800)
    assert many.work["tiles"] == 5050 and one.work["tiles"] == 1
    assert many.seconds > 10 * one.seconds


def test_estimate_counts_the_plans_tiles_and_prices_each(monkeypatch):
    from rdm_widgets.estimate import _tiled
    from rdm_widgets.tiled._plan import check_tiled_options, plan_tiles

    for n, d, tile in ((10, 3, 8), (1000, 64, 8), (5000, 300, 64), (20_000, 100, 1024)):
        est = estimate_tiled(n, d, tile_size=tile)
        assert est.work["tiles"] == plan_tiles(n, d, check_tiled_options("correlation", tile, "cpu",
                                                                         "float32")).n_tiles
    # the measured costs enter per tile, per run and per tile x listed tile
    monkeypatch.setattr(_tiled, "_calibrated_tiles", lambda options: (1.0, 100.0, 0.0, 0.0, 0.0))
    assert 100 + 5050 <= estimate_tiled(800, 64, tile_size=8).seconds < 100 + 5050 + 60
    monkeypatch.setattr(_tiled, "_calibrated_tiles", lambda options: (0.0, 0.0, 1e-3, 0.0, 0.0))
    assert estimate_tiled(800, 64, tile_size=8).seconds >= 1e-3 * 5050 ** 2
    # a large tile is written a row at a time: 36 tiles x 1024 rows (+ the overview's rows)
    monkeypatch.setattr(_tiled, "_calibrated_tiles", lambda options: (0.0, 0.0, 0.0, 1.0, 0.0))
    assert estimate_tiled(8000, 16, tile_size=1024).seconds >= 36 * 1024


def test_tiled_estimate_grows_with_the_sizes():
    base = estimate_tiled(2000, 100, tile_size=256)
    assert estimate_tiled(4000, 100, tile_size=256).seconds > base.seconds
    assert estimate_tiled(2000, 400, tile_size=256).seconds > base.seconds
    assert estimate_tiled(2000, 100, tile_size=64).seconds > base.seconds      # more tiles
    # once a staging read is full, only the run's list of tiles grows with N (bounded by the tile)
    big, bigger = estimate_tiled(200_000, 100, tile_size=256), estimate_tiled(400_000, 100, tile_size=256)
    assert bigger.peak_bytes - big.peak_bytes == 100 * (bigger.work["tiles"] - big.work["tiles"])


# ------------------------------------------------------------------ issue 17: the layer's reduction
@pytest.mark.parametrize("opts", [dict(dim_reduction="srp", n_components=24, random_state=3),
                                  dict(dim_reduction="pca", n_samples_estim=40, random_state=1),
                                  dict(dim_reduction="pca", srp_before_pca=True, n_samples_estim=30),
                                  dict(dim_reduction="srp", max_dim_allowed=100)])
def test_reduced_estimate_counts_what_the_run_does(tmp_path, opts):
    import numpy as np

    # full rank (PCA's 'auto' size is then the plan's: sample size - 1), wide enough to be reduced
    x = np.random.default_rng(5).standard_normal((300, 300)).astype(np.float32)
    store = tiled_rdm(x, tmp_path / "r", tile_size=64, **opts)
    est = estimate_tiled(len(x), x.shape[1], tile_size=64, **opts)
    meta = store.meta["dim_reduction"]
    # the tiles run over the reduced width the run's reducer gave (never wider than D)
    assert est.work["reduced_dim"] == store.meta["feature_dim"] == meta["n_components"] <= x.shape[1]
    assert est.work["tiles"] == store.tiles_done[1]
    assert est.work["flops"] == estimate_tiled(len(x), meta["n_components"], tile_size=64).work["flops"]
    # PCA is fitted on its seeded sample (its size recorded by the run); SRP reads no rows to fit
    assert est.work["sampled_rows"] == (meta["n_samples"] if meta["method"] == "pca" else 0)
    assert est.seconds > 0 and est.peak_bytes > 0


def test_reduced_estimate_validates_like_the_run(tmp_path):
    import numpy as np

    x = np.random.default_rng(0).standard_normal((50, 400)).astype(np.float32)
    for opts in (dict(dim_reduction="pcaa"), dict(dim_reduction="srp", srp_before_pca=True),
                 dict(dim_reduction="pca", n_components=60), dict(dim_reduction="srp", eps=1.5),
                 dict(dim_reduction="pca", n_samples_estim=1)):
        with pytest.raises((ValueError, TypeError)) as run_err:
            tiled_rdm(x, tmp_path / "s", tile_size=16, **opts)
        with pytest.raises(type(run_err.value)) as est_err:
            estimate_tiled(50, 400, tile_size=16, **opts)
        assert str(est_err.value).replace("'layer'", "L") == str(run_err.value).replace("'features'", "L"), opts
