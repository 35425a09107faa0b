"""Out-of-core RDMs of reduced features (tiled_rdm(dim_reduction=...)): equal to the in-memory
reduction, the projection kept in the store so that a resumed run is bit-identical."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import rdm_widgets.tiled._reduce as reduce_mod
from rdm_widgets import Cancelled, OnDiskRDM, pairwise_distances, tiled_rdm
from rdm_widgets.reduction import check_reduction, reduced_source
from rdm_widgets.tiled import delete_store


@pytest.fixture(scope="module")
def wide():
    """300 stimuli in 4 planted clusters, 2000 features."""
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 4, 300)
    return (rng.normal(size=(4, 2000))[labels] + rng.normal(size=(300, 2000))).astype(np.float32)


OPTIONS = {"pca": dict(n_components=20, n_samples_estim=60, random_state=3),
           "srp": dict(eps=0.4, random_state=3)}


@pytest.mark.parametrize("method", ["pca", "srp"])
@pytest.mark.parametrize("distance", ["correlation", "euclidean"])
def test_tiled_with_reduction_equals_in_memory(wide, tmp_path, method, distance):
    store = tiled_rdm({"fc": wide}, tmp_path / "s", tile_size=64, distance=distance, dim_reduction=method,
                      **OPTIONS[method])
    src = reduced_source({"fc": wide}, check_reduction(method, **OPTIONS[method]))
    reduced = dict(src.iter_layers())["fc"]
    ref = pairwise_distances(reduced, distance, dtype=torch.float64).numpy()[np.triu_indices(300, 1)]
    np.testing.assert_allclose(np.asarray(store.condensed), ref, rtol=2e-5, atol=2e-5 * ref.max())
    meta = store.meta["dim_reduction"]
    assert meta == src.reducer("fc").meta() and store.meta["feature_dim"] == reduced.shape[1] < 2000
    assert not (tmp_path / "s" / "reduction.npz").exists()               # removed with the staged features


def test_resume_is_bit_identical_and_uses_the_stored_projection(wide, tmp_path, monkeypatch):
    opts = dict(tile_size=64, dim_reduction="pca", n_components=15, n_samples_estim=50, random_state=1)
    fresh = tiled_rdm({"fc": wide}, tmp_path / "fresh", **opts)

    def stop_at(n):
        def progress(done, total):
            if done >= n:
                raise Cancelled("stop")
        return progress

    # stopped after staging and 4 tiles, then stopped again before staging was marked done
    for where, stop in (("tiles", 5), ("staging", 1)):
        path = tmp_path / where
        with pytest.raises(Cancelled):
            tiled_rdm({"fc": wide}, path, progress=stop_at(stop), **opts)
        assert (path / "reduction.npz").exists()
        with monkeypatch.context() as m:         # a resumed run must never fit again
            m.setattr(reduce_mod, "fit_reducer", lambda *a, **k: (_ for _ in ()).throw(AssertionError("refit")))
            done = tiled_rdm({"fc": wide}, path, **opts)
        assert done.complete and done.meta == fresh.meta | {"created": done.meta["created"]}
        assert np.asarray(done.condensed).tobytes() == np.asarray(fresh.condensed).tobytes()


def test_cancelled_while_staging_restages_with_the_stored_projection(wide, tmp_path, monkeypatch):
    opts = dict(tile_size=64, dim_reduction="srp", n_components=40, random_state=2)
    fresh = tiled_rdm({"fc": wide}, tmp_path / "fresh", **opts)
    import rdm_widgets.tiled._plan as plan_mod
    monkeypatch.setattr(plan_mod, "READ_BYTES", 40 * 4 * 50)         # 50 stimuli per staging read: 6 reads
    fresh_small = tiled_rdm({"fc": wide}, tmp_path / "fresh_small", **opts)
    with pytest.raises(Cancelled):
        tiled_rdm({"fc": wide}, tmp_path / "r", progress=lambda d, t: (_ for _ in ()).throw(Cancelled())
                  if d >= 3 else None, **opts)
    assert not OnDiskRDM(tmp_path / "r").progress_state()["features_ready"]
    monkeypatch.setattr(reduce_mod, "fit_reducer", lambda *a, **k: (_ for _ in ()).throw(AssertionError("refit")))
    done = tiled_rdm({"fc": wide}, tmp_path / "r", **opts)
    assert np.asarray(done.condensed).tobytes() == np.asarray(fresh_small.condensed).tobytes()
    np.testing.assert_allclose(np.asarray(done.condensed), np.asarray(fresh.condensed), rtol=1e-5, atol=1e-6)


def test_resume_refuses_other_reduction_settings(wide, tmp_path):
    with pytest.raises(Cancelled):
        tiled_rdm({"fc": wide}, tmp_path / "s", tile_size=64, dim_reduction="srp", n_components=30,
                  progress=lambda d, t: (_ for _ in ()).throw(Cancelled()) if d >= 2 else None)
    with pytest.raises(ValueError, match="dim_reduction"):
        tiled_rdm({"fc": wide}, tmp_path / "s", tile_size=64, dim_reduction="srp", n_components=31)
    with pytest.raises(ValueError, match="dim_reduction"):
        tiled_rdm({"fc": wide}, tmp_path / "s", tile_size=64)                      # nor none at all
    (tmp_path / "s" / "reduction.npz").unlink()
    with pytest.raises(ValueError, match="reduction.npz"):
        tiled_rdm({"fc": wide}, tmp_path / "s", tile_size=64, dim_reduction="srp", n_components=30)
    delete_store(tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_impossible_size_fails_before_the_store_is_made(wide, tmp_path):
    with pytest.raises(ValueError, match="at most 99"):
        tiled_rdm({"fc": wide}, tmp_path / "s", dim_reduction="pca", n_components=500)
    assert not (tmp_path / "s").exists()


def test_keep_features_keeps_the_projection(wide, tmp_path):
    store = tiled_rdm({"fc": wide[:100]}, tmp_path / "s", tile_size=64, dim_reduction="srp", n_components=25,
                      keep_features=True)
    assert (tmp_path / "s" / "reduction.npz").exists() and store.meta["dim_reduction"]["n_components"] == 25
    delete_store(tmp_path / "s")
    assert not (tmp_path / "s").exists()
