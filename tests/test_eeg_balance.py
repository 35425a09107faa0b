"""Unbalanced designs in eeg_rdm: a warning naming the counts, meta that tells the truth, a seeded
subsample (balance='random'), every trial with pseudo-trials (balance=False), and the default
unchanged."""
import warnings

import numpy as np
import pytest

from rdm_widgets import eeg_rdm
from rdm_widgets.eeg import UnbalancedTrialsWarning


def _data(counts=(7, 5, 6), C=4, T=3, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.concatenate([[f"c{i}"] * n for i, n in enumerate(counts)])
    rng.shuffle(labels)
    means = rng.normal(size=(len(counts), C, T))
    x = means[[int(s[1:]) for s in labels]] + rng.normal(size=(len(labels), C, T))
    return x, labels


def test_warning_names_conditions_and_counts():
    x, labels = _data()
    with pytest.warns(UnbalancedTrialsWarning, match=r"'c0': 7, 'c2': 6, 'c1': 5.*first 5 trials.*3 trial\(s\)"):
        r = eeg_rdm(x, labels)
    assert r.meta["n_trials_available"] == {"c0": 7, "c1": 5, "c2": 6}
    assert r.meta["n_trials_used"] == {"c0": 5, "c1": 5, "c2": 5} == r.meta["n_trials_per_condition"]
    assert r.meta["balance"] == "first" and r.meta["k"] == 5
    for c in ("c0", "c1", "c2"):          # the first 5 of each condition, in data order
        assert r.meta["trials_used"][c] == np.flatnonzero(labels == c)[:5].tolist()


def test_balanced_data_no_warning_and_default_unchanged():
    x, labels = _data(counts=(5, 5, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = eeg_rdm(x, labels)
        explicit = eeg_rdm(x, labels, balance="first")
        rand = eeg_rdm(x, labels, balance="random", random_state=4)    # all trials: nothing to draw
    np.testing.assert_array_equal(r.data, explicit.data)
    np.testing.assert_array_equal(r.data, rand.data)
    x, labels = _data()
    with pytest.warns(UnbalancedTrialsWarning):
        default = eeg_rdm(x, labels)
    idx = np.concatenate([np.flatnonzero(labels == c)[:5] for c in ("c0", "c1", "c2")])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cut = eeg_rdm(x[np.sort(idx)], labels[np.sort(idx)])       # what the default did, by hand
    np.testing.assert_array_equal(default.data, cut.data)


def test_random_subsample_is_seeded_and_recorded():
    x, labels = _data()
    with pytest.warns(UnbalancedTrialsWarning, match="drawn at random"):
        a = eeg_rdm(x, labels, balance="random", random_state=7)
    with pytest.warns(UnbalancedTrialsWarning):
        b = eeg_rdm(x, labels, balance="random", random_state=7)
    np.testing.assert_array_equal(a.data, b.data)
    assert a.meta["seed"] == 7 and a.meta["trials_used"] == b.meta["trials_used"]
    used = np.sort(np.concatenate([a.meta["trials_used"][c] for c in ("c0", "c1", "c2")]))
    assert all(len(a.meta["trials_used"][c]) == 5 for c in ("c0", "c1", "c2"))
    np.testing.assert_array_equal(a.data, eeg_rdm(x[used], labels[used]).data)   # = the recorded trials
    with pytest.warns(UnbalancedTrialsWarning):
        drawn = eeg_rdm(x, labels, balance="random")
    with pytest.warns(UnbalancedTrialsWarning):
        again = eeg_rdm(x, labels, balance="random", random_state=drawn.meta["seed"])
    np.testing.assert_array_equal(drawn.data, again.data)


def test_every_trial_with_pseudo_trials_matches_hand_computation():
    x, labels = _data(counts=(9, 6, 7), C=3, T=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")            # nothing is left out: no warning
        r = eeg_rdm(x, labels, method="cv_euclidean", pseudo_trials=3, balance=False, random_state=5)
    assert r.meta["n_trials_used"] == r.meta["n_trials_available"] == {"c0": 9, "c1": 6, "c2": 7}
    # by hand: one default_rng(seed) deals each condition's trials round-robin into 3 pseudo-trials
    rng = np.random.default_rng(5)
    pseudo = []
    for c in ("c0", "c1", "c2"):
        trials = x[labels == c]
        bins = np.empty(len(trials), int)
        bins[rng.permutation(len(trials))] = np.arange(len(trials)) % 3
        pseudo.append(np.stack([trials[bins == b].mean(0) for b in range(3)]))
    P = np.stack(pseudo)                                             # (3 cond, 3 pseudo, C, T)
    expected = np.zeros((3, 3, 2))
    for f in range(3):
        train = P[:, [u for u in range(3) if u != f]].mean(1)        # (cond, C, T)
        test = P[:, f]
        for i in range(3):
            for j in range(3):
                expected[i, j] += np.einsum("ct,ct->t", train[i] - train[j], test[i] - test[j]) / 3
    expected /= 3
    np.testing.assert_allclose(r.data, expected, atol=1e-12)


def test_every_trial_equals_default_on_balanced_data():
    x, labels = _data(counts=(6, 6, 6))
    kw = dict(method="lda", pseudo_trials=3, n_permutations=2, random_state=1)
    np.testing.assert_array_equal(eeg_rdm(x, labels, balance=False, **kw).data, eeg_rdm(x, labels, **kw).data)


def test_every_trial_with_noise_normalisation_runs():
    x, labels = _data(counts=(8, 5, 6))
    r = eeg_rdm(x, labels, method="crossnobis", pseudo_trials=4, balance=False, random_state=0)
    assert np.isfinite(r.data).all() and r.meta["noise_normalization"] == "epoch"
    lda = eeg_rdm(x, labels, method="lda_shrinkage", pseudo_trials=4, balance=False, random_state=0)
    assert ((lda.data >= 0) & (lda.data <= 1)).all()


def test_balance_errors():
    x, labels = _data()
    with pytest.raises(ValueError, match="balance=False .* needs pseudo_trials"):
        eeg_rdm(x, labels, balance=False)
    with pytest.raises(ValueError, match="cannot be combined with groups"):
        eeg_rdm(x, labels, balance=False, pseudo_trials=3, groups=np.arange(len(labels)))
    with pytest.raises(ValueError, match="Invalid value for 'balance'"):
        eeg_rdm(x, labels, balance="smallest")
    with pytest.raises(TypeError, match="'balance'"):
        eeg_rdm(x, labels, balance=2)
