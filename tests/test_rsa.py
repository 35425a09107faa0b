"""Tests of rdm_widgets.rsa against scipy references and the bundled real data."""
from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform
from scipy.stats import kendalltau, pearsonr, rankdata, spearmanr

from rdm_widgets.demo import demo_path, demo_root
from rdm_widgets.rdm import LayerRDM, load_rdm_stack
from rdm_widgets.rsa import (RSAResult, compare_rdms, kendall_tau_a, leave_one_subject_out,
                             noise_ceiling, rsa_timecourse)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _planted(n=20, seed=0, noise=0.5):
    """Two RDMs sharing a planted structure (features x and x + noise)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    a = squareform(pdist(x))
    b = squareform(pdist(x + noise * rng.normal(size=x.shape)))
    return a, b


def _tau_a_brute(x, y):
    s = sum(np.sign(x[i] - x[j]) * np.sign(y[i] - y[j]) for i, j in combinations(range(len(x)), 2))
    return s / (len(x) * (len(x) - 1) / 2)


@pytest.mark.parametrize("method, ref", [
    ("spearman", lambda x, y: spearmanr(x, y)[0]),
    ("pearson", lambda x, y: pearsonr(x, y)[0]),
    ("kendall_tau_a", lambda x, y: kendalltau(x, y, variant="b")[0]),  # tie-free: tau-a == tau-b
])
def test_compare_matches_scipy(method, ref):
    a, b = _planted()
    iu = np.triu_indices(20, 1)
    res = compare_rdms(LayerRDM(a), b, method=method)
    assert isinstance(res, RSAResult) and res.p is None and res.null is None
    assert res.method == method
    np.testing.assert_allclose(res.r, ref(a[iu], b[iu]), rtol=1e-10)
    assert res.r > 0.5  # planted signal


def test_kendall_tau_a_with_ties_vs_brute_force():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 5, size=60).astype(float)
    y = x + rng.integers(0, 4, size=60)
    want = _tau_a_brute(x, y)
    np.testing.assert_allclose(kendall_tau_a(x, y), want, rtol=1e-12)
    # the O(n log n) route (used above 3000 pairs) gives the same value
    from rdm_widgets._correlations import _tau_a_from_tau_b

    np.testing.assert_allclose(_tau_a_from_tau_b(x, y), want, rtol=1e-10)
    # with ties tau-a is smaller than tau-b
    assert abs(want) < abs(kendalltau(x, y, variant="b")[0])
    from rdm_widgets._correlations import _tau_a_direct

    big_x = rng.integers(0, 50, size=1200).astype(float)
    big_y = np.round(big_x + 5 * rng.normal(size=1200))  # ties in both
    np.testing.assert_allclose(kendall_tau_a(big_x, big_y), _tau_a_direct(big_x, big_y), rtol=1e-10)


def test_permutation_test_planted_and_null():
    a, b = _planted(n=15, seed=1)
    res = compare_rdms(a, b, "spearman", n_permutations=200, random_state=0)
    assert res.null.shape == (200,) and res.n_permutations == 200
    assert res.p == pytest.approx((1 + np.sum(res.null >= res.r)) / 201)
    assert res.p < 0.01
    # reproducible with a seed
    assert np.array_equal(res.null, compare_rdms(a, b, n_permutations=200, random_state=0).null)
    # null values equal a direct relabelling: check one permutation by hand
    rng = np.random.default_rng(0)
    p = rng.permutation(15)
    iu = np.triu_indices(15, 1)
    np.testing.assert_allclose(res.null[0], spearmanr(a[iu], b[np.ix_(p, p)][iu])[0], rtol=1e-10)
    # unrelated RDMs: p is not small
    _, c = _planted(n=15, seed=9, noise=0.0)
    res = compare_rdms(a, c, "pearson", n_permutations=200, random_state=1)
    assert res.p > 0.05
    kres = compare_rdms(a, b, "kendall_tau_a", n_permutations=20, random_state=0)
    assert kres.null.shape == (20,) and kres.p <= 1 / 21 + 1e-12


def test_compare_errors():
    with pytest.raises(ValueError, match=r"same shape.*\(4, 4\).*\(5, 5\)"):
        compare_rdms(np.ones((4, 4)), np.ones((5, 5)))
    a, b = _planted()
    with pytest.raises(ValueError, match="Did you mean 'pearson'"):
        compare_rdms(a, b, method="pearsn")
    with pytest.raises(ValueError, match="constant"):
        compare_rdms(a, np.ones_like(a))
    with pytest.raises(ValueError, match="square"):
        compare_rdms(a, np.ones((20, 3)))
    with pytest.raises(ValueError, match="n_permutations"):
        compare_rdms(a, b, n_permutations=-1)
    names = [f"s{i}" for i in range(20)]
    ra, rb = LayerRDM(a, names, "a"), LayerRDM(b, names, "b").reorder(names[::-1])
    with pytest.raises(ValueError, match=r"different order.*reorder\(a.stimuli\)"):
        compare_rdms(ra, rb)
    np.testing.assert_allclose(compare_rdms(ra, rb.reorder(ra.stimuli)).r, compare_rdms(a, b).r)


def _subjects(n_sub=6, n=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    return np.stack([squareform(pdist(x + 0.8 * rng.normal(size=x.shape))) for _ in range(n_sub)]), x


def test_noise_ceiling_vs_manual():
    s, _ = _subjects()
    iu = np.triu_indices(12, 1)
    v = s[:, iu[0], iu[1]]
    vr = np.stack([rankdata(r) for r in v])
    up = np.mean([spearmanr(vr[i], vr.mean(0))[0] for i in range(6)])
    lo = np.mean([spearmanr(vr[i], np.delete(vr, i, 0).mean(0))[0] for i in range(6)])
    np.testing.assert_allclose(noise_ceiling(s), (lo, up), rtol=1e-10)
    lo_p = np.mean([pearsonr(v[i], np.delete(v, i, 0).mean(0))[0] for i in range(6)])
    up_p = np.mean([pearsonr(v[i], v.mean(0))[0] for i in range(6)])
    np.testing.assert_allclose(noise_ceiling(s, "pearson"), (lo_p, up_p), rtol=1e-10)
    lo_c, up_c = noise_ceiling(s)
    assert 0 < lo_c < up_c < 1
    with pytest.raises(ValueError, match=r"\(S, N, N\).*\(12, 12\)"):
        noise_ceiling(s[0])


def test_leave_one_subject_out_and_timecourse():
    s, x = _subjects()
    model = squareform(pdist(x))
    iu = np.triu_indices(12, 1)
    loso = leave_one_subject_out(model, s, "pearson")
    want = [pearsonr(model[iu], np.delete(s, i, 0).mean(0)[iu])[0] for i in range(6)]
    np.testing.assert_allclose(loso, want, rtol=1e-10)
    assert loso.shape == (6,) and np.all(loso > 0.3)
    with pytest.raises(ValueError, match=r"\(5, 5\).*\(12, 12\)"):
        leave_one_subject_out(np.ones((5, 5)), s, "pearson")
    # timecourse: (N, N, T) with a constant time point -> NaN there
    e = np.moveaxis(s, 0, -1).copy()
    e[:, :, 2] = 1.0
    for method, ref in [("spearman", lambda a, b: spearmanr(a, b)[0]),
                        ("pearson", lambda a, b: pearsonr(a, b)[0]),
                        ("kendall_tau_a", lambda a, b: _tau_a_brute(a, b))]:
        tc = rsa_timecourse(LayerRDM(model), e, method)
        assert tc.shape == (6,) and np.isnan(tc[2])
        for t in (0, 1, 3, 5):
            np.testing.assert_allclose(tc[t], ref(model[iu], e[:, :, t][iu]), rtol=1e-10)

    class Holder:  # TimeResolvedRDM-like
        data = e

    np.testing.assert_allclose(rsa_timecourse(model, Holder(), "pearson"), rsa_timecourse(model, e, "pearson"))
    with pytest.raises(ValueError, match=r"\(N, N, T\)"):
        rsa_timecourse(model, s[0])


class _Conditions:
    """A TimeResolvedRDM-like result: ``data`` (N, N, T) and condition names."""

    def __init__(self, data, conditions):
        self.data, self.conditions = data, list(conditions)


def test_rsa_timecourse_matches_stimuli_to_conditions_by_name():
    s, _ = _subjects(n_sub=4, n=6, seed=3)
    e = np.moveaxis(s, 0, -1).copy()                    # (6, 6, 4)
    conds = [f"c{i}" for i in range(6)]
    model = _planted(n=6, seed=1)[0]
    want = rsa_timecourse(model, e)                      # arrays: by position
    res = _Conditions(e, conds)
    # same names in another order: reordered to the conditions
    order = [5, 3, 1, 0, 2, 4]
    shuffled = LayerRDM(model, conds, "m").reorder(order)
    np.testing.assert_allclose(rsa_timecourse(shuffled, res), want, rtol=1e-12)
    # more stimuli than conditions: the conditions are picked by name
    big = np.pad(model, ((1, 0), (1, 0)), constant_values=0.7)
    big[0, 0] = 0.0
    np.testing.assert_allclose(rsa_timecourse(LayerRDM(big, ["extra"] + conds, "m"), res), want, rtol=1e-12)
    # a real TimeResolvedRDM
    from rdm_widgets.eeg import TimeResolvedRDM

    tr = TimeResolvedRDM(e, conditions=conds)
    np.testing.assert_allclose(rsa_timecourse(shuffled, tr), want, rtol=1e-12)
    # one side without names: by position (the array form)
    np.testing.assert_allclose(rsa_timecourse(model, res), want, rtol=1e-12)
    np.testing.assert_allclose(rsa_timecourse(LayerRDM(model, conds), e), want, rtol=1e-12)


def test_rsa_timecourse_never_matches_by_count():
    e = np.moveaxis(_subjects(n_sub=3, n=5, seed=4)[0], 0, -1).copy()
    res = _Conditions(e, ["left", "right", "up", "down", "both"])
    model = LayerRDM(_planted(n=5, seed=2)[0], [f"image_{i}" for i in range(5)], "conv1")
    with pytest.raises(ValueError, match=r"'conv1'.*model stimuli \['image_0', .*EEG conditions \['left', 'right'"):
        rsa_timecourse(model, res)
    # a long list is shortened in the message
    many = LayerRDM(_planted(n=30, seed=2)[0], [f"img{i}" for i in range(30)], "fc")
    with pytest.raises(ValueError, match=r"'img9'\] … \(30 in all\)"):
        rsa_timecourse(many, res)


@pytest.fixture(scope="module")
def mobilenet_model_rdm():
    files = sorted(demo_path("mobilenetv2").glob("image_*.npz"))
    assert [f.stem for f in files] == [f"image_{i:02d}" for i in range(1, 79)]
    feats = np.stack([np.load(f, allow_pickle=False)["features.18"].astype(np.float64).ravel() for f in files])
    return 1.0 - np.corrcoef(feats)


def test_real_data_mobilenet_vs_it(mobilenet_model_rdm):
    s = load_rdm_stack(demo_path("fmri_it"))
    res = compare_rdms(mobilenet_model_rdm, s.mean(0), "spearman", n_permutations=300, random_state=0)
    assert 0.12 < res.r < 0.18  # data README: Spearman ~0.15
    assert res.p < 0.05  # data README: p ~ 0.002
    iu = np.triu_indices(78, 1)
    np.testing.assert_allclose(res.r, spearmanr(mobilenet_model_rdm[iu], s.mean(0)[iu])[0], rtol=1e-10)
    loso = leave_one_subject_out(mobilenet_model_rdm, s, "spearman")
    assert loso.shape == (15,) and np.all(loso > 0.1)


def test_real_noise_ceiling_reproduces_net2brain_log():
    log = json.loads((demo_root() / "net2brain_78" / "brain_data" / "noise_ceiling_log.json").read_text())
    for roi in ("it", "evc"):
        s = load_rdm_stack(demo_path(f"fmri_{roi}"))
        ref = log[f"fmri_{roi.upper()}_RDMs.npz"]["spearman"]
        # Net2Brain: mean of squared Spearman r, subject RDMs averaged without rank transform
        lo, up = noise_ceiling(s, "spearman", rank_before_average=False, squared=True)
        np.testing.assert_allclose([lo, up], [ref["lnc"], ref["unc"]], rtol=1e-9)
        lo_r, up_r = noise_ceiling(s)  # Nili et al. with rank-averaging: correlations, not squared
        assert 0 < lo_r < 0.05 and 0.2 < up_r < 0.3
    shared = SHARED / "net2brain_78images" / "brain_data" / "fmri_IT_RDMs.npz"
    if shared.exists():
        np.testing.assert_allclose(
            noise_ceiling(load_rdm_stack(shared), rank_before_average=False, squared=True),
            [log["fmri_IT_RDMs.npz"]["spearman"]["lnc"], log["fmri_IT_RDMs.npz"]["spearman"]["unc"]],
            rtol=1e-9)


def test_spearman_permutation_null_vs_scipy_loop():
    """The rank-once route of the Spearman permutation test gives scipy's value for every relabelling."""
    a, b = _planted(n=15, seed=4, noise=1.0)
    res = compare_rdms(a, b, method="spearman", n_permutations=120, random_state=5)
    rng = np.random.default_rng(5)
    iu = np.triu_indices(15, 1)
    want = np.array([spearmanr(a[iu], b[np.ix_(p, p)][iu])[0]
                     for p in (rng.permutation(15) for _ in range(120))])
    np.testing.assert_allclose(res.null, want, atol=1e-12)
    assert res.r == pytest.approx(spearmanr(a[iu], b[iu])[0], abs=1e-12)
    assert res.p == (1 + np.count_nonzero(want >= res.r - 1e-12)) / 121


def test_rsatoolbox_method_names_and_noise_ceiling_object(tmp_path):
    """rsatoolbox's 'corr' / 'tau-a' are synonyms; the noise ceiling is still a (lower, upper) tuple
    with its options and a CSV export that needs no pandas."""
    from rdm_widgets.rsa import NoiseCeiling, check_method

    a, b = _planted(n=12, seed=1, noise=1.0)
    assert check_method("corr") == "pearson" and check_method("TAU-A") == "kendall_tau_a"
    assert compare_rdms(a, b, "corr").r == compare_rdms(a, b, "pearson").r
    assert compare_rdms(a, b, "tau-a").method == "kendall_tau_a"
    with pytest.raises(ValueError, match="'corr' and 'tau-a' are accepted"):
        compare_rdms(a, b, "cosine")
    s = load_rdm_stack(demo_path("fmri_evc"))
    nc = noise_ceiling(s, "corr")
    assert isinstance(nc, NoiseCeiling) and isinstance(nc, tuple) and len(nc) == 2
    assert (nc.method, nc.convention, nc.n_subjects) == ("pearson", "rdm_widgets", 15)
    text = nc.to_csv(tmp_path / "nc.csv")
    assert text == (tmp_path / "nc.csv").read_text()
    assert text.splitlines() == ["method,convention,n_subjects,lower,upper",
                                 f"pearson,rdm_widgets,15,{nc.lower!r},{nc.upper!r}"]
    res = compare_rdms(a, b, n_permutations=10, random_state=0)
    assert res.to_csv().splitlines()[1] == f"spearman,{res.r!r},{res.p!r},10"


@pytest.mark.parametrize("n", [20, 800])   # pairs: the direct route (<= 500) and the tau-b route
def test_tau_a_of_a_constant_vector_is_nan_at_every_length(n):
    """A correlation with a constant vector is undefined for all three methods, at any length
    (before: tau-a gave 0 up to 500 pairs and NaN above)."""
    from rdm_widgets._correlations import CORRELATIONS, masked_correlations

    rng = np.random.default_rng(n)
    y = rng.normal(size=n)
    const = np.full(n, 2.5)
    for a, b in [(const, y), (y, const), (const, const)]:
        assert np.isnan(kendall_tau_a(a, b))
        for method in ("spearman", "pearson", "kendall_tau_a"):   # one behaviour for all three
            assert np.isnan(CORRELATIONS[method](a, b[:, None])[0]), method
            assert np.isnan(masked_correlations(method, a, b[:, None])[0]), method
    # scipy's tau-b (mne-rsa's choice) is NaN too; a non-constant pair is still exact
    assert np.isnan(kendalltau(const, y).statistic)
    x = np.round(y * 3)                                    # ties, not constant
    np.testing.assert_allclose(kendall_tau_a(x, y), _tau_a_brute(x, y), rtol=1e-10)
    # a column held constant within a stack gives NaN there and exact values elsewhere
    Y = np.stack([y, const, -y], axis=1)
    got = CORRELATIONS["kendall_tau_a"](x, Y)
    assert np.isnan(got[1])
    np.testing.assert_allclose(got[[0, 2]], [_tau_a_brute(x, y), _tau_a_brute(x, -y)], rtol=1e-10)


@pytest.mark.parametrize("method", ["spearman", "pearson", "kendall_tau_a"])
def test_leave_one_subject_out_refuses_a_constant_model_as_compare_rdms(method):
    s, x = _subjects()
    flat = np.ones((12, 12)) - np.eye(12)
    with pytest.raises(ValueError, match="constant") as loso_err:
        leave_one_subject_out(flat, s, method)
    with pytest.raises(ValueError, match="constant") as cmp_err:
        compare_rdms(flat, s[0], method)
    # the same message style: what is constant, then why it is refused
    assert "is constant; its correlation with any RDM is undefined" in str(loso_err.value)
    assert "is constant; its correlation with any RDM is undefined" in str(cmp_err.value)
    with pytest.raises(ValueError, match=r"'model_rdm' \(layer 'flat'\) is constant"):
        leave_one_subject_out(LayerRDM(flat, layer="flat"), s, method)
    # a non-constant model still gives the jackknife values
    model = squareform(pdist(x))
    got = leave_one_subject_out(model, s, method)
    iu = np.triu_indices(12, 1)
    V = s[:, iu[0], iu[1]]
    if method == "spearman":                               # ranked before averaging (default)
        V = np.stack([rankdata(v) for v in V])
    ref = {"spearman": lambda a, b: spearmanr(a, b)[0], "pearson": lambda a, b: pearsonr(a, b)[0],
           "kendall_tau_a": _tau_a_brute}[method]
    want = [ref(model[iu], np.delete(V, i, 0).mean(0)) for i in range(6)]
    np.testing.assert_allclose(got, want, rtol=1e-10)
    assert np.all(got > 0.3)                               # planted: the model is the subjects' source
