"""Reading epochs from files: ``.npz`` arrays and MNE ``-epo.fif`` files, as :class:`Epochs`.

Why this module exists: the core reads the data it computes on, whoever asks (a script, a
batch job or the EEG panel of :mod:`rdm_widgets.widgets`). An ``.npz`` file is recognised by
its content, read from the ``.npy`` headers only (:func:`rdm_widgets._npy.npz_headers`): the
epochs are a 3-D numeric array (trials x channels x times; the names ``eeg``, ``data``,
``X``, ``epochs`` are preferred when several arrays qualify) and every 1-D array of strings,
integers or booleans with one entry per trial is a label array. Loading never unpickles.

:func:`epochs_input` is the boundary of ``eeg_rdm`` (and ``plan_eeg_rdm``): MNE epochs or an
``-epo.fif`` path become arrays through :func:`rdm_widgets.interop.epochs_to_arrays` (MNE is
imported only then), and ``level`` picks a part of hierarchical labels (``'face/famous'``).
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from .._npy import check_file, npz_headers, open_npz, read_member
from ..interop._mne import epochs_to_arrays, is_fif_path, is_mne_epochs, label_level
from ._saved_files import refuse_saved_rdm, saved_rdm_file

__all__ = ["Epochs", "read_epochs", "find_epoch_arrays", "is_epochs_file", "mne_available", "epochs_input",
           "EpochsInput", "read_epoch_arrays", "epoch_arrays", "read_epochs_keys"]

# preferred names of the epochs array, then of the label arrays (the first label array is the default)
_DATA_KEYS = ("eeg", "data", "X", "epochs")
_PREFERRED_LABEL_KEYS = ("labels", "label", "target", "targets", "y", "conditions", "condition", "events")


@dataclass
class Epochs:
    """Epoched EEG/MEG: ``eeg`` (n_trials, n_channels, n_times), label arrays, times (s).

    Attributes
    ----------
    eeg : ndarray, shape (n_trials, n_channels, n_times)
    labels : dict
        ``{name: ndarray of shape (n_trials,)}``, the preferred label array first.
    times : ndarray, shape (n_times,), or None
    source : str
        The file read.
    """

    eeg: np.ndarray
    labels: dict = field(default_factory=dict)   # key -> (n_trials,) array
    times: Optional[np.ndarray] = None
    source: str = ""

    @property
    def label_keys(self) -> list[str]:
        return list(self.labels)


def mne_available() -> bool:
    """Whether MNE-Python is installed (needed for ``-epo.fif`` files only)."""
    return importlib.util.find_spec("mne") is not None


def _infos(npz) -> dict:
    """``{key: (shape, dtype)}`` in file order, from a path (headers only) or a mapping of arrays."""
    if isinstance(npz, (str, Path)):
        return npz_headers(npz)
    return {k: (v if isinstance(v, tuple) else (tuple(np.shape(v)), np.asarray(v).dtype)) for k, v in
            ((k, npz[k]) for k in (npz.files if hasattr(npz, "files") else list(npz)))}


def _label_keys(infos: dict, data_key: str) -> list:
    n = infos[data_key][0][0]
    keys = list(infos)
    found = [k for k, (shape, dtype) in infos.items()
             if k != data_key and len(shape) == 1 and shape[0] == n and dtype.kind in "USiub"]
    return sorted(found, key=lambda k: (_PREFERRED_LABEL_KEYS.index(k) if k in _PREFERRED_LABEL_KEYS
                                        else len(_PREFERRED_LABEL_KEYS), keys.index(k)))


def find_epoch_arrays(npz) -> tuple:
    """Which arrays of an ``.npz`` are the epochs and which are label arrays, by content.

    Parameters
    ----------
    npz : str, Path, mapping or NpzFile
        The path of an ``.npz`` file (only its ``.npy`` headers are read), a mapping
        ``{key: array}`` (e.g. an open ``np.load`` result) or ``{key: (shape, dtype)}``.

    Returns
    -------
    data_key : str or None
        A 3-D numeric (integer or float) array: trials x channels x times. Among several, the
        first that has label arrays, preferring the names ``eeg``, ``data``, ``X``, ``epochs``.
    label_keys : list of str
        The 1-D arrays of strings, integers or booleans with one entry per trial, ``labels`` /
        ``target`` (and similar names) first, then in file order.
    """
    infos = _infos(npz)
    keys = list(infos)
    data = [k for k, (shape, dtype) in infos.items() if len(shape) == 3 and dtype.kind in "fiu"]
    data.sort(key=lambda k: (_DATA_KEYS.index(k) if k in _DATA_KEYS else len(_DATA_KEYS), keys.index(k)))
    for k in data:
        labels = _label_keys(infos, k)
        if labels:
            return k, labels
    return (data[0], []) if data else (None, [])


def is_epochs_file(path) -> bool:
    """Whether ``path`` holds epochs: an MNE ``.fif`` file, or an ``.npz`` with an epochs array and
    a label array (:func:`find_epoch_arrays`; headers only, and a ``format`` string) that is no RDM file
    this package saved (a ``TimeResolvedRDM`` file, say)."""
    if str(path).lower().endswith(".fif"):
        return True
    try:
        infos = npz_headers(Path(path))
        data_key, label_keys = find_epoch_arrays(infos)
        return data_key is not None and bool(label_keys) and saved_rdm_file(path, infos) is None
    except ValueError:                      # not a readable .npz
        return False


def _read_fif(path: Path) -> Epochs:
    if not mne_available():
        raise ValueError(f"Reading {path.name} needs MNE-Python: pip install mne.")
    d = epochs_to_arrays(path)
    return Epochs(d.data, {"event": d.labels}, d.times, str(path))


@dataclass
class EpochsInput:
    """What :func:`epochs_input` resolved: arrays for ``eeg_rdm``, and where they came from.

    Attributes
    ----------
    eeg : array-like or Tensor, shape (n_trials, n_channels, n_times)
    labels : array-like, shape (n_trials,)
    times : ndarray, shape (n_times,), or None
    meta : dict
        For MNE input: ``input``, ``ch_names``, ``sfreq``, ``labels_from``, ``picks``; and
        ``level`` when given. Empty for arrays without ``level``.
    """

    eeg: object
    labels: object
    times: Optional[np.ndarray]
    meta: dict = field(default_factory=dict)


def epochs_input(eeg, labels=None, times=None, *, picks=None, level=None) -> EpochsInput:
    """The arrays ``eeg_rdm`` computes on, from arrays or MNE epochs.

    Parameters
    ----------
    eeg : array-like, Tensor, mne.Epochs / mne.EpochsArray, or str / Path of an ``-epo.fif``
    labels : None, str or array-like, shape (n_trials,)
        Arrays: required, one label per trial. MNE: None (the event names), a metadata column
        name, or an array (:func:`rdm_widgets.interop.epochs_to_arrays`).
    times : array-like or None
        Arrays only (MNE epochs carry their times, in seconds).
    picks : str, list or None
        MNE only: channel types or names (MNE's ``picks``).
    level : int, tuple of int or None
        The ``'/'``-separated part(s) of string labels that give the condition
        (:func:`rdm_widgets.interop.label_level`: ``0`` -> ``'face'`` of ``'face/famous'``).

    Raises
    ------
    ValueError
        Labels missing for arrays, ``times`` or ``picks`` given where they do not apply.
    """
    meta: dict = {}
    if is_mne_epochs(eeg) or is_fif_path(eeg):
        if times is not None:
            raise ValueError("times= applies to arrays only: MNE epochs carry their times (epochs.times, "
                             "seconds). Crop or resample the epochs instead (epochs.crop, epochs.decimate).")
        kind = f"mne.{type(eeg).__name__}" if is_mne_epochs(eeg) else ""
        d = epochs_to_arrays(eeg, labels, picks=picks)
        eeg, labels, times = d.data, d.labels, d.times
        meta = dict(d.meta, input=d.source or kind)
    elif picks is not None:
        raise ValueError("picks= selects channels of MNE epochs; for an array index the channels instead "
                         "(eeg[:, channels]).")
    elif labels is None:
        raise ValueError("labels are required for array input: give one condition label per trial "
                         "(MNE epochs and -epo.fif files carry their event names).")
    if level is not None:
        labels = label_level(labels.detach().cpu().numpy() if hasattr(labels, "detach") else labels, level)
        meta["level"] = level if isinstance(level, int) else list(level)
    return EpochsInput(eeg, labels, times, meta)


def read_epochs(path) -> Epochs:
    """Read epochs from an ``.npz`` file (arrays recognised by content) or an MNE ``-epo.fif`` file.

    Parameters
    ----------
    path : str or Path
        ``.npz``: the epochs array and the label arrays as :func:`find_epoch_arrays` finds
        them; ``times`` (n_times,) or ``sfreq`` (then ``times = arange(n_times) / sfreq``) give
        the time axis. ``.fif``: ``mne.read_epochs``; the labels are the event names.

    Returns
    -------
    Epochs

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        No 3-D epochs array, no label array, an unreadable or unsupported file, or an RDM file
        this package saved (``TimeResolvedRDM.save``'s (n, n, T) ``data`` would read as n trials).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"EEG file not found: {str(path)!r}.")
    check_file(path, what="EEG file")           # a FIFO, device or socket is refused, never waited on
    if path.suffix.lower() == ".fif":
        return _read_fif(path)
    if path.suffix.lower() != ".npz":
        raise ValueError(f"Unsupported EEG file {path.name!r}: use an .npz with keys eeg, labels, times"
                         + (" or an MNE -epo.fif file." if mne_available() else " (MNE .fif needs mne)."))
    infos = npz_headers(path)
    keys = list(infos)
    refuse_saved_rdm(path, infos)
    data_key, label_keys = find_epoch_arrays(infos)
    if data_key is None:
        named = next((k for k in _DATA_KEYS if k in infos), None)
        if named is not None:
            raise ValueError(f"{path.name}: '{named}' has shape {infos[named][0]}; expected "
                             "(n_trials, n_channels, n_times).")
        raise ValueError(f"{path.name} has no 'eeg' array (no 3-D numeric array among keys {keys}); expected "
                         "eeg of shape (n_trials, n_channels, n_times).")
    n_trials = infos[data_key][0][0]
    if not label_keys:
        raise ValueError(f"{path.name} has no label array with one entry per trial ({n_trials})"
                         f"{_near_misses(infos, data_key)}; add e.g. 'labels' of shape (n_trials,).")
    return Epochs(*read_epoch_arrays(path, data_key, label_keys, infos), str(path))


def _near_misses(infos: dict, data_key: str) -> str:
    """``": 'target' has 58 entries, 'eeg' has 60 trials"``: the arrays that would be label arrays
    but for their length (or their float dtype), so that a label array one trial short is found."""
    eeg_shape = tuple(infos[data_key][0])
    n = eeg_shape[0]
    found = []                                        # (how far from n, text)
    for k, (shape, dtype) in infos.items():
        if k == data_key or k == "times" or dtype.kind not in "USiubf":
            continue
        if len(shape) == 1 and dtype.kind != "f" and shape[0] != n:
            # as many labels as the last axis has entries: the trials may be stored last (axis 1
            # is left out: channel-name arrays match it by nature)
            moved = ("" if eeg_shape[2] != shape[0] else f" = axis 2 of {data_key!r} {eeg_shape}: if the "
                     f"trials are on that axis, save np.moveaxis({data_key}, 2, 0)")
            found.append((abs(shape[0] - n), f"{k!r} has {shape[0]} entries{moved}"))
        elif len(shape) == 1 and shape[0] == n:
            found.append((0, f"{k!r} has {n} entries but dtype {dtype} (labels are strings, integers or booleans)"))
        elif len(shape) == 2 and sorted(shape) == [1, n]:
            found.append((0, f"{k!r} has shape {tuple(shape)} (labels are 1-D: save {k}.ravel())"))
    if not found:
        return ""
    return f": {', '.join(t for _, t in sorted(found, key=lambda f: f[0])[:3])}, {data_key!r} has {n} trials"


def read_epoch_arrays(path, data_key: str, label_keys: list, infos: dict) -> tuple:
    """``(eeg, labels, times)`` of an epochs ``.npz`` (members checked first, errors naming the file).

    ``times`` is the ``times`` array when it has one entry per time point, else
    ``arange(n_times) / sfreq`` when there is an ``sfreq``, else None.
    """
    shape = infos[data_key][0]
    n_times = shape[2]
    _check_times_header(path, data_key, shape, infos)
    with open_npz(path, what="EEG file") as npz:
        eeg = read_member(npz, data_key, path, "EEG file")
        labels = {k: read_member(npz, k, path, "EEG file") for k in label_keys}
        times = None
        if "times" in infos and infos["times"][0] == (n_times,):
            times = read_member(npz, "times", path, "EEG file").astype(np.float64)
        elif "sfreq" in infos:
            times = np.arange(n_times) / float(read_member(npz, "sfreq", path, "EEG file"))
    return eeg, labels, times


def _check_times_header(path, data_key: str, shape: tuple, infos: dict) -> None:
    """Refuse a ``times`` array that fits no epochs array of the file: dropping it silently would
    decode the wrong axis (e.g. epochs stored as trials × times × channels). A ``times`` that fits
    another 3-D array of the file belongs to that one and is left alone."""
    if "times" not in infos or len(infos["times"][0]) != 1:
        return
    n = infos["times"][0][0]
    if n == shape[2] or any(len(s) == 3 and s[2] == n for s, _ in infos.values()):
        return
    hint = (f" Its axis 1 has {n} entries: if the file holds (n_trials, n_times, n_channels), save "
            f"{data_key}.transpose(0, 2, 1)." if shape[1] == n else "")
    raise ValueError(f"{Path(path).name}: 'times' has {n} values but {data_key!r} has shape {tuple(shape)}, "
                     f"i.e. {shape[2]} time points (expected (n_trials, n_channels, n_times)).{hint}")


def epoch_arrays(path, infos: dict | None = None) -> dict[str, list[str]]:
    """``{data key: [label keys]}`` of an epochs ``.npz``: every 3-D numeric array and its label arrays.

    Headers only (``infos``: the file's :func:`rdm_widgets._npy.npz_headers` when already read).
    Use it to let a user pick the data and label arrays (:func:`read_epochs_keys`).
    """
    infos = npz_headers(path) if infos is None else infos
    out = {}
    for key, (shape, dtype) in infos.items():
        if len(shape) == 3 and dtype.kind in "fiu":
            others = {k: v for k, v in infos.items() if k == key or len(v[0]) != 3}
            out[key] = find_epoch_arrays(others)[1]
    return out


def read_epochs_keys(path, data_key: str | None = None) -> Epochs:
    """Read epochs like :func:`read_epochs`, with the data array chosen by key.

    Parameters
    ----------
    path : str or Path
        An ``.npz`` (or MNE ``.fif`` when ``data_key`` is None).
    data_key : str or None
        The 3-D array (trials × channels × times) to use (default: the reader's choice).

    Raises
    ------
    ValueError
        ``data_key`` is not a 3-D numeric array of the file, or has no label array.
    """
    path = Path(path)
    if data_key is None or path.suffix.lower() != ".npz":
        return read_epochs(path)
    check_file(path, what="EEG file")
    infos = npz_headers(path)                        # the headers once, for every check below
    refuse_saved_rdm(path, infos)
    choices = epoch_arrays(path, infos)
    if data_key not in choices:
        raise ValueError(f"{path.name}: {data_key!r} is not a 3-D numeric array (trials × channels × times); "
                         f"choose one of {sorted(choices)}.")
    if not choices[data_key]:
        raise ValueError(f"{path.name}: no label array has one entry per trial of {data_key!r}"
                         f"{_near_misses(infos, data_key)}; add e.g. 'labels' of shape (n_trials,).")
    return Epochs(*read_epoch_arrays(path, data_key, choices[data_key], infos), str(path))
