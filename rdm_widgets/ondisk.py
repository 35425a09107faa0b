"""An RDM too large for memory, stored on disk: condensed float32 plus an overview pyramid.

:func:`rdm_widgets.tiled_rdm` writes it tile by tile; :class:`OnDiskRDM` opens it and
reads any window without loading the rest. The store is a folder::

    manifest.json      what it is: stimuli count, layer, distance, tile size, levels, meta
    stimuli.json       the N stimulus names
    progress.json      finished tiles (hex bit mask), degenerate stimuli, complete flag
    condensed.npy      (N*(N-1)/2,) float32, scipy ``squareform`` order (upper triangle)
    overview_8.npy     (ceil(N/8),)*2 float32 means of 8 x 8 blocks of the square matrix
    overview_64.npy    ... one level per factor 8, until a level has at most 1024 rows
    features.npy       the layer's (N, D) features, only while a run is unfinished

Every file is a plain ``.npy``/JSON file: loading executes no code, and numpy, h5py-free
tools or ``np.load(mmap_mode='r')`` read them. JSON files are replaced atomically.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._io import atomic_write

__all__ = ["OnDiskRDM", "Window", "condensed_index", "read_npy_header"]

FORMAT = "rdm_widgets.ondisk"
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


def read_npy_header(fh) -> tuple:
    """``(shape, fortran_order, dtype)`` of the ``.npy`` stream ``fh`` (positioned at its start)."""
    fmt = np.lib.format
    version = fmt.read_magic(fh)
    if version == (1, 0):
        return fmt.read_array_header_1_0(fh)
    if version == (2, 0):
        return fmt.read_array_header_2_0(fh)
    return fmt._read_array_header(fh, version)      # pragma: no cover - format 3.0 (utf8 names)


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


@dataclass(frozen=True)
class Window:
    """A rectangle of an RDM at some resolution.

    Attributes
    ----------
    values : np.ndarray, (h, w) float32
        Distances (``factor == 1``) or means of ``factor x factor`` blocks.
    rows, cols : (start, stop)
        Stimulus ranges covered (``stop`` exclusive, aligned to ``factor``).
    factor : int
        Stimuli per displayed cell along each axis (1 = full resolution).
    """

    values: np.ndarray
    rows: tuple
    cols: tuple
    factor: int


class OnDiskRDM:
    """An RDM stored on disk by :func:`rdm_widgets.tiled_rdm`; reads windows on demand.

    Parameters
    ----------
    path : str or Path
        The store folder.

    Examples
    --------
    >>> big = OnDiskRDM("rdm_store")                          # doctest: +SKIP
    >>> big.window((0, 50_000), (0, 50_000)).values.shape     # overview, ~782 x 782
    >>> big.window((1000, 1500), (2000, 2600)).factor         # 1: full resolution
    """

    def __init__(self, path):
        self.path = Path(path).expanduser()
        manifest = self.path / "manifest.json"
        if not manifest.is_file():
            raise FileNotFoundError(f"{str(self.path)!r} is not an on-disk RDM store (no manifest.json). "
                                    "Create one with rdm_widgets.tiled_rdm(features, save_path).")
        m = read_json(manifest)
        if m.get("format") != FORMAT:
            raise ValueError(f"{str(manifest)!r} has format {m.get('format')!r}; expected {FORMAT!r}.")
        self.manifest = m
        self._stimuli = None

    # ------------------------------------------------------------------ description
    @property
    def n_stimuli(self) -> int:
        return int(self.manifest["n_stimuli"])

    @property
    def shape(self) -> tuple:
        return (self.n_stimuli, self.n_stimuli)

    @property
    def stimuli(self) -> list:
        if self._stimuli is None:
            self._stimuli = [str(s) for s in read_json(self.path / "stimuli.json")]
        return self._stimuli

    @property
    def layer(self) -> str:
        return str(self.manifest.get("layer", ""))

    @property
    def meta(self) -> dict:
        return dict(self.manifest.get("meta", {}))

    @property
    def tile_size(self) -> int:
        return int(self.manifest["tile_size"])

    @property
    def factors(self) -> list:
        """Resolutions available: 1 (full) and the overview block sizes."""
        return [1] + list(self.manifest.get("overview_factors", []))

    def progress_state(self) -> dict:
        return read_json(self.path / "progress.json")

    @property
    def complete(self) -> bool:
        return bool(self.progress_state().get("complete"))

    @property
    def tiles_done(self) -> tuple:
        """(finished tiles, all tiles)."""
        done = int(self.progress_state().get("tiles_done", "0"), 16)
        return bin(done).count("1"), int(self.manifest["n_tiles"])

    def __repr__(self):
        done, total = self.tiles_done
        state = "complete" if done == total else f"{done}/{total} tiles"
        return (f"<OnDiskRDM {self.layer!r}: {self.n_stimuli} stimuli, "
                f"{self.manifest.get('distance')}, {state}, {str(self.path)!r}>")

    def _check_complete(self):
        if not self.complete:
            done, total = self.tiles_done
            raise RuntimeError(f"The RDM in {str(self.path)!r} is unfinished ({done}/{total} tiles). "
                               "Run tiled_rdm again with the same arguments to resume it.")

    # ------------------------------------------------------------------ reading
    @property
    def condensed(self) -> np.memmap:
        """The (N*(N-1)/2,) float32 values, memory-mapped read-only."""
        return NpyFile(self.path / "condensed.npy").memmap()

    def _full(self, r0, r1, c0, c1) -> np.ndarray:
        i = np.arange(r0, r1)[:, None]
        j = np.arange(c0, c1)[None, :]
        lo, hi = np.minimum(i, j), np.maximum(i, j)
        diag = lo == hi
        idx = condensed_index(lo, np.where(diag, hi + 1, hi), self.n_stimuli)
        idx = np.where(diag, 0, idx)
        cond = self.condensed
        order = np.argsort(idx, axis=None)           # sequential page access
        flat = np.empty(idx.size, dtype=np.float32)
        flat[order] = cond[idx.ravel()[order]]
        out = flat.reshape(idx.shape)
        out[diag] = 0.0
        return out

    def window(self, rows=None, cols=None, max_size: int = OVERVIEW_MAX) -> Window:
        """The finest resolution of ``rows x cols`` with at most ``max_size`` cells per side.

        Parameters
        ----------
        rows, cols : (start, stop) or None
            Stimulus index ranges (None: all).
        max_size : int
            Largest number of cells per side. Full resolution when both ranges fit;
            otherwise the finest overview level that fits (block means; the ranges
            are widened to the level's block grid).

        Returns
        -------
        Window
        """
        self._check_complete()
        n = self.n_stimuli
        (r0, r1), (c0, c1) = (_range(rows, n, "rows"), _range(cols, n, "cols"))
        for f in self.factors:
            a0, a1 = r0 // f * f, min(n, -(-r1 // f) * f)
            b0, b1 = c0 // f * f, min(n, -(-c1 // f) * f)
            h, w = -(-(a1 - a0) // f), -(-(b1 - b0) // f)
            if max(h, w) <= max_size or f == self.factors[-1]:
                if f == 1:
                    return Window(self._full(a0, a1, b0, b1), (a0, a1), (b0, b1), 1)
                level = NpyFile(self.path / f"overview_{f}.npy")
                side = level.shape[1]
                top, left = a0 // f, b0 // f
                vals = np.stack([level.read((top + k) * side + left, w) for k in range(h)])
                return Window(vals, (a0, a1), (b0, b1), f)
        raise AssertionError("unreachable")

    def thumbnail(self, size: int = 96) -> Window:
        """The whole RDM as at most ``size x size`` cells (count-weighted block means of the
        coarsest level), e.g. for a clickable navigator."""
        self._check_complete()
        n = self.n_stimuli
        base = self.window(max_size=OVERVIEW_MAX if len(self.factors) > 1 else n)
        step = max(1, math.ceil(base.values.shape[0] / int(size)))
        counts = cell_counts(n, base.factor)
        return Window(pool_means(base.values, counts, counts, step), (0, n), (0, n), base.factor * step)

    def row(self, i: int) -> np.ndarray:
        """Distances of stimulus ``i`` to all stimuli, shape (N,)."""
        return self.window((i, i + 1), (0, self.n_stimuli), max_size=self.n_stimuli).values[0]

    def to_layer_rdm(self, max_stimuli: int = 20000):
        """The whole RDM in memory as a :class:`rdm_widgets.LayerRDM` (small stores only)."""
        from .rdm import LayerRDM

        self._check_complete()
        if self.n_stimuli > max_stimuli:
            gb = self.n_stimuli ** 2 * 4 / 1e9
            raise MemoryError(f"{self.n_stimuli} stimuli would need {gb:.1f} GB as a square matrix. "
                              f"Use .window() for parts, or pass max_stimuli={self.n_stimuli} if it fits.")
        return LayerRDM.from_condensed(np.asarray(self.condensed), self.stimuli, self.layer, self.meta)


def _range(r, n: int, name: str) -> tuple:
    if r is None:
        return 0, n
    try:
        start, stop = (int(v) for v in r)
    except (TypeError, ValueError):
        raise TypeError(f"Invalid value for {name!r}: {r!r}. Expected (start, stop) indices.") from None
    if not 0 <= start < stop <= n:
        raise ValueError(f"Invalid value for {name!r}: ({start}, {stop}). Need 0 <= start < stop <= {n}.")
    return start, stop
