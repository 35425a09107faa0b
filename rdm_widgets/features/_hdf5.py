"""HDF5 files (``.h5`` / ``.hdf5``): one dataset ``(N, ...)`` per layer.

Nested groups give layer names ``group/name``; an optional ``stimuli`` dataset holds the
stimulus names (default ``stimulus_0 ...``). ``h5py`` is imported only when such a file
is opened.
"""
from __future__ import annotations

from math import prod
from pathlib import Path
from typing import Iterator

import numpy as np

from .._npy import check_file
from ._base import FeatureSource
from ._names import default_names
from ._pooling import is_sequence_shape
from ._shapes import LayerInfo, check_numeric

__all__ = ["HDF5Source", "HDF5_SUFFIXES"]

#: file suffixes opened as HDF5 (case-insensitive)
HDF5_SUFFIXES = (".h5", ".hdf5")


class HDF5Source(FeatureSource):
    """An HDF5 file with one dataset (N, ...) per layer and an optional ``stimuli`` dataset.

    Parameters
    ----------
    path : Path
    """

    format = "hdf5"
    in_memory = False
    _ROWS_BYTES = 256 * 1024 ** 2  # bound the temporaries of one read

    def __init__(self, path: Path):
        import h5py

        self.path = path
        shapes, self._itemsize, stimuli = {}, {}, None
        check_file(path, what="Feature file")        # a FIFO would block h5py
        try:
            fh = h5py.File(path, "r")
        except OSError as err:
            raise ValueError(f"Could not open {str(path)!r} as HDF5: {err}") from err
        with fh:
            def visit(name, obj):
                if isinstance(obj, h5py.Dataset) and name != "stimuli":
                    check_numeric(name, obj.dtype, repr(path.name), what="Dataset")
                    shapes[name] = obj.shape
                    self._itemsize[name] = obj.dtype.itemsize
            fh.visititems(visit)
            if "stimuli" in fh:
                ds = fh["stimuli"]
                raw = ds.asstr()[()] if h5py.check_string_dtype(ds.dtype) else ds[()]
                stimuli = [str(s) for s in np.atleast_1d(raw)]
        if not shapes:
            raise ValueError(f"{str(path)!r} holds no feature datasets.")
        n = {s[0] if s else 0 for s in shapes.values()}
        if len(n) != 1 or (stimuli is not None and len(stimuli) not in n):
            detail = {k: v for k, v in shapes.items()}
            raise ValueError(f"Datasets in {path.name!r} disagree on the number of stimuli (first axis): "
                             f"{detail}" + (f", stimuli: {len(stimuli)}" if stimuli is not None else "") + ".")
        n = n.pop()
        stimuli = stimuli or default_names(n)
        info = {k: LayerInfo(tuple(s[1:]), is_sequence_shape(s[1:])) for k, s in shapes.items()}
        super().__init__(stimuli, info, str(path))

    def _read_pass(self, block, pooling, dtype, reporter):
        import h5py

        with h5py.File(self.path, "r") as fh:
            for layer in block:
                ds = fh[layer]
                out = np.empty((self.n_stimuli, self.feature_dim(layer, pooling)), dtype)
                step = max(1, self._ROWS_BYTES // max(1, ds.dtype.itemsize * prod(ds.shape[1:])))
                for idx, rows in self._slice_blocks(layer, ds, pooling, dtype, step, repr(self.path.name)):
                    out[idx[0]:idx[-1] + 1] = rows
                reporter.update(1)
                yield layer, out

    def _row_blocks(self, layer, pooling, dtype, rows) -> Iterator[tuple]:
        import h5py

        with h5py.File(self.path, "r") as fh:
            yield from self._slice_blocks(layer, fh[layer], pooling, dtype, rows, repr(self.path.name))

    # -- costs and workers ---------------------------------------------------------------
    def _stored_itemsize(self, layer) -> int:
        return self._itemsize[layer]

    def worker_sources(self, layers, scatter) -> list:
        """The file, as an absolute path, for every layer."""
        layers = self.select_layers(layers)
        return [(str(Path(self.path).expanduser().resolve()), None)] * len(layers)
