"""How the exact leave-one-out LDA kernel (:mod:`._lda`) cuts a call's pair-times into blocks
(one per thread call) and chunks (one call of a path's solver), and which path a shape takes.
The cost estimate (:mod:`rdm_widgets.estimate`) reads the same layout from here.
"""
from __future__ import annotations

import torch

from ._lda_base import _BLOCK_BYTES, _cpu_threads, compiled_kernels

__all__ = ["NULL_CHUNK", "NULL_CHUNK_COMPILED", "AVGREF_CHUNK_COMPILED", "CHANNEL_CHUNK", "chunk_pair_times",
           "lda_regime", "bytes_per_pair_time", "block_pair_times", "loo_block_layout"]


# Pair-times per call of the null-space path: ~1-4 MB per (N, k, 3, C) intermediate stays in
# cache (on the 2-core benchmark machine 24-48 were equally fast, 12 and 64+ 15-50% slower).
NULL_CHUNK = 32
# The same for its compiled version, which computes each pair-time on its own (the chunk only
# batches the exact fallback): small enough that two threads share 8 time points of 8 conditions
# (224 pair-times, 14 chunks) evenly.
NULL_CHUNK_COMPILED = 16
# Pair-times per call of the other paths on a CPU. One thread, per pair-time: S001 average
# reference (k=44, C=64) 184-187 us at 32-64, 254 us at 256 (blocks of ~300 before); full rank
# (k=40, C=32) 51-55 us from 32 to 256; below 16 the per-call overhead dominates.
CHANNEL_CHUNK = 48
# The compiled average-reference path (each pair-time on its own, without the interpreter lock):
# chunks of 8, so that 8 time points of 4 conditions (48 pair-times) run in both threads.
AVGREF_CHUNK_COMPILED = 8
# Null-space jobs of fewer pair-times than this many chunks are cut into this many (whatever the
# threads), if each piece keeps at least _SPLIT_MIN pair-times.
# Measured on 2 idle cores, 2 threads vs 1: S001 8 conditions at 1 time point (two calls of 14)
# 1.46x with the torch null-space path; the torch channel paths' cheaper pair-times gained nothing
# cut in two (average reference, 2 x 3 and 2 x 12 pair-times: 0.81x, 0.93x: their small calls
# hold the GIL), so those run small jobs as one call. So does the compiled average-reference path:
# its pair-times cost ~60 us, and a second thread's wake-up (0.1-1.5 ms here) costs more than it
# saves on a small job (4 conditions at 1 time point as 2 x 3 pair-times: 0.74x).
_SPLIT_BELOW = 2
_SPLIT_MIN = 8
# Largest block of the null-space path (pair-times; a multiple of NULL_CHUNK).
_NULL_BLOCK = 256
# The compiled paths run no lock and hand out blocks to whichever thread is free: several blocks
# per thread keep a thread that starts late (a woken core: 0.1-5 ms here) from holding up the
# end of the call by more than a small block. S001 `labels`, 161 time points on 2 threads: blocks
# of 128 / 64 / 32 / 16 pair-times 351 / 299-329 / 312-325 / 336 ms.
_NULL_BLOCK_COMPILED = 64
_BLOCKS_PER_THREAD = 4
# On a GPU the kernels are launch-bound at CPU block sizes (~300 small launches per call): one
# call per block of this many bytes of intermediates, the null-space path in one chunk per block.
_CUDA_BLOCK_BYTES = 2 * 2**30


def _compiled_path(k: int, c: int, average_reference: bool) -> bool:
    """Whether the call runs a compiled path: the null-space one, or the average-reference one
    on average-referenced data (where numba is enabled: :func:`._lda_base.compiled_kernels`)."""
    return compiled_kernels() and (_use_null_space(k, c) or (
        average_reference and lda_regime(k, c, True) == "average_reference"))


def chunk_pair_times(k: int, c: int, device="cpu", average_reference: bool = False) -> int:
    """Pair-times per kernel call on a CPU (:data:`NULL_CHUNK` or :data:`NULL_CHUNK_COMPILED` for
    the null-space path, :data:`AVGREF_CHUNK_COMPILED` for the compiled average-reference path
    of average-referenced data, else :data:`CHANNEL_CHUNK`); 0 on a GPU, where a block is one
    call."""
    if torch.device(device).type != "cpu":
        return 0
    compiled = _compiled_path(k, c, average_reference)
    if _use_null_space(k, c):
        return NULL_CHUNK_COMPILED if compiled else NULL_CHUNK
    return AVGREF_CHUNK_COMPILED if compiled else CHANNEL_CHUNK


def lda_regime(n_units: int, n_channels: int, average_reference: bool = False) -> str:
    """Which path of the exact leave-one-out LDA kernel runs (:func:`._lda._block_decisions`).

    Parameters
    ----------
    n_units : int
        Trials (or pseudo-trials) per condition, ``k``.
    n_channels : int
        ``C``.
    average_reference : bool
        The data are average-referenced (every trial sums to ~0 over channels).

    Returns
    -------
    str
        ``'rank_deficient'``: ``2k-2 <= C`` (fewer training trials than channels; one Cholesky
        per fold, the slow regime); ``'average_reference'``: average-referenced data with
        ``2k-2 > C``; ``'full_rank'``: ``2k-4 >= C`` (one factorisation per pair and time);
        ``'exact_svd'``: the remaining case ``2k-3 == C`` (batched SVD for every fold).
    """
    if 2 * n_units - 2 <= n_channels:
        return "rank_deficient"
    if average_reference:
        return "average_reference"
    return "full_rank" if 2 * n_units - 4 >= n_channels else "exact_svd"


def _use_null_space(k: int, c: int) -> bool:
    """Rank-deficient regime: the null-space path unless the pair's null space is large."""
    return lda_regime(k, c) == "rank_deficient" and c - (2 * k - 2) <= 2 * k - 4


def bytes_per_pair_time(k: int, c: int, device="cpu") -> int:
    """Rough peak memory of one pair-time in :func:`._lda._block_decisions` (sizes the blocks)."""
    common = 8 * k * c * 12
    if _use_null_space(k, c):
        if torch.device(device).type != "cpu":  # one chunk per block
            m0, q = 2 * k - 2, c - 2 * k + 4    # (N, k, C) work and (N, 2k, C) scratch, Grams, (N, k, q, q)
            return 8 * (24 * k * c + 4 * m0 * m0 + (q - 2) ** 2 * c + 2 * k * q * q)
        # the work runs in NULL_CHUNK pieces; blocks of <= 16 chunks keep the gathered trials in cache
        return max(common, _BLOCK_BYTES // (16 * NULL_CHUNK))
    if lda_regime(k, c) == "rank_deficient":  # per-fold contrasts (k, m, C) twice, Grams and factors (k, m, m) x 3
        m = 2 * k - 4
        return common + 8 * k * m * (2 * c + 3 * m + 8)
    # channel paths; the average-reference one solves 4k+3 vectors and keeps 7x7 fold Grams
    return common + 8 * (4 * c * c + (4 * k + 3) * c * 3 + k * 600)


def block_pair_times(k: int, c: int, device="cpu", average_reference: bool = False) -> int:
    """Pair-times per block of :func:`._lda.lda_loo_decisions` (blocks may run in parallel
    threads)."""
    if torch.device(device).type != "cpu":
        return max(1, int(_CUDA_BLOCK_BYTES // bytes_per_pair_time(k, c, device)))
    step = max(1, int(_BLOCK_BYTES // bytes_per_pair_time(k, c)))
    chunk = chunk_pair_times(k, c, device, average_reference)
    if _use_null_space(k, c):
        step = max(chunk, min(step, _NULL_BLOCK_COMPILED if _compiled_path(k, c, False) else _NULL_BLOCK))
    # blocks of whole chunks: chunk boundaries (and so every rounding) do not depend on the
    # block size; several blocks let the threads share the work. (A memory budget below one
    # chunk gives blocks of that size, each one chunk.)
    return step // chunk * chunk if step >= chunk else step


def loo_block_layout(total: int, k: int, c: int, device="cpu", threads=None,
                     average_reference: bool = False) -> tuple:
    """How :func:`._lda.lda_loo_decisions` cuts ``total`` pair-times into blocks (one per thread
    call) and chunks (one call of the solver inside a block); the cost estimate reads it from here.

    Parameters
    ----------
    total : int
        Pair-times of one call (pairs x time points).
    k, c : int
        Trials per condition and channels.
    device : str or torch.device
    threads : int or None
        Threads of the call (default ``torch.get_num_threads()``, as set outside
        :func:`._lda_base.caller_one_thread`).
    average_reference : bool
        Every trial is average-referenced (the average-reference path's chunks).

    Returns
    -------
    (step, chunk) : tuple of int
        Pair-times per block and per chunk (0: a block is one call, as on a GPU).
    """
    step = block_pair_times(k, c, device, average_reference)
    chunk = chunk_pair_times(k, c, device, average_reference)
    compiled = _compiled_path(k, c, average_reference)
    if (chunk and _use_null_space(k, c) and total < _SPLIT_BELOW * chunk and step >= chunk
            and total >= _SPLIT_BELOW * _SPLIT_MIN):
        # a small job (a dashboard's single time point: 28 pair-times for 8 conditions) in
        # _SPLIT_BELOW chunks, so that the threads share it; fixed by the data, not the threads
        chunk = step = -(-total // _SPLIT_BELOW)
    threads = _cpu_threads() if threads is None else threads
    if chunk and threads > 1:
        # as many blocks for every thread, of whole chunks (same chunks, same bits): 896 pair-times
        # in blocks of at most 256 on 2 threads are 4 x 224, not 3 x 256 + 128; the compiled
        # paths several per thread
        rounds = -(-total // (threads * step))
        if compiled:
            rounds = max(rounds, _BLOCKS_PER_THREAD)
        per_block = -(-total // (threads * rounds))
        step = min(step, max(chunk, -(-per_block // chunk) * chunk))
        if compiled:
            # whole chunks per block, and a block count the threads share evenly where one
            # exists (8 time points of 8 conditions: 14 x 16 pair-times, not 7 x 32)
            for size in range(step, chunk - 1, -chunk):
                if -(-total // size) % threads == 0:
                    step = size
                    break
    return step, chunk
