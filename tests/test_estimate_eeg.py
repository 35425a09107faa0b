"""Cost estimates of eeg_rdm (rdm_widgets.estimate.estimate_eeg / estimate_eeg_rdm).

The estimate and eeg_rdm share one plan (rdm_widgets.eeg.plan_eeg_rdm): fit counts equal the
run's progress total, and the estimate rejects what the run rejects. Seconds are only checked
for being positive (no assertion depends on how fast this machine is).
"""
import numpy as np
import pytest

from rdm_widgets import Cancelled, eeg_rdm, estimate_eeg, estimate_eeg_rdm
from rdm_widgets.demo import demo_path
from rdm_widgets.eeg import lda_regime, read_epochs


def test_lda_regimes():
    assert lda_regime(30, 64) == "rank_deficient"             # 2k-2 = 58 <= 64 channels
    assert lda_regime(33, 64) == "rank_deficient"             # 2k-2 = 64: still rank deficient
    assert lda_regime(44, 64) == "full_rank"                  # 2k-4 = 84 >= 64
    assert lda_regime(44, 64, average_reference=True) == "average_reference"
    assert lda_regime(34, 65) == "exact_svd"                  # 2k-3 == C, not average-referenced
    assert estimate_eeg(3, 4, 8, 6).regime == "rank_deficient"
    assert estimate_eeg(3, 8, 8, 6).regime == "full_rank"
    assert estimate_eeg(3, 8, 8, 6, cv=4).regime == "per_fold_svd"
    assert estimate_eeg(3, 8, 8, 6, noise_normalization="epoch").regime == "per_fold_svd"
    assert estimate_eeg(3, 8, 8, 6, method="lda_shrinkage").regime == "per_fold_lsqr"
    dist = estimate_eeg(3, 8, 8, 6, method="crossnobis")
    assert dist.regime == "distance" and dist.disk_bytes == 0 and dist.work["flops"] > 0


def test_eeg_fits_count_matches_eeg_rdm_progress_total():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5 * 9, 6, 23))
    labels = np.repeat(list("abcde"), 9)
    cases = [dict(), dict(decim=3), dict(method="cv_euclidean", cv=3, window=4, decim=2),
             dict(method="lda_shrinkage", pseudo_trials=4, n_permutations=3, random_state=1)]
    for options in cases:
        totals = []

        def stop(done, total):
            totals.append(total)
            raise Cancelled                       # the total is known before any work is done

        with pytest.raises(Cancelled):
            eeg_rdm(x, labels, progress=stop, **options)
        est = estimate_eeg_rdm(x, labels, **options)
        assert est.work["fits"] == totals[0], options
        assert est.work["pairs"] == 10 and est.seconds > 0 and est.peak_bytes > x.nbytes
    # pairs x times x folds x permutations
    est = estimate_eeg(10, 20, 8, 50, cv=5, pseudo_trials=10, n_permutations=4, decim=2)
    assert est.work["fits"] == 45 * 25 * 5 * 4


def test_estimate_eeg_rdm_detects_average_reference():
    ep = read_epochs(demo_path("eeg"))              # real EEG, average-referenced, 64 channels
    est = estimate_eeg_rdm(ep.eeg, ep.labels["target"], decim=8)
    assert est.regime == "average_reference" and est.work["channels"] == 64
    x = ep.eeg + 1.0                                 # no longer average-referenced
    assert estimate_eeg_rdm(x, ep.labels["target"], decim=8).regime == "full_rank"


def test_eeg_estimate_validation():
    labels = np.repeat([0, 1, 2], 5)
    x = np.zeros((15, 4, 10))
    with pytest.raises(ValueError, match="Did you mean 'lda'"):
        estimate_eeg_rdm(x, labels, method="lad")
    with pytest.raises(ValueError, match="n_permutations > 1"):
        estimate_eeg_rdm(x, labels, n_permutations=3)
    with pytest.raises(ValueError, match="pseudo_trials=6 exceeds"):
        estimate_eeg_rdm(x, labels, pseudo_trials=6)
    with pytest.raises(ValueError, match="cv=7 folds"):
        estimate_eeg_rdm(x, labels, cv=7)
    with pytest.raises(ValueError, match="score='decision' applies to the LDA methods"):
        estimate_eeg_rdm(x, labels, method="cv_euclidean", score="decision")
    with pytest.raises(ValueError, match="Got 14 labels for 15 trials"):
        estimate_eeg_rdm(x, labels[:-1])
    with pytest.raises(ValueError, match="window=11"):
        estimate_eeg_rdm(x, labels, window=11)
    with pytest.raises(ValueError, match="'times' has 3 values"):
        estimate_eeg_rdm(x, labels, times=[0, 1, 2])
    with pytest.raises(ValueError, match="n_conditions"):
        estimate_eeg(1, 5, 4, 10)
    with pytest.raises(ValueError, match="'k'"):
        estimate_eeg(3, 2, 4, 10)                  # LDA needs 3 trials per condition
    assert estimate_eeg(3, 2, 4, 10, method="cv_euclidean").work["folds"] == 2


def test_estimate_eeg_rdm_takes_every_eeg_rdm_argument():
    """The estimate is called with the run's own keyword arguments (panels, CLI)."""
    import inspect

    from rdm_widgets import eeg_rdm, estimate_eeg_rdm

    run = inspect.signature(eeg_rdm).parameters
    est = inspect.signature(estimate_eeg_rdm).parameters
    assert list(run) and set(run) <= set(est), set(run) - set(est)
    for name, p in run.items():
        assert est[name].default == p.default, (name, est[name].default, p.default)


def test_eeg_seconds_count_a_measured_cost_per_time_point_condition_and_pair(monkeypatch):
    # a time point costs a per condition + b per pair (measured on tiny runs of the same
    # method), plus a fixed cost per call: many time points scale linearly, not with the
    # tiny runs' per-fit overhead (issue 14: 1 h 06 min estimated for 32 s)
    from rdm_widgets.estimate import _eeg

    monkeypatch.setattr(_eeg, "calibrated_units", lambda plan: (7.0, 0.5, 2.0, 1))
    monkeypatch.setattr(_eeg, "contention", lambda: 1.0)          # an idle machine
    monkeypatch.setattr(_eeg, "thread_speedup", lambda plan, work=None: 1.0)  # one thread
    est = estimate_eeg(10, 20, 8, 100, method="cv_euclidean", pseudo_trials=5, n_permutations=3)
    data = est.seconds - (7.0 + 3 * 100 * (0.5 * 10 + 2.0 * 45))
    assert 0 <= data < 1.0, est.seconds                      # the rest: passes over the input
    monkeypatch.setattr(_eeg, "calibrated_units", lambda plan: (0.0, 0.0, 1.0, 1))
    assert estimate_eeg(5, 20, 8, 100).seconds == pytest.approx(100 * 10, rel=1e-3)


def test_eeg_estimate_grows_with_the_sizes_and_is_calibrated_once(monkeypatch):
    from rdm_widgets.estimate import _eeg_units

    base = estimate_eeg(6, 10, 8, 20)
    assert estimate_eeg(6, 10, 8, 200).seconds > base.seconds
    assert estimate_eeg(12, 10, 8, 20).seconds > base.seconds
    assert estimate_eeg(6, 10, 8, 20, n_trials=400).peak_bytes > base.peak_bytes

    def no_run(*args, **kwargs):
        raise AssertionError("calibrated again")

    monkeypatch.setattr(_eeg_units, "eeg_rdm", no_run)         # cached per process and options
    assert estimate_eeg(6, 10, 8, 300).work["times"] == 300


def test_eeg_peak_counts_the_float64_copy_only_when_the_run_makes_one():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3 * 6, 5, 40))
    labels = np.repeat([0, 1, 2], 6)
    own = estimate_eeg_rdm(x, labels, method="cv_euclidean")                    # float64: used as is
    copied = estimate_eeg_rdm(x.astype(np.float32), labels, method="cv_euclidean")
    assert copied.peak_bytes - own.peak_bytes == x.nbytes


def _peak(*args, threads=1, **kw):
    import torch

    from rdm_widgets.eeg import plan_eeg_sizes
    from rdm_widgets.estimate._eeg import _peak_bytes
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        plan = plan_eeg_sizes(*args, **kw)
        return plan, _peak_bytes(plan, input_copied=False)
    finally:
        torch.set_num_threads(old)


def test_eeg_peak_models_what_the_kernels_hold_not_the_block_budget():
    # the null-space LDA path works in 32-pair-time chunks: far below its block budget
    plan, peak = _peak(8, 20, 64, 10)
    assert plan.regime == "rank_deficient"
    assert peak < plan.block_pair_times * plan.bytes_per_pair_time
    # ... but it holds every used trial (and a time block's clone) besides
    assert peak > 2 * 8 * 20 * 64 * 10 * 8
    # exact LDA: grows with channels, trials and the threads that run blocks at once
    for regime_args in [(8, 20, 64, 400), (12, 50, 32, 300)]:
        n_cond, k, c, t = regime_args
        _, base = _peak(*regime_args)
        assert _peak(n_cond, k, 2 * c, t)[1] > base
        assert _peak(n_cond, 2 * k, c, t)[1] > base
        assert _peak(*regime_args, threads=2)[1] > base
    # per-fold lsqr LDA gathers a (C, C) covariance per pair and time (the svd solver the
    # trials: 2 x 8 units x C here, half of C^2 = 32 x C)
    lsqr = dict(method="lda_shrinkage", pseudo_trials=8, cv=4)
    assert _peak(12, 40, 32, 100, **lsqr)[1] > 1.5 * _peak(12, 40, 32, 100, **dict(lsqr, method="lda"))[1]
    assert _peak(12, 40, 32, 100, threads=2, **lsqr)[1] > _peak(12, 40, 32, 100, **lsqr)[1]
    # noise normalisation: the whiteners' residuals are several trial-sized arrays
    trials = 20 * 20 * 32 * 60 * 8
    dist = dict(pseudo_trials=5, random_state=0)
    assert (_peak(20, 20, 32, 60, method="crossnobis", **dist)[1]
            - _peak(20, 20, 32, 60, method="cv_euclidean", **dist)[1]) > 4 * trials


# ----------------------------------------------------------------------------- threads (issue 14)
def _plan(*args, **kw):
    from rdm_widgets.eeg import plan_eeg_sizes

    return plan_eeg_sizes(*args, **kw)


def test_units_are_measured_in_one_thread_and_leave_the_callers_threads(monkeypatch):
    """The calibration runs see one intra-op thread (the work of one block worker), whatever the
    process's count, and the caller's thread count is left as it was."""
    import torch

    from rdm_widgets.estimate import _eeg_units

    seen = []
    real = _eeg_units.eeg_rdm

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(_eeg_units, "eeg_rdm", spy)
    monkeypatch.setattr(_eeg_units, "_UNITS", {})                # measure again
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        units = _eeg_units.calibrated_units(_plan(3, 6, 5, 20, method="cv_euclidean"))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(old)
    assert seen and set(seen) == {1}
    fixed, a, b, n_c = units
    assert fixed >= 0 and a >= 0 and b > 0 and n_c >= 5


def test_thread_speedup_follows_the_runs_blocks(monkeypatch):
    """Amdahl's law with the regime's parallel share over the balance of the run's blocks (the
    exact kernel's pair-time blocks, the per-fold LDA's and the distances' folds)."""
    import torch

    from rdm_widgets.estimate import _eeg_units
    from rdm_widgets.estimate._eeg_units import PARALLEL_SHARE, ideal_speedup, lda_layout, thread_speedup

    monkeypatch.setattr(_eeg_units, "_cores", lambda: 8)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert thread_speedup(_plan(12, 50, 32, 300)) == 1.0                  # one thread: none
        torch.set_num_threads(2)
        big = _plan(12, 50, 32, 300)                                          # full-rank, many blocks
        # two time blocks of 150 time points: 66 x 150 pair-times in blocks of `step` (the last
        # one partial), ceil(blocks / 2) rounds of a full block on 2 threads
        total, step, _ = lda_layout(big, 2)
        assert big.regime == "full_rank" and total == 66 * 150 and step <= big.block_pair_times
        s = total / (-(-(-(-total // step)) // 2) * step)
        assert 1.8 < s <= 2.0 and ideal_speedup(big, 2) == pytest.approx(s)
        f = PARALLEL_SHARE["full_rank"]
        full = 1 / ((1 - f) + f / s)
        assert thread_speedup(big) == pytest.approx(full)
        # little work per thread gains little: half the gain at HANDOFF_SECONDS per thread
        h = _eeg_units.HANDOFF_SECONDS
        assert thread_speedup(big, 2 * h) == pytest.approx(1 + (full - 1) / 2)
        assert thread_speedup(big, 0.0) == 1.0
        assert thread_speedup(big, 1e4) == pytest.approx(full, rel=1e-5)
        # per-fold LDA: folds in threads (3 folds on 2 threads take two rounds)
        lsqr = dict(method="lda_shrinkage", pseudo_trials=8)
        assert ideal_speedup(_plan(12, 40, 32, 100, cv=4, **lsqr), 2) == 2.0
        assert ideal_speedup(_plan(12, 40, 32, 100, cv=3, **lsqr), 2) == 1.5
        assert ideal_speedup(_plan(12, 40, 32, 100, cv=3, **lsqr), 4) == 3.0     # one fold each
        # distances: whole folds per thread too (10 leave-one-out folds on 8 threads take two
        # rounds); the threads are capped at the cores
        assert ideal_speedup(_plan(6, 10, 8, 20, method="cv_euclidean", cv=3), 2) == 1.5
        torch.set_num_threads(16)
        assert _eeg_units._threads(big) == 8
        assert ideal_speedup(_plan(6, 10, 8, 20, method="cv_euclidean"), _eeg_units._threads(big)) == 5.0
    finally:
        torch.set_num_threads(old)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_lda_layout_matches_the_kernels_blocks(monkeypatch, threads):
    """The blocks the estimate counts are the blocks the exact kernel hands to its threads."""
    import torch

    from rdm_widgets.eeg import _lda
    from rdm_widgets.estimate._eeg_units import lda_layout

    seen = []
    real = _lda.run_threaded

    def spy(fn, starts, device):
        starts = list(starts)
        seen.append(starts)
        return real(fn, starts, device)

    monkeypatch.setattr(_lda, "run_threaded", spy)
    rng = np.random.default_rng(2)
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        #          full rank, 1 time   rank-deficient   null space        full rank, many pair-times
        for n_cond, k, c, t in [(5, 10, 16, 3), (4, 8, 30, 1), (4, 8, 20, 30), (6, 12, 8, 40)]:
            labels = np.repeat(np.arange(n_cond), k)
            seen.clear()
            eeg_rdm(rng.normal(size=(len(labels), c, t)), labels)
            plan = _plan(n_cond, k, c, t)
            total, step, _ = lda_layout(plan, threads)
            assert seen[0] == list(range(0, total, step)), (n_cond, k, c, t, plan.regime)
    finally:
        torch.set_num_threads(old)


def test_eeg_seconds_divide_the_kernel_work_by_the_speedup(monkeypatch):
    from rdm_widgets.estimate import _eeg

    monkeypatch.setattr(_eeg, "calibrated_units", lambda plan: (0.0, 0.0, 1.0, 1))
    monkeypatch.setattr(_eeg, "contention", lambda: 1.0)
    monkeypatch.setattr(_eeg, "thread_speedup", lambda plan, work=None: 2.0)
    est = estimate_eeg(5, 20, 8, 100)
    assert est.seconds == pytest.approx(100 * 10 / 2, rel=1e-3) and est.work["speedup"] == 2.0


# ----------------------------------------------------------------------------- temporal generalisation
def test_generalization_estimate_counts_the_runs_progress_and_result():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4 * 8, 6, 12))
    labels = np.repeat(list("abcd"), 8)
    for options in [dict(), dict(method="cv_euclidean", cv=2), dict(method="lda_shrinkage", pseudo_trials=4, cv=2)]:
        totals = []

        def stop(done, total):
            totals.append(total)
            raise Cancelled

        with pytest.raises(Cancelled):
            eeg_rdm(x, labels, progress=stop, generalization=True, **options)
        est = estimate_eeg_rdm(x, labels, generalization=True, **options)
        plain = estimate_eeg_rdm(x, labels, **options)
        assert est.work["progress_total"] == totals[0], options
        assert est.work["evaluations"] == est.work["fits"] * 12 and plain.work["evaluations"] == 0
        assert est.work["result_bytes"] == 8 * 4 * 4 * 12 * 12
        assert est.seconds > plain.seconds and est.peak_bytes > plain.peak_bytes


def test_generalization_seconds_grow_with_train_and_test_times(monkeypatch):
    from rdm_widgets.estimate import _eeg

    monkeypatch.setattr(_eeg, "calibrated_units", lambda plan: (0.0, 0.0, 0.0, 1))
    monkeypatch.setattr(_eeg, "contention", lambda: 1.0)
    monkeypatch.setattr(_eeg, "generalization_speedup", lambda plan: 1.0)
    monkeypatch.setattr(_eeg, "calibrated_generalization", lambda plan: (3.0, 0.5, 1.0))
    est = estimate_eeg(5, 20, 8, 100, n_permutations=2, pseudo_trials=4, generalization=True)
    # per permutation: fixed + T x (0.5 per pair) + T^2 x (1 per pair): 10 pairs
    want = 2 * (3.0 + 100 * (0.5 * 10 + 1.0 * 10 * 100))
    assert want <= est.seconds < want + 1.0
    # distances: the training times cost per condition (fold means), the cells per pair
    dist = estimate_eeg(5, 20, 8, 100, method="cv_euclidean", generalization=True)
    assert 3.0 + 100 * (0.5 * 5 + 1.0 * 10 * 100) <= dist.seconds


def test_generalization_peak_holds_the_train_by_test_scores():
    from rdm_widgets.estimate._eeg import _peak_bytes

    plan = _plan(20, 20, 32, 200, method="cv_euclidean", pseudo_trials=5, generalization=True)
    plain = _plan(20, 20, 32, 200, method="cv_euclidean", pseudo_trials=5)
    scores = plan.n_pairs * 200 * 200 * 8             # (P, T, T) float64
    # at the end: the scores, their mean over permutations and the (n, n, T, T) result at once
    assert _peak_bytes(plan) >= 2 * scores + plan.result_bytes > _peak_bytes(plain)
