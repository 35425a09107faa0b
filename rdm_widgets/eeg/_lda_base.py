"""Shared pieces of the exact LDA kernels (:mod:`rdm_widgets.eeg._lda`): certificate constants,
Helmert contrast bases, the leave-one-out fold statistics, the average-reference test and the
block threads."""
from __future__ import annotations

import contextlib
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

__all__ = ["average_referenced", "run_threaded", "caller_one_thread", "compiled_kernels", "ENV_COMPILED"]

#: ``RDMW_NUMBA=0`` in the environment runs the torch versions of the compiled kernels (read at
#: each call; :mod:`._lda_null_nb`)
ENV_COMPILED = "RDMW_NUMBA"


@functools.lru_cache(maxsize=1)
def _numba_installed() -> bool:
    import importlib.util           # (find_spec: without importing numba, ~0.3 s)
    return importlib.util.find_spec("numba") is not None


def compiled_kernels() -> bool:
    """Whether the CPU kernels compiled with numba run (numba installed and ``$RDMW_NUMBA`` is
    not ``0``); otherwise their torch versions do."""
    return _numba_installed() and os.environ.get(ENV_COMPILED, "1").strip() != "0"


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


# One pool of block threads per thread count, kept for the process: a fresh pool per call cost
# ~0.9 ms (threads started, their first torch calls) against ~0.2 ms for a kept one, which is
# what made 2 threads slower than 1 on a dashboard's single time point (a few ms of work).
_POOLS: dict = {}
_POOL_LOCK = threading.Lock()
_WORKER = threading.local()


def _start_worker():
    _WORKER.active = True          # (_Blocks.work sets the one intra-op thread per block)


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


class _Blocks:
    """The blocks of one :func:`run_threaded` call, claimed in order by whichever thread is free
    (the caller's and the pool's), results kept by index."""

    def __init__(self, fn, starts):
        self.fn, self.starts = fn, starts
        self.results = [None] * len(starts)
        self.errors = [None] * len(starts)
        self.done = [threading.Event() for _ in starts]
        self._next = 0
        self._lock = threading.Lock()

    def claim(self):
        """The next block nobody runs yet, or None (all claimed, or stopped)."""
        with self._lock:
            if self._next >= len(self.starts):
                return None
            self._next += 1
            return self._next - 1

    def stop(self):
        with self._lock:
            self._next = len(self.starts)

    def run(self, i):
        try:
            self.results[i] = self.fn(self.starts[i])
        except BaseException as err:     # re-raised in the caller's thread, in block order
            self.errors[i] = err
        finally:
            self.done[i].set()

    def work(self):
        """A pool thread: blocks until none is left, with one intra-op thread (the kernels are
        many small operations: two threads each spawning an OpenMP team would only fight over
        the cores)."""
        torch.set_num_threads(1)
        while (i := self.claim()) is not None:
            self.run(i)

    def run_here(self, i):
        """Run block i in the caller's thread as a worker would (the caller has one intra-op
        thread meanwhile: :func:`caller_one_thread`): nested calls inline."""
        active = getattr(_WORKER, "active", False)
        _WORKER.active = True
        try:
            self.run(i)
        finally:
            _WORKER.active = active


@contextlib.contextmanager
def caller_one_thread():
    """Run the ``with`` body with one intra-op thread in this thread, while :func:`run_threaded`
    calls inside it still use the thread count set before (``torch.get_num_threads()``).

    The EEG kernels' parallelism is their block threads. A torch operation in the caller with
    the default OpenMP team (a copy, an index, a few milliseconds apart) wakes the team's other
    thread, which then spins for ~10 ms waiting for more work, on the core a block thread
    needs: on S001-sized jobs 2 threads ran 1.4-1.55x one thread instead of ~2x.
    """
    if getattr(_WORKER, "threads", None) is not None:                # nested: already so
        yield
        return
    threads = torch.get_num_threads()
    _WORKER.threads = threads
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        _WORKER.threads = None


def _cpu_threads() -> int:
    threads = getattr(_WORKER, "threads", None)
    return torch.get_num_threads() if threads is None else threads


def run_threaded(fn, starts, device, workers=None):
    """Yield ``fn(start)`` for every start, in order. On a CPU with several torch threads the
    calls run in that many threads -- the caller's and a kept pool's -- with one intra-op thread
    each (the kernels' many small torch/LAPACK calls release the GIL, the compiled ones never
    hold it). Each call computes exactly what it computes alone, and callers combine the results
    in order, so results do not depend on the thread count. ``workers`` caps the threads (1: the
    calls run one after the other in the caller's thread, with one intra-op thread, for work that
    was measured not to gain from more).

    The caller's thread takes blocks too (it would otherwise only wait): a small job (a
    dashboard's single time point, two blocks of a few milliseconds) then starts at once in a
    running thread, where waking a second pool thread cost 0.1-1.5 ms here. Blocks are claimed
    in order by whichever thread is free. A call made from inside a block (a kernel inside a
    block) runs its work in that thread: a block waiting for blocks queued behind it would never
    finish. When the caller stops early (an exception, e.g. :class:`rdm_widgets.Cancelled` from
    a progress callback) the blocks not started are dropped and the running ones finish before
    this generator returns.
    """
    starts = list(starts)
    threads = _cpu_threads() if torch.device(device).type == "cpu" else 1
    if threads <= 1 or not starts or getattr(_WORKER, "active", False):
        for s in starts:
            yield fn(s)
        return
    # even a single call runs with one intra-op thread: an OpenMP team of 2 on these small
    # operations ran a one-block job (1 time point) 2-4x slower than one thread here; and the
    # caller keeps one while the blocks run (its bookkeeping between them: caller_one_thread)
    n = threads if workers is None else max(1, min(threads, workers))
    blocks = _Blocks(fn, starts)
    helpers = [_pool(n - 1).submit(blocks.work) for _ in range(min(n, len(starts)) - 1)]
    with caller_one_thread():
        try:
            for i in range(len(starts)):
                while not blocks.done[i].is_set():
                    j = blocks.claim()
                    if j is None:
                        blocks.done[i].wait()
                        break
                    blocks.run_here(j)
                if blocks.errors[i] is not None:
                    raise blocks.errors[i]
                result, blocks.results[i] = blocks.results[i], None
                yield result
        finally:
            blocks.stop()
            wait(helpers)
