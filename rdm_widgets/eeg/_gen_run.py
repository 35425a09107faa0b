"""The run of ``eeg_rdm(..., generalization=True)``: diagonal and train x test scores per permutation.

Why this module exists: a generalisation run uses exactly the permutation inputs of the ordinary
run (pseudo-trials, folds, whiteners: :func:`._loop._permutation_inputs`), so its diagonal can
be computed by the ordinary kernel with the ordinary time blocks (:func:`._loop._accumulate`):
``GeneralizationRDM.diagonal()`` is then bit-identical to ``eeg_rdm`` without generalisation.
The off-diagonal cells come from the generalisation kernels (:mod:`._gen_kernels`); their own
``t = t'`` cells agree with the diagonal to rounding and are replaced by it.
"""
from __future__ import annotations

import numpy as np
import torch

from ._gen_kernels import generalization_kernel
from ._generalization import GeneralizationRDM
from ._loop import RunPlan, _accumulate, _permutation_inputs, _to_result, time_blocks

__all__ = ["generalization_total", "run_generalization"]


def generalization_total(run: RunPlan) -> int:
    """Progress units: the diagonal's fits plus one per (permutation, fold, pair, train, test time)."""
    return run.total * (1 + run.x.shape[-1])


def run_generalization(run: RunPlan, reporter) -> GeneralizationRDM:
    """Every permutation's diagonal (ordinary kernel) and train x test scores, averaged.

    Parameters
    ----------
    run : RunPlan
        As made by ``eeg_rdm`` (``run.opts.generalization`` True).
    reporter : ProgressReporter
        Total :func:`generalization_total`; may raise ``Cancelled``.

    Returns
    -------
    GeneralizationRDM
    """
    T = run.x.shape[-1]
    blocks = time_blocks(T, len(run.pairs))
    gen_kernel = generalization_kernel(run.opts.method)
    diag = gen = None
    for units, fold_t, whiteners in _permutation_inputs(run):
        d = _accumulate([(units, fold_t, whiteners)], blocks, run.n_folds, run.pairs, run.run, run.opts, reporter)
        # 0 + s0 + s1 ...: the same additions, in the same order, as the ordinary run's accumulator
        diag = d if diag is None else diag.add_(d)
        g = gen_kernel(units, fold_t, run.n_folds, run.pairs, whiteners, run.opts, reporter)
        gen = g if gen is None else gen.add_(g)
    diagonal = _to_result(run, diag)
    # on the CPU: CUDA divides by a Python scalar as a multiplication by its reciprocal
    pc, gen = run.pairs.cpu(), gen.cpu() / run.opts.n_permutations
    n_cond = len(run.conditions)
    data = torch.zeros(n_cond, n_cond, T, T, dtype=torch.float64)
    data[pc[:, 0], pc[:, 1]] = gen
    data[pc[:, 1], pc[:, 0]] = gen
    data = data.numpy()
    idx = np.arange(T)
    data[:, :, idx, idx] = diagonal.data
    return GeneralizationRDM(data, train_times=run.times, test_times=run.times.copy(),
                             conditions=run.conditions, meta=dict(run.meta, generalization=True))
