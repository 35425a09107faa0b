"""Reading an on-disk RDM: :class:`OnDiskRDM` opens a store and reads any window of it.

:func:`rdm_widgets.tiled_rdm` writes the store tile by tile (the files are described in
:mod:`rdm_widgets.tiled._format`); this module only reads, so a viewer or a second process can
open a store while nothing else of the out-of-core machinery is loaded. A window at full
resolution gathers its values from the condensed vector; a larger one is read from the finest
overview level whose block grid fits.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..rdm import LayerRDM
from ._format import (FORMAT, OVERVIEW_MAX, NpyFile, cell_counts, condensed_index, level_name, pool_means,
                      read_json)

__all__ = ["OnDiskRDM", "Window"]


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
    >>> big.window((0, 50_000), (0, 50_000)).values.shape  # overview, ~782 x 782  # doctest: +SKIP
    >>> big.window((1000, 1500), (2000, 2600)).factor      # 1: full resolution  # doctest: +SKIP
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
                level = NpyFile(self.path / level_name(f))
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

