"""Cluster-based permutation tests and group time courses (rdm_widgets.cluster) against MNE's
``permutation_cluster_1samp_test`` (t maps, clusters, cluster statistics, TFCE, p), scipy
(pointwise t, FDR, SEM), planted-effect / null data, and pseudo-subjects of the real S001 EEG
(resampled trial subsets of one subject: not independent people, a stand-in for a group)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import false_discovery_control, sem, ttest_1samp

from rdm_widgets import Cancelled
from rdm_widgets.cluster import ClusterTest, cluster_test, group_timecourse, paired_cluster_test, rsa_group_test
from rdm_widgets.eeg import TimeResolvedRDM, eeg_rdms
from rdm_widgets.rdm import LayerRDM
from rdm_widgets.rsa import rsa_timecourse

mne = pytest.importorskip("mne")
from mne.stats import permutation_cluster_1samp_test  # noqa: E402

mne.set_log_level("ERROR")


def _mne(X, **kw):
    """MNE's test with masks of X's sample shape (MNE gives slices for 1-D data)."""
    t, clusters, p, h0 = permutation_cluster_1samp_test(X, out_type="mask", seed=0, **kw)
    masks = []
    for c in clusters:
        m = np.zeros(t.shape, dtype=bool)
        m[c] = True
        masks.append(m)
    return t, masks, p, h0


def _planted(shape=(60,), n=12, seed=1, window=(slice(20, 35),), effect=0.9):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n,) + shape)
    X[(slice(None),) + window] += effect
    return X


def _same_as_mne(res: ClusterTest, X, n_perm, **kw):
    t, masks, p, h0 = _mne(X, n_permutations=n_perm, **kw)
    np.testing.assert_array_equal(res.statistic, t)                 # the same formula, bit for bit
    assert len(res.clusters) == len(masks) > 0
    for a, b in zip(res.clusters, masks):
        np.testing.assert_array_equal(a, b)
    sums = np.array([t[m].sum() for m in masks])
    np.testing.assert_allclose(res.cluster_stats, sums, rtol=1e-12)
    # p from two independent Monte-Carlo samples of n_perm: within 4 SE of their difference
    se = np.sqrt(2 * np.maximum(p * (1 - p), 1 / n_perm) / n_perm)
    assert np.all(np.abs(res.p_values - p) <= 4 * se + 2 / n_perm), (res.p_values, p)
    return p


@pytest.mark.parametrize("tail", [1, -1, 0])
@pytest.mark.parametrize("threshold", [None, 1.5])
def test_time_courses_match_mne(tail, threshold):
    X = _planted() * (-1 if tail < 0 else 1)
    thr = None if threshold is None else threshold * (-1 if tail < 0 else 1)
    res = cluster_test(X, tail=tail, threshold=thr, n_permutations=1024, random_state=3)
    _same_as_mne(res, X, 1024, tail=tail, threshold=thr)
    assert not res.exact and res.n_permutations == 1024 == res.h0.size
    assert res.p_map.shape == X.shape[1:]
    for c, p in zip(res.clusters, res.p_values):
        assert np.all(res.p_map[c] == p)
    outside = ~np.any(res.clusters, axis=0)
    assert np.all(res.p_map[outside] == 1.0)


@pytest.mark.parametrize("tail", [1, -1, 0])
def test_train_test_maps_match_mne(tail):
    X = _planted(shape=(14, 16), n=10, seed=2, window=(slice(4, 9), slice(5, 11)), effect=1.0)
    X = X * (-1 if tail < 0 else 1)
    res = cluster_test(X, tail=tail, n_permutations=500, random_state=0)
    _same_as_mne(res, X, 500, tail=tail)
    assert res.statistic.shape == (14, 16) and res.clusters[0].shape == (14, 16)
    with pytest.raises(ValueError, match="1-D"):
        res.spans()


def test_more_than_62_subjects_matches_mne():
    """Beyond 62 subjects sign vectors no longer fit an int64 code: drawn as bits instead."""
    X = _planted(shape=(30,), n=70, seed=17, window=(slice(10, 15),), effect=0.3)
    res = cluster_test(X, tail=0, n_permutations=500)
    _same_as_mne(res, X, 500, tail=0)


def test_no_adjacency_matches_mne():
    """adjacency='none': every supra-threshold sample is its own cluster (MNE's adjacency=False)."""
    X = _planted(shape=(30,), n=12, seed=16, window=(slice(10, 15),), effect=1.0)
    res = cluster_test(X, adjacency="none", n_permutations=500)
    _same_as_mne(res, X, 500, tail=1, adjacency=False)
    assert all(c.sum() == 1 for c in res.clusters)


@pytest.mark.parametrize("shape,window", [((60,), (slice(20, 35),)), ((10, 10), (slice(2, 7), slice(3, 8)))])
@pytest.mark.parametrize("tail", [1, 0])
def test_tfce_matches_mne(shape, window, tail):
    X = _planted(shape=shape, n=10, seed=4, window=window, effect=1.5)
    tfce = dict(start=0, step=0.2)
    res = cluster_test(X, tail=tail, tfce=tfce, n_permutations=400)
    t, _, p, h0 = permutation_cluster_1samp_test(X, tail=tail, threshold=tfce, n_permutations=400, seed=0)
    np.testing.assert_allclose(res.statistic, t, rtol=1e-12, atol=0)
    assert res.threshold == "tfce" and res.h0[0] == pytest.approx(h0[0], rel=1e-12)
    p = p.reshape(t.shape)
    se = np.sqrt(2 * np.maximum(p * (1 - p), 1 / 400) / 400)
    assert np.all(np.abs(res.p_map - p) <= 4 * se + 2 / 400)
    assert res.significant().sum() > 0 and res.significant()[window].mean() > 0.5
    for c, peak in zip(res.clusters, res.cluster_stats):
        assert peak == res.statistic[c][np.argmax(np.abs(res.statistic[c]))]


def test_tfce_tail_minus_one_is_tail_one_of_the_negated_data():
    """MNE 1.13 returns 1 - p for TFCE with tail=-1 (positive scores compared by H0 <= score);
    ours is, by construction, the mirror image of tail=1."""
    X = _planted(n=10, seed=5)
    up = cluster_test(X, tail=1, tfce=dict(start=0, step=0.2), n_permutations=300)
    down = cluster_test(-X, tail=-1, tfce=dict(start=0, step=-0.2), n_permutations=300)
    np.testing.assert_array_equal(down.statistic, -up.statistic)
    np.testing.assert_array_equal(down.p_map, up.p_map)
    with pytest.raises(ValueError, match="step < 0"):
        cluster_test(-X, tail=-1, tfce=dict(start=0, step=0.2))


def test_exact_enumeration_two_tailed_is_mne_exactly():
    X = _planted(shape=(40,), n=8, seed=6, window=(slice(10, 20),), effect=0.8)
    res = cluster_test(X, tail=0, n_permutations=128)
    t, masks, p, h0 = _mne(X, tail=0, n_permutations=128)
    assert res.exact and res.n_permutations == 128 == h0.size
    np.testing.assert_array_equal(res.p_values, p)
    np.testing.assert_allclose(np.sort(np.abs(res.h0)), np.sort(np.abs(h0)), rtol=1e-12)


def test_exact_enumeration_one_tailed_uses_every_sign_vector_once():
    """MNE enumerates sign vectors 1..2**n-1 with signs 2*bit-1: the all-flipped vector is left
    out and the observed one counted twice. Replacing that duplicate by the all-flipped data's
    statistic gives our distribution exactly."""
    X = _planted(shape=(40,), n=8, seed=7, window=(slice(10, 20),), effect=0.8)
    res = cluster_test(X, tail=1, n_permutations=256)
    t, masks, p, h0 = _mne(X, tail=1, n_permutations=256)
    assert res.exact and res.n_permutations == 256 == h0.size
    _, flipped, _, h0_neg = _mne(-X, tail=1, n_permutations=1, threshold=res.threshold)
    fixed = np.concatenate([h0[:-1], [h0_neg[0] if flipped else 0.0]])
    np.testing.assert_array_equal(res.p_values, [np.mean(fixed >= s) for s in res.cluster_stats])
    np.testing.assert_allclose(np.sort(res.h0), np.sort(fixed), rtol=1e-12)


def test_planted_window_found_and_null_mostly_not_significant():
    times = np.linspace(-0.2, 0.8, 51)
    X = _planted(shape=(51,), n=14, seed=8, window=(slice(25, 35),), effect=1.0)
    res = cluster_test(X, times=times, n_permutations=500)
    spans = res.spans()
    assert len(spans) == 1
    start, stop, p = spans[0]
    assert times[23] <= start <= times[27] and times[32] <= stop <= times[36] and p <= 0.01
    np.testing.assert_array_equal(res.significant(), res.p_map <= 0.05)
    hits = 0
    for seed in range(40):
        null = np.random.default_rng(100 + seed).normal(size=(14, 51))
        hits += bool(cluster_test(null, n_permutations=200, random_state=seed).significant().any())
    assert hits <= 6                      # 5 % expected: 2 of 40; P(>= 7) < 2 %


def test_paired_test_is_one_sample_test_of_differences():
    rng = np.random.default_rng(9)
    A = rng.normal(size=(11, 50))
    B = A + rng.normal(scale=0.8, size=A.shape)
    B[:, 15:30] -= 0.8
    res = paired_cluster_test(A, B, n_permutations=800)
    assert res.tail == 0
    _same_as_mne(res, A - B, 800, tail=0)
    same = cluster_test(A - B, tail=0, n_permutations=800)
    np.testing.assert_array_equal(res.p_values, same.p_values)
    dA = {f"s{i}": a for i, a in enumerate(A)}
    dB = {f"s{i}": b for i, b in reversed(list(enumerate(B)))}     # matched by name, not order
    np.testing.assert_array_equal(paired_cluster_test(dA, dB, n_permutations=800).p_values, res.p_values)
    with pytest.raises(ValueError, match="same subjects"):
        paired_cluster_test(dA, {k: v for k, v in list(dB.items())[1:]})
    with pytest.raises(TypeError, match="chance"):
        paired_cluster_test(A, B, chance=0.5)


@pytest.mark.parametrize("tail,alternative", [(1, "greater"), (-1, "less"), (0, "two-sided")])
def test_pointwise_corrections_match_scipy(tail, alternative):
    X = _planted(n=9, seed=10) * (-1 if tail < 0 else 1) + 0.5
    raw = cluster_test(X, chance=0.5, tail=tail, correction="none")
    ref = ttest_1samp(X, 0.5, axis=0, alternative=alternative)
    np.testing.assert_allclose(raw.statistic, ref.statistic, rtol=1e-10)
    np.testing.assert_allclose(raw.p_map, ref.pvalue, rtol=1e-8)
    fdr = cluster_test(X, chance=0.5, tail=tail, correction="FDR")
    np.testing.assert_allclose(fdr.p_map, false_discovery_control(ref.pvalue), rtol=1e-8)
    assert fdr.n_permutations == 0 and fdr.correction == "fdr"
    for c, p in zip(fdr.clusters, fdr.p_values):
        assert p == fdr.p_map[c].min()


def test_group_timecourse_of_arrays_mean_sem_and_test():
    X = _planted(n=10, seed=11) + 0.5
    times = np.arange(60) / 100
    g = group_timecourse(X, chance=0.5, times=times, n_permutations=300)
    np.testing.assert_allclose(g.mean, X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(g.sem, sem(X, axis=0), rtol=1e-12)
    assert g.chance == 0.5
    np.testing.assert_array_equal(g.values, X)
    direct = cluster_test(X, chance=0.5, times=times, n_permutations=300)
    np.testing.assert_array_equal(g.test.p_map, direct.p_map)
    assert g.test.spans() and group_timecourse(X, test=False).test is None


@pytest.fixture(scope="module")
def pseudo_epochs(shared_data):
    """8 pseudo-subjects: 15 trials per target drawn (without replacement) from S001's 44-46,
    every 16th sample (11 times, -0.2..0.8 s), 64 channels."""
    z = np.load(shared_data / "eeg" / "eegmmidb_S001_epochs.npz")
    x, y, times = z["eeg"][:, :, ::16], z["target"], z["times"][::16]
    rng = np.random.default_rng(0)
    subjects = {}
    for s in range(8):
        idx = np.concatenate([rng.choice(np.flatnonzero(y == c), 15, replace=False) for c in np.unique(y)])
        subjects[f"P{s}"] = (x[idx], y[idx], times)
    return subjects


@pytest.fixture(scope="module")
def pseudo_subjects(pseudo_epochs):
    """Leave-one-out LDA accuracy RDMs of the pseudo-subjects."""
    return eeg_rdms(pseudo_epochs)


def test_group_timecourse_of_pseudo_subjects_real_eeg(pseudo_subjects):
    g = group_timecourse(pseudo_subjects, n_permutations=256)          # 2**8: exact
    X = np.stack([r.mean_timecourse() for r in pseudo_subjects.values()])
    assert g.chance == 0.5 and g.label == "decoding accuracy" and g.subjects == list(pseudo_subjects)
    np.testing.assert_array_equal(g.values, X)
    np.testing.assert_allclose(g.sem, sem(X, axis=0), rtol=1e-12)
    np.testing.assert_allclose(g.times, pseudo_subjects["P0"].times)
    assert g.test.exact
    _same_as_mne(g.test, X - 0.5, 256, tail=1)
    sig = g.test.significant()
    assert sig[(g.times > 0.15) & (g.times < 0.45)].all()               # decodable after the cue
    assert not sig[g.times < 0].any()                                   # baseline at chance


def test_rsa_group_test_on_pseudo_subjects(pseudo_subjects):
    conds = [str(c) for c in pseudo_subjects["P0"].conditions]
    feet = np.array([c == "both_feet" for c in conds], dtype=float)
    model = LayerRDM(np.abs(feet[:, None] - feet[None, :]), conds, "feet vs fists")
    g = rsa_group_test(model, pseudo_subjects, method="pearson", n_permutations=256)
    ref = np.stack([rsa_timecourse(model, r, method="pearson") for r in pseudo_subjects.values()])
    np.testing.assert_allclose(g.values, ref, rtol=1e-12)
    assert g.chance == 0.0 and "pearson" in g.label
    np.testing.assert_array_equal(g.test.p_map, cluster_test(ref, n_permutations=256).p_map)


def test_generalization_maps_of_pseudo_subjects_real_eeg(pseudo_epochs, pseudo_subjects):
    maps = eeg_rdms(pseudo_epochs, generalization=True)
    X = np.stack([m.mean_map() for m in maps.values()])                # (8, 11, 11)
    res = cluster_test(maps, n_permutations=256)
    assert res.exact and res.statistic.shape == (11, 11)
    np.testing.assert_array_equal(res.times, maps["P0"].train_times)
    _same_as_mne(res, X - 0.5, 256, tail=1)
    np.testing.assert_array_equal(res.p_map, cluster_test(X, chance=0.5, n_permutations=256).p_map)
    t = res.times
    late = (t > 0.15) & (t < 0.45)
    assert res.significant()[np.ix_(late, late)].all() and not res.significant()[np.ix_(t < 0, t < 0)].any()
    diag = group_timecourse(maps, n_permutations=256)                   # the train = test diagonal
    np.testing.assert_allclose(diag.values, np.stack([r.mean_timecourse() for r in pseudo_subjects.values()]),
                               rtol=1e-12)


class _Generalization:
    """What the statistics read of a GeneralizationRDM: mean_map(), train/test times, meta."""

    def __init__(self, m, train, test, chance=0.5):
        self.m, self.train_times, self.test_times, self.meta = m, train, test, {"chance": chance}

    def mean_map(self):
        return self.m


def test_dict_of_generalization_maps():
    X = _planted(shape=(10, 12), n=9, seed=12, window=(slice(2, 6), slice(3, 8))) + 0.5
    tr, te = np.linspace(0, 0.9, 10), np.linspace(0, 1.1, 12)
    res = cluster_test({f"s{i}": _Generalization(x, tr, te) for i, x in enumerate(X)}, n_permutations=400)
    ref = cluster_test(X, chance=0.5, n_permutations=400)
    np.testing.assert_array_equal(res.p_map, ref.p_map)
    np.testing.assert_array_equal(res.times, tr)
    np.testing.assert_array_equal(res.test_times, te)
    bad = {f"s{i}": _Generalization(x, tr, te if i != 3 else te + 0.01) for i, x in enumerate(X)}
    with pytest.raises(ValueError, match=r"test times differ.*'s3'"):
        cluster_test(bad)


def _trdm(values, times, chance=0.5):
    n = 3
    data = np.zeros((n, n, len(times)))
    data[0, 1] = data[1, 0] = values
    data[0, 2] = data[2, 0] = data[1, 2] = data[2, 1] = values
    return TimeResolvedRDM(data, times=times, meta={"chance": chance})


def test_errors_say_what_and_where():
    X = _planted(n=6, seed=13)
    with pytest.raises(ValueError, match="at least 2 subjects"):
        cluster_test(X[:1])
    Y = X.copy()
    Y[4, 17] = np.nan
    with pytest.raises(ValueError, match=r"subject '4'.*index \(17,\)"):
        cluster_test(Y)
    times = np.arange(60) / 100
    results = {f"S{i}": _trdm(x, times) for i, x in enumerate(X)}
    results["S2"] = _trdm(X[2, :50], times[:50])
    results["S5"] = _trdm(X[5], times + 0.004)
    with pytest.raises(ValueError, match=r"times differ.*'S2': 50 times.*'S5'"):
        group_timecourse(results)
    nan = {f"S{i}": _trdm(x, times) for i, x in enumerate(Y)}
    with pytest.raises(ValueError, match=r"subject 'S4'.*time 0\.17"):
        group_timecourse(nan)
    flat = LayerRDM(np.array([[0, 1, 2], [1, 0, 1], [2, 1, 0]], float), ["0", "1", "2"], "m")
    with pytest.raises(ValueError, match=r"NaN.*subject 'S0'"):   # constant RDMs: r undefined
        rsa_group_test(flat, {f"S{i}": _trdm(x, times) for i, x in enumerate(X)})
    mixed = {f"S{i}": _trdm(x, times, chance=0.5 if i else 0.0) for i, x in enumerate(X)}
    with pytest.raises(ValueError, match="chance"):
        group_timecourse(mixed)
    with pytest.raises(ValueError, match=r"threshold.*tail=-1.*threshold=-2"):
        cluster_test(X, tail=-1, threshold=2.0)
    with pytest.raises(ValueError, match=r"threshold.*tail=1"):
        cluster_test(X, tail=1, threshold=-2.0)
    with pytest.raises(ValueError, match="tail"):
        cluster_test(X, tail=2)
    with pytest.raises(ValueError, match="Did you mean 'fdr'"):
        cluster_test(X, correction="fdrr")
    with pytest.raises(ValueError, match="not both"):
        cluster_test(X, threshold=2.0, tfce=True)
    with pytest.raises(TypeError, match="dict"):
        cluster_test(results["S0"])


def test_progress_and_cancel():
    X = _planted(n=12, seed=14)
    seen = []
    cluster_test(X, n_permutations=300, progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (0, 299) and seen[-1] == (299, 299)

    def stop(done, total):
        if done:
            raise Cancelled()

    with pytest.raises(Cancelled):
        cluster_test(X, n_permutations=300, progress=stop)


def test_no_cluster_means_no_permutations():
    X = np.random.default_rng(15).normal(size=(10, 30)) * 0.01 - 1.0
    res = cluster_test(X, tail=1)
    assert res.clusters == [] and res.h0.size == 0 and np.all(res.p_map == 1.0) and res.spans() == []
