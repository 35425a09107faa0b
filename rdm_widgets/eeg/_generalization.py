"""GeneralizationRDM: one RDM per (train time, test time) of a temporal generalisation run.

Why this module exists: ``eeg_rdm(..., generalization=True)`` trains at every time ``t`` and tests
at every ``t'``; the result is a 4-D array that needs its two time axes, its condition order and
every option to be interpreted, and that users reduce in two ways -- the train x test map of one
pair or of the mean over pairs (:meth:`GeneralizationRDM.mean_map`), and the RDM of one
(t, t') cell (:meth:`GeneralizationRDM.at`). Its diagonal is the ordinary time-resolved RDM
(:meth:`GeneralizationRDM.diagonal`). Saved as a pickle-free ``.npz`` (meta as JSON), atomically.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ._result import TimeResolvedRDM, _jsonable

__all__ = ["GeneralizationRDM"]

_KEYS = ("data", "train_times", "test_times", "conditions", "meta_json")
#: the ``format`` key of the files :meth:`GeneralizationRDM.save` writes
FILE_FORMAT = "rdm_widgets.generalization/1"


def _times(name: str, times, n: int) -> np.ndarray:
    times = np.arange(n, dtype=np.float64) if times is None else np.asarray(times, dtype=np.float64).reshape(-1)
    if times.shape != (n,):
        raise ValueError(f"'{name}' must have shape ({n},) to match the data; got {times.shape}.")
    return times


def _index(name: str, index, n: int) -> int:
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise TypeError(f"Invalid type for {name!r}: {type(index).__name__}. Expected an integer time index; "
                        "use train_index(seconds) / test_index(seconds) to convert a time.")
    if not -n <= index < n:
        raise IndexError(f"{name} {index} is out of range for {n} time points.")
    return int(index) % n


class GeneralizationRDM:
    """RDMs over training time x test time (temporal generalisation).

    Parameters
    ----------
    data : array-like, shape (n_cond, n_cond, n_train_times, n_test_times)
        ``data[i, j, t, s]``: score of the pair ``(i, j)`` for the classifier (or training-fold
        pattern difference) of time ``train_times[t]`` tested at ``test_times[s]``. Symmetric in
        ``(i, j)``, zero for ``i == j``.
    train_times, test_times : array-like, optional
        Default ``arange``.
    conditions : list, optional
        Condition labels (default ``0..n_cond-1``).
    meta : dict, optional
        Options and provenance (JSON-serialisable).

    Attributes
    ----------
    data : ndarray, shape (n_cond, n_cond, n_train_times, n_test_times)
    train_times : ndarray, shape (n_train_times,)
    test_times : ndarray, shape (n_test_times,)
    conditions : list
    meta : dict
    """

    def __init__(self, data, train_times=None, test_times=None, conditions=None, meta=None):
        arr = np.asarray(data, dtype=np.float64)
        if arr.ndim != 4 or arr.shape[0] != arr.shape[1]:
            raise ValueError("GeneralizationRDM data must have shape (n_cond, n_cond, n_train_times, "
                             f"n_test_times); got {arr.shape}.")
        self.data = arr
        self.train_times = _times("train_times", train_times, arr.shape[2])
        self.test_times = _times("test_times", test_times, arr.shape[3])
        conditions = list(range(arr.shape[0])) if conditions is None else list(conditions)
        if len(conditions) != arr.shape[0]:
            raise ValueError(f"Got {len(conditions)} condition names for {arr.shape[0]} conditions.")
        self.conditions = conditions
        self.meta = dict(meta or {})

    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def n_conditions(self) -> int:
        return self.data.shape[0]

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def __repr__(self) -> str:
        n, _, t, s = self.data.shape
        return (f"<GeneralizationRDM {n} conditions x {t} train x {s} test times, "
                f"method={self.meta.get('method', '?')!r}, score={self.meta.get('score', '?')!r}>")

    # ------------------------------------------------------------- reductions
    def diagonal(self) -> TimeResolvedRDM:
        """The train = test cells as a :class:`~rdm_widgets.eeg.TimeResolvedRDM` (needs equal time
        axes): equal to ``eeg_rdm`` with the same options and without ``generalization``."""
        n_t = self.data.shape[2]
        if self.data.shape[3] != n_t or not np.array_equal(self.train_times, self.test_times):
            raise ValueError("diagonal() needs the same train and test times; this result has "
                             f"{self.data.shape[2]} train and {self.data.shape[3]} test times.")
        idx = np.arange(n_t)
        meta = {k: v for k, v in self.meta.items() if k != "generalization"}
        return TimeResolvedRDM(np.ascontiguousarray(self.data[:, :, idx, idx]), times=self.train_times.copy(),
                               conditions=list(self.conditions), meta=meta)

    def _pair_index(self, pair) -> tuple:
        names = [str(c) for c in self.conditions]

        def one(c):
            if c in self.conditions:
                return self.conditions.index(c)
            if str(c) in names:
                return names.index(str(c))
            if isinstance(c, (int, np.integer)) and not isinstance(c, bool):
                if not 0 <= c < len(names):
                    raise IndexError(f"Condition index {c} out of range for {len(names)} conditions.")
                return int(c)
            raise ValueError(f"Unknown condition {c!r}. Conditions: {names[:10]}{' ...' if len(names) > 10 else ''}.")

        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"Invalid value for 'pair': {pair!r}. Expected two conditions (names or indices).")
        i, j = one(pair[0]), one(pair[1])
        if i == j:
            raise ValueError(f"'pair' names condition {names[i]!r} twice; give two different conditions.")
        return i, j

    def mean_map(self, pair=None) -> np.ndarray:
        """Train x test map, shape (n_train_times, n_test_times): the mean over the condition
        pairs of the upper triangle, or the map of one ``pair`` (two names or indices)."""
        if pair is not None:
            i, j = self._pair_index(pair)
            return self.data[i, j].copy()
        iu = np.triu_indices(self.data.shape[0], k=1)
        return self.data[iu[0], iu[1]].mean(axis=0)

    def train_index(self, time: float) -> int:
        """Index of the training sample closest to ``time``."""
        return int(np.argmin(np.abs(self.train_times - float(time))))

    def test_index(self, time: float) -> int:
        """Index of the test sample closest to ``time``."""
        return int(np.argmin(np.abs(self.test_times - float(time))))

    def at(self, train_index: int, test_index: int):
        """The (n_cond, n_cond) RDM of one (train, test) cell as a :class:`rdm_widgets.rdm.LayerRDM`."""
        from ..rdm import LayerRDM  # lazy: keeps eeg importable on its own

        t = _index("train_index", train_index, self.data.shape[2])
        s = _index("test_index", test_index, self.data.shape[3])
        tt, ts = float(self.train_times[t]), float(self.test_times[s])
        meta = dict(self.meta, train_time=tt, test_time=ts, train_index=t, test_index=s)
        return LayerRDM(self.data[:, :, t, s].copy(), stimuli=[str(c) for c in self.conditions],
                        layer=f"train {tt:.4g} / test {ts:.4g}", meta=meta)

    # ------------------------------------------------------------- tables
    def to_frame(self):
        """Tidy table (imports pandas): ``train_time, test_time, condition_a, condition_b, value``,
        one row per (train, test) cell and pair of the upper triangle."""
        from ..interop._pandas import to_frame

        n, _, nt, ns = self.data.shape
        iu, ju = np.triu_indices(n, 1)
        names = [str(c) for c in self.conditions]
        vals = self.data[iu, ju]                                         # (P, nt, ns)
        rows = [(float(self.train_times[t]), float(self.test_times[s]), names[i], names[j], float(vals[p, t, s]))
                for t in range(nt) for s in range(ns) for p, (i, j) in enumerate(zip(iu, ju))]
        return to_frame(("train_time", "test_time", "condition_a", "condition_b", "value"), rows)

    # ----------------------------------------------------------------- I/O
    def save(self, path, overwrite: bool = False) -> Path:
        """Save to ``.npz`` atomically (no pickle; meta as JSON); ``.npz`` is appended when missing.

        Keys: ``data`` (n, n, T_train, T_test) float64, ``train_times``, ``test_times``,
        ``conditions``, ``meta_json``, ``format`` (``'rdm_widgets.generalization/1'``). An
        existing file raises ``FileExistsError`` unless ``overwrite=True``.
        """
        from .._atomic import atomic_savez

        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        return atomic_savez(path, overwrite=overwrite, **self.to_npz_arrays())

    def to_npz_arrays(self) -> dict:
        """The arrays :meth:`save` writes (``data``, ``train_times``, ``test_times``, ``conditions``,
        ``meta_json``)."""
        cond = np.asarray(self.conditions)
        if cond.dtype.kind not in "iuU":
            cond = np.asarray([str(c) for c in self.conditions])
        return {"data": self.data, "train_times": self.train_times, "test_times": self.test_times,
                "conditions": cond, "meta_json": np.asarray(json.dumps(_jsonable(self.meta))),
                "format": np.asarray(FILE_FORMAT)}

    def to_npz_bytes(self) -> bytes:
        """The file :meth:`save` writes, as bytes (for a download)."""
        import io

        buf = io.BytesIO()
        np.savez(buf, **self.to_npz_arrays())
        return buf.getvalue()

    @classmethod
    def from_file(cls, path) -> "GeneralizationRDM":
        """Load a file written by :meth:`save` (never unpickles)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"File {str(path)!r} does not exist.")
        with np.load(path, allow_pickle=False) as z:
            missing = set(_KEYS) - set(z.files)
            if missing:
                raise ValueError(f"{str(path)!r} is not a GeneralizationRDM file: missing key(s) {sorted(missing)}"
                                 " (a TimeResolvedRDM file? load it with TimeResolvedRDM.from_file).")
            if "format" in z.files and str(z["format"]) != FILE_FORMAT:
                raise ValueError(f"{str(path)!r} has format {str(z['format'])!r}, not {FILE_FORMAT!r}: written by "
                                 "a newer rdm_widgets? Update it to read this file.")
            return cls(z["data"], train_times=z["train_times"], test_times=z["test_times"],
                       conditions=z["conditions"].tolist(), meta=json.loads(str(z["meta_json"])))
