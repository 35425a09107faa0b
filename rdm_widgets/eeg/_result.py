"""TimeResolvedRDM: one RDM per time point plus everything needed to reproduce it.

Why this module exists: a time-resolved RDM is useless without its time axis,
its condition order and the options that produced it (method, folds, seed...).
This container keeps them together, behaves like the ``(n, n, T)`` array for
numpy code, and saves to a pickle-free ``.npz`` (metadata as JSON). It converts to
rsatoolbox ``RDMs`` (one RDM per time point, the rdm descriptor ``time``) and to a tidy
table (``time, condition_a, condition_b, value``; :meth:`TimeResolvedRDM.to_frame`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

__all__ = ["TimeResolvedRDM", "FILE_FORMAT"]

#: the ``format`` key of the files :meth:`TimeResolvedRDM.save` writes (older files have none)
FILE_FORMAT = "rdm_widgets.time_resolved/1"


def _jsonable(value):
    """Convert numpy scalars/arrays (and tuples) into JSON-friendly values."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


class TimeResolvedRDM:
    """A stack of RDMs over time.

    Parameters
    ----------
    data : array-like, shape (n_cond, n_cond, n_times)
        ``data[i, j, t]``: dissimilarity of conditions ``i`` and ``j`` at time
        ``t`` (decoding accuracy, decision score or cross-validated distance).
    times : array-like, shape (n_times,), optional
        Time of each sample (default ``arange(n_times)``).
    conditions : list, optional
        Condition labels in the order of the rows (default ``0..n_cond-1``).
    meta : dict, optional
        Options and provenance (JSON-serialisable).
    time_labels : list of str, optional
        One label per time point (model RDMs: clip / time point names).
    layer : str, optional
        The model layer (time-resolved model RDMs, :mod:`rdm_widgets.creator`).

    Attributes
    ----------
    data : ndarray, shape (n_cond, n_cond, n_times)
    times : ndarray, shape (n_times,)
    conditions : list
    meta : dict
    time_labels : list of str or None
        A label per time point where numbers do not say it (model RDMs: ``'clip 0'``,
        ``'clip 1 · t 3'``); None for EEG results.
    layer : str
        The model layer of a time-resolved model RDM (``''`` for EEG results).
    """

    def __init__(self, data, times=None, conditions=None, meta=None, *, time_labels=None, layer: str = ""):
        arr = np.asarray(data, dtype=np.float64)
        if arr.ndim != 3 or arr.shape[0] != arr.shape[1]:
            raise ValueError(f"TimeResolvedRDM data must have shape (n_cond, n_cond, n_times); got {arr.shape}.")
        n, _, t = arr.shape
        times = np.arange(t, dtype=np.float64) if times is None else np.asarray(times, dtype=np.float64)
        if times.shape != (t,):
            raise ValueError(f"'times' must have shape ({t},) to match the data {arr.shape}; got {times.shape}.")
        conditions = list(range(n)) if conditions is None else list(conditions)
        if len(conditions) != n:
            raise ValueError(f"Got {len(conditions)} condition names for {n} conditions.")
        if time_labels is not None:
            time_labels = [str(x) for x in time_labels]
            if len(time_labels) != t:
                raise ValueError(f"Got {len(time_labels)} time labels for {t} time points.")
        self.data = arr
        self.times = times
        self.conditions = conditions
        self.meta = dict(meta or {})
        self.time_labels = time_labels
        self.layer = str(layer)

    # ----------------------------------------------------------- array-like
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def n_times(self) -> int:
        return self.data.shape[2]

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def __getitem__(self, item):
        return self.data[item]

    def __len__(self) -> int:
        return self.data.shape[0]

    @property
    def stimuli(self) -> list:
        """The conditions as text (the stimuli of a model RDM, as ``LayerRDM.stimuli``)."""
        return [str(c) for c in self.conditions]

    @property
    def n_stimuli(self) -> int:
        """Number of conditions (stimuli)."""
        return self.data.shape[0]

    def time_label(self, index: int) -> str:
        """The label of time point ``index``: its ``time_labels`` entry, else ``'t = <time>'``."""
        if self.time_labels is not None:
            return self.time_labels[index]
        return f"t={self.times[index]:.4g}"

    def __repr__(self) -> str:
        n, _, t = self.data.shape
        span = f"{self.times[0]:.3g}..{self.times[-1]:.3g}" if t else "empty"
        if self.layer:
            return (f"<TimeResolvedRDM layer {self.layer!r}: {n} stimuli x {t} model time points, "
                    f"distance={self.meta.get('distance', '?')!r}>")
        return (f"<TimeResolvedRDM {n} conditions x {t} times ({span}), "
                f"method={self.meta.get('method', '?')!r}, score={self.meta.get('score', '?')!r}>")

    # ------------------------------------------------------------- summaries
    def mean_timecourse(self) -> np.ndarray:
        """Mean over the off-diagonal cells at every time point, shape (n_times,)."""
        n = self.data.shape[0]
        iu = np.triu_indices(n, k=1)
        return self.data[iu[0], iu[1], :].mean(axis=0)

    def time_index(self, time: float) -> int:
        """Index of the sample closest to ``time``."""
        return int(np.argmin(np.abs(self.times - float(time))))

    def at(self, index: int):
        """The RDM at one time index as a :class:`rdm_widgets.rdm.LayerRDM`.

        Parameters
        ----------
        index : int
            Time index (negative counts from the end). Use :meth:`time_index`
            to convert a time in seconds.
        """
        from ..rdm import LayerRDM  # lazy: keeps eeg importable on its own

        t = self.data.shape[2]
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"Invalid type for 'index': {type(index).__name__}. Expected an integer "
                            "time index; use rdm.time_index(seconds) to convert a time.")
        if not -t <= index < t:
            raise IndexError(f"Time index {index} is out of range for {t} time points.")
        index = int(index) % t
        meta = dict(self.meta, time=float(self.times[index]), time_index=index)
        label = self.time_label(index)
        if self.time_labels is not None:
            meta["time_label"] = label
        return LayerRDM(self.data[:, :, index], stimuli=[str(c) for c in self.conditions],
                        layer=f"{self.layer} {label}" if self.layer else label, meta=meta)

    # ------------------------------------------------------------- tables
    _COLUMNS = ("time", "condition_a", "condition_b", "value")

    def _tidy_rows(self) -> list:
        n = self.data.shape[0]
        iu, ju = np.triu_indices(n, 1)
        names = [str(c) for c in self.conditions]
        pairs = [(names[i], names[j]) for i, j in zip(iu, ju)]
        values = self.data[iu, ju, :]                              # (pairs, T)
        return [(float(t), a, b, float(values[p, ti])) for ti, t in enumerate(self.times)
                for p, (a, b) in enumerate(pairs)]

    def to_frame(self):
        """Tidy long table (imports pandas): ``time`` (the result's times, seconds for MNE
        input), ``condition_a``, ``condition_b``, ``value``; one row per time point and pair
        of the upper triangle, time-major."""
        from ..interop._pandas import to_frame

        return to_frame(self._COLUMNS, self._tidy_rows())

    def to_csv(self, path=None, *, overwrite: bool = False) -> str:
        """The table of :meth:`to_frame` as CSV text (no pandas needed), also written
        atomically to ``path`` when given."""
        from ..interop._pandas import write_csv

        return write_csv(path, self._COLUMNS, self._tidy_rows(), overwrite=overwrite)

    # ----------------------------------------------------------- rsatoolbox
    def to_rsatoolbox(self):
        """The RDMs as an ``rsatoolbox.rdm.RDMs`` (imports rsatoolbox): one RDM per time point,
        rdm descriptor ``time`` (and ``time_label`` for model RDMs), pattern descriptor
        ``conditions`` (as text), descriptor ``meta_json``, ``dissimilarity_measure`` =
        ``meta['dissimilarity']`` (else the method, else the distance)."""
        from ..interop._rsatoolbox import to_rsatoolbox

        measure = self.meta.get("dissimilarity", self.meta.get("method", self.meta.get("distance")))
        descriptors = {"time": self.times.tolist()}
        if self.time_labels is not None:
            descriptors["time_label"] = list(self.time_labels)
        return to_rsatoolbox(np.moveaxis(self.data, 2, 0), [str(c) for c in self.conditions],
                             name_descriptor="conditions", rdm_descriptors=descriptors,
                             descriptors={"meta_json": json.dumps(_jsonable(self.meta))},
                             measure=None if measure is None else str(measure))

    @classmethod
    def from_rsatoolbox(cls, rdms, time_descriptor: str | None = "time") -> "TimeResolvedRDM":
        """An rsatoolbox ``RDMs`` with one RDM per time point (e.g. from ``calc_rdm_movie``).

        Parameters
        ----------
        rdms : rsatoolbox.rdm.RDMs
        time_descriptor : str or None
            The rdm descriptor holding the times. None: ``'time'`` when present, else the
            RDMs' positions 0..T-1.

        Returns
        -------
        TimeResolvedRDM
            Conditions from a pattern descriptor (``conditions``, ``conds``, ``stimuli``...), meta
            from the descriptor ``meta_json`` (written by :meth:`to_rsatoolbox`) plus
            ``dissimilarity_measure``.
        """
        from ..interop._rsatoolbox import from_rsatoolbox

        d = from_rsatoolbox(rdms)
        n_rdm = d.matrices.shape[0]
        key = time_descriptor if time_descriptor is not None else ("time" if "time" in d.rdm_descriptors else None)
        if key is None:
            times = np.arange(n_rdm, dtype=np.float64)
        elif key not in d.rdm_descriptors:
            raise ValueError(f"The rsatoolbox RDMs have no rdm descriptor {key!r} (they have "
                             f"{sorted(d.rdm_descriptors)}); pass time_descriptor=<one of them>, or None "
                             "to number the time points.")
        else:
            times = np.asarray(d.rdm_descriptors[key], dtype=np.float64)
        if isinstance(d.descriptors.get("meta_json"), str):      # written by to_rsatoolbox: as it was
            meta = json.loads(d.descriptors["meta_json"])
        else:
            meta = {} if d.measure is None else {"dissimilarity_measure": d.measure}
        labels = d.rdm_descriptors.get("time_label")
        return cls(np.moveaxis(d.matrices, 0, 2), times=times, conditions=d.names, meta=meta,
                   time_labels=None if labels is None else [str(x) for x in labels])

    # ----------------------------------------------------------------- I/O
    def save(self, path, overwrite: bool = False, format=None) -> Path:
        """Save to an ``.npz`` file atomically (no pickle; meta as JSON).

        Keys: ``data`` (n, n, T) float64, ``times`` (T,), ``conditions`` (the
        labels as a str or int array), ``meta_json``; model RDMs add ``time_labels`` (T,)
        and ``layer``, and every file ``format`` = ``'rdm_widgets.time_resolved/1'``. Files
        without the added keys (written before) load as they were.

        Parameters
        ----------
        path : str or Path
            Destination; ``.npz`` is appended when missing.
        overwrite : bool
            Replace an existing file (otherwise ``FileExistsError``).
        format : {'npz', None}
            Only ``'npz'`` (accepted so that a time-resolved RDM saves where a LayerRDM does).
        """
        from .._atomic import atomic_savez

        if format is not None and str(format).lower() != "npz":
            raise ValueError(f"Invalid value for 'format': {format!r}. A TimeResolvedRDM is saved as "
                             "'npz' only (one file holds every time point).")
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        return atomic_savez(path, overwrite=overwrite, **self.to_npz_arrays())

    def to_npz_arrays(self) -> dict:
        """The arrays :meth:`save` writes (``data`` (n, n, T), ``times`` (T,), ``conditions``,
        ``meta_json``); a download builds its bytes from the same dict."""
        cond = np.asarray(self.conditions)
        if cond.dtype.kind not in "iuU":
            cond = np.asarray([str(c) for c in self.conditions])
        out = {"data": np.asarray(self.data), "times": np.asarray(self.times), "conditions": cond,
               "meta_json": np.asarray(json.dumps(_jsonable(self.meta))), "format": np.asarray(FILE_FORMAT)}
        if self.time_labels is not None:
            out["time_labels"] = np.asarray(self.time_labels, dtype=str)
        if self.layer:
            out["layer"] = np.asarray(self.layer)
        return out

    @classmethod
    def from_file(cls, path) -> "TimeResolvedRDM":
        """Load a file written by :meth:`save`, or a Net2Brain multi-timepoint RDM file (never unpickles).

        Net2Brain's file (``RDMCreator(...).create_rdms(..., multi_timepoint_rdms=...)``) holds
        ``rdm`` as one condensed RDM per time point (T, N*(N-1)/2) (or squares (T, N, N)), its
        ``stimuli_name`` and ``layer_name`` (read by ``rdm_widgets._rdm_readers.read_time_resolved``).
        """
        from .._rdm_readers import read_time_resolved

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"File {str(path)!r} does not exist.")
        fields = read_time_resolved(path)
        return cls(fields.pop("data"), **fields)
