"""A tiled run's dimensionality reduction: fitted once, kept in the store until the run ends.

A fresh run fits the layer's reducer (PCA reads only its seeded sample; SRP reads nothing)
and writes it to ``reduction.npz`` before the manifest; a resumed run loads it from there
instead of fitting again, so the stimuli staged after a resume are projected exactly as the
ones staged before (bit for bit, whatever device or library version fitted the first).
"""
from __future__ import annotations

from pathlib import Path

from .. import _npy
from .._atomic import atomic_savez
from ..reduction import Reducer, fit_reducer

__all__ = ["REDUCTION_FILE", "store_reducer"]

#: the store's file holding the fitted projection (see :mod:`._format`)
REDUCTION_FILE = "reduction.npz"


def store_reducer(store: Path, fresh: bool, src, layer: str, pooling, reduction, options) -> Reducer:
    """The run's reducer: fitted and written to the store (``fresh``), else loaded from it.

    Raises
    ------
    ValueError
        A resumed store whose ``reduction.npz`` is missing or unreadable (start again with
        ``overwrite=True``).
    """
    path = store / REDUCTION_FILE
    if fresh:
        reducer = fit_reducer(src, layer, reduction, pooling=pooling, dtype=options.dtype.numpy,
                              device=options.device)
        atomic_savez(path, overwrite=True, **reducer.to_arrays(options.dtype.numpy))
        return reducer
    if not path.is_file():
        raise ValueError(f"Cannot resume {str(store)!r}: its fitted reduction ({REDUCTION_FILE}) is missing. "
                         "Pass overwrite=True to start again.")
    with _npy.open_npz(path, what="reduction file") as z:
        return Reducer.from_arrays({k: _npy.read_member(z, k, path, "reduction file") for k in z.files})
