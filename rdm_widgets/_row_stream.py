"""Stream one layer of a :class:`FeatureSource` in blocks of stimuli (rows), never all at once.

:meth:`FeatureSource.iter_layers` returns a whole (N, D) layer; out-of-core RDMs
(:mod:`rdm_widgets.tiled`) need the same rows -- pooled, flattened, validated the same
way -- a block at a time, so that memory is bounded by the block, not by N. One reader
per source kind, dispatched through :data:`_READERS`.
"""
from __future__ import annotations

import zipfile
from typing import Iterator

import numpy as np

from ._feature_source import FeatureSource

__all__ = ["iter_row_blocks"]


def _npz_folder(src, layer, pooling, dtype, rows) -> Iterator[tuple]:
    dim = src.feature_dim(layer, pooling)
    n = src.n_stimuli
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        out = {layer: np.empty((stop - start, dim), dtype)}
        src._read_files(out, start, stop, pooling)
        yield np.arange(start, stop), out[layer]


def _npy_member_rows(path, member: str, rows: int) -> Iterator[np.ndarray]:
    """Rows of an array stored in an npz, ``rows`` at a time, decompressed as a stream."""
    from .ondisk import read_npy_header

    with zipfile.ZipFile(path) as zf, zf.open(member + ".npy") as fh:
        shape, fortran, dt = read_npy_header(fh)
        if fortran or dt.hasobject or not shape:
            raise _NotStreamable
        per_row = int(np.prod(shape[1:], dtype=np.int64)) * dt.itemsize
        for start in range(0, shape[0], rows):
            count = min(rows, shape[0] - start)
            buf = fh.read(per_row * count)
            if len(buf) != per_row * count:
                raise ValueError(f"{str(path)!r}: {member!r} ends early (truncated file?).")
            yield np.frombuffer(buf, dtype=dt).reshape((count,) + tuple(shape[1:]))


class _NotStreamable(Exception):
    """A Fortran-ordered array cannot be read row by row."""


def _npz_layers(src, layer, pooling, dtype, rows) -> Iterator[tuple]:
    path, order = src._files[layer], src._order[layer]
    # file row r holds stimulus inverse[r] (files may list the stimuli in another order)
    inverse = np.arange(src.n_stimuli) if order is None else np.argsort(order)
    where = repr(path.name)
    try:
        start = 0
        for a in _npy_member_rows(path, "features", rows):
            idx = inverse[start:start + len(a)]
            names = [src.stimuli[i] for i in idx]
            yield idx, src._batch_rows(layer, a, pooling, dtype, where, names)
            start += len(a)
    except _NotStreamable:
        with np.load(path, allow_pickle=False) as z:
            a = z["features"]
        for s in range(0, len(a), rows):
            idx = inverse[s:s + rows]
            yield idx, src._batch_rows(layer, a[s:s + rows], pooling, dtype, where,
                                       [src.stimuli[i] for i in idx])


def _hdf5(src, layer, pooling, dtype, rows) -> Iterator[tuple]:
    import h5py

    with h5py.File(src.path, "r") as fh:
        ds, n = fh[layer], src.n_stimuli
        for start in range(0, n, rows):
            stop = min(n, start + rows)
            yield np.arange(start, stop), src._batch_rows(layer, ds[start:stop], pooling, dtype,
                                                          repr(src.path.name), src.stimuli[start:stop])


def _arrays(src, layer, pooling, dtype, rows) -> Iterator[tuple]:
    a, n = src._arrays[layer], src.n_stimuli
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        yield np.arange(start, stop), src._batch_rows(layer, a[start:stop], pooling, dtype,
                                                      "the given arrays", src.stimuli[start:stop])


_READERS = {"npz_folder": _npz_folder, "npz_layers": _npz_layers, "hdf5": _hdf5, "arrays": _arrays}


def iter_row_blocks(src: FeatureSource, layer: str, *, pooling=None, dtype=np.float32,
                    rows: int = 1024) -> Iterator[tuple]:
    """Yield ``(stimulus_indices (b,), features (b, D))`` blocks covering every stimulus once.

    Parameters
    ----------
    src : FeatureSource
    layer : str
    pooling : {'mean', 'max', 'first', 'last'} or None
        As in :meth:`FeatureSource.iter_layers`.
    dtype : numpy float dtype
    rows : int
        Stimuli per block (the block is the only (b, D) array in memory).

    Notes
    -----
    Blocks come in storage order; ``stimulus_indices`` say where each row belongs in
    ``src.stimuli`` (a per-layer npz may list its stimuli in another order).
    """
    layers, pooling, dtype, _ = src._check_request([layer], pooling, dtype, None)
    try:
        reader = _READERS[src.kind]
    except KeyError:
        raise TypeError(f"Feature source kind {src.kind!r} cannot be streamed by rows; "
                        f"supported: {sorted(_READERS)}.") from None
    yield from reader(src, layers[0], pooling, dtype, int(rows))
    if src.kind == "npz_folder":
        src._info[layers[0]].checked = True
