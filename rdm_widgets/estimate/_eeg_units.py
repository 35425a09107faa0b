"""Measured unit costs of :func:`rdm_widgets.eeg.eeg_rdm` for its estimate (private).

Why this module exists: the seconds per fit of the EEG kernels depend on the method, the exact
LDA kernel's regime, the noise normalisation, the thread count and the machine far more than a
flop count can tell, so :mod:`rdm_widgets.estimate._eeg` prices a run with costs *measured* here
by running the real ``eeg_rdm`` on tiny problems of the same kind, once per process:

- :func:`calibrated_units`: the fixed cost of a call and the seconds per time point and
  condition / per time point and pair, measured in one thread (one intra-op torch thread, as each
  of ``eeg_rdm``'s block workers runs): the work, whatever the thread count, and safe from
  OpenMP teams spinning against other jobs on a busy machine (with two threads a tiny run could
  take 100x its time there, and a 1 s job was estimated at 3 min).
- :func:`thread_speedup`: how much faster the process's thread count runs that work. The exact
  LDA kernel runs blocks of pair-times, and the per-fold LDA its folds, in parallel threads
  (``eeg._lda_base.run_threaded``), and so do the distances their folds. The
  speed-up is Amdahl's law with the regime's parallel share (:data:`PARALLEL_SHARE`, measured
  with ``benchmarks/bench_estimate.py``) over the balance of the planned run's blocks on the
  threads (:func:`ideal_speedup`): a run of one block gets none, a run of one full and one
  small block little. Measuring it per process instead would need a run of at least one
  block per thread (0.1-0.3 s of work per regime: too slow for an estimate meant to answer
  at once), and the tiny calibration runs, which fit in the caches, show an ideal speed-up
  that large runs do not have (the per-fold lsqr path: 2x on tiny runs, 1.35x on a real one).
  Before, the units were measured with the process's threads on those tiny runs, which saw no
  parallelism for the full-rank kernel (estimates 2.3x too long with 2 threads), ideal
  parallelism for the per-fold lsqr path (2x too short), and on a busy machine OpenMP teams
  spinning against other jobs (a 1 s job estimated at 3 min).
"""
from __future__ import annotations

import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from ..eeg import EEGPlan, eeg_rdm
from ..eeg._gen_kernels import GEN_BLOCK_ELEMS
from ..eeg._loop import time_blocks

from ..eeg._lda_layout import loo_block_layout

__all__ = ["calibrated_units", "calibrated_generalization", "thread_speedup", "generalization_speedup",
           "ideal_speedup", "lda_layout", "PARALLEL_SHARE", "HANDOFF_SECONDS"]

_UNITS: dict = {}
_LOCK = threading.Lock()
_CAL_TARGET = 0.03        # seconds the calibration's longer runs aim at
_CAL_MAX_TIMES = 61       # ... with at most this many time points
_CAL_CONDITIONS = 6       # conditions of the run that separates per-pair from per-condition work


def _pairs(c: int) -> int:
    return c * (c - 1) // 2


def _key(plan: EEGPlan) -> tuple:
    opts = plan.options
    return (str(opts.device), opts.method, opts.score, opts.cv, opts.pseudo_trials, opts.noise_normalization,
            str(opts.shrinkage), plan.regime, plan.n_channels, plan.k)


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _threads(plan: EEGPlan) -> int:
    """Threads the planned run computes with at once (1 off the CPU: one device stream)."""
    if plan.options.device.type != "cpu":
        return 1
    return max(1, min(torch.get_num_threads(), _cores()))


def _in_one_thread(fn):
    """``fn()`` in a helper thread with one intra-op torch thread (as ``eeg_rdm``'s block workers
    run); the caller's own thread count is left as it was."""
    before = torch.get_num_threads()

    def one():
        torch.set_num_threads(1)
        return fn()
    with ThreadPoolExecutor(1, thread_name_prefix="rdm_widgets-estimate") as pool:
        out = pool.submit(one).result()
    if torch.get_num_threads() != before:      # a fresh OpenMP thread may set the process default
        torch.set_num_threads(before)
    return out


class _Runner:
    """Real ``eeg_rdm`` runs of the plan's method, options, channels and trials per condition."""

    def __init__(self, plan: EEGPlan):
        opts = plan.options
        self.plan, self.rng = plan, np.random.default_rng(0)
        self.options = dict(method=opts.method, score=opts.score, cv=opts.cv, pseudo_trials=opts.pseudo_trials,
                            noise_normalization=opts.noise_normalization, shrinkage=opts.shrinkage,
                            random_state=0, device=opts.device)

    def data(self, n_cond, n_times):
        labels = np.repeat(np.arange(n_cond), self.plan.k)
        x = self.rng.standard_normal((len(labels), self.plan.n_channels, n_times))
        x += 0.3 * labels[:, None, None]
        if self.plan.regime == "average_reference":
            x -= x.mean(axis=1, keepdims=True)
        return x, labels

    def __call__(self, n_cond, n_times, repeat=2, generalization=False):
        """Mean seconds of ``repeat`` runs, in CPU time where that is less than the wall time (what
        the run needs of an idle core, not the share the machine's other jobs left it; see
        :func:`rdm_widgets.estimate.contention`)."""
        x, labels = self.data(n_cond, n_times)
        took = []
        for _ in range(repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            eeg_rdm(x, labels, generalization=generalization, **self.options)
            took.append(min(time.perf_counter() - t0, time.process_time() - c0))
        return float(np.mean(took))


def _measure_units(plan: EEGPlan) -> tuple:
    run, c2 = _Runner(plan), _CAL_CONDITIONS
    run(2, 1, 1)                                     # warm-up: caches, lazily built kernels
    t1 = run(2, 1)
    probe = max(run(2, 9, 1) - t1, 1e-5) / 8         # seconds per time point, roughly
    # odd: some kernels are several times slower at a power-of-two number of time points
    n_t = int(min(_CAL_MAX_TIMES, max(9, _CAL_TARGET / probe))) | 1
    m2 = max(run(2, n_t) - t1, 0.0) / (n_t - 1)      # per time point: 2 a + b
    p2 = _pairs(c2)
    # fewer time points with more conditions (each run takes about the target), but for the
    # per-fold kernels as many as the run has, up to 41: they slow down once their arrays
    # leave the caches, which a few time points do not show (the exact LDA works in blocks)
    floor = 0 if plan.options.fast_loo else min(plan.n_times_out, 41)
    n_c = int(min(n_t, max(5, 2 * _CAL_TARGET / max(m2 * p2, 1e-6), floor))) | 1
    m3 = max(run(c2, n_c) - run(c2, 1), 0.0) / (n_c - 1)      # c2 a + p2 b
    b = (2 * m3 - c2 * m2) / (2 * p2 - c2)
    a = (m2 - b) / 2
    if b < 0:
        a, b = m3 / c2, 0.0
    elif a < 0:
        a, b = 0.0, m3 / p2
    return max(t1 - m2, 0.0), a, max(b, 1e-7), n_c


def calibrated_units(plan: EEGPlan) -> tuple:
    """(fixed seconds per call, seconds per time point and condition, per time point and pair,
    time points of the calibration's 6-condition run) of this plan's method, regime and sizes,
    in one thread.

    Measured once per process by real ``eeg_rdm`` runs on tiny problems with the plan's method,
    options, channels and trials per condition: 2 conditions x 1 time point (the fixed cost), 2
    conditions x T and 6 conditions x 1 and x T' time points (T and T' sized to take about
    :data:`_CAL_TARGET` seconds). A time point costs ``a c + b p`` for ``c`` conditions and ``p``
    pairs (per-condition work: pseudo-trial averaging, noise covariances; per-pair work: the fits
    or distances); the two runs give ``a`` and ``b``. Each time is the mean of two runs (a real
    run meets the machine's typical state, not its best moment), in CPU time where that is less
    than the wall time (the estimate multiplies by :func:`rdm_widgets.estimate.contention`).
    """
    key = _key(plan)
    with _LOCK:
        if key not in _UNITS:
            _UNITS[key] = _in_one_thread(lambda: _measure_units(plan))
        return _UNITS[key]


def _measure_generalization(plan: EEGPlan, units: tuple) -> tuple:
    fixed, a, b, _ = units
    run = _Runner(plan)
    # LDA: 2 conditions (the weight solves dominate); distances: 6 conditions and up to 3x the
    # time points, so that the train x test cells (Gram entries, shared by the pairs) show
    c, most = (2, _CAL_MAX_TIMES) if plan.options.is_lda else (_CAL_CONDITIONS, 3 * _CAL_MAX_TIMES)
    p = _pairs(c)
    diag = lambda n_t: fixed + n_t * (c * a + p * b)        # noqa: E731  the ordinary run within
    run(c, 2, 1, generalization=True)                        # warm-up of the generalisation kernels
    t0 = max(run(c, 2, generalization=True) - diag(2), 0.0)
    probe = max(run(c, 6, 1, generalization=True) - diag(6) - t0, 1e-5) / 4     # per time point, roughly
    n2 = int(min(most, max(9, 2 * _CAL_TARGET / probe)))
    n1 = max(4, n2 // 3)
    g1 = max(run(c, n1, 1, generalization=True) - diag(n1), 0.0)
    g2 = max(run(c, n2, 1, generalization=True) - diag(n2), 0.0)
    # g(T) = F + w T + e T^2 through (2, t0), (n1, g1), (n2, g2): the training times (a weight
    # solve per pair; distances: fold means and whitening per condition) and the train x test
    # cells (decisions, Gram entries) of one pair
    d1, d2 = (g1 - t0) / (n1 - 2), (g2 - t0) / (n2 - 2)
    e = max((d2 - d1) / (n2 - n1), 0.0)
    w = max(d1 - e * (n1 + 2), 0.0)
    fixed_g = max(t0 - 2 * w - 4 * e, 0.0)
    return fixed_g, w / (p if plan.options.is_lda else c), e / p


def calibrated_generalization(plan: EEGPlan) -> tuple:
    """(fixed seconds per permutation, seconds per training time and pair -- distances: and
    condition --, per pair, training time and test time) of the generalisation kernels of this
    plan's method and sizes, on top of the ordinary run (its diagonal), in one thread.

    Measured once per process, like :func:`calibrated_units`, by real ``eeg_rdm(...,
    generalization=True)`` runs of 2 conditions (distances: 6) at 2 and two more numbers of
    time points (the second about 3x the first), less the ordinary run's predicted cost: a
    quadratic in the time points.
    """
    units = calibrated_units(plan)
    key = _key(plan) + ("generalization",)
    with _LOCK:
        if key not in _UNITS:
            _UNITS[key] = _in_one_thread(lambda: _measure_generalization(plan, units))
        return _UNITS[key]


#: Amdahl's parallel share of each regime's work per time point, from the speed-up of 2 threads
#: over 1 on 2 idle cores (``benchmarks/bench_thread_speedup.py``, jobs of 16-256 time points):
#: full-rank exact LDA 1.25-1.39x, rank-deficient 1.72-1.83x (its compiled null-space kernel
#: holds no lock; 1.31-1.55x with the torch version), average-referenced 1.30-1.39x, per-fold
#: lsqr 1.71-1.87x (4 folds); exact_svd and per-fold svd run the same kinds of blocks as their
#: neighbours. Only blocks or folds run in parallel; the rest holds the GIL (the channel
#: paths' many small torch calls) or waits for memory. cv_euclidean was never faster with 2
#: workers (0.63-0.96x: its runs are the phases around the kernel), so its folds run in one
#: (``eeg._crossval.cv_distances``); crossnobis runs its whitened folds in all the threads and
#: gains (1.3-1.7x from 16 time points up): share 0, an estimate on the safe side for crossnobis.
PARALLEL_SHARE = {"full_rank": 0.6, "rank_deficient": 0.85, "average_reference": 0.7, "exact_svd": 0.7,
                  "per_fold_svd": 0.8, "per_fold_lsqr": 0.8, "distance": 0.0}

#: Seconds of one-thread work per thread at which threads give half their speed-up: below it a
#: block's many small calls hold the GIL about as long as they compute (2 idle cores: 2 x 3 ms
#: of per-fold LDA ran 0.93x, 2 x 11 ms 1.21x; 2 x 3.5 ms of full-rank LDA 1.09x, 2 x 14 ms 1.27x).
HANDOFF_SECONDS = 0.01


def lda_layout(plan: EEGPlan, threads: int) -> tuple:
    """``(total, step, chunk)`` of one call of the exact LDA kernel (the largest time block):
    its pair-times, pair-times per block (threads take whole blocks) and per chunk (one call of
    the kernel's solver; 0 = the whole block), from the kernel's own
    :func:`rdm_widgets.eeg._lda_layout.loo_block_layout`."""
    tb = max(b.stop - b.start for b in time_blocks(plan.n_times_out, plan.n_pairs))
    total = plan.n_pairs * tb
    step, chunk = loo_block_layout(total, plan.k, plan.n_channels, plan.options.device, threads)
    return total, step, chunk


def ideal_speedup(plan: EEGPlan, threads: int) -> float:
    """Speed-up of the planned run's kernel calls on ``threads`` threads if every thread did
    nothing but its share of the blocks: the work of a call over its longest thread's.

    Exact LDA: a call (one time block) has ``pairs x time points`` pair-times in blocks
    (:func:`lda_layout`; the last one smaller): ``ceil(blocks / threads)`` rounds of a block
    each. Per-fold LDA and distances: the folds, equal (``cv_distances`` runs folds in groups of
    at least one per thread).
    """
    opts = plan.options
    if threads <= 1:
        return 1.0
    if not opts.fast_loo:       # per-fold LDA and the distances: whole folds per thread
        folds = plan.n_folds
        return folds / math.ceil(folds / threads)
    total, step, _ = lda_layout(plan, threads)
    rounds = math.ceil(math.ceil(total / step) / threads)
    return total / (rounds * min(step, total))


def thread_speedup(plan: EEGPlan, work=None) -> float:
    """How many times faster than :func:`calibrated_units` (one thread) the planned run computes
    with the process's torch threads (at most the cores): Amdahl's ``1 / ((1 - f) + f / s)`` with
    ``f`` the regime's :data:`PARALLEL_SHARE` and ``s`` the :func:`ideal_speedup` of its blocks.

    ``work`` (seconds of one-thread kernel work of one permutation, optional) scales the gain
    by ``w / (w + HANDOFF_SECONDS)`` with ``w`` the work per thread: a few milliseconds of
    small calls per thread gain little (see :data:`HANDOFF_SECONDS`)."""
    threads = _threads(plan)
    s = ideal_speedup(plan, threads)
    if s <= 1:
        return 1.0
    f = PARALLEL_SHARE.get(plan.regime, 0.5)
    full = 1.0 / ((1.0 - f) + f / s)
    if work is None:
        return full
    w = max(float(work), 0.0) / threads
    return 1.0 + (full - 1.0) * w / (w + HANDOFF_SECONDS)


def generalization_speedup(plan: EEGPlan) -> float:
    """:func:`thread_speedup` of the generalisation kernels: the LDA ones run blocks of pairs and
    training times of about ``GEN_BLOCK_ELEMS`` float64 elements (decisions for every test time
    and held-out unit, and the training units) in threads, the distances their folds' means and
    (fold, training-time block) Gram products."""
    threads = _threads(plan)
    if threads <= 1:
        return 1.0
    if plan.options.is_lda:
        n_u, t = plan.n_units, plan.n_times_out
        per_time = t * 2 * n_u * 2 + 2 * n_u * plan.n_channels * 6
        blocks = max(1, math.ceil(plan.n_pairs * t * per_time / GEN_BLOCK_ELEMS))
        s = blocks / math.ceil(blocks / threads)
    else:
        s = plan.n_folds / math.ceil(plan.n_folds / threads)
    f = PARALLEL_SHARE.get(plan.regime, 0.5)
    return 1.0 / ((1.0 - f) + f / s) if s > 1 else 1.0
