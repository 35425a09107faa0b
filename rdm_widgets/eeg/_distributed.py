"""EEG RDMs on a ``dask.distributed`` cluster: time blocks of :func:`eeg_rdm`, and :func:`eeg_rdms`.

Why this module exists: :func:`rdm_widgets.eeg.eeg_rdm` with ``client=`` must give the
same numbers as the local run. Everything that couples time points or permutations is
therefore done on the client, exactly as locally (:func:`._loop._permutation_inputs`):
pseudo-trial assignments are drawn one permutation after the other from one seeded
generator, and noise whiteners use all time points ('epoch' averages a covariance over
the epoch). The local run already works in time blocks fixed by the data
(:func:`._loop._time_blocks`); here each (permutation, block) is one task running the
same loop (:func:`._loop._accumulate`) on that block alone, and the client adds the
blocks' scores in permutation order, as the local loop does. Same calls, same numbers.
"""
from __future__ import annotations

import contextlib
import inspect

import torch

from .._dask import client_scope, map_unordered
from .._progress import ProgressReporter
from ._api import eeg_rdm
from ._loop import _accumulate, _permutation_inputs, _Plan, _time_blocks

__all__ = ["eeg_rdms"]


def _block_task(item, n_folds, pairs, run, opts, device):
    """One cluster task: the kernel scores (n_pairs, T_block) of one permutation's time block."""
    units, fold_of_unit, whiteners = item
    dev = torch.device(device)
    inputs = [(torch.from_numpy(units).to(dev), torch.from_numpy(fold_of_unit).to(dev),
               None if whiteners is None else torch.from_numpy(whiteners).to(dev))]
    # progress is counted on the client, one step per finished task
    return _accumulate(inputs, [slice(0, units.shape[-1])], n_folds, torch.from_numpy(pairs).to(dev), run,
                       opts, ProgressReporter(0)).cpu()


def accumulate_on_cluster(client, plan: _Plan, progress=None, verbose: bool = False) -> torch.Tensor:
    """:func:`._loop._accumulate` over all permutations and time blocks, as tasks on ``client``.

    Parameters
    ----------
    client : distributed.Client
    plan : _Plan
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
    blocks = _time_blocks(n_times, n_pairs)
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
    args = (plan.n_folds, plan.pairs.cpu().numpy(), plan.run, plan.opts, str(plan.device))
    with ProgressReporter(plan.total, progress, verbose, desc=f"eeg_rdm ({plan.opts['method']})") as rep, \
            contextlib.closing(map_unordered(client, _block_task, futures, *args)) as done:
        for i, block_scores in done:
            scores[keys[i]] = block_scores
            b = blocks[keys[i][1]]
            rep.update(plan.n_folds * n_pairs * (b.stop - b.start))
    del futures
    acc = torch.zeros(n_pairs, n_times, dtype=torch.float64, device=plan.device)
    for p in range(plan.n_permutations):           # the local loop's order of additions
        for i, b in enumerate(blocks):
            acc[:, b] += scores.pop((p, i)).to(plan.device)
    return acc


# ------------------------------------------------------------------ many subjects
def _subject_task(item, kwargs):
    """One cluster task: ``eeg_rdm`` of one subject (errors name the subject)."""
    name, (eeg, labels, times) = item
    try:
        return eeg_rdm(eeg, labels, times=times, **kwargs)
    except Exception as err:
        if hasattr(err, "add_note"):  # Python >= 3.11; travels back with the exception
            err.add_note(f"rdm_widgets.eeg_rdms: while computing subject {name!r} on a dask worker")
        raise


def _check_subjects(subjects, kwargs) -> dict:
    if not isinstance(subjects, dict):
        raise TypeError(f"Invalid type for 'subjects': {type(subjects).__name__}. Expected a dict "
                        "{name: (eeg, labels)} or {name: (eeg, labels, times)}.")
    if not subjects:
        raise ValueError("Invalid value for 'subjects': an empty dict. Give at least one subject.")
    try:  # unknown options fail here, not once per subject on the workers
        inspect.signature(eeg_rdm).bind(None, None, **kwargs)
    except TypeError as err:
        raise TypeError(f"eeg_rdms: {err}. Options are passed on to eeg_rdm.") from None
    out = {}
    for name, value in subjects.items():
        if not isinstance(value, (tuple, list)) or len(value) not in (2, 3):
            raise ValueError(f"Invalid value for subject {name!r}: expected a tuple (eeg, labels) or "
                             f"(eeg, labels, times); got {type(value).__name__}"
                             + (f" of length {len(value)}" if isinstance(value, (tuple, list)) else "") + ".")
        if len(value) == 3 and "times" in kwargs:
            raise ValueError(f"Subject {name!r} carries its own times and times= was given too; "
                             "give times in one place only.")
        eeg, labels, times = (*value, kwargs.get("times")) if len(value) == 2 else value
        out[name] = (eeg, labels, times)
    return out


def eeg_rdms(subjects, *, client=None, progress=None, verbose=False, **eeg_rdm_kwargs) -> dict:
    """Time-resolved RDMs of several subjects, one :func:`eeg_rdm` per subject.

    Parameters
    ----------
    subjects : dict
        ``{name: (eeg, labels)}`` or ``{name: (eeg, labels, times)}`` with ``eeg`` of
        shape (n_trials, n_channels, n_times) and ``labels`` of shape (n_trials,), as
        :func:`eeg_rdm` takes them; subjects may differ in trials, channels and times.
    client : distributed.Client, str or None
        Run one task per subject on a dask cluster (a client or a scheduler address);
        None computes the subjects one after the other here.
    progress : callable or None
        ``progress(done, total)`` over subjects; may raise :class:`rdm_widgets.Cancelled`
        (remaining tasks are cancelled).
    verbose : bool
        Show a tqdm progress bar over subjects.
    **eeg_rdm_kwargs
        Options of :func:`eeg_rdm` used for every subject (``method``,
        ``pseudo_trials``, ``random_state``, ``times`` for all subjects, ...). With
        ``pseudo_trials`` and no ``random_state`` each subject draws (and records in
        its ``meta['seed']``) its own seed.

    Returns
    -------
    dict
        ``{name: TimeResolvedRDM}`` in the order of ``subjects``; each equal to
        ``eeg_rdm(eeg, labels, times=times, **eeg_rdm_kwargs)``.

    Examples
    --------
    >>> rdms = eeg_rdms({"S01": (x1, y1), "S02": (x2, y2)}, client=client,
    ...                 method="lda_shrinkage", pseudo_trials=5, random_state=0)  # doctest: +SKIP
    """
    items = _check_subjects(subjects, eeg_rdm_kwargs)
    kwargs = {k: v for k, v in eeg_rdm_kwargs.items() if k != "times"}
    names = list(items)
    out = {}
    with client_scope(client) as client, \
            ProgressReporter(len(names), progress, verbose, desc="eeg_rdms") as rep:
        if client is None:
            for name in names:
                eeg, labels, times = items[name]
                out[name] = eeg_rdm(eeg, labels, times=times, **kwargs)
                rep.update(1)
        else:
            # each subject's data goes to the cluster once, not inside the task graph
            futures = client.scatter([items[n] for n in names], hash=False)
            tasks = list(zip(names, futures))
            with contextlib.closing(map_unordered(client, _subject_task, tasks, kwargs)) as done:
                for i, rdm in done:
                    out[names[i]] = rdm
                    rep.update(1)
    return {name: out[name] for name in names}
