"""MNE-Python epochs (``mne.Epochs``, ``mne.EpochsArray``, ``-epo.fif`` files) as arrays.

Why this module exists: :func:`rdm_widgets.eeg.eeg_rdm` computes on arrays, and MNE users have
``Epochs``. :func:`epochs_to_arrays` is the one conversion: the data (n_trials, n_channels,
n_times) of the picked channels, the time axis in seconds, the channel names, the sampling
rate and one condition label per trial -- the event names of ``event_id`` by default (not the
integer codes), a column of ``epochs.metadata``, or an array given by the caller. MNE is
imported only when a file is read (an ``Epochs`` object is recognised by its class's module).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
import numpy as np

__all__ = ["MNEEpochsData", "is_mne_epochs", "is_fif_path", "epochs_to_arrays", "label_level"]


@dataclass
class MNEEpochsData:
    """What :func:`epochs_to_arrays` takes out of MNE epochs.

    Attributes
    ----------
    data : ndarray, shape (n_trials, n_channels, n_times)
        float64, in MNE's stored units (volts, teslas...).
    labels : ndarray, shape (n_trials,)
        One condition per trial.
    times : ndarray, shape (n_times,)
        Seconds.
    ch_names : list of str
        The picked channels.
    sfreq : float
    labels_from : str
        ``'event_id'``, ``'metadata:<column>'`` or ``'array'``.
    source : str
        The file read, or ``''`` for an object.
    """

    data: np.ndarray
    labels: np.ndarray
    times: np.ndarray
    ch_names: list
    sfreq: float
    labels_from: str = "event_id"
    source: str = ""
    meta: dict = field(default_factory=dict)


def is_mne_epochs(obj) -> bool:
    """Whether ``obj`` is MNE epochs (``mne.Epochs``, ``EpochsArray``, ``EpochsFIF``...)."""
    return type(obj).__module__.split(".")[0] == "mne" and hasattr(obj, "get_data") \
        and hasattr(obj, "event_id") and hasattr(obj, "events")


def is_fif_path(obj) -> bool:
    """Whether ``obj`` is a path (str or Path) of a ``.fif`` / ``.fif.gz`` file."""
    return isinstance(obj, (str, Path)) and str(obj).lower().endswith((".fif", ".fif.gz"))


def _mne():
    try:
        import mne
    except ImportError as err:
        raise ImportError("Reading MNE epochs needs MNE-Python: pip install mne (or rdm_widgets[interop]).") from err
    return mne


def _read(path) -> object:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Epochs file not found: {str(path)!r}.")
    mne = _mne()
    try:
        return mne.read_epochs(str(path), preload=True, verbose="error")
    except (ValueError, OSError, TypeError) as err:
        raise ValueError(f"Cannot read {path.name!r} as MNE epochs ({err}); save them with "
                         "epochs.save('name-epo.fif').") from err


def _event_names(epochs) -> np.ndarray:
    name_of = {}
    for name, code in epochs.event_id.items():
        name_of.setdefault(int(code), str(name))
    return np.array([name_of.get(int(code), str(int(code))) for code in epochs.events[:, 2]])


def _labels(epochs, labels, n: int) -> tuple:
    if labels is None:
        return _event_names(epochs), "event_id"
    if isinstance(labels, str):
        md = epochs.metadata
        if md is None:
            raise ValueError(f"labels={labels!r} names a metadata column, but these epochs have no metadata. "
                             "Leave labels=None to use the event names, or give one label per trial.")
        if labels not in md.columns:
            raise ValueError(f"labels={labels!r} is no column of epochs.metadata; its columns are "
                             f"{[str(c) for c in md.columns]}.")
        return np.asarray(md[labels].to_numpy()), f"metadata:{labels}"
    arr = labels.detach().cpu().numpy() if hasattr(labels, "detach") else np.asarray(labels)
    if arr.shape != (n,):
        raise ValueError(f"Got labels of shape {arr.shape} for {n} epochs; give one label per epoch, "
                         "a metadata column name, or None for the event names.")
    return arr, "array"


def _channel_names(epochs, picks) -> list:
    """The names of the picked channels (MNE's rules; bad channels left out unless named)."""
    mne = _mne()
    info_only = mne.io.RawArray(np.zeros((len(epochs.ch_names), 1)), epochs.info, verbose="error")
    try:
        return list(info_only.pick("data" if picks is None else picks, exclude="bads").ch_names)
    except ValueError as err:
        types = sorted(set(epochs.get_channel_types()))
        raise ValueError(f"picks={picks!r} selects no channel of these epochs ({err}). Their channel "
                         f"types are {types}; use e.g. picks={types[0]!r} or a list of channel names.") from err


def epochs_to_arrays(epochs, labels=None, *, picks=None) -> MNEEpochsData:
    """Data, labels, times (s), channel names and sampling rate of MNE epochs.

    Parameters
    ----------
    epochs : mne.Epochs, mne.EpochsArray, str or Path
        Epochs, or the path of an ``-epo.fif`` file (read with ``mne.read_epochs``).
    labels : None, str or array-like, shape (n_epochs,)
        None: the event name of every epoch (from ``epochs.event_id``; a code without a name
        becomes its number as text). A str: the column of ``epochs.metadata`` with that name.
        An array: one label per epoch.
    picks : str, list or None
        Channels, as MNE's ``picks``: channel types (``'eeg'``, ``'meg'``, ``'grad'``, ``'mag'``),
        names or indices. None: all data channels (``'data'``). Bad channels
        (``info['bads']``) are left out unless named.

    Returns
    -------
    MNEEpochsData

    Raises
    ------
    ValueError
        Labels that do not fit, a metadata column that does not exist, picks that select nothing,
        a file that is not MNE epochs.
    """
    source = ""
    if isinstance(epochs, (str, Path)):
        source = str(epochs)
        if not is_fif_path(epochs):
            raise ValueError(f"{Path(epochs).name!r} is no MNE epochs file: use an -epo.fif file.")
        epochs = _read(epochs)
    elif not is_mne_epochs(epochs):
        raise TypeError(f"Invalid type for 'epochs': {type(epochs).__name__}. Expected mne.Epochs, "
                        "mne.EpochsArray or the path of an -epo.fif file.")
    if not getattr(epochs, "preload", True):
        epochs = epochs.copy().load_data()
    sfreq = float(epochs.info["sfreq"])
    if not (np.isfinite(sfreq) and sfreq > 0):
        raise ValueError(f"The epochs{f' in {source!r}' if source else ''} have info['sfreq'] = {sfreq}; "
                         "a sampling rate must be finite and > 0 (their times are sample / sfreq).")
    names = _channel_names(epochs, picks)
    data = np.asarray(epochs.get_data(picks=names), dtype=np.float64)
    lab, how = _labels(epochs, labels, data.shape[0])
    return MNEEpochsData(data=data, labels=lab, times=np.asarray(epochs.times, dtype=np.float64), ch_names=names,
                         sfreq=sfreq, labels_from=how, source=source,
                         meta={"ch_names": names, "sfreq": sfreq, "labels_from": how,
                               "picks": picks if picks is None or isinstance(picks, str)
                               else [str(p) for p in picks]})


def label_level(labels, level) -> np.ndarray:
    """Parts of hierarchical labels such as MNE's ``'face/famous'``.

    Parameters
    ----------
    labels : array-like of str, shape (n_trials,)
    level : int or sequence of int
        Which ``'/'``-separated part(s) give the condition: ``0`` the first (``'face'``), ``-1``
        the last (``'famous'``), ``(0, 2)`` the first and third joined by ``'/'``.

    Returns
    -------
    ndarray of str, shape (n_trials,)

    Raises
    ------
    ValueError
        A label without that part (the message names it and its parts).
    """
    levels = [level] if isinstance(level, (int, np.integer)) else list(level)
    if not levels or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in levels):
        raise TypeError(f"Invalid value for 'level': {level!r}. Expected an int (0 = the first part of "
                        "'face/famous') or a tuple of ints.")
    out = []
    for lab in np.asarray(labels).tolist():
        parts = str(lab).split("/")
        try:
            out.append("/".join(parts[int(v)] for v in levels))
        except IndexError:
            raise ValueError(f"Label {lab!r} has {len(parts)} part(s) {parts}, so level={level!r} does not "
                             "exist; hierarchical names are split at '/'.") from None
    return np.array(out)
