"""Tests of rdm_widgets.distances against float64 scipy / sklearn references."""
import warnings

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist, squareform
from scipy.stats import rankdata

from _references import reference
from rdm_widgets import distances as dmod
from rdm_widgets._progress import Cancelled
from rdm_widgets.demo import demo_path
from rdm_widgets.distances import (DegenerateRowsWarning, Distance, available_distances, check_distance,
                                   degenerate_rows, degenerate_rows_warning, pairwise_distances,
                                   register_distance, resolve_distance)

TOL = {torch.float32: dict(rtol=1e-4, atol=1e-5), torch.float64: dict(rtol=1e-9, atol=1e-12)}


def check_close(ours, ref, dtype, scale=1.0):
    assert isinstance(ours, torch.Tensor) and ours.device.type == "cpu" and ours.dtype == dtype
    np.testing.assert_allclose(ours.numpy(), ref, rtol=TOL[dtype]["rtol"],
                               atol=TOL[dtype]["atol"] * scale)


@pytest.fixture(scope="module")
def planted():
    """Seeded data: 4 clusters of 6 stimuli (planted structure), ties in some features."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 60))
    x = np.repeat(centres, 6, axis=0) + 0.5 * rng.normal(size=(24, 60))
    x[:, :8] = np.round(x[:, :8])                     # ties for spearman
    return x


@pytest.fixture(scope="module")
def mobilenet():
    files = sorted(demo_path("mobilenetv2").glob("image_*.npz"))
    assert [f.stem for f in files] == [f"image_{i:02d}" for i in range(1, 79)]
    layers = {}
    for key in ("features.13", "avgpool"):
        layers[key] = np.stack([np.load(f, allow_pickle=False)[key].reshape(-1) for f in files])
    return layers


@pytest.fixture(scope="module")
def minilm():
    files = sorted(demo_path("minilm").glob("sent_*.npz"))
    assert len(files) == 20
    return np.stack([np.load(f, allow_pickle=False)["encoder.layer.5"].mean(axis=0) for f in files])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("chunk_size", [None, 5])
@pytest.mark.parametrize("name", available_distances())
def test_every_distance_matches_reference(planted, name, chunk_size, dtype):
    canon, _ = resolve_distance(name)
    ours = pairwise_distances(planted, name, chunk_size=chunk_size, dtype=dtype)
    assert ours.shape == (24, 24)
    check_close(ours, reference(planted, canon), dtype)
    assert torch.equal(ours, ours.T) and torch.all(torch.diagonal(ours) == 0)


def test_planted_clusters_are_recovered(planted):
    rdm = pairwise_distances(planted, "correlation").numpy()
    same = np.equal.outer(np.arange(24) // 6, np.arange(24) // 6) & ~np.eye(24, dtype=bool)
    diff = ~np.equal.outer(np.arange(24) // 6, np.arange(24) // 6)
    assert rdm[same].mean() < 0.5 * rdm[diff].mean()


def test_spearman_average_ranks_with_many_ties():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 4, size=(15, 40)).astype(np.float32)
    ranks = rankdata(x, axis=1)                       # average ranks for ties
    ours = pairwise_distances(x, "spearman", dtype="float64", chunk_size=4)
    check_close(ours, squareform(pdist(ranks, "correlation")), torch.float64)


def test_mahalanobis_woodbury_and_direct_paths():
    rng = np.random.default_rng(2)
    for n, d in [(20, 90), (50, 12)]:                 # D > N (Gram form) and D <= N (whitening)
        x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) * 0.3 + 5
        for dtype in (torch.float64, torch.float32):
            ref = reference(x, "mahalanobis")
            check_close(pairwise_distances(x, "mahalanobis", dtype=dtype, chunk_size=7), ref,
                        dtype, scale=ref.max())


def test_mahalanobis_row_norms_without_a_float64_copy(monkeypatch):
    """The squared row norms for the shrinkage come from the accurate float32 ``row_norms``
    (float64 block sums), not ``vector_norm(x, dtype=float64)``, which widened all of x first
    (312 -> 60 MiB peak for 1000 x 40000 float32); tiny and huge features (rescaled by a power
    of two first) still give the reference RDM."""
    rng = np.random.default_rng(5)
    norm = torch.linalg.vector_norm
    widened = []

    def spy(t, *a, **kw):
        if kw.get("dtype") == torch.float64 and t.dtype != torch.float64:
            widened.append(tuple(t.shape))
        return norm(t, *a, **kw)
    monkeypatch.setattr(torch.linalg, "vector_norm", spy)
    for n, d in [(30, 70), (60, 10)]:                 # Gram form and whitening
        base = rng.normal(size=(n, d)) * rng.uniform(0.5, 3, size=d) + 2
        ref = reference(base, "mahalanobis")         # invariant to one common factor
        for scale in (1.0, 1e-30, 1e30):
            ours = pairwise_distances((base * scale).astype(np.float32), "mahalanobis")
            check_close(ours, ref, torch.float32, scale=ref.max())
    assert widened == []


@pytest.mark.parametrize("name", ["correlation", "cosine", "euclidean", "spearman", "manhattan"])
def test_mobilenet_features(mobilenet, name):
    x = mobilenet["features.13"]                      # (78, 18816) float16 real feature maps
    assert x.shape == (78, 96 * 14 * 14)
    ref = reference(x, name)
    ours = pairwise_distances(x, name, chunk_size=32)
    check_close(ours, ref, torch.float32, scale=max(1.0, ref.max()))


def test_mobilenet_mahalanobis(mobilenet):
    x = mobilenet["avgpool"]                          # (78, 1280): D > N, Woodbury path
    ref = reference(x, "mahalanobis")
    check_close(pairwise_distances(x, "mahalanobis", dtype="float64"), ref, torch.float64)
    check_close(pairwise_distances(x, "mahalanobis"), ref, torch.float32, scale=ref.max())


@pytest.mark.parametrize("name", ["correlation", "cosine", "l2", "sqeuclidean", "l1", "chebyshev",
                                  "spearman", "mahalanobis"])
def test_minilm_mean_pooled(minilm, name):
    canon, _ = resolve_distance(name)
    ref = reference(minilm, canon)
    for dtype in (torch.float32, torch.float64):
        check_close(pairwise_distances(minilm, name, dtype=dtype, chunk_size=6), ref, dtype,
                    scale=max(1.0, ref.max()))


@pytest.mark.parametrize("name", ["euclidean", "sqeuclidean"])
def test_euclidean_large_offset_float32(name):
    rng = np.random.default_rng(3)
    x = 1e3 + 0.01 * rng.normal(size=(40, 300))       # float64 input, large common offset
    ref = reference(x, name)
    np.testing.assert_allclose(pairwise_distances(x, name).numpy(), ref, rtol=1e-4, atol=0)
    # float32 tensor input: centring happens in float32, still exact enough
    x32 = torch.tensor(x, dtype=torch.float32)
    ref32 = reference(x32.double().numpy(), name)
    np.testing.assert_allclose(pairwise_distances(x32, name, chunk_size=16).numpy(), ref32,
                               rtol=1e-4, atol=0)


def test_euclidean_tight_clusters_far_from_centroid_float32():
    # within-cluster distances are ~1e-4 of the norms: the Gram trick alone loses all digits
    rng = np.random.default_rng(6)
    x = np.repeat(rng.normal(size=(2, 500)) * 100, 20, axis=0) + 0.01 * rng.normal(size=(40, 500))
    for name in ("euclidean", "sqeuclidean"):
        ref = reference(x, name)
        ours = pairwise_distances(x, name, chunk_size=7).numpy()
        np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=0)


def test_input_not_modified_and_tensor_input(planted):
    x = planted.copy()
    t = torch.tensor(planted, dtype=torch.float32, requires_grad=True)
    for name in ("correlation", "cosine", "spearman", "euclidean", "mahalanobis"):
        a = pairwise_distances(x, name, dtype="float32")
        b = pairwise_distances(t, name, dtype=torch.float32)
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(x, planted)
    np.testing.assert_array_equal(t.detach().numpy(), planted.astype(np.float32))


def test_overwrite_x_and_read_only_input(planted):
    ref = pairwise_distances(planted, "manhattan")
    x = planted.astype(np.float32)                    # a copy we own, already float32
    ours = pairwise_distances(x, "manhattan", overwrite_x=True, chunk_size=10)
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-6, atol=1e-5)
    assert not np.allclose(x, planted)                # its memory was used as the working copy
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-5)
    # correlation, cosine, euclidean make no working copy of a float32 array (rdm_widgets._distance_gram)
    for name in ("correlation", "euclidean"):
        x = planted.astype(np.float32)
        ours = pairwise_distances(x, name, overwrite_x=True, chunk_size=10)
        check_close(ours, reference(planted, name), torch.float32)
        np.testing.assert_array_equal(x, planted.astype(np.float32))
    ro = planted.copy()
    ro.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ("correlation", "euclidean"):
            out = pairwise_distances(ro, name, dtype="float64", overwrite_x=True)
            check_close(out, reference(planted, name), torch.float64)
    np.testing.assert_array_equal(ro, planted)


def test_custom_callable_chunked_equals_whole(planted):
    def l1(t):
        return torch.cdist(t, t, p=1)

    whole = pairwise_distances(planted, l1, dtype="float64")
    np.testing.assert_allclose(whole.numpy(), reference(planted, "manhattan"), rtol=1e-12)
    for chunk in (1, 5, 7, 24, 100):
        chunked = pairwise_distances(planted, l1, dtype="float64", chunk_size=chunk)
        np.testing.assert_allclose(chunked.numpy(), whole.numpy(), rtol=1e-12, atol=1e-12)
    # a non-symmetric pairwise function is kept as it is (I x J and J x I blocks)
    asym = pairwise_distances(planted, lambda t: t[:, :1] - t[:, :1].T, chunk_size=5,
                              dtype="float64").numpy()
    np.testing.assert_allclose(asym, planted[:, :1] - planted[:, :1].T, atol=1e-12)
    assert resolve_distance(l1)[0] == "l1"


def test_custom_callable_bad_output():
    x = np.random.default_rng(4).normal(size=(23, 5))
    with pytest.raises(ValueError, match=r"\(23, 22\).*expected \(23, 23\)"):
        pairwise_distances(x, lambda t: torch.zeros(t.shape[0], t.shape[0] - 1))
    with pytest.raises(ValueError, match=r"block of 5 rows.*shape \(5, 4\); expected \(5, 5\)"):
        pairwise_distances(x, lambda t: torch.zeros(t.shape[0], t.shape[0] - 1), chunk_size=5)
    with pytest.raises(ValueError, match="NaN or inf"):
        pairwise_distances(x, lambda t: torch.full((t.shape[0],) * 2, float("nan")))


def test_unknown_name_suggests_closest():
    with pytest.raises(ValueError, match=r"'pearsn'.*Allowed:.*'correlation'.*Did you mean 'pearson'\?"):
        pairwise_distances(np.ones((3, 3)), "pearsn")
    assert resolve_distance("PEARSON")[0] == "correlation"
    assert resolve_distance("CityBlock")[0] == "manhattan"
    with pytest.raises(TypeError):
        resolve_distance(3)


def test_device_dtype_shape_and_finite_errors():
    x = np.random.default_rng(5).normal(size=(6, 4))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available.*device='cpu'"):
            pairwise_distances(x, device="cuda")
        with pytest.raises(ValueError, match="CUDA is not available"):
            pairwise_distances(x, device=torch.device("cuda:0"))
    with pytest.raises(ValueError, match="Invalid value for 'device'"):
        pairwise_distances(x, device="gpu7")
    with pytest.raises(ValueError, match="Invalid value for 'dtype'.*float32"):
        pairwise_distances(x, dtype=torch.float16)
    assert pairwise_distances(x, dtype="float64").dtype == torch.float64
    assert pairwise_distances(x, dtype=np.float64).dtype == torch.float64
    with pytest.raises(ValueError, match=r"2-D.*shape \(6, 4, 1\)"):
        pairwise_distances(x[..., None])
    with pytest.raises(ValueError, match="chunk_size"):
        pairwise_distances(x, chunk_size=0)
    bad = x.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"1 NaN.*\(2, 1\)"):
        pairwise_distances(bad)
    bad[2, 1] = np.inf
    with pytest.raises(ValueError, match="inf"):
        pairwise_distances(torch.tensor(bad), "euclidean")
    with pytest.raises(ValueError, match="too large for torch.float32"):
        pairwise_distances(x * 1e300, "cosine")


@pytest.mark.parametrize("name", ["correlation", "cosine", "spearman", "euclidean", "mahalanobis"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_input_rejected_for_every_preprocess(name, value):
    x = np.random.default_rng(7).normal(size=(9, 6)).astype(np.float32)
    x[4, 2] = value
    with pytest.raises(ValueError, match=r"x contains .*\(4, 2\)"):
        pairwise_distances(x, name, chunk_size=3)
    with pytest.raises(ValueError, match=r"x contains"):
        pairwise_distances(torch.from_numpy(x), name, dtype="float64")


def test_degenerate_rows_warn_and_are_defined(planted):
    x = planted.copy()
    x[3] = 2.5                                         # constant row
    x[7] = 0.0                                         # all-zero row
    np.testing.assert_array_equal(degenerate_rows(x, "correlation"), [3, 7])
    np.testing.assert_array_equal(degenerate_rows(x, "pearson"), [3, 7])
    np.testing.assert_array_equal(degenerate_rows(x, "cosine"), [7])
    assert degenerate_rows(x, "euclidean").size == 0
    for name, bad in [("correlation", [3, 7]), ("spearman", [3, 7]), ("cosine", [7])]:
        with pytest.warns(DegenerateRowsWarning, match=r"row indices: " + ", ".join(map(str, bad))) as rec:
            rdm = pairwise_distances(x, name, chunk_size=5).numpy()
        assert isinstance(rec[0].message, RuntimeWarning)
        np.testing.assert_array_equal(rec[0].message.indices, bad)
        assert np.all(np.isfinite(rdm)) and np.all(np.diag(rdm) == 0)
        for i in bad:
            np.testing.assert_array_equal(np.delete(rdm[i], i), 1.0)
            np.testing.assert_array_equal(np.delete(rdm[:, i], i), 1.0)
        good = np.setdiff1d(np.arange(24), bad)
        ref = reference(x[good], name)
        np.testing.assert_allclose(rdm[np.ix_(good, good)], ref, rtol=1e-4, atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pairwise_distances(x, "euclidean")             # no warning for defined distances


def test_progress_and_cancel(planted):
    calls = []
    pairwise_distances(planted, "correlation", chunk_size=10, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]

    def stop(done, total):
        if done == 1:
            raise Cancelled()

    with pytest.raises(Cancelled):
        pairwise_distances(planted, "cosine", chunk_size=10, progress=stop)


def test_check_distance_is_resolved_once(monkeypatch, planted):
    d = check_distance("Pearson")
    assert isinstance(d, Distance) and d.name == "correlation" and not d.is_custom
    assert check_distance(d) is d and resolve_distance("PEARSON") == (d.name, d.spec)
    with pytest.raises(ValueError, match="Did you mean 'correlation'"):
        check_distance("corelation")

    def my_cosine(x):
        x = x / x.norm(dim=1, keepdim=True)
        return 1 - x @ x.T

    c = check_distance(my_cosine)
    assert c.is_custom and c.name == "my_cosine" and c.spec.func is my_cosine and not c.spec.symmetric
    expected = pairwise_distances(planted, "correlation")
    # a resolved Distance is used as is: not even an empty registry makes it look a name up again
    monkeypatch.setattr(dmod, "_REGISTRY", {})
    monkeypatch.setattr(dmod, "_ALIASES", {})
    torch.testing.assert_close(pairwise_distances(planted, d), expected, rtol=0, atol=0)
    with pytest.raises(ValueError, match="Invalid value for 'distance'"):
        pairwise_distances(planted, "correlation")


def test_degenerate_rows_warning_names_stimuli():
    stimuli = [f"s{i}" for i in range(20)]
    w = degenerate_rows_warning("conv1", stimuli, range(12), "cosine")
    assert isinstance(w, DegenerateRowsWarning) and w.indices.dtype == np.int64
    np.testing.assert_array_equal(w.indices, np.arange(12))
    assert str(w) == ("Layer 'conv1': 12 stimulus/stimuli have constant (or all-zero) features, for which "
                      f"distance='cosine' is undefined: {stimuli[:10]} and 2 more. Their dissimilarity is "
                      "set to 1 to every other stimulus.")
    assert "more" not in str(degenerate_rows_warning("fc", stimuli, [3], "correlation"))


def test_register_distance(monkeypatch, planted):
    monkeypatch.setattr(dmod, "_REGISTRY", dict(dmod._REGISTRY))
    monkeypatch.setattr(dmod, "_ALIASES", dict(dmod._ALIASES))

    def block(state, rows):
        x, = state
        return torch.cdist(x[rows], x, p=3)

    register_distance("minkowski3", block, lambda x: (x,), aliases=("p3",))
    assert "minkowski3" in available_distances() and "p3" in available_distances()
    assert "p3" not in available_distances(include_aliases=False)
    ref = squareform(pdist(planted, "minkowski", p=3))
    check_close(pairwise_distances(planted, "P3", chunk_size=7, dtype="float64"), ref, torch.float64)
    with pytest.raises(ValueError, match="already registered"):
        register_distance("l2", block)
    with pytest.raises(ValueError, match="block returned shape"):
        register_distance("broken", lambda s, rows: s[rows], overwrite=True)
        pairwise_distances(planted, "broken")


# --------------------------------------------------------------- accuracy of float32 on wide layers
def _wide(kind, n=40, d=62_720):
    """(n, d) float32 features as wide as MobileNetV2's features.18: random, planted categories
    (ReLU: non-negative, so row sums grow monotonically, the hard case for a running sum), or
    the real layer (78 x 62,720, bundled)."""
    rng = np.random.default_rng(7)
    if kind == "random":
        return rng.standard_normal((n, d), dtype=np.float32) + 1
    if kind == "planted":
        x = rng.standard_normal((n, d), dtype=np.float32)
        x += np.repeat(rng.standard_normal((4, d), dtype=np.float32), n // 4, axis=0)
        return np.maximum(x, 0)
    files = sorted(demo_path("mobilenetv2").glob("image_*.npz"))
    return np.stack([np.load(f, allow_pickle=False)["features.18"].reshape(-1) for f in files]).astype(np.float32)


@pytest.mark.parametrize("kind", ["random", "planted", "mobilenet"])
def test_float32_wide_layer_within_1e6_of_scipy(kind, tmp_path):
    """float32 correlation / cosine / spearman RDMs of 62,720-wide features are within 1e-6 of
    scipy's float64 ones, whole and in row blocks (the last ones of a few rows included) and as
    out-of-core cross blocks. Before: 2.9e-5 on the real layer (torch's float32 row norms and a
    GEMM accumulated into ones), and 3e-5 for blocks of fewer than 16 rows (MKL's small-GEMM path)."""
    x = _wide(kind)
    n = x.shape[0]
    for name in ("correlation", "cosine", "spearman"):
        x64 = rankdata(x, axis=1) if name == "spearman" else x.astype(np.float64)
        ref = squareform(pdist(x64, "cosine" if name == "cosine" else "correlation"))
        for chunk_size in (None, 17, n - 1):
            ours = pairwise_distances(x, name, chunk_size=chunk_size).numpy()
            assert ours.dtype == np.float32
            np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6, err_msg=f"{name}, chunk {chunk_size}")
    # out of core: tiles of 12 rows (cross blocks of two separately prepared row blocks)
    from rdm_widgets import tiled_rdm

    ref = squareform(pdist(x.astype(np.float64), "correlation"))
    store = tiled_rdm(x, tmp_path / "s", distance="correlation", tile_size=12)
    np.testing.assert_allclose(squareform(np.asarray(store.condensed), checks=False), ref, rtol=0, atol=1e-6)
    # an RDM of a few stimuli (all of it one small GEMM)
    few = x[:6]
    np.testing.assert_allclose(pairwise_distances(few, "correlation").numpy(),
                               squareform(pdist(few.astype(np.float64), "correlation")), rtol=0, atol=1e-6)
    # euclidean: relative to the largest distance (squared norms enter its Gram identity)
    ref = squareform(pdist(x.astype(np.float64), "euclidean"))
    np.testing.assert_allclose(pairwise_distances(x, "euclidean", chunk_size=17).numpy(), ref,
                               rtol=0, atol=1e-6 * ref.max())


def test_row_norms_accurate_in_float32():
    """Row norms of float32 features are float64-accurate to ~1e-7 relative, at any width
    (torch's float32 vector_norm: 3.3e-5 at 62,720 columns of the real layer), and inf / 0 where
    the float32 norm overflows / underflows, so that the power-of-two rescaling still sees them."""
    from rdm_widgets._distance_accuracy import row_norms

    x = _wide("mobilenet")
    for d in (1, 7, 64, 65, 4_099, 62_720):
        part = torch.from_numpy(np.ascontiguousarray(x[:, :d]))
        ref = np.linalg.norm(x[:, :d].astype(np.float64), axis=1)
        got = row_norms(part)
        assert got.dtype == torch.float32 and got.shape == (x.shape[0],)
        np.testing.assert_allclose(got.numpy(), ref, rtol=2e-7)
        np.testing.assert_allclose(row_norms(part, squared=True, keepdim=True).numpy()[:, 0], ref ** 2, rtol=4e-7)
    np.testing.assert_allclose(row_norms(torch.from_numpy(x).double()).numpy(),
                               np.linalg.norm(x.astype(np.float64), axis=1), rtol=1e-14)
    big = torch.full((2, 100), 1e20, dtype=torch.float32)
    tiny = torch.full((2, 100), 1e-25, dtype=torch.float32)
    assert torch.isinf(row_norms(big)).all() and (row_norms(tiny, squared=True) == 0).all()
