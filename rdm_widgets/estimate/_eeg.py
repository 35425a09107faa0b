"""Cost estimates of :func:`rdm_widgets.eeg.eeg_rdm` (private; public names in :mod:`rdm_widgets.estimate`).

Why this module exists: the seconds per fit of the exact LDA kernel depend on its regime (see
:mod:`rdm_widgets.eeg._lda`), on the thread count and on the machine far more than a flop
count can tell, so they are *measured* (:mod:`rdm_widgets.estimate._eeg_units`): the real
``eeg_rdm`` runs on tiny problems of the same regime, channel count, units per condition, folds
and method, in one thread (cached per process); the threads' speed-up is modelled from the
planned run's blocks. Distances, noise normalisation and pseudo-trial averaging are counted in
flops at the calibrated GEMM rate. Peak memory is counted array by array as the run holds it
(:func:`_peak_bytes`): the trials, pseudo-trials and result, plus the largest phase's working set
(noise whiteners, or the kernel's blocks per thread), not the block budget that sizes the blocks.

Every size, option and regime comes from the plan ``eeg_rdm`` itself makes
(:func:`rdm_widgets.eeg.plan_eeg_rdm`, or :func:`rdm_widgets.eeg.plan_eeg_sizes` from the sizes
alone): an estimate validates exactly what the run validates and counts the fits it will make.
"""
from __future__ import annotations

import numpy as np
import torch

from .._cost import CostEstimate, calibrate, contention
from ..eeg import EEGPlan, plan_eeg_rdm, plan_eeg_sizes
from ..eeg._gen_kernels import GEN_BLOCK_ELEMS
from ..eeg._lda_base import compiled_kernels
from ..eeg._lda_layout import NULL_CHUNK
from ..eeg._loop import time_blocks
from ..eeg._methods import PER_FOLD_BLOCK_ELEMS
from ._eeg_units import (calibrated_generalization, calibrated_units, generalization_speedup, lda_layout,
                         thread_speedup)

__all__ = ["estimate_eeg", "estimate_eeg_rdm"]

_EIGH_FLOPS = 9.0


# The peak-memory model mirrors what eeg_rdm allocates (see _peak_bytes), with the kernels' own
# block sizes: NULL_CHUNK (pair-times per piece of the null-space path), PER_FOLD_BLOCK_ELEMS
# (gathered elements per batched per-fold LDA call) and time_blocks (each block's units are cloned).
# Measured share of the plan's block budget (block_pair_times x bytes_per_pair_time, which
# sizes the blocks) that an exact-LDA block really holds at its peak (benchmarks/bench_estimate.py,
# peak RSS): the full-rank channel path holds about 0.43 of it, the average-reference path 0.75-1.1
_LDA_BLOCK_SHARE = {"full_rank": 0.45, "average_reference": 1.0, "exact_svd": 1.0, "rank_deficient": 1.0}
_NOISE_PASSES = 7      # noise_whiteners: centred/masked/permuted residuals and Ledoit-Wolf squares
_LSQR_ARRAYS = 6       # lsqr per-fold LDA: 2 gathered covariances, pooled, its factor and solves


def _time_block(n_pairs: int, n_times: int) -> int:
    """Time points of the largest block ``eeg_rdm`` runs its kernel on."""
    return max(b.stop - b.start for b in time_blocks(n_times, n_pairs))


def _peak_bytes(plan: EEGPlan, input_copied: bool = True) -> int:
    """Predicted peak memory (bytes) of the planned ``eeg_rdm`` run, as the run allocates it.

    Held for the whole run: the float64 copy of the input (``input_copied``), the used trials
    (n_cond, k, C, T), the windowed/decimated trials, the pseudo-trials (n_cond, units, C, T)
    and the result. On top, the largest phase's working set: the clone of one time block's
    units, and either the noise whiteners' residuals (``_NOISE_PASSES`` trial-sized arrays per
    fold, folds one after the other) or the method kernel's: the exact LDA's decisions
    (P, T, units, 2) plus one block of pair-times per thread (null-space path: the gathered
    block and one chunk's work; channel paths: the measured share of the plan's block budget),
    the per-fold LDA's train/test stacks and gathered blocks per fold thread (lsqr: per-pair
    (C, C) covariances), or the distances' fold means and (n_cond, n_cond) products.
    """
    opts, dev, b = plan.options, plan.options.device, 8           # everything runs in float64
    n_cond, k, n_ch, n_t, n_out = plan.n_conditions, plan.k, plan.n_channels, plan.n_times, plan.n_times_out
    units, folds, pairs, noise = plan.n_units, plan.n_folds, plan.n_pairs, opts.noise_normalization
    threads = torch.get_num_threads() if dev.type == "cpu" else 1
    x_in, x_sel = plan.n_trials * n_ch * n_t * b, n_cond * k * n_ch * n_t * b
    x_out = n_cond * k * n_ch * n_out * b if (opts.window or opts.decim > 1) else 0
    x_used = x_out or x_sel
    tb = _time_block(pairs, n_out)
    units_all = n_cond * units * n_ch * n_out * b if opts.pseudo_trials else 0
    clone = n_cond * units * n_ch * tb * b                        # one time block's units
    result = pairs * n_out * b + 2 * n_cond ** 2 * n_out * b
    held = (x_in if input_copied else 0) + x_sel + x_out + units_all + clone + result
    noise_work = (_NOISE_PASSES * x_used + 4 * (n_out if noise == "time" else 1) * n_ch ** 2 * b
                  + folds * (n_out if noise == "time" else 1) * n_ch ** 2 * b) if noise else 0
    if not opts.is_lda:     # the sum over folds, and per fold in flight (one per thread) its
        # means and (T, n, n) products (cv_distances), waiting in fold order to be added
        in_flight = min(threads, folds)
        kernel = ((1 + 3 * in_flight) * tb * n_cond ** 2 * b + 2 * in_flight * n_cond * n_ch * tb * b
                  + (3 if noise else 2) * n_cond * units * n_ch * tb * b)
    elif opts.fast_loo:
        total, step, chunk = lda_layout(plan, threads)
        in_flight = min(threads, -(-total // step))
        size = min(total, step)
        null_space = plan.regime == "rank_deficient" and n_ch - (2 * units - 2) <= 2 * units - 4
        if null_space:
            block = size * 2 * units * n_ch * b + NULL_CHUNK * 3 * (8 * units * n_ch * 12)
        elif chunk:       # the gathered block, and one chunk's working set at a time
            block = (size * 2 * units * n_ch * b
                     + _LDA_BLOCK_SHARE.get(plan.regime, 1.0) * min(chunk, size) * plan.bytes_per_pair_time)
        else:
            block = _LDA_BLOCK_SHARE.get(plan.regime, 1.0) * size * plan.bytes_per_pair_time
        kernel = pairs * tb * units * 2 * b + in_flight * block
        if dev.type == "cpu" and (null_space or plan.regime != "rank_deficient") and compiled_kernels():
            kernel += clone           # the time-major copy of the time block (eeg._lda._loo_blocks)
    else:
        per_pair = tb * 2 * units * n_ch
        blk = min(pairs, max(1, PER_FOLD_BLOCK_ELEMS // per_pair))
        stacks = (2 if noise else 1) * n_cond * units * n_ch * tb * b
        if opts.method != "lda":                                  # the lsqr solver
            work = 2 * n_cond * tb * n_ch ** 2 * b + _LSQR_ARRAYS * blk * tb * n_ch ** 2 * b
        else:
            work = 6 * blk * per_pair * b
        kernel = min(threads, folds) * (stacks + work)
    if opts.generalization:
        # the (P, T, T) scores in the kernel, with its blocks of ~GEN_BLOCK_ELEMS elements (decisions,
        # gathered units; distances: the Gram and its pair differences) in flight; at the end
        # the scores, their mean over permutations and the (n_cond, n_cond, T, T) result
        cells = pairs * n_out * plan.n_test_times * b
        if opts.is_lda:                      # a block per thread: units, weights, decisions
            blocks = threads * GEN_BLOCK_ELEMS * b
        else:                                # per thread: the Gram, einsum's copy, its 4 pair gathers and sums
            blocks = min(threads, folds) * (4 + 4 * pairs / n_cond ** 2) * GEN_BLOCK_ELEMS * b
        gen = cells + max(blocks, cells + plan.result_bytes)
        return int(held + max(noise_work, kernel, gen))
    return int(held + max(noise_work, kernel))


def _estimate(plan: EEGPlan, input_copied: bool = True):
    """The :class:`CostEstimate` of a planned ``eeg_rdm`` run (``input_copied``: the run makes a
    float64 copy of the input; not for a float64 array)."""

    opts, dev = plan.options, plan.options.device
    n_cond, k, n_ch, n_t, n_out = plan.n_conditions, plan.k, plan.n_channels, plan.n_times, plan.n_times_out
    units, folds, pairs, n_perm, fits = plan.n_units, plan.n_folds, plan.n_pairs, opts.n_permutations, plan.fits
    pseudo, noise, window, decim = opts.pseudo_trials, opts.noise_normalization, opts.window, opts.decim
    cal, busy = calibrate(dev), contention()
    b = 8                                                        # everything runs in float64
    x_in, x_sel = plan.n_trials * n_ch * n_t * b, n_cond * k * n_ch * n_t * b
    x_out = n_cond * k * n_ch * n_out * b if (window or decim > 1) else 0
    # the input's float64 copy, finite check and the used trials' index, the pseudo-trial
    # averaging's reads, the moving average (reads window x): passes over fresh memory, which
    # the tiny calibration runs (in the caches) do not see
    data = ((4 * x_in + 2 * x_sel + (window or 1) * x_out) / cal["memory_fresh"]
            # the large arrays are new to the process: their pages are faulted in once
            + ((x_in if input_copied else 0) + x_sel + x_out) / cal["page_in"]) * busy
    fixed, per_cond, per_pair, _ = calibrated_units(plan)          # one thread
    kernel = n_out * (per_cond * n_cond + per_pair * pairs)          # one permutation, one thread
    speedup = thread_speedup(plan, kernel)  # the threads: blocks of pair-times, or folds, at once
    seconds = data + (fixed + n_perm * kernel / speedup) * busy
    if opts.generalization:          # on top of the diagonal (the ordinary run, in the same call)
        g_fixed, per_train, per_cell = calibrated_generalization(plan)
        trained = pairs if opts.is_lda else n_cond      # a weight solve per pair; fold means per condition
        seconds += n_perm * (g_fixed + n_out * (per_train * trained + per_cell * pairs * plan.n_test_times)
                             / generalization_speedup(plan)) * busy
    flops = 2.0 * n_cond * pseudo * k * n_ch * n_out if pseudo else 0.0   # averaging into pseudo-trials
    if noise:
        flops += folds * (15.0 * n_cond * k * n_ch ** 2 * n_out
                          + _EIGH_FLOPS * n_ch ** 3 * (n_out if noise == "time" else 1)
                          + 2.0 * n_cond * (units if opts.is_lda else 2) * n_ch ** 2 * n_out)
    if not opts.is_lda:
        flops += folds * (4.0 * n_cond * units * n_ch * n_out + 2.0 * n_cond ** 2 * n_ch * n_out)
    peak = _peak_bytes(plan, input_copied)
    work = {"conditions": n_cond, "pairs": pairs, "times": n_out, "folds": folds, "permutations": n_perm,
            "fits": fits, "evaluations": plan.evaluations, "progress_total": plan.progress_total,
            "units": units, "channels": n_ch, "flops": int(flops * n_perm),
            "result_bytes": plan.result_bytes, "contention": busy, "speedup": speedup}
    return CostEstimate(float(seconds), int(peak), 0, work, str(dev), plan.regime)


def estimate_eeg(n_conditions, k, n_channels, n_times, *, method="lda", cv="loo", pseudo_trials=None,
                 n_permutations=1, noise_normalization=None, decim=1, window=None,
                 average_reference=False, n_trials=None, device="cpu", generalization=False):
    """Predict the cost of :func:`rdm_widgets.eeg_rdm` from the sizes alone.

    Parameters
    ----------
    n_conditions, k, n_channels, n_times, method, cv, pseudo_trials, n_permutations,
    noise_normalization, decim, window, average_reference, n_trials, device, generalization
        As in :func:`rdm_widgets.eeg.plan_eeg_sizes`, which plans the run from them (only memory
        depends on ``n_trials``; ``average_reference`` selects a faster LDA path).

    Returns
    -------
    CostEstimate
        ``work['fits']`` = pairs x time points x folds x permutations (``eeg_rdm``'s progress
        total without generalisation), ``work['evaluations']`` = fits x test times with
        ``generalization=True`` (0 without), ``work['progress_total']`` = their sum (the run's
        progress total); ``regime`` names the kernel path (:attr:`rdm_widgets.eeg.EEGPlan.regime`).
    """
    return _estimate(plan_eeg_sizes(n_conditions, k, n_channels, n_times, n_trials=n_trials,
                                    average_reference=average_reference, method=method, cv=cv,
                                    pseudo_trials=pseudo_trials, n_permutations=n_permutations,
                                    noise_normalization=noise_normalization, window=window, decim=decim,
                                    device=device, generalization=generalization))


def estimate_eeg_rdm(eeg, labels=None, *, method="lda", times=None, cv="loo", pseudo_trials=None,
                     n_permutations=1, random_state=None, noise_normalization=None, shrinkage="auto",
                     score="accuracy", groups=None, window=None, decim=1, device="cpu", picks=None, level=None,
                     balance="first", progress=None, verbose=False, client=None, generalization=False):
    """Predict the cost of ``eeg_rdm(eeg, labels, **options)`` with the same arguments.

    The options are validated as :func:`rdm_widgets.eeg_rdm` does, by the same call
    (:func:`rdm_widgets.eeg.plan_eeg_rdm`; without reading every value: non-finite data are
    only found by the run). ``progress``, ``verbose`` and ``client`` are accepted so that the
    same keyword arguments can be passed, and ignored (the estimate is for a local run).

    Parameters
    ----------
    eeg : array-like, Tensor, mne.Epochs or path of an ``-epo.fif`` file
        Shape (n_trials, n_channels, n_times) or (n_trials, n_channels) for arrays.
    labels : sequence of shape (n_trials,), str or None
        As in :func:`rdm_widgets.eeg_rdm` (None: the event names of MNE epochs).
    method, times, cv, pseudo_trials, n_permutations, random_state, noise_normalization,
    shrinkage, score, groups, window, decim, device, picks, level, balance, generalization
        As in :func:`rdm_widgets.eeg_rdm`. With ``generalization=True`` the estimate adds the
        train x test kernels (a weight solve per pair, fold and training time, and a decision
        per test time; distances: a Gram entry per training and test time) to the ordinary run
        (the diagonal), each priced by tiny real runs.

    Returns
    -------
    CostEstimate
    """
    copied = not (isinstance(eeg, np.ndarray) and eeg.dtype == np.float64)
    return _estimate(plan_eeg_rdm(eeg, labels, method=method, times=times, cv=cv, pseudo_trials=pseudo_trials,
                                  n_permutations=n_permutations, random_state=random_state,
                                  noise_normalization=noise_normalization, shrinkage=shrinkage, score=score,
                                  groups=groups, window=window, decim=decim, device=device, picks=picks,
                                  level=level, balance=balance, generalization=generalization), copied)
