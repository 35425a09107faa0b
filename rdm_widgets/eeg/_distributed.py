"""One :func:`rdm_widgets.eeg.eeg_rdm` on a ``dask.distributed`` cluster: one task per time block.

Why this module exists: :func:`rdm_widgets.eeg.eeg_rdm` with ``client=`` must give the
same numbers as the local run. Everything that couples time points or permutations is
therefore done on the client, exactly as locally (:func:`._loop._permutation_inputs`):
pseudo-trial assignments are drawn one permutation after the other from one seeded
generator, and noise whiteners use all time points ('epoch' averages a covariance over
the epoch). The local run already works in time blocks fixed by the data
(:func:`._loop.time_blocks`); here each (permutation, block) is one task running the
same loop (:func:`._loop._accumulate`) on that block alone, and the client adds the
blocks' scores in permutation order, as the local loop does. Same calls, same numbers.
(Several subjects, one task each: :mod:`._subjects`.)
"""
from __future__ import annotations

import contextlib

import torch

from .._dask import map_unordered
from .._progress import ProgressReporter
from ._loop import RunPlan, _accumulate, _permutation_inputs, time_blocks

__all__ = ["accumulate_on_cluster"]


def _block_task(item, n_folds, pairs, run, opts, device):
    """One cluster task: the kernel scores (n_pairs, T_block) of one permutation's time block."""
    units, fold_of_unit, whiteners = item
    dev = torch.device(device)
    inputs = [(torch.from_numpy(units).to(dev), torch.from_numpy(fold_of_unit).to(dev),
               None if whiteners is None else torch.from_numpy(whiteners).to(dev))]
    # progress is counted on the client, one step per finished task
    return _accumulate(inputs, [slice(0, units.shape[-1])], n_folds, torch.from_numpy(pairs).to(dev), run,
                       opts, ProgressReporter(0)).cpu()


def accumulate_on_cluster(client, plan: RunPlan, progress=None, verbose: bool = False) -> torch.Tensor:
    """:func:`._loop._accumulate` over all permutations and time blocks, as tasks on ``client``.

    Parameters
    ----------
    client : distributed.Client
    plan : RunPlan
    progress : callable or None
        ``progress(done, total)`` in the units of :func:`eeg_rdm`, advanced per finished
        task; may raise :class:`rdm_widgets.Cancelled` (the remaining tasks are cancelled).
    verbose : bool

    Returns
    -------
    Tensor, shape (n_pairs, T)
        Equal to the local run's sum over permutations.
    """
    n_times, n_pairs = plan.x.shape[-1], len(plan.pairs)
    blocks = time_blocks(n_times, n_pairs)
    keys, futures = [], []
    # inputs are made (and sent) one permutation at a time: the client never holds them all
    for p, (units, fold_of_unit, whiteners) in enumerate(_permutation_inputs(plan)):
        fold_np = fold_of_unit.cpu().numpy()
        items = []
        for b in blocks:
            w = whiteners
            if w is not None:  # 'time': this block's whiteners; 'epoch': the one per fold
                w = (w if w.shape[1] == 1 else w[:, b]).cpu().numpy().copy()
            items.append((units[..., b].cpu().numpy().copy(), fold_np, w))
        futures += client.scatter(items, hash=False)
        keys += [(p, i) for i in range(len(blocks))]
    scores = {}
    args = (plan.n_folds, plan.pairs.cpu().numpy(), plan.run, plan.opts, str(plan.opts.device))
    with ProgressReporter(plan.total, progress, verbose, desc=f"eeg_rdm ({plan.opts.method})") as rep, \
            contextlib.closing(map_unordered(client, _block_task, futures, *args)) as done:
        for i, block_scores in done:
            scores[keys[i]] = block_scores
            b = blocks[keys[i][1]]
            rep.update(plan.n_folds * n_pairs * (b.stop - b.start))
    del futures
    acc = torch.zeros(n_pairs, n_times, dtype=torch.float64, device=plan.opts.device)
    for p in range(plan.opts.n_permutations):           # the local loop's order of additions
        for i, b in enumerate(blocks):
            acc[:, b] += scores.pop((p, i)).to(plan.opts.device)
    return acc
