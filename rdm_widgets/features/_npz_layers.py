"""Per-layer ("consolidated") ``.npz`` files: one ``<layer>.npz`` per layer.

Each file holds ``features`` ``(N, ...)`` and ``stimuli`` ``(N,)`` str, optionally
``layer`` (the layer's name when the file name cannot hold it). The files may list the
stimuli in different orders; the first file's order is the source's.
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np

from .. import _npy
from ._base import FeatureSource
from ._pooling import is_sequence_shape
from ._shapes import LayerInfo, check_stored

__all__ = ["NpzLayersSource", "is_layer_file"]


def is_layer_file(keys: dict) -> bool:
    """Whether npz headers ``{key: (shape, dtype)}`` are those of a per-layer file."""
    return "features" in keys and "stimuli" in keys and keys["stimuli"][1].kind in "US"


class _NotStreamable(Exception):
    """The array cannot be read row by row (Fortran order, objects or 0-d)."""


def _member_rows(path, member: str, rows: int) -> Iterator[np.ndarray]:
    """Rows of an array stored in an npz, ``rows`` at a time, decompressed as a stream."""
    with _npy.open_file(path, what="Feature file") as raw:
        try:
            with zipfile.ZipFile(raw) as zf:
                _npy.check_npz_members(zf, repr(str(path)))
                yield from _stream(path, zf, member, rows)
        except _npy.READ_ERRORS as err:
            if isinstance(err, ValueError):
                raise
            raise _npy.read_error(path, err, "feature file") from err


def _stream(path, zf, member: str, rows: int) -> Iterator[np.ndarray]:
    with zf.open(member + ".npy") as fh:
        shape, fortran, dt = _npy.read_npy_header(fh)
        if fortran or dt.hasobject or not shape:
            raise _NotStreamable
        per_row = int(np.prod(shape[1:], dtype=np.int64)) * dt.itemsize
        for start in range(0, shape[0], rows):
            count = min(rows, shape[0] - start)
            buf = fh.read(per_row * count)
            if len(buf) != per_row * count:
                raise ValueError(f"{str(path)!r}: {member!r} ends early (truncated file?).")
            yield np.frombuffer(buf, dtype=dt).reshape((count,) + tuple(shape[1:]))


class NpzLayersSource(FeatureSource):
    """One ``<layer>.npz`` per layer with keys ``features`` (N, ...) and ``stimuli`` (N,).

    Parameters
    ----------
    files : list of Path
        The per-layer files of one folder.
    source : str
        The folder.
    """

    format = "npz_layers"
    in_memory = False

    def __init__(self, files, source: str):
        self._files, self._order, self._itemsize, info, stimuli = {}, {}, {}, {}, None
        for f in files:
            with _npy.open_npz(f, what="feature file") as z:
                if "features" not in z.files or "stimuli" not in z.files:
                    raise ValueError(
                        f"{f.name!r} lacks the keys 'features' and 'stimuli' although "
                        f"{files[0].name!r} in the same folder has them. A folder holds either one "
                        "file per stimulus or one file per layer, not both."
                    )
                names = [str(s) for s in np.atleast_1d(_npy.read_member(z, "stimuli", f, "feature file"))]
                layer = str(_npy.read_member(z, "layer", f, "feature file")) if "layer" in z.files else f.stem
            shape, dt = _npy.npz_headers(f)["features"]
            check_stored(layer, dt, repr(f.name))       # before any read: a pickle is never loaded
            if len(shape) < 1 or shape[0] != len(names):
                raise ValueError(f"{f.name!r}: 'features' has shape {shape} but 'stimuli' has "
                                 f"{len(names)} names; the first axis must be the stimuli.")
            if stimuli is None:
                stimuli = names
            elif sorted(names) != sorted(stimuli):
                diff = sorted(set(names) ^ set(stimuli))[:5]
                raise ValueError(f"{f.name!r} holds other stimuli than {files[0].name!r} (differing: {diff}).")
            if layer in self._files:
                raise ValueError(f"Layer {layer!r} is stored twice: {self._files[layer].name!r} and {f.name!r}.")
            pos = {n: j for j, n in enumerate(names)}
            order = np.array([pos[s] for s in stimuli])
            self._order[layer] = None if (order == np.arange(len(order))).all() else order
            self._files[layer] = f
            self._itemsize[layer] = dt.itemsize
            info[layer] = LayerInfo(tuple(shape[1:]), is_sequence_shape(shape[1:]))
        super().__init__(stimuli, info, source)

    def _read_pass(self, block, pooling, dtype, reporter):
        for layer in block:
            f = self._files[layer]
            with _npy.open_npz(f, what="feature file") as z:
                a = _npy.read_member(z, "features", f, "feature file")
            if self._order[layer] is not None:
                a = a[self._order[layer]]
            rows = self._batch_rows(layer, a, pooling, dtype, repr(f.name), self.stimuli)
            del a
            reporter.update(1)
            yield layer, rows

    def _row_blocks(self, layer, pooling, dtype, rows) -> Iterator[tuple]:
        path, order = self._files[layer], self._order[layer]
        # file row r holds stimulus inverse[r] (files may list the stimuli in another order)
        inverse = np.arange(self.n_stimuli) if order is None else np.argsort(order)
        where = repr(path.name)
        try:
            start = 0
            for a in _member_rows(path, "features", rows):
                idx = inverse[start:start + len(a)]
                yield idx, self._batch_rows(layer, a, pooling, dtype, where, [self.stimuli[i] for i in idx])
                start += len(a)
        except _NotStreamable:
            with _npy.open_npz(path, what="feature file") as z:
                a = _npy.read_member(z, "features", path, "feature file")
            for s in range(0, len(a), rows):
                idx = inverse[s:s + rows]
                yield idx, self._batch_rows(layer, a[s:s + rows], pooling, dtype, where,
                                            [self.stimuli[i] for i in idx])

    # -- costs and workers ---------------------------------------------------------------
    def _stored_itemsize(self, layer) -> int:
        return self._itemsize[layer]

    def _held(self, rows: int, stored: int, converts: bool) -> int:
        # a per-layer file is loaded whole and then converted
        return rows + (stored if converts else 0)

    def worker_sources(self, layers, scatter) -> list:
        """The folder, as an absolute path, for every layer."""
        layers = self.select_layers(layers)
        return [(str(Path(self.source).expanduser().resolve()), None)] * len(layers)
