"""The one-pass preprocessing of the distance kernels (rdm_widgets._distance_prep) against the
separate passes it replaced and against float64 references: the same bits, the same degenerate
rows (sampled test included), the same errors, at extreme scales and with large means."""
import warnings

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist, squareform

from _synthetic import relu_features as _features
from rdm_widgets import _distance_kernels as kernels
from rdm_widgets import _distance_prep as prep
from rdm_widgets._distance_kernels import _constant_rows, _zero_rows, prepare_features
from rdm_widgets.distances import DegenerateRowsWarning, check_distance, pairwise_distances

CPU = torch.device("cpu")


def _separate(x, name, dtype=torch.float32):
    """What pairwise_distances did before the one-pass preprocessing: the degenerate test on the
    source, the working copy, then ``prepare`` as a pass of its own. The working copy is made in
    one chunk: row-local steps give the same bits in any chunks (the column mean of
    ``'center_columns'``, summed chunk by chunk, has chunks of its own)."""
    spec = check_distance(name).spec
    src = torch.as_tensor(x)
    bad = spec.degenerate(src) if spec.degenerate is not None else torch.zeros(len(src), dtype=torch.bool)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(prep, "_PREP_ELEMENTS", 1 << 40)
        mp.setattr(prep, "_RANK_ELEMENTS", 1 << 40)
        state = spec.prepare(prep.working_copy(x, spec.preprocess, CPU, dtype))
    return state, torch.nonzero(bad).flatten().numpy()


def _same_state(a, b):
    if isinstance(a, tuple):
        assert len(a) == len(b) and all(_same_state(u, v) for u, v in zip(a, b))
        return True
    assert torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b
    return True


@pytest.fixture(params=[1 << 22, 900, 1], ids=["one-chunk", "chunks-of-3-rows", "row-by-row"])
def chunked(request, monkeypatch):
    monkeypatch.setattr(prep, "_PREP_ELEMENTS", request.param)
    monkeypatch.setattr(prep, "_RANK_ELEMENTS", request.param)
    monkeypatch.setattr(prep, "_MEAN_ELEMENTS", request.param)
    return request.param


@pytest.fixture
def copy_path(monkeypatch):
    """Correlation and cosine through the working copy too (not from the source's Gram matrix,
    rdm_widgets._distance_gram, which tests/test_distance_gram.py covers)."""
    monkeypatch.setattr(kernels, "_FROM_GRAM", {})


@pytest.mark.parametrize("name", ["correlation", "cosine", "spearman", "euclidean", "sqeuclidean", "mahalanobis"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_one_pass_gives_the_bits_of_the_separate_passes(chunked, copy_path, name, dtype):
    x = _features()
    x[5] = 3.0                                         # constant row
    x[9] = 0.0                                         # all-zero row
    for src in (x, x.astype(np.float64), torch.from_numpy(x)):
        _, state, bad = prepare_features(src, check_distance(name).spec, CPU, dtype)
        ref_state, ref_bad = _separate(src, name, dtype)
        _same_state(state, ref_state)
        np.testing.assert_array_equal(bad, ref_bad)


@pytest.mark.parametrize("name", ["correlation", "cosine", "euclidean"])
def test_overwrite_x_in_place_gives_the_same_bits(chunked, copy_path, name):
    x = _features()
    ref = pairwise_distances(x, name, chunk_size=7)
    own = x.copy()
    got = pairwise_distances(own, name, chunk_size=7, overwrite_x=True)
    assert torch.equal(got, ref)
    assert not np.array_equal(own, x)                  # x's memory was the working copy


def test_sampled_degenerate_test_is_exact(chunked):
    """Rows whose 64 sampled values are equal are reduced whole: a row that differs only between
    the sampled columns is neither constant nor zero; whole-row extremes decide as before."""
    d = 64 * 9
    x = np.zeros((12, d), dtype=np.float32)
    x[0] = 1.5                                         # constant
    x[1, 1] = 2.0                                      # zero except one unsampled column
    x[2] = 7.0
    x[2, d - 1] = 7.0000005                            # constant but the last column
    x[3] = np.arange(d)                                # varies everywhere
    x[4, ::9] = -1.0                                   # constant on the sample, zeros elsewhere
    x[5:] = np.random.default_rng(1).normal(size=(7, d))
    for mode in ("plain", "in place"):
        for name, test in (("correlation", _constant_rows), ("cosine", _zero_rows)):
            src = x.copy()
            expected = torch.nonzero(test(torch.from_numpy(src))).flatten().numpy()
            *_, bad = prepare_features(src, check_distance(name).spec, CPU, torch.float32,
                                      overwrite=mode == "in place")
            np.testing.assert_array_equal(bad, expected)
            np.testing.assert_array_equal(bad, [0] if name == "correlation" else [])   # by construction


def test_degenerate_test_reads_the_source_not_the_working_dtype(chunked):
    """Integers that float32 cannot tell apart (2**25 and 2**25 + 1) are not a constant row,
    and a float64 row of 1e-50 is not an all-zero row, although float32 rounds both."""
    x = np.full((3, 200), 2 ** 25, dtype=np.int64)
    x[0, 100] += 1
    x[2] = np.arange(200)
    *_, bad = prepare_features(x, check_distance("correlation").spec, CPU, torch.float32)
    np.testing.assert_array_equal(bad, [1])
    y = np.random.default_rng(2).normal(size=(3, 200))
    y[1] = 1e-50
    *_, bad = prepare_features(y, check_distance("cosine").spec, CPU, torch.float32)
    assert bad.size == 0


@pytest.mark.parametrize("name", ["correlation", "cosine", "spearman", "euclidean"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_between_the_sampled_columns_is_rejected(chunked, name, value):
    x = _features(12, 640)
    x[7, 5] = value                                    # not one of the 64 sampled columns
    with pytest.raises(ValueError, match=r"x contains .*\(7, 5\)"):
        pairwise_distances(x, name)
    with pytest.raises(ValueError, match=r"x contains"):
        pairwise_distances(x.copy(), name, overwrite_x=True)


@pytest.mark.parametrize("name", ["correlation", "cosine"])
def test_rows_at_extreme_scales_match_float64(chunked, name):
    """Rows scaled by 1e20 (norms overflow float32) and 1e-25 (squares underflow) are rescaled
    by powers of two inside the pass: the RDM is scipy's, as for unscaled rows."""
    x = _features(30, 500).astype(np.float64)
    x[3] *= 1e20
    x[11] *= 1e-25
    x[20] *= 1e30
    ref = squareform(pdist(x, name))
    for src in (x.astype(np.float32), x):
        ours = pairwise_distances(src, name).numpy()
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)


@pytest.mark.parametrize("offset", [1e3, 1e4])
def test_large_means_match_float64(chunked, offset):
    """Rows with a large mean and a small spread: centred inside the pass (float64 input in
    float64 before rounding), the float32 RDM stays within 1e-6 of scipy's float64 one when the
    spread survives float32's rounding of the input."""
    rng = np.random.default_rng(3)
    x64 = offset + rng.normal(size=(24, 2000)) * np.linspace(1, 10, 24)[:, None]
    x64[:, :50] += 30.0                                # shared structure
    ref = squareform(pdist(x64, "correlation"))
    np.testing.assert_allclose(pairwise_distances(x64, "correlation").numpy(), ref, rtol=0, atol=1e-6)
    x32 = x64.astype(np.float32)
    ref32 = squareform(pdist(x32.astype(np.float64), "correlation"))
    np.testing.assert_allclose(pairwise_distances(x32, "correlation").numpy(), ref32, rtol=0, atol=1e-6)


def test_degenerate_warning_unchanged(chunked):
    x = _features(20, 400)
    x[4] = -2.0
    with pytest.warns(DegenerateRowsWarning, match="row indices: 4") as rec:
        rdm = pairwise_distances(x, "correlation").numpy()
    np.testing.assert_array_equal(rec[0].message.indices, [4])
    np.testing.assert_array_equal(np.delete(rdm[4], 4), 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pairwise_distances(x, "euclidean")


def test_working_copy_is_a_new_tensor():
    x = _features(8, 100)
    w = prep.working_copy(x, "center_rows", CPU, torch.float32)
    assert w.dtype == torch.float32 and w.is_contiguous() and w.shape == x.shape
    np.testing.assert_allclose(w.numpy(), x - x.mean(axis=1, keepdims=True), rtol=0, atol=1e-6)
    assert not np.shares_memory(w.numpy(), x)
