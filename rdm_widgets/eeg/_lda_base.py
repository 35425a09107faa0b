"""Shared pieces of the exact LDA kernels (:mod:`rdm_widgets.eeg._lda`): certificate constants,
Helmert contrast bases, the leave-one-out fold statistics, the average-reference test and the
block threads."""
from __future__ import annotations

import functools
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import torch
# Certified eigenvalues of the scaled within matrix exceed SAFETY * tol**2,
# i.e. singular values exceed 2 * tol: far outside sklearn's SVD rounding.
_SAFETY = 4.0
# Woodbury downdates whose remaining fraction is below this lose digits: exact path.
_MIN_DOWNDATE = 1e-3
# Null-space path: fold variances below this fraction of the pair's (one trial holding > 99.999% of
# a channel's within variance) lose digits in the small oblique system: left to the exact path.
_MIN_VAR_FRAC = 1e-5
# A trial counts as average-referenced when |1^T x| <= this * |1| |x| (float32 rounding ~1e-8).
_AVGREF_COS = 1e-6
# Bytes of intermediates per CPU block of the kernels (and per batch of the exact fallback).
_BLOCK_BYTES = 256 * 2**20

__all__ = ["average_referenced", "run_threaded"]


def _helmert(n: int, dtype, device) -> torch.Tensor:
    """Orthonormal basis (n, n-1) of the vectors summing to zero."""
    j = torch.arange(1, n, dtype=dtype, device=device)          # column j has j ones
    rows = torch.arange(n, device=device)[:, None]
    cols = torch.arange(1, n, device=device)[None, :]
    h = torch.where(rows < cols, 1.0, 0.0).to(dtype) - torch.where(rows == cols, j, 0.0).to(dtype)
    return h / torch.sqrt(j * (j + 1))


@functools.lru_cache(maxsize=8)
def _helmert_cached(k: int, dtype, device) -> torch.Tensor:
    return _helmert(k, dtype, device)


@functools.lru_cache(maxsize=8)
def _fold_helmert(k: int, dtype, device) -> torch.Tensor:
    """(k, k, k-2): for fold f, a contrast basis of the k-1 trials other than f."""
    h = _helmert(k - 1, dtype, device)
    out = torch.zeros(k, k, k - 2, dtype=dtype, device=device)
    for f in range(k):
        keep = [i for i in range(k) if i != f]
        out[f, keep] = h
    return out


def _chol_lower_bound_ok(g: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    """True where lambda_min(g) > tau, certified by a Cholesky of g - tau I.

    The Cholesky backward error (<= ~m eps ||g||) is added to tau.
    """
    m = g.shape[-1]
    tr = torch.diagonal(g, dim1=-2, dim2=-1).sum(-1)
    shift = tau + 100.0 * m * torch.finfo(g.dtype).eps * tr
    eye = torch.eye(m, dtype=g.dtype, device=g.device)
    _, info = torch.linalg.cholesky_ex(g - shift[..., None, None] * eye)
    return info == 0


def _fold_stats(xa, xb):
    """Residuals, class means and per-fold within variances (population, as np.std)."""
    k = xa.shape[1]
    n = 2 * (k - 1)
    c = k / (k - 1)
    ma, mb = xa.mean(1), xb.mean(1)
    ra, rb = xa - ma[:, None], xb - mb[:, None]
    qdiag = ra.pow(2).sum(1) + rb.pow(2).sum(1)                      # (N, C)
    var0 = qdiag / n
    var_f = (qdiag[:, None] - c * (ra.pow(2) + rb.pow(2))) / n       # (N, k, C)
    # var_f <= var0 always; a (near-)constant channel would get std := 1 in sklearn
    ok_var = (var_f > 1e-8 * var0[:, None]).all(-1)                  # (N, k)
    return ma, mb, ra, rb, var0, var_f, ok_var


def average_referenced(x: torch.Tensor) -> torch.Tensor:
    """Whether every trial sums to ~0 over channels (average reference), per batch item.

    The kernel takes its average-reference path per pair (:func:`._lda._block_decisions`) and
    the cost estimate predicts that path (:func:`._plan.plan_eeg_rdm`) with this one test.

    Parameters
    ----------
    x : Tensor, shape (..., n_trials, C)

    Returns
    -------
    bool Tensor, shape (...)
        True where ``|sum_c x| <= 1e-6 * sqrt(C) * |x|`` for every trial.
    """
    bound = _AVGREF_COS * math.sqrt(x.shape[-1]) * torch.linalg.vector_norm(x, dim=-1)
    return (x.sum(-1).abs() <= bound).all(-1)


def _block_worker(fn, start):
    # one intra-op thread per block thread: the kernels are many small operations, and
    # two threads each spawning an OpenMP team would only fight over the cores
    torch.set_num_threads(1)
    return fn(start)


# One pool of block threads per thread count, kept for the process: a fresh pool per call cost
# ~0.9 ms (threads started, their first torch calls) against ~0.2 ms for a kept one, which is
# what made 2 threads slower than 1 on a dashboard's single time point (a few ms of work).
_POOLS: dict = {}
_POOL_LOCK = threading.Lock()
_WORKER = threading.local()


def _start_worker():
    _WORKER.active = True          # (_block_worker sets the one intra-op thread per block)


def _pool(threads: int) -> ThreadPoolExecutor:
    with _POOL_LOCK:
        pool = _POOLS.get(threads)
        if pool is None:
            pool = _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="rdm_widgets-lda",
                                                        initializer=_start_worker)
        return pool


def _forget_pools():
    # a forked child inherits the pools but not their threads: it would wait on them forever
    global _POOL_LOCK
    _POOLS.clear()
    _POOL_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools)


def run_threaded(fn, starts, device, workers=None):
    """Yield ``fn(start)`` for every start, in order. On a CPU with several torch threads the
    calls run in that many Python threads with one intra-op thread each (the kernels' many small
    torch/LAPACK calls release the GIL: ~1.5x on 2 cores). Each call computes exactly what it
    computes alone, and callers combine the results in order, so results do not depend on the
    thread count. ``workers`` caps the threads (1: the calls run one after the other in one
    worker, still with one intra-op thread, for work that was measured not to gain from more).

    The threads are a pool kept for the process (one per thread count). A call made from one of
    them (a kernel inside a block) runs its work in that thread: a block waiting for blocks
    queued behind it in the same pool would never finish. When the caller stops early (an
    exception, e.g. :class:`rdm_widgets.Cancelled` from a progress callback) the blocks not
    started are cancelled and the running ones finish before this generator returns.
    """
    starts = list(starts)
    threads = torch.get_num_threads() if torch.device(device).type == "cpu" else 1
    if threads <= 1 or not starts or getattr(_WORKER, "active", False):
        for s in starts:
            yield fn(s)
        return
    # a single call too runs in a worker with one intra-op thread: an OpenMP team of 2 on these
    # small operations ran a one-block job (1 time point) 2-4x slower than one thread here
    pool = _pool(threads if workers is None else max(1, min(threads, workers)))
    futures = [pool.submit(_block_worker, fn, s) for s in starts]
    try:
        for f in futures:
            yield f.result()
    finally:
        for f in futures:
            f.cancel()
        wait(futures)
