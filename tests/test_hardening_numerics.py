"""Hardening (issue 14, items 5, 6, 8): extreme feature scales, NaN in RSA, degenerate EEG.

Every number is checked against an independent float64 reference (scipy, sklearn, numpy).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy.spatial.distance import squareform
from scipy.stats import spearmanr

from _references import reference
from rdm_widgets import _distance_kernels
from rdm_widgets.distances import available_distances, pairwise_distances

BUILT_IN = available_distances(include_aliases=False)
#: the distances whose RDM does not change when every feature is multiplied by one factor
SCALE_FREE = {"correlation", "cosine", "spearman", "mahalanobis"}


@pytest.fixture(scope="module")
def features():
    rng = np.random.default_rng(14)
    centres = rng.normal(size=(4, 40))
    return (np.repeat(centres, 5, axis=0) + 0.5 * rng.normal(size=(20, 40))).astype(np.float32)


def _scaled(x, scale):
    """``x * scale`` in float32, and its float64 twin (the exact values the float32 array holds)."""
    xs = (x.astype(np.float64) * scale).astype(np.float32)
    assert np.isfinite(xs).all() and (xs != 0).all()
    return xs, xs.astype(np.float64)


def _check(ours, ref):
    assert isinstance(ours, torch.Tensor) and ours.dtype == torch.float32
    got = ours.numpy().astype(np.float64)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=2e-6 * np.abs(ref).max())


# ----------------------------------------------------------------------------- item 5: scales
@pytest.mark.parametrize("scale", [1e20, 1e-25])
@pytest.mark.parametrize("name", [n for n in BUILT_IN if n != "sqeuclidean"])
@pytest.mark.parametrize("chunk_size", [None, 7])
def test_float32_extreme_scales_match_scipy(features, name, scale, chunk_size):
    xs, x64 = _scaled(features, scale)
    ref = reference(x64, name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # right, and without a warning
        _check(pairwise_distances(xs, name, chunk_size=chunk_size), ref)
    np.testing.assert_allclose(pairwise_distances(x64, name, dtype="float64").numpy(), ref,
                               rtol=1e-9, atol=1e-12 * np.abs(ref).max())


def test_sqeuclidean_beyond_float32_says_so(features):
    big, big64 = _scaled(features, 1e20)              # squared distances ~1e41 > float32's max
    with pytest.raises(ValueError, match="NaN or inf.*dtype='float64'"):
        pairwise_distances(big, "sqeuclidean")
    small, small64 = _scaled(features, 1e-25)          # squared distances ~1e-49 < float32's min
    with pytest.warns(RuntimeWarning, match="below the smallest normal.*dtype='float64'"):
        pairwise_distances(small, "sqeuclidean")
    for xs, x64 in ((big, big64), (small, small64)):  # float64 holds both: right, no warning
        ref = reference(x64, "sqeuclidean")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = pairwise_distances(xs, "sqeuclidean", dtype="float64").numpy()
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12 * ref.max())


@pytest.mark.parametrize("name", BUILT_IN)
@pytest.mark.parametrize("power", [70, -90, 120])
def test_power_of_two_scale_is_exact(features, name, power, monkeypatch):
    """Scaling features by 2**k (float32 squares overflow at k=70, underflow at k=-90) gives the
    RDM of the unscaled features bit for bit (times 2**k, or 4**k, where the distance scales).

    Correlation, cosine and euclidean of ordinary float32 features come from their Gram matrix without a
    working copy (rdm_widgets._distance_gram), scaled ones through the copy, whose powers of two
    are exact: the bits are compared with the copy path's, the default within float32 rounding."""
    if name == "sqeuclidean":                          # its values scale by 4**k: stay in float32
        power = {70: 40, -90: -50, 120: -45}[power]
    default = pairwise_distances(features, name)
    monkeypatch.setattr(_distance_kernels, "_FROM_GRAM", {})
    base = pairwise_distances(features, name)
    torch.testing.assert_close(default, base, rtol=4e-6, atol=2e-6)
    x = torch.from_numpy(features).mul(2.0 ** power)
    assert torch.isfinite(x).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = pairwise_distances(x, name)
    factor = 1.0 if name in SCALE_FREE else 2.0 ** (power * (2 if name == "sqeuclidean" else 1))
    if name in ("manhattan",):                         # cdist sums: exact only up to rounding order
        torch.testing.assert_close(got, base * factor, rtol=1e-6, atol=0)
    else:
        assert torch.equal(got, base * factor)


@pytest.mark.parametrize("name", ["correlation", "cosine", "spearman", "euclidean", "manhattan",
                                  "chebyshev"])
@pytest.mark.parametrize("scale", [1e20, 1e-25])
def test_tiled_extreme_scales_match_scipy(features, tmp_path, name, scale):
    from rdm_widgets import tiled_rdm

    xs, x64 = _scaled(features, scale)
    store = tiled_rdm(xs, tmp_path / "s", distance=name, tile_size=8)       # 3 x 3 tiles
    _check(torch.from_numpy(squareform(np.asarray(store.condensed), checks=False)), reference(x64, name))


@pytest.mark.parametrize("name", ["euclidean", "correlation", "cosine"])
def test_tiled_blocks_at_different_scales(features, tmp_path, name):
    """One tile of rows at 1e20 and others at 1: the two tiles' power-of-two scales differ."""
    from rdm_widgets import tiled_rdm

    x = features.astype(np.float64)
    x[:8] *= 1e20
    x32 = x.astype(np.float32)
    store = tiled_rdm(x32, tmp_path / "s", distance=name, tile_size=8)
    _check(torch.from_numpy(squareform(np.asarray(store.condensed), checks=False)),
           reference(x32.astype(np.float64), name))


# ----------------------------------------------------------------------------- item 6: NaN in RSA
def _rdm_pair(n=12, seed=6):
    rng = np.random.default_rng(seed)
    a = squareform(rng.random(n * (n - 1) // 2))
    b = squareform(squareform(a) + 0.4 * rng.random(n * (n - 1) // 2))
    return a, b


def _tau_a(x, y):
    s = sum(np.sign(x[i] - x[j]) * np.sign(y[i] - y[j]) for i in range(len(x)) for j in range(i))
    return s / (len(x) * (len(x) - 1) / 2)


def _ref_corr(method, x, y):
    from scipy.stats import pearsonr

    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    return {"spearman": lambda: spearmanr(x, y)[0], "pearson": lambda: pearsonr(x, y)[0],
            "kendall_tau_a": lambda: _tau_a(x, y)}[method]()


def test_compare_rdms_nan_raises_by_default():
    from rdm_widgets import LayerRDM
    from rdm_widgets.rsa import compare_rdms

    a, b = _rdm_pair()
    b[1, 3] = b[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"RDM 'b' has 1 NaN.*nan_policy='omit'"):
        compare_rdms(a, b, n_permutations=99, random_state=0)
    with pytest.raises(ValueError, match=r"RDM 'a' has 1 NaN"):
        compare_rdms(b, LayerRDM(a, layer="conv1"))
    with pytest.raises(ValueError, match="nan_policy"):
        compare_rdms(a, b, nan_policy="ignore")


@pytest.mark.parametrize("method", ["spearman", "pearson", "kendall_tau_a"])
def test_compare_rdms_nan_omit_matches_scipy_on_the_same_pairs(method):
    from rdm_widgets.rsa import compare_rdms

    a, b = _rdm_pair()
    n = a.shape[0]
    b[1, 3] = b[3, 1] = np.nan
    a[0, 5] = a[5, 0] = np.nan
    iu, ju = np.triu_indices(n, 1)
    res = compare_rdms(a, b, method, n_permutations=30, random_state=3, nan_policy="omit")
    assert res.r == pytest.approx(_ref_corr(method, a[iu, ju], b[iu, ju]), abs=1e-12)
    rng = np.random.default_rng(3)                     # the same relabellings, by hand
    null = []
    for _ in range(30):
        perm = rng.permutation(n)
        null.append(_ref_corr(method, a[iu, ju], b[perm][:, perm][iu, ju]))
    np.testing.assert_allclose(res.null, null, atol=1e-12)
    assert res.p == pytest.approx((1 + np.sum(np.asarray(null) >= res.r)) / 31)
    assert np.isfinite(res.r) and 1 / 31 <= res.p <= 1


def test_noise_ceiling_nan_raises_or_omits_the_same_pairs():
    from scipy.stats import rankdata

    from rdm_widgets.rsa import noise_ceiling

    rng = np.random.default_rng(8)
    base = rng.random(45)
    subs = [base + 0.5 * rng.random(45) for _ in range(4)]
    subs[2][7] = np.nan
    S = np.stack([squareform(v) for v in subs])
    with pytest.raises(ValueError, match=r"Subject RDM 2 \(of 4\) has 1 NaN"):
        noise_ceiling(S)
    lower, upper = noise_ceiling(S, nan_policy="omit")
    V = np.stack([np.delete(v, 7) for v in subs])       # the same pairs in every subject
    R = rankdata(V, axis=1)
    up = np.mean([spearmanr(R[s], R.mean(0))[0] for s in range(4)])
    lo = np.mean([spearmanr(R[s], np.delete(R, s, 0).mean(0))[0] for s in range(4)])
    assert (lower, upper) == (pytest.approx(lo, abs=1e-12), pytest.approx(up, abs=1e-12))


def test_compare_rdms_refuses_different_stimulus_names():
    from rdm_widgets import LayerRDM
    from rdm_widgets.rsa import compare_rdms

    a, b = _rdm_pair(n=6)
    ra = LayerRDM(a, [f"img{i}" for i in range(6)], layer="model")
    rb = LayerRDM(b, [f"img{i}" for i in range(3)] + ["x", "y", "z"], layer="brain")
    with pytest.raises(ValueError, match=r"3 only in 'model' \['img3', 'img4', 'img5'\]; "
                                         r"3 only in 'brain' \['x', 'y', 'z'\]"):
        compare_rdms(ra, rb)
    # arrays, and RDMs made from arrays (default names '0'..'5'), compare by position
    ref = spearmanr(squareform(a), squareform(b))[0]
    assert compare_rdms(ra, LayerRDM(b)).r == pytest.approx(ref)
    assert compare_rdms(ra, b).r == pytest.approx(ref)


# ----------------------------------------------------------------------------- item 8: EEG
@pytest.fixture()
def epochs():
    rng = np.random.default_rng(80)
    labels = np.repeat(["a", "b", "c"], 6)
    x = rng.normal(size=(18, 4, 5)) + np.repeat(rng.normal(size=(3, 4, 5)), 6, axis=0)
    return x, labels


def _crossnobis_ref(x, labels, t):
    """Leave-one-trial-out crossnobis at time ``t`` with W = I (no noise to whiten there), numpy."""
    conds = sorted(set(labels))
    xs = np.stack([x[labels == c][:, :, t] for c in conds])           # (n_cond, k, C)
    k, C = xs.shape[1], xs.shape[2]
    d = np.zeros((len(conds), len(conds)))
    for i in range(len(conds)):
        for j in range(len(conds)):
            vals = []
            for f in range(k):
                keep = np.arange(k) != f
                train = xs[i, keep].mean(0) - xs[j, keep].mean(0)
                vals.append(train @ (xs[i, f] - xs[j, f]) / C)
            d[i, j] = np.mean(vals)
    return d


def test_flat_time_point_noise_normalization_time(epochs):
    from rdm_widgets.eeg import eeg_rdm

    x, labels = epochs
    x = x.copy()
    x[:, :, 2] = 0.0                                   # a one-sample baseline: 0 in every trial
    with pytest.warns(RuntimeWarning, match=r"no noise at time index/indices \[2\].*W = I"):
        r = eeg_rdm(x, labels, method="crossnobis", noise_normalization="time")
    assert np.isfinite(r.data).all()
    np.testing.assert_allclose(r.data[..., 2], _crossnobis_ref(x, labels, 2), atol=1e-12)   # all 0 here
    x[:, :, 3] = 7.0 + np.repeat([0.0, 1.0, 2.0], 6)[:, None]   # no noise, but condition means differ
    with pytest.warns(RuntimeWarning, match=r"indices \[2, 3\]"):
        r = eeg_rdm(x, labels, method="crossnobis", noise_normalization="time")
    np.testing.assert_allclose(r.data[..., 3], _crossnobis_ref(x, labels, 3), atol=1e-12)
    for method in ("lda", "lda_shrinkage"):             # LDA saw NaN whitened data / _LinAlgError
        with pytest.warns(RuntimeWarning, match="no noise"):
            r = eeg_rdm(x, labels, method=method, noise_normalization="time")
        assert np.isfinite(r.data).all() and (r.data[..., 2][~np.eye(3, dtype=bool)] == 0.5).all()


def test_lda_fit_failure_names_the_pair_and_time(epochs, monkeypatch):
    from rdm_widgets.eeg import _methods, eeg_rdm

    x, labels = epochs
    real = _methods.class_stats

    def poisoned(train, shrinkage=None):               # a covariance that is not finite at one
        cov, mean = real(train, shrinkage)              # (condition 'b', time 3): the failure mode
        cov = cov.clone()                               # of an overflowing shrunk covariance
        cov[1 * 5 + 3] = np.inf
        return cov, mean

    monkeypatch.setattr(_methods, "class_stats", poisoned)
    with pytest.raises(ValueError, match=r"lda_shrinkage.*fold 0 at condition pair \(0, 1\), time index 3"):
        eeg_rdm(x, labels, method="lda_shrinkage", cv=2)


@pytest.mark.parametrize("shape, what", [((18, 0, 5), "no channels"), ((18, 4, 0), "no time points"),
                                         ((0, 4, 5), "no trials")])
def test_empty_epochs_raise_at_the_boundary(shape, what):
    from rdm_widgets import estimate_eeg_rdm
    from rdm_widgets.eeg import eeg_rdm

    labels = np.repeat(["a", "b", "c"], 6)[:shape[0]]
    with pytest.raises(ValueError, match=f"'eeg' has {what}"):
        eeg_rdm(np.zeros(shape), labels)
    with pytest.raises(ValueError, match=f"'eeg' has {what}"):
        estimate_eeg_rdm(np.zeros(shape), labels)


@pytest.mark.parametrize("times, match", [([0, 1, np.nan, 3, 4], "non-finite.*sfreq"),
                                          (np.arange(5) / 0.0, "non-finite"),
                                          (np.arange(5) / -250.0, "increase strictly.*sampling rate")])
def test_bad_times_raise(epochs, times, match):
    from rdm_widgets.eeg import eeg_rdm

    x, labels = epochs
    with np.errstate(divide="ignore", invalid="ignore"):
        times = np.asarray(times, dtype=float)
    with pytest.raises(ValueError, match=match):
        eeg_rdm(x, labels, times=times)


def test_mne_sfreq_must_be_positive(epochs, monkeypatch):
    mne = pytest.importorskip("mne")
    from rdm_widgets.interop._mne import epochs_to_arrays

    x, labels = epochs
    info = mne.create_info(4, 250.0, "eeg")
    ep = mne.EpochsArray(x, info, events=np.c_[np.arange(18), np.zeros(18, int), np.repeat([1, 2, 3], 6)],
                         event_id={"a": 1, "b": 2, "c": 3}, verbose=False)
    with ep.info._unlock():
        ep.info["sfreq"] = 0.0
    with pytest.raises(ValueError, match=r"info\['sfreq'\] = 0.0.*finite and > 0"):
        epochs_to_arrays(ep)


def test_eeg_values_out_of_float64_range(epochs):
    from rdm_widgets.eeg import eeg_rdm

    x, labels = epochs
    for scale in (1e160, 1e-160):                       # gave chance (0.5) or _LinAlgError
        with pytest.raises(ValueError, match="max \\|value\\|.*Rescale"):
            eeg_rdm(x * scale, labels, method="lda", cv=2)
