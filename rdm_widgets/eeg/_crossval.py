"""Cross-validated distances: cv-Euclidean and crossnobis (Guggenmos et al. 2018).

Why this module exists: decoding accuracy saturates and needs a classifier per
pair, time and fold; cross-validated distances are unbiased (their expected
value is 0 when two conditions do not differ, so they can be negative), are
cheap (a few matrix products for all pairs at once) and work with as few as two
trials per condition.

Definition, for conditions ``i, j``, time ``t`` and fold ``f``, with
``m_c^train`` / ``m_c^test`` the mean pattern (C channels) of condition ``c``
over the training / test units of the fold::

    d_f(i, j, t) = (m_i^train - m_j^train) . (m_i^test - m_j^test) / C

The RDM cell is the mean of ``d_f`` over folds. ``crossnobis`` is the same
after multivariate noise normalisation with the *training* fold's noise
covariance (``W_f = cov_f^(-1/2)`` applied to both means), i.e. the
cross-validated Mahalanobis distance ``(dm^train)' cov_f^-1 (dm^test) / C``.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

import torch

from ._lda_base import run_threaded

__all__ = ["cv_distances", "fold_means", "run_in_order"]


class _Stopped(Exception):
    """A block's turn never comes: another block failed or the run was cancelled."""


class _Turns:
    """Lets block workers add their terms to one sum in a fixed order (so the bits do not depend
    on the threads), each in its own worker: the caller's thread never runs an operation with
    its intra-op threads, which spin against other jobs on a busy machine."""

    def __init__(self):
        self._next, self._stop = 0, False
        self._cond = threading.Condition()

    @contextmanager
    def turn(self, i: int):
        """Wait until the terms before ``i`` are added, then hold the sum for term ``i``."""
        with self._cond:
            self._cond.wait_for(lambda: self._next == i or self._stop)
            if self._stop:
                raise _Stopped
        try:
            yield
        finally:
            with self._cond:
                self._next = i + 1
                self._cond.notify_all()

    def stop(self):
        """Release every waiting worker (after a failure or a cancel)."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()


def run_in_order(fn, n: int, device, reporter_step=None, workers=None):
    """Run ``fn(i, turns)`` for ``i`` in ``range(n)`` with :func:`._lda_base.run_threaded`
    (workers with one intra-op thread each, at most ``workers``); ``fn`` adds its term inside
    ``turns.turn(j)`` with ``j`` counting up from 0 over all calls. ``reporter_step(i)`` runs in
    the caller's thread after call ``i`` (where a progress callback may cancel)."""
    turns = _Turns()

    def call(i):
        try:
            return fn(i, turns)
        except _Stopped:      # the failing block's own error reaches the caller (in block order)
            return None
        except BaseException:
            # release the later blocks' workers now: run_threaded waits for every worker
            # before it raises this error in the caller
            turns.stop()
            raise
    jobs = run_threaded(call, range(n), device, workers)
    try:
        for i, _ in enumerate(jobs):
            if reporter_step is not None:
                reporter_step(i)
    finally:
        turns.stop()          # a worker waiting for a failed or cancelled block's turn
        jobs.close()


def fold_means(units: torch.Tensor, fold_of_unit: torch.Tensor, f: int,
               whiteners: torch.Tensor | None = None) -> tuple:
    """Training and test mean patterns of every condition in fold ``f``, whitened with the fold's
    whitener where given (crossnobis); shared by :func:`cv_distances` and the temporal
    generalisation kernel (:func:`._gen_kernels._distance_gen`).

    Parameters
    ----------
    units : Tensor, shape (n_cond, n_units, C, T)
    fold_of_unit : int Tensor, shape (n_cond, n_units)
    f : int
        The fold: its units are the test units.
    whiteners : Tensor, shape (n_folds, T or 1, C, C), optional

    Returns
    -------
    (m_train, m_test) : Tensors, shape (n_cond, C, T) each
    """
    test = (fold_of_unit == f).to(units.dtype)
    train = 1.0 - test
    m_tr = torch.einsum("cu,cuxt->cxt", train / train.sum(1, keepdim=True), units)
    m_te = torch.einsum("cu,cuxt->cxt", test / test.sum(1, keepdim=True), units)
    if whiteners is not None:
        w = whiteners[f]
        eq = "ij,cjt->cit" if w.shape[0] == 1 else "tij,cjt->cit"
        w = w[0] if w.shape[0] == 1 else w
        m_tr = torch.einsum(eq, w, m_tr)
        m_te = torch.einsum(eq, w, m_te)
    return m_tr, m_te


# crossnobis' folds run in all the threads from this many time points on (see cv_distances)
_SPREAD_MIN_TIMES = 8


def _fold_products(units, fold_of_unit, f, whiteners) -> torch.Tensor:
    """Fold ``f``'s term of the sum over folds, shape (T, n_cond, n_cond)."""
    m_tr, m_te = fold_means(units, fold_of_unit, f, whiteners)
    g = torch.einsum("ixt,jxt->tij", m_tr, m_te)               # (T, n, n)
    diag = torch.diagonal(g, dim1=1, dim2=2)                   # (T, n)
    # (a_i - a_j).(b_i - b_j) = a_i.b_i + a_j.b_j - a_i.b_j - a_j.b_i
    return diag[:, :, None] + diag[:, None, :] - g - g.transpose(1, 2)


def cv_distances(units: torch.Tensor, fold_of_unit: torch.Tensor, n_folds: int,
                 whiteners: torch.Tensor | None = None, reporter=None, pairs=None) -> torch.Tensor:
    """Cross-validated squared Euclidean distances for all pairs and times.

    On a CPU with several torch threads the folds of crossnobis run in that many workers with one
    intra-op thread each (:func:`._lda_base.run_threaded`; cv_euclidean's in one such worker) and
    add their terms in fold order (each in its worker): the result does not depend on the thread
    count, and no OpenMP team spins against other jobs on a busy machine.

    Parameters
    ----------
    units : Tensor, shape (n_cond, n_units, C, T)
        Trials or pseudo-trials (float64).
    fold_of_unit : int Tensor, shape (n_cond, n_units)
        Test fold of every unit; every condition must have at least one unit in
        and out of every fold.
    n_folds : int
    whiteners : Tensor, shape (n_folds, T or 1, C, C), optional
        Whitening matrices of each fold (crossnobis).
    reporter : ProgressReporter, optional
        Advanced by one per fold.
    pairs : int Tensor, shape (P, 2), optional
        Return only these pairs' distances.

    Returns
    -------
    Tensor, shape (n_cond, n_cond, T), or (P, T) with ``pairs``
        Symmetric, zero diagonal.
    """
    n_cond, n_units, C, T = units.shape
    box = {}

    def fold(f, turns):
        term = _fold_products(units, fold_of_unit, f, whiteners)
        with turns.turn(f):
            if f == 0:
                box["out"] = torch.zeros(T, n_cond, n_cond, dtype=units.dtype, device=units.device)
            out = box["out"]
            out += term
            if f == n_folds - 1:
                out /= n_folds * C
                idx = torch.arange(n_cond, device=units.device)
                out[:, idx, idx] = 0.0
                d = out.permute(1, 2, 0)
                box["d"] = d if pairs is None else d[pairs[:, 0], pairs[:, 1]]

    # cross-validated Euclidean folds (a few memory-bound einsums each) ran 0.6-0.96x as fast in
    # 2 workers as in 1 from 1 to 256 time points (benchmarks/bench_thread_speedup.py); the
    # whitened folds of crossnobis do more arithmetic and gain (0.60 -> 0.37 s in the estimate
    # benchmark; 1.3-1.6x from 16 time points on), so only those are spread over the threads, and
    # only from _SPREAD_MIN_TIMES time points on (1 and 4 time points ran 0.6x and 0.9x in 2)
    spread = whiteners is not None and T >= _SPREAD_MIN_TIMES
    run_in_order(fold, n_folds, units.device, None if reporter is None else lambda f: reporter.update(1),
                 workers=None if spread else 1)
    return box["d"]
