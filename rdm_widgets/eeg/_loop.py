"""The permutation loop of :func:`rdm_widgets.eeg.eeg_rdm`, shared by the local run and dask tasks.

Why this module exists: ``eeg_rdm`` first fixes everything in a :class:`RunPlan` (the
options and sizes of :func:`._plan.plan_eeg_rdm` plus the selected data), then makes each
permutation's inputs (:func:`_permutation_inputs`: pseudo-trials, folds, noise whiteners)
and runs the method's kernel over blocks of time points (:func:`_accumulate`). The local run
loops over all of it; with ``client=`` (:mod:`._distributed`) the client makes the
inputs and every (permutation, time block) is one task running the same
:func:`_accumulate` -- so both make the same kernel calls and get the same numbers.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch

from ._design import assign_bins, average_bins
from ._lda_base import caller_one_thread
from ._noise import noise_whiteners
from ._options import EEGOptions
from ._result import TimeResolvedRDM

__all__ = ["RunPlan", "time_blocks", "TIME_BLOCK_PAIR_TIMES"]

# pair-time points per time block (see time_blocks)
TIME_BLOCK_PAIR_TIMES = 16_384


def time_blocks(n_times: int, n_pairs: int) -> list:
    """Contiguous blocks of time points in which the kernels are run, fixed by the data alone.

    The local run loops over these blocks and a cluster runs one task per block (and
    permutation), so both make exactly the same kernel calls: batched LAPACK/BLAS
    routines (MKL) round an item differently depending on its position in the batch
    (memory alignment), so only identical calls give bit-identical results. Blocks hold
    about ``TIME_BLOCK_PAIR_TIMES`` pair-times and at least 2 time points (torch runs a
    batch of one through a different routine).
    """
    size = max(2, -(-TIME_BLOCK_PAIR_TIMES // max(n_pairs, 1)))
    n_blocks = max(1, min(-(-n_times // size), n_times // 2))
    return [slice(int(b[0]), int(b[-1]) + 1) for b in np.array_split(np.arange(n_times), n_blocks)]


@dataclass(frozen=True, eq=False)
class RunPlan:
    """What :func:`eeg_rdm` fixed before computing anything: options, trials, kernel, meta.

    ``x`` (n_cond, k, C, T) holds the used trials after ``window``/``decim``; the rest is
    small. It is all the permutation loop needs, locally or split over a cluster. With
    ``balance=False`` shorter conditions are padded and ``valid`` (n_cond, k) marks the trials.
    """

    x: np.ndarray
    times: np.ndarray
    conditions: list
    groups: Optional[np.ndarray]     # (n_cond, k) group codes or None
    pairs: torch.Tensor              # (n_pairs, 2), i < j
    run: Callable                    # kernel(units, fold_of_unit, n_folds, pairs, whiteners, opts, reporter)
    opts: EEGOptions
    n_folds: int
    seed: Optional[int]
    meta: dict
    valid: Optional[np.ndarray] = None   # (n_cond, k) bool, or None when every row is full

    @property
    def total(self) -> int:
        """Progress units: fits (or distance evaluations) over permutations, folds, pairs, times."""
        return self.opts.n_permutations * self.n_folds * len(self.pairs) * self.x.shape[-1]


def _permutation_inputs(plan: RunPlan):
    """Yield ``(units, fold_of_unit, whiteners)`` for every permutation, in order.

    ``units`` (n_cond, n_units, C, T) are the trials or this permutation's pseudo-trials,
    ``fold_of_unit`` (n_cond, n_units) their test folds and ``whiteners`` (n_folds, T or 1,
    C, C) the noise normalisation or None. Pseudo-trial assignments are drawn one after the
    other from one ``default_rng(seed)``, and whiteners come from all time points: both are
    made here, once, however the kernels' work is split afterwards.
    """
    x, dev, n_folds, n_pt = plan.x, plan.opts.device, plan.n_folds, plan.opts.pseudo_trials
    n_cond, k = x.shape[:2]
    rng = np.random.default_rng(plan.seed) if plan.seed is not None else None
    x_t = torch.from_numpy(x).to(dev)
    for _ in range(plan.opts.n_permutations):
        if n_pt is not None:
            bins = assign_bins(n_cond, k, n_pt, groups=plan.groups, rng=rng, what="pseudo-trial", valid=plan.valid)
            units = torch.from_numpy(average_bins(x, bins, n_pt)).to(dev)
            fold_of_unit = np.broadcast_to(np.arange(n_pt) % n_folds, (n_cond, n_pt))
            fold_of_trial = fold_of_unit[0][bins]
        else:
            units = x_t
            if plan.opts.cv == "loo":
                fold_of_unit = np.broadcast_to(np.arange(k), (n_cond, k))
            else:
                fold_of_unit = assign_bins(n_cond, k, plan.opts.cv, groups=plan.groups)
            fold_of_trial = fold_of_unit
        whiteners = None
        if plan.opts.noise_normalization is not None:
            f_idx = torch.arange(n_folds, device=dev)[:, None, None]
            train_mask = torch.from_numpy(np.ascontiguousarray(fold_of_trial)).to(dev)[None] != f_idx
            if plan.valid is not None:                         # padding is never a training trial
                train_mask &= torch.from_numpy(plan.valid).to(dev)[None]
            whiteners = noise_whiteners(x_t, train_mask, plan.opts.noise_normalization)
        yield units, torch.from_numpy(np.ascontiguousarray(fold_of_unit)).to(dev), whiteners


def _accumulate(inputs, blocks: list, n_folds: int, pairs: torch.Tensor, run: Callable, opts: dict,
                reporter) -> torch.Tensor:
    """Sum of the kernel's scores over the permutations in ``inputs``, block by block of time.

    Parameters
    ----------
    inputs : iterable of (units, fold_of_unit, whiteners)
        As yielded by :func:`_permutation_inputs` (a cluster task: one time block of them).
    blocks : list of slice
        Time blocks (:func:`time_blocks`; a cluster task: the one block it holds).
    n_folds : int
    pairs : Tensor, shape (n_pairs, 2)
    run : callable
        The method's kernel (see :data:`._methods.METHODS`).
    opts : EEGOptions
        The resolved options (the kernels read ``method``, ``score`` and ``shrinkage``).
    reporter : ProgressReporter

    Returns
    -------
    Tensor, shape (n_pairs, T)
        Summed over permutations in the order given (divide by their number).
    """
    # On a CPU the kernels' threads (run_threaded) do the work, and this thread keeps one
    # intra-op thread meanwhile (caller_one_thread: an OpenMP team woken by the copies below
    # would spin on a core the kernels' threads need)
    with contextlib.nullcontext() if pairs.device.type != "cpu" else caller_one_thread():
        return _accumulate_blocks(inputs, blocks, n_folds, pairs, run, opts, reporter)


def _accumulate_blocks(inputs, blocks, n_folds, pairs, run, opts, reporter):
    acc = None
    for units, fold_t, whiteners in inputs:
        for b in blocks:
            # fresh contiguous copies: a block's kernel call sees the same shapes and memory
            # layout wherever it runs (see time_blocks)
            u = units[..., b].clone(memory_format=torch.contiguous_format)
            w = whiteners
            if w is not None:   # (n_folds, T or 1 for 'epoch', C, C)
                w = (w if w.shape[1] == 1 else w[:, b]).clone(memory_format=torch.contiguous_format)
            scores = run(u, fold_t, n_folds, pairs, w, opts, reporter)
            if acc is None:
                acc = torch.zeros(len(pairs), units.shape[-1], dtype=scores.dtype, device=scores.device)
            acc[:, b] += scores
    return acc


def _to_result(plan: RunPlan, acc: torch.Tensor) -> TimeResolvedRDM:
    """Average over permutations and fill the symmetric (n_cond, n_cond, T) RDM."""
    # on the CPU: CUDA divides by a Python scalar as a multiplication by its reciprocal
    pc, acc = plan.pairs.cpu(), acc.cpu() / plan.opts.n_permutations
    n_cond, T = len(plan.conditions), plan.x.shape[-1]
    data = torch.zeros(n_cond, n_cond, T, dtype=torch.float64)
    data[pc[:, 0], pc[:, 1]] = acc
    data[pc[:, 1], pc[:, 0]] = acc
    return TimeResolvedRDM(data.numpy(), times=plan.times, conditions=plan.conditions, meta=plan.meta)
