"""Dimensionality reduction as features stream (rdm_widgets.reduction): PCA against scikit-learn,
SRP against the Johnson-Lindenstrauss bound, seeds, sizes, reads, and Net2Brain's failures."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist
from sklearn.decomposition import PCA
from sklearn.random_projection import SparseRandomProjection, johnson_lindenstrauss_min_dim

from _feature_data import record_opens
from rdm_widgets import open_features, pairwise_distances
from rdm_widgets.reduction import (Reducer, check_reduction, fit_reducer, fit_reducer_on, jl_min_dim,
                                   reduced_source, sample_indices)


def planted(n=120, d=3000, k=6, seed=0, dtype=np.float64):
    """``n`` stimuli in ``k`` clusters in a ``d``-wide layer (a low-rank signal plus noise)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    proto = rng.normal(size=(k, d))
    return (proto[labels] + 0.5 * rng.normal(size=(n, d)) + 3.0).astype(dtype)


def per_stimulus(folder, x: dict):
    """One npz per stimulus with every layer of ``x`` ({layer: (N, ...)})."""
    folder.mkdir()
    n = len(next(iter(x.values())))
    for i in range(n):
        np.savez(folder / f"stim_{i:03d}.npz", **{k: v[i][None] for k, v in x.items()})
    return folder


def rows(src, layer, **kw):
    return dict(src.iter_layers([layer], **kw))[layer]


# ---------------------------------------------------------------------------------- options
def test_check_reduction_validates_at_the_boundary():
    assert check_reduction(None) is None
    r = check_reduction("PCA", n_components=None)
    assert (r.method, r.n_components, r.random_state) == ("pca", "auto", 0)
    with pytest.raises(ValueError, match="Did you mean 'srp'"):
        check_reduction("spr")
    with pytest.raises(ValueError, match="eps"):
        check_reduction("srp", eps=1.5)
    with pytest.raises(ValueError, match="srp_before_pca"):
        check_reduction("srp", srp_before_pca=True)
    with pytest.raises(ValueError, match="n_components"):
        check_reduction("pca", n_components=0)
    with pytest.raises(ValueError, match="n_samples_estim"):
        check_reduction("pca", n_samples_estim=1)
    drawn = check_reduction("srp", random_state=None)
    assert isinstance(drawn.random_state, int)          # a drawn seed is recorded, so runs can be repeated


@pytest.mark.parametrize("n", [2, 10, 1000, 70000])
@pytest.mark.parametrize("eps", [0.05, 0.1, 0.3, 0.9])
def test_jl_size_is_sklearns(n, eps):
    assert jl_min_dim(n, eps) == int(johnson_lindenstrauss_min_dim(n, eps=eps))


def test_sample_is_random_seeded_and_never_the_first_files():
    r = check_reduction("pca", n_samples_estim=20, random_state=3)
    a, b = sample_indices(500, r), sample_indices(500, r)
    np.testing.assert_array_equal(a, b)
    assert len(set(a)) == 20 and not np.array_equal(a, np.arange(20)) and a.max() > 100
    assert not np.array_equal(a, sample_indices(500, check_reduction("pca", n_samples_estim=20, random_state=4)))
    np.testing.assert_array_equal(sample_indices(15, r), np.arange(15))   # fewer stimuli: all of them


# ---------------------------------------------------------------------------------- PCA
@pytest.mark.parametrize("n_components", [10, "auto"])
def test_pca_equals_sklearn_on_the_same_sample(n_components):
    x = planted()
    red = check_reduction("pca", n_components=n_components, n_samples_estim=40, random_state=7)
    src = reduced_source({"fc": x}, red, dtype=np.float64)
    r = src.reducer("fc")
    idx = sample_indices(len(x), red)
    ref = PCA(n_components=r.n_components, svd_solver="full").fit(x[idx])
    assert r.n_components == (10 if n_components == 10 else 39)        # auto: at most sample size - 1
    ours = r._pca["components"]
    signs = np.sign((ours * ref.components_).sum(1))                    # up to sign (they agree here)
    np.testing.assert_allclose(ours * signs[:, None], ref.components_, atol=1e-8)
    np.testing.assert_allclose(r.meta()["explained_variance_ratio"], ref.explained_variance_ratio_, rtol=1e-8)
    reduced = rows(src, "fc", dtype=np.float64)
    np.testing.assert_allclose(reduced * signs, ref.transform(x), atol=1e-8)
    for dist, metric in (("correlation", "correlation"), ("euclidean", "euclidean")):
        ours_rdm = pairwise_distances(reduced, dist, dtype=torch.float64).numpy()
        ref_rdm = pdist(ref.transform(x), metric)
        np.testing.assert_allclose(ours_rdm[np.triu_indices(len(x), 1)], ref_rdm, atol=1e-9)
    meta = r.meta()
    assert (meta["method"], meta["original_dim"], meta["n_samples"], meta["random_state"]) == ("pca", 3000, 40, 7)


def test_pca_float32_run_matches_float64_reference():
    x = planted()
    red = check_reduction("pca", n_components=8, n_samples_estim=50, random_state=1)
    ours = rows(reduced_source({"fc": x.astype(np.float32)}, red), "fc")
    assert ours.dtype == np.float32
    ref = PCA(8, svd_solver="full").fit(x.astype(np.float32).astype(np.float64)[sample_indices(len(x), red)])
    np.testing.assert_allclose(ours, ref.transform(x.astype(np.float32).astype(np.float64)), atol=2e-3)


def test_srp_before_pca_equals_sklearn_pipeline():
    x = planted(n=80, d=4000)
    red = check_reduction("pca", n_components=12, n_samples_estim=30, srp_before_pca=True, eps=0.5,
                          random_state=5)
    r = fit_reducer({"fc": x}, "fc", red, dtype=np.float64)
    jl = jl_min_dim(80, 0.5)
    assert r.meta()["srp_components"] == jl and r.n_components == 12
    srp = fit_reducer({"fc": x}, "fc", check_reduction("srp", eps=0.5, random_state=5), dtype=np.float64)
    projected = srp.transform(torch.from_numpy(x)).numpy()                # the same SRP step
    ref = PCA(12, svd_solver="full").fit(projected[sample_indices(80, red)]).transform(projected)
    ours = r.transform(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours * np.sign((ours * ref).sum(0)), ref, atol=1e-7)


def test_fewer_stimuli_than_n_samples_estim_uses_all_of_them():
    x = planted(n=30, d=500)
    r = fit_reducer({"fc": x}, "fc", check_reduction("pca", n_components=5, n_samples_estim=100), dtype=np.float64)
    assert r.meta()["n_samples"] == 30
    ref = PCA(5, svd_solver="full").fit(x)                              # all 30 rows, no uninitialised ones
    np.testing.assert_allclose(np.abs(r._pca["components"]), np.abs(ref.components_), atol=1e-8)
    assert np.isfinite(r._pca["components"]).all()


def test_impossible_pca_size_raises_a_clear_error():
    x = planted(n=150, d=2000)
    with pytest.raises(ValueError) as err:       # Net2Brain's defaults: 10000 components from 100 samples
        fit_reducer({"conv5": x}, "conv5", check_reduction("pca", n_components=10000, n_samples_estim=100))
    msg = str(err.value)
    for part in ("'conv5'", "D=2000", "100 sampled stimuli", "at most 99", "n_samples_estim", "'srp'"):
        assert part in msg
    # the defaults never raise: 'auto' is at most the sample size - 1
    r = fit_reducer({"conv5": x}, "conv5", check_reduction("pca"))
    assert r.n_components == 99


def test_explicit_size_above_the_sample_rank_raises():
    x = np.repeat(planted(n=10, d=300), 5, axis=0)          # 50 stimuli, only 10 distinct
    with pytest.raises(ValueError, match="span only"):
        fit_reducer({"fc": x}, "fc", check_reduction("pca", n_components=20, n_samples_estim=50))
    auto = fit_reducer({"fc": x}, "fc", check_reduction("pca", n_samples_estim=50))
    assert auto.n_components <= 9 and np.isfinite(auto._pca["components"]).all()


# ---------------------------------------------------------------------------------- SRP
def test_srp_keeps_every_distance_within_the_promised_eps():
    x = planted(n=60, d=6000, seed=2)
    eps = 0.25
    src = reduced_source({"fc": x}, check_reduction("srp", eps=eps, random_state=11), dtype=np.float64)
    reduced = rows(src, "fc", dtype=np.float64)
    assert reduced.shape == (60, jl_min_dim(60, eps))
    ratio = pdist(reduced, "sqeuclidean") / pdist(x, "sqeuclidean")
    assert ratio.min() > 1 - eps and ratio.max() < 1 + eps              # all 1770 pairs
    assert src.reducer("fc").meta()["n_samples"] == 0                   # SRP reads no data to fit
    # scikit-learn's matrix (another draw of the same distribution) keeps them as well
    sk = SparseRandomProjection(jl_min_dim(60, eps), random_state=11).fit_transform(x)
    sk_ratio = pdist(sk, "sqeuclidean") / pdist(x, "sqeuclidean")
    assert sk_ratio.min() > 1 - eps and sk_ratio.max() < 1 + eps


def test_srp_matrix_is_li_hastie_church_very_sparse():
    from rdm_widgets._reduction_fit import srp_matrix

    k, d = 400, 90000
    m = srp_matrix(k, d, seed=0)
    counts = np.diff(m["indptr"])
    density = 1 / np.sqrt(d)
    assert abs(counts.mean() - d * density) < 4 * np.sqrt(d * density / k)          # Binomial(D, 1/sqrt(D))
    assert m["scale"] == pytest.approx(np.sqrt(np.sqrt(d) / k)) and set(np.unique(m["signs"])) == {-1, 1}
    assert abs(m["signs"].mean()) < 4 / np.sqrt(len(m["signs"]))                    # +-1 equally likely
    for i in range(0, k, 37):                                                      # distinct columns per row
        cols = m["indices"][m["indptr"][i]:m["indptr"][i + 1]]
        assert len(np.unique(cols)) == len(cols) and cols.min() >= 0 and cols.max() < d
    # E ||R x||^2 = ||x||^2: the dense matrix's column norms are 1 on average
    dense = np.zeros((k, 2000))
    small = srp_matrix(k, 2000, seed=1)
    for i in range(k):
        sl = slice(small["indptr"][i], small["indptr"][i + 1])
        dense[i, small["indices"][sl]] = small["scale"] * small["signs"][sl]
    assert abs((dense ** 2).sum(0).mean() - 1) < 0.02


def test_srp_same_seed_identical_other_seed_differs():
    x = planted(n=40, d=5000).astype(np.float32)
    red = dict(n_components=300, random_state=9)
    a = rows(reduced_source({"fc": x}, check_reduction("srp", **red)), "fc")
    b = rows(reduced_source({"fc": x.copy()}, check_reduction("srp", **red)), "fc")
    c = rows(reduced_source({"fc": x}, check_reduction("srp", n_components=300, random_state=10)), "fc")
    assert a.tobytes() == b.tobytes()
    assert np.abs(a - c).max() > 0.1


def test_dense_and_sparse_projection_agree():
    x = torch.from_numpy(planted(n=20, d=3000))
    r = fit_reducer({"fc": x.numpy()}, "fc", check_reduction("srp", n_components=200))
    dense = r.transform(x)                                               # 600k entries: dense
    big = Reducer(r.layer, r.original_dim, r.n_components, r._info, srp=r._srp)
    import rdm_widgets._reduction_fit as fit_mod
    old, fit_mod.DENSE_SRP_MAX = fit_mod.DENSE_SRP_MAX, 0
    try:
        sparse = big.transform(x)
    finally:
        fit_mod.DENSE_SRP_MAX = old
    np.testing.assert_allclose(dense.numpy(), sparse.numpy(), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------- sizes, layers
@pytest.mark.parametrize("method", ["pca", "srp"])
@pytest.mark.parametrize("n_components", ["auto", 10000, 64])
def test_no_layer_grows(method, n_components):
    x = planted(n=200, d=64).astype(np.float32)
    src = reduced_source({"small": x}, check_reduction(method, n_components=n_components, n_samples_estim=100))
    out = rows(src, "small")
    assert out.shape == (200, 64) and src.feature_dim("small") == 64 and src.layer_shape("small") == (64,)
    np.testing.assert_array_equal(out, x)                                # left as is, not rotated or projected
    assert src.reducer("small").meta()["reason"].startswith("n_components")


def test_max_dim_allowed_reduces_only_wider_layers():
    x = planted(n=50, d=2000)
    src = reduced_source({"wide": x, "narrow": x[:, :300]},
                         check_reduction("srp", n_components=100, max_dim_allowed=500))
    assert src.feature_dim("wide") == 100 and src.feature_dim("narrow") == 300
    assert "max_dim_allowed=500" in src.reducer("narrow").meta()["reason"]


def test_each_layer_gets_its_own_size():
    x = planted(n=90, d=5000)
    layers = {"a": x, "b": x[:, :2500], "c": x[:, :20]}
    red = check_reduction("srp", eps=0.3)
    src = reduced_source(layers, red)
    jl = jl_min_dim(90, 0.3)
    assert [src.feature_dim(k) for k in "abc"] == [jl, jl, 20]
    red = check_reduction("pca", n_samples_estim=30)
    both = reduced_source(layers, red)
    out = dict(both.iter_layers(["c", "a"]))
    assert out["a"].shape == (90, 29) and out["c"].shape == (90, 20)       # 20 < 29: left as is
    alone = rows(reduced_source({"a": x}, red), "a")                     # nothing carried between layers
    np.testing.assert_array_equal(out["a"], alone)


# ---------------------------------------------------------------------------------- reading
def test_fit_reads_only_the_sampled_files_and_a_pass_reads_each_file_once(tmp_path, monkeypatch):
    x = planted(n=50, d=600, dtype=np.float32)
    folder = per_stimulus(tmp_path / "feats", {"fc": x, "conv": x[:, :512].reshape(50, 2, 16, 16)})
    opened = record_opens(monkeypatch)
    red = check_reduction("pca", n_components=5, n_samples_estim=12, random_state=2)
    src = reduced_source(folder, red)
    src.reducers(["fc", "conv"])                                         # both layers from one sample read
    want = [f"stim_{i:03d}" for i in sample_indices(50, red)]
    assert opened == want and want != [f"stim_{i:03d}" for i in range(12)]
    opened.clear()
    out = dict(src.iter_layers())
    assert sorted(opened) == [f"stim_{i:03d}" for i in range(50)]        # one open per file, both layers
    ref = PCA(5, svd_solver="full").fit(x[sample_indices(50, red)].astype(np.float64))
    np.testing.assert_allclose(np.abs(out["fc"]), np.abs(ref.transform(x.astype(np.float64))), atol=1e-3)


def test_row_blocks_equal_whole_layer_and_progress_counts(tmp_path):
    x = planted(n=70, d=900, dtype=np.float32)
    src = reduced_source(per_stimulus(tmp_path / "f", {"fc": x}), check_reduction("srp", n_components=50))
    whole = rows(src, "fc")
    parts = np.empty_like(whole)
    for idx, block in src.iter_row_blocks("fc", rows=16):
        assert len(idx) <= 16
        parts[idx] = block
    # float32 products of blocks of other heights may round differently (BLAS kernels)
    np.testing.assert_allclose(parts, whole, rtol=1e-5, atol=1e-5 * np.abs(whole).max())
    seen = []
    list(src.iter_layers(progress=lambda d, t: seen.append((d, t))))
    assert seen[-1][0] == seen[-1][1] == src.count_reads()


def test_fit_on_rows_read_by_the_caller_and_pickling():
    x = planted(n=60, d=800)
    red = check_reduction("pca", n_components=6, n_samples_estim=20)
    idx = sample_indices(60, red)
    a = fit_reducer_on(x[idx], red, n_stimuli=60, layer="t0")
    b = fit_reducer({"t0": x}, "t0", red, dtype=np.float64)
    np.testing.assert_allclose(a._pca["components"], b._pca["components"], atol=1e-10)
    src = reduced_source({"fc": x}, red, dtype=np.float64)
    before = rows(src, "fc", dtype=np.float64)
    again = pickle.loads(pickle.dumps(src))                              # what a dask worker gets
    np.testing.assert_array_equal(rows(again, "fc", dtype=np.float64), before)


def test_stored_reducer_transforms_bit_for_bit():
    x = torch.from_numpy(planted(n=40, d=1000).astype(np.float32))
    for red in (check_reduction("pca", n_components=7, n_samples_estim=30),
                check_reduction("pca", n_components=7, srp_before_pca=True, eps=0.5, n_samples_estim=30),
                check_reduction("srp", n_components=100)):
        r = fit_reducer({"fc": x.numpy()}, "fc", red)
        back = Reducer.from_arrays(r.to_arrays(np.float32))
        assert r.transform(x).numpy().tobytes() == back.transform(x).numpy().tobytes()
        assert back.meta() == r.meta()


def test_sequence_layer_is_pooled_then_reduced():
    rng = np.random.default_rng(0)
    tok = rng.normal(size=(40, 7, 900))
    src = reduced_source({"tok": tok}, check_reduction("srp", n_components=30), pooling="mean", dtype=np.float64)
    out = rows(src, "tok", pooling="mean", dtype=np.float64)
    ref = fit_reducer({"pooled": tok.mean(1)}, "pooled", check_reduction("srp", n_components=30), dtype=np.float64)
    np.testing.assert_allclose(out, ref.transform(torch.from_numpy(tok.mean(1))).numpy(), atol=1e-10)
    assert src.has_sequence("tok") and src.layer_shape("tok") == (30,)


def test_time_resolved_reads_of_a_reduced_source_are_refused_clearly():
    src = reduced_source({"clips": planted(n=20, d=600).reshape(20, 1, 3, 200)}, check_reduction("srp"))
    if not hasattr(src, "iter_time_layers"):
        pytest.skip("no time-resolved reads in this version")
    with pytest.raises(TypeError, match="dim_reduction"):
        src.iter_time_layers(mode="clip")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("method", ["pca", "srp"])
def test_cuda_equals_cpu(method):
    x = planted(n=80, d=3000).astype(np.float32)
    red = check_reduction(method, n_components=20, n_samples_estim=40)
    cpu = rows(reduced_source({"fc": x}, red), "fc")
    gpu = rows(reduced_source({"fc": x}, red, device="cuda"), "fc")
    np.testing.assert_allclose(gpu, cpu, atol=2e-3 * np.abs(cpu).max())
    assert open_features({"fc": x}).feature_dim("fc") == 3000
