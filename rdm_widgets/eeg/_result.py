"""TimeResolvedRDM: one RDM per time point plus everything needed to reproduce it.

Why this module exists: a time-resolved RDM is useless without its time axis,
its condition order and the options that produced it (method, folds, seed...).
This container keeps them together, behaves like the ``(n, n, T)`` array for
numpy code, and saves to a pickle-free ``.npz`` (metadata as JSON).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

__all__ = ["TimeResolvedRDM"]


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

    Attributes
    ----------
    data : ndarray, shape (n_cond, n_cond, n_times)
    times : ndarray, shape (n_times,)
    conditions : list
    meta : dict
    """

    def __init__(self, data, times=None, conditions=None, meta=None):
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
        self.data = arr
        self.times = times
        self.conditions = conditions
        self.meta = dict(meta or {})

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

    def __repr__(self) -> str:
        n, _, t = self.data.shape
        span = f"{self.times[0]:.3g}..{self.times[-1]:.3g}" if t else "empty"
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
        return LayerRDM(self.data[:, :, index], stimuli=[str(c) for c in self.conditions],
                        layer=f"t={self.times[index]:.4g}", meta=meta)

    # ----------------------------------------------------------------- I/O
    def save(self, path, overwrite: bool = False) -> Path:
        """Save to an ``.npz`` file atomically (no pickle; meta as JSON).

        Keys: ``data`` (n, n, T) float64, ``times`` (T,), ``conditions`` (the
        labels as a str or int array), ``meta_json``.

        Parameters
        ----------
        path : str or Path
            Destination; ``.npz`` is appended when missing.
        overwrite : bool
            Replace an existing file (otherwise ``FileExistsError``).
        """
        from .._io import atomic_savez

        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        cond = np.asarray(self.conditions)
        if cond.dtype.kind not in "iuU":
            cond = np.asarray([str(c) for c in self.conditions])
        meta_json = json.dumps(_jsonable(self.meta))
        return atomic_savez(path, overwrite=overwrite, data=self.data, times=self.times,
                            conditions=cond, meta_json=np.asarray(meta_json))

    @classmethod
    def from_file(cls, path) -> "TimeResolvedRDM":
        """Load a file written by :meth:`save` (never unpickles)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"File {str(path)!r} does not exist.")
        with np.load(path, allow_pickle=False) as z:
            missing = {"data", "times", "conditions", "meta_json"} - set(z.files)
            if missing:
                raise ValueError(f"{str(path)!r} is not a TimeResolvedRDM file: missing key(s) {sorted(missing)}.")
            data, times = z["data"], z["times"]
            conditions = z["conditions"].tolist()
            meta = json.loads(str(z["meta_json"]))
        return cls(data, times=times, conditions=conditions, meta=meta)
