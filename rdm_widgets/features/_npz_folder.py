"""Per-stimulus ``.npz`` files (Net2Brain layout): one file per stimulus, one key per layer.

Every file is opened once per pass and all layers of the pass are filled from it
(Net2Brain opens every file once per layer); layers are grouped into passes whose output
fits ``max_bytes``. Opening reads only the first file's array headers; every other file's
layers and shapes are checked while its data is read (errors name the file, the layer and
both shapes), or by ``_scan`` when a question needs all of them first. Uncompressed members
already in the output's dtype and the layer's shape (what ``np.savez`` writes) are read straight
into their output row (:mod:`rdm_widgets.features._npz_fast`); others the ordinary way.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from .. import _npy
from ._base import FeatureSource
from ._npz_fast import read_stored_into
from ._plan import plan_passes
from ._shapes import LayerInfo, check_numeric, check_stored, layer_info, pickled_error
from ._pooling import POOLINGS, is_sequence_shape, same_but_length, shape_mismatch_error, varying_length_error

__all__ = ["NpzFolderSource"]


def _missing_error(name, layer, ref) -> ValueError:
    return ValueError(f"Stimulus file {name!r} is missing layer {layer!r} (present in {ref!r}). "
                      "Every stimulus file must hold the same layers.")


def _finite(a: np.ndarray) -> bool:
    # (one stimulus' array: ~5 us for 46,656 values, faster here than a sum-based test)
    return bool(np.isfinite(a).all())


def _nonfinite_error(layer, f, a) -> ValueError:
    n_nan = int(np.isnan(a).sum())
    return ValueError(f"Features of layer {layer!r} in {f.name!r} contain {n_nan} NaN and "
                      f"{int((~np.isfinite(a)).sum()) - n_nan} inf value(s). Remove or impute them "
                      "before computing RDMs.")


class NpzFolderSource(FeatureSource):
    """One ``.npz`` per stimulus, one key per layer (stimulus name: the file stem).

    Parameters
    ----------
    files : list of Path
        The stimulus files, in stimulus order.
    source : str
        What to call the source (the folder, or ``'<n> files'``).
    first : dict or None
        ``{key: (shape, dtype)}`` of ``files[0]`` when already read.
    folder : Path or None
        The folder the files were listed from (a worker reopens it); None for a list of files.
    """

    format = "npz_folder"
    in_memory = False

    def __init__(self, files, source: str, first: Optional[dict] = None, folder: Optional[Path] = None):
        self.files = [Path(f) for f in files]
        self._folder = folder
        first = _npy.npz_headers(self.files[0]) if first is None else first
        if not first:
            raise ValueError(f"{self.files[0].name!r} holds no arrays.")
        for k, (shape, dt) in first.items():
            check_stored(k, dt, repr(self.files[0].name))
        self._itemsize = {k: dt.itemsize for k, (_, dt) in first.items()}
        info = {k: LayerInfo(shape, is_sequence_shape(shape), checked=False) for k, (shape, _) in first.items()}
        super().__init__([f.stem for f in self.files], info, source)

    def _scan(self) -> None:
        ref, names = self.files[0].name, [f.name for f in self.files]
        shapes = {k: [] for k in self.layers}
        for f in self.files:
            h = _npy.npz_headers(f)
            for k in self.layers:
                if k not in h:
                    raise _missing_error(f.name, k, ref)
                check_stored(k, h[k][1], repr(f.name))
                shapes[k].append(h[k][0])
        self._info = {k: layer_info(k, shapes[k], names) for k in self.layers}

    # -- passes: every file opened once per pass, layers grouped up to max_bytes ---------
    def _plan(self, layers, pooling, dtype, max_bytes):
        sizes = [self.n_stimuli * self.feature_dim(layer, pooling) * dtype.itemsize for layer in layers]
        return [[layers[i] for i in part] for part in plan_passes(sizes, max_bytes)]

    def _count(self, plan):
        return len(plan) * len(self.files)

    def _read_pass(self, block, pooling, dtype, reporter):
        out = {layer: np.empty((self.n_stimuli, self.feature_dim(layer, pooling)), dtype) for layer in block}
        self._read_files(out, 0, self.n_stimuli, pooling, reporter)
        for layer in block:
            self._info[layer].checked = True  # every file's shape of this layer has been seen
        for layer in block:
            yield layer, out.pop(layer)

    def _row_blocks(self, layer, pooling, dtype, rows) -> Iterator[tuple]:
        dim, n = self.feature_dim(layer, pooling), self.n_stimuli
        for start in range(0, n, rows):
            stop = min(n, start + rows)
            out = {layer: np.empty((stop - start, dim), dtype)}
            self._read_files(out, start, stop, pooling)
            yield np.arange(start, stop), out[layer]
        self._info[layer].checked = True

    def _read_files(self, out: dict, start: int, stop: int, pooling, reporter=None) -> None:
        """Fill ``out[layer][i - start]`` from stimulus files ``start..stop-1`` (each opened once)."""
        for i in range(start, stop):
            f = self.files[i]
            # a regular file, its members checked before decompression; errors name the file
            with _npy.open_npz(f, what="stimulus file") as z:
                for layer, rows in out.items():
                    if layer not in z.files:
                        raise _missing_error(f.name, layer, self.files[0].name)
                    info, row = self._info[layer], rows[i - start]
                    # np.savez's uncompressed members: read into the row itself (features/_npz_fast.py)
                    if not (info.sequence and pooling) and read_stored_into(z, layer, row, info.shape, f):
                        if not _finite(row):                  # checked while the row is in cache
                            raise _nonfinite_error(layer, f, row)
                        continue
                    try:
                        a = _npy.read_member(z, layer, f, "stimulus file")
                    except _npy.PickledArrayError:    # a later file than the first, whose headers were checked
                        raise pickled_error(layer, repr(f.name)) from None
                    except ValueError as err:  # e.g. an object array (would need pickle), a bad CRC
                        raise ValueError(f"Could not read layer {layer!r} of {f.name!r}: {err}") from err
                    self._fill(rows, i - start, layer, a, f, pooling)
            if reporter is not None:
                reporter.update(1)

    def _fill(self, out, i, layer, a, f, pooling):
        """Check one stimulus' array of ``layer`` against the reference and write its row."""
        info = self._info[layer]
        check_numeric(layer, a.dtype, repr(f.name))
        if a.shape != info.shape:
            ref = self.files[0].name
            if not (info.sequence and same_but_length(a.shape, info.shape)):
                raise shape_mismatch_error(layer, f.name, a.shape, ref, info.shape)
            info.varying = info.varying or (ref, info.shape, f.name, a.shape)
            if pooling is None:
                raise varying_length_error(layer, info.varying)
        if a.dtype.kind == "f" and not _finite(a):
            raise _nonfinite_error(layer, f, a)
        if info.sequence and pooling:
            out[i] = POOLINGS[pooling](a.reshape(a.shape[-2:]), 0, dtype=out.dtype)  # [1, seq, D] -> [seq, D]
        else:
            out[i] = a.reshape(-1)

    # -- costs and workers ---------------------------------------------------------------
    def _stored_itemsize(self, layer) -> int:
        return self._itemsize[layer]

    def _key_reads(self, layer) -> int:
        return self.n_stimuli          # one array from every stimulus file

    def worker_sources(self, layers, scatter) -> list:
        """The folder (or the list of files), as absolute paths, for every layer."""
        layers = self.select_layers(layers)
        if self._folder is not None:
            source = str(self._folder.expanduser().resolve())
        else:
            source = [str(f.expanduser().resolve()) for f in self.files]
        return [(source, None)] * len(layers)
