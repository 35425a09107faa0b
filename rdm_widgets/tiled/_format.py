"""The files of an on-disk RDM store and the primitives that read and write them.

A store is a folder::

    manifest.json      what it is: stimuli count, layer, distance, tile size, levels, meta
    stimuli.json       the N stimulus names
    progress.json      finished tiles (hex bit mask), degenerate stimuli, complete flag
    condensed.npy      (N*(N-1)/2,) float32, scipy ``squareform`` order (upper triangle)
    overview_8.npy     (ceil(N/8),)*2 float32 means of 8 x 8 blocks of the square matrix
    overview_64.npy    ... one level per factor 8, until a level has at most 1024 rows
    features.npy       the layer's (N, D) features, only while a run is unfinished
    colmean.npy        (D,) float64 column means of the features, idem
    reduction.npz      with ``dim_reduction``: the fitted projection (PCA mean and components or
                       the SRP matrix, in the run's dtype, no pickle), written before the manifest
                       so a resumed run stages with the identical projection; removed with
                       ``features.npy``
    .lock              locked (flock) by the process writing the store, while it runs; records
                       its host, boot id, pid and start time for messages
    .creating          present while the store is being created, overwritten or deleted (written
                       first, removed after the manifest): such a folder is a store-in-creation

Every file is a plain ``.npy``/JSON file: loading executes no code, and numpy, h5py-free
tools or ``np.load(mmap_mode='r')`` read them. JSON files are replaced atomically.
The format string and the file names are on users' disks: changing them breaks old stores.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .._atomic import atomic_write
from .._npy import read_npy_header

__all__ = ["FORMAT", "STORE_FILES", "RUN_FILES", "CREATING", "OVERVIEW_MAX", "LEVEL_STEP", "NpyFile", "read_json", "write_json",
           "condensed_index", "overview_factors", "level_name", "cell_counts", "pool_means", "build_levels"]

#: ``manifest.json["format"]`` of every store (kept from the module that first wrote it)
FORMAT = "rdm_widgets.ondisk"
#: files a store consists of, besides its ``overview_<factor>.npy`` levels
STORE_FILES = ("manifest.json", "stimuli.json", "progress.json", "condensed.npy", "features.npy",
               "colmean.npy", "reduction.npz", ".lock")
#: files needed only while a run is unfinished (removed at the end unless ``keep_features``)
RUN_FILES = ("features.npy", "colmean.npy", "reduction.npz")
#: marker of a store being created, overwritten or deleted (a folder killed before its manifest)
CREATING = ".creating"
#: an overview level is added while the previous one has more rows than this
OVERVIEW_MAX = 1024
#: factor between overview levels (and the finest level's block size)
LEVEL_STEP = 8


def condensed_index(i, j, n: int):
    """Position of pair ``(i, j)``, ``i < j``, in a condensed vector of ``n`` stimuli."""
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    return n * i - (i * (i + 1)) // 2 + (j - i - 1)


def overview_factors(n: int) -> list:
    """Block sizes of the overview levels of an ``n``-stimulus RDM (finest first): a level
    is added while the previous one has more than ``OVERVIEW_MAX`` rows."""
    factors, f = [], 1
    while math.ceil(n / f) > OVERVIEW_MAX:
        f *= LEVEL_STEP
        factors.append(f)
    return factors


def level_name(factor: int) -> str:
    """File name of the overview level with block size ``factor``."""
    return f"overview_{factor}.npy"


def cell_counts(n: int, factor: int) -> np.ndarray:
    """Stimuli per cell along one axis of the level with block size ``factor`` (last may be smaller)."""
    return np.minimum(factor, n - np.arange(math.ceil(n / factor)) * factor).astype(np.float64)


def pool_means(values: np.ndarray, row_counts, col_counts, step: int) -> np.ndarray:
    """Merge ``step x step`` cells of block means into their count-weighted means.

    ``values`` (h, w) are means over ``row_counts[i] x col_counts[j]`` stimuli; returns
    (ceil(h/step), ceil(w/step)) float32 means over the merged blocks (exact for edge blocks).
    """
    rs, cs = np.arange(0, len(row_counts), step), np.arange(0, len(col_counts), step)
    weighted = np.asarray(values, np.float64) * np.outer(row_counts, col_counts)
    sums = np.add.reduceat(np.add.reduceat(weighted, rs, axis=0), cs, axis=1)
    return (sums / np.outer(np.add.reduceat(row_counts, rs), np.add.reduceat(col_counts, cs))).astype(np.float32)


class NpyFile:
    """Random-access reads/writes of a C-ordered ``.npy`` file's data (no memory map, so
    written pages do not count towards the process' resident memory)."""

    def __init__(self, path):
        self.path = Path(path)
        with open(self.path, "rb") as fh:
            self.shape, fortran, self.dtype = read_npy_header(fh)
            self.offset = fh.tell()
        if fortran:
            raise ValueError(f"{str(self.path)!r} is Fortran-ordered; expected a C-ordered array.")

    @classmethod
    def create(cls, path, shape, dtype) -> "NpyFile":
        """Allocate (sparsely, where the file system allows) and return the file."""
        mm = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=tuple(shape))
        del mm
        return cls(path)

    def write(self, start: int, values: np.ndarray, fh=None) -> None:
        """Write ``values`` (flattened) at element ``start``."""
        data = np.ascontiguousarray(values, dtype=self.dtype)
        own = fh is None
        fh = open(self.path, "r+b") if own else fh
        try:
            fh.seek(self.offset + int(start) * self.dtype.itemsize)
            fh.write(data.tobytes())
        finally:
            if own:
                fh.close()

    def read(self, start: int, count: int, fh=None) -> np.ndarray:
        """``count`` elements from element ``start``."""
        own = fh is None
        fh = open(self.path, "rb") if own else fh
        try:
            fh.seek(self.offset + int(start) * self.dtype.itemsize)
            buf = fh.read(int(count) * self.dtype.itemsize)
        finally:
            if own:
                fh.close()
        if len(buf) != count * self.dtype.itemsize:
            raise ValueError(f"{str(self.path)!r} is shorter than its header says (truncated?).")
        return np.frombuffer(buf, dtype=self.dtype).copy()

    def memmap(self) -> np.memmap:
        return np.memmap(self.path, dtype=self.dtype, mode="r", offset=self.offset, shape=tuple(self.shape))


def write_json(path: Path, obj) -> None:
    with atomic_write(path, overwrite=True) as f:
        f.write(json.dumps(obj, indent=1).encode())


def read_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"Could not read {str(path)!r}: {err}") from err


def build_levels(store: Path, n: int, factors: list) -> None:
    """Coarser overview levels from the finest one, as count-weighted block means (one band of
    rows of the finer level in memory at a time)."""
    for fine, coarse in zip(factors, factors[1:]):
        src = NpyFile(store / level_name(fine))
        side = src.shape[0]
        counts = cell_counts(n, fine)
        step = coarse // fine
        out = NpyFile.create(store / level_name(coarse), (math.ceil(n / coarse),) * 2, np.float32)
        for k, top in enumerate(range(0, side, step)):
            rows = src.read(top * side, min(step, side - top) * side).reshape(-1, side)
            band = pool_means(rows, counts[top:top + len(rows)], counts, step)
            out.write(k * out.shape[1], band)
