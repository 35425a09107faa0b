"""``eeg_rdms``: time-resolved RDMs of several subjects, one :func:`eeg_rdm` per subject.

Why this module exists: a group study computes the same RDM for every subject. Subjects are
independent, so on a ``dask.distributed`` cluster each one is a task running the plain
:func:`rdm_widgets.eeg.eeg_rdm` (its data scattered once); without a cluster they run one
after the other here. Options are checked once, here, before any subject is sent.
"""
from __future__ import annotations

import contextlib
import inspect

from .._dask import check_client, client_scope, map_unordered
from .._progress import ProgressReporter
from ..interop._mne import is_fif_path, is_mne_epochs
from ._api import eeg_rdm

__all__ = ["eeg_rdms"]


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
        if is_mne_epochs(value) or is_fif_path(value):       # MNE: event names and times from the epochs
            out[name] = (value, None, None)
            continue
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
        ``{name: epochs}`` (MNE epochs or an ``-epo.fif`` path) uses the event names and the
        epochs' times; ``(epochs, "column")`` a metadata column.
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
    check_client(client)            # an unreachable scheduler fails now, before any work
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
