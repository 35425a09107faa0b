"""Pass 2 of a tiled run: the values of each ``I x J`` tile, here or on dask workers.

For a pair of row blocks ``I <= J`` both blocks are read from the staged features, prepared
with the distance's row-local ``prepare`` (after its ``preprocess``, centred with the mean of
all stimuli) and combined by its ``cross`` function -- one GEMM for correlation, cosine,
spearman and the euclidean family -- or by a custom callable on the two blocks stacked.
Degenerate stimuli get distance 1, the diagonal 0, exactly as in memory. Only the client
process writes (:mod:`._writer`), so a run on a cluster gives the same store as a local one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from .._blocks import block_means
from .._dask import client_scope, map_unordered
from .._distance_kernels import custom_pair
from .._distance_prep import all_finite, working_copy
from ._format import NpyFile
from ._plan import TiledOptions

__all__ = ["Blocks", "tile_values", "tile_means", "local_tiles", "dask_tiles"]


class Blocks:
    """Prepared row blocks of the staged features (the last two are cached: a row of tiles
    reuses its block ``I``)."""

    def __init__(self, store: Path, options: TiledOptions):
        self.feat = NpyFile(store / "features.npy")
        self.n, self.d = self.feat.shape
        cm = store / "colmean.npy"
        self.col_mean = np.load(cm, allow_pickle=False) if cm.is_file() else None
        self.options = options
        self._cache: dict = {}

    def bounds(self, b: int) -> tuple:
        """``(start, stop)`` stimuli of block ``b``."""
        tile = self.options.tile
        return b * tile, min(self.n, (b + 1) * tile)

    def prepared(self, b: int):
        """Block ``b`` on the device: the distance's prepared state (raw rows for a callable)."""
        if b not in self._cache:
            r0, r1 = self.bounds(b)
            x = torch.from_numpy(self.feat.read(r0 * self.d, (r1 - r0) * self.d).reshape(r1 - r0, self.d))
            spec, dev, dtype = self.options.distance.spec, self.options.device, self.options.dtype.torch
            if spec.func is not None:
                state = x.to(dev, dtype)
            else:
                w = working_copy(x, spec.preprocess, dev, dtype, overwrite=True, col_mean=self.col_mean)
                state = spec.prepare(w) if spec.prepare is not None else w
            while len(self._cache) >= 2:
                self._cache.pop(next(iter(self._cache)))
            self._cache[b] = state
        return self._cache[b]


def tile_values(blocks: Blocks, bi: int, bj: int, degenerate: np.ndarray) -> np.ndarray:
    """The (|I|, |J|) tile of block rows ``bi`` x block columns ``bj`` in the working dtype.

    Raises
    ------
    ValueError
        NaN or inf in the tile (features too large for the dtype), or a custom callable's
        result of the wrong shape.
    """
    dist = blocks.options.distance
    (r0, r1), (c0, c1) = blocks.bounds(bi), blocks.bounds(bj)
    with torch.no_grad():
        sa = blocks.prepared(bi)
        sb = sa if bi == bj else blocks.prepared(bj)
        if dist.is_custom:
            t = custom_pair(dist.spec.func, sa, None if bi == bj else sb, dist.name)[0]
        else:
            t = dist.spec.cross(sa, sb)
        t = t.to("cpu", blocks.options.dtype.torch).numpy()
    if bi == bj and dist.spec.symmetric:
        t = (t + t.T) / 2
    bad_r, bad_c = degenerate[r0:r1], degenerate[c0:c1]
    if bad_r.any() or bad_c.any():
        t[bad_r, :] = 1.0
        t[:, bad_c] = 1.0
    if bi == bj:
        np.fill_diagonal(t, 0.0)
    if not all_finite(torch.from_numpy(t)):
        raise ValueError(f"distance={dist.name!r} produced NaN or inf for stimuli {r0}..{r1 - 1} x "
                         f"{c0}..{c1 - 1}. The features may be too large for the dtype: use dtype='float64' "
                         "or rescale them.")
    return t


def tile_means(t: np.ndarray, factor) -> np.ndarray:
    """Means of ``factor x factor`` blocks of a tile, as stored in the finest overview level
    (None without overview levels)."""
    return block_means(t, factor).astype(np.float32) if factor else None


def local_tiles(store: Path, options: TiledOptions, tiles: list, todo: list, degenerate: np.ndarray,
                factor) -> Iterator[tuple]:
    """``(k, values, means)`` of the tiles ``tiles[k]`` for ``k`` in ``todo``, in order, here."""
    blocks = Blocks(store, options)
    for k in todo:
        t = tile_values(blocks, *tiles[k], degenerate)
        yield k, t, tile_means(t, factor)


def _tile_task(tile_ij, store, options, degenerate, factor):
    """Worker side of one tile (dask): values and finest-level block means."""
    t = tile_values(Blocks(Path(store), options), tile_ij[0], tile_ij[1], degenerate)
    return t, tile_means(t, factor)


def dask_tiles(client, store: Path, options: TiledOptions, tiles: list, todo: list, degenerate: np.ndarray,
               factor) -> Iterator[tuple]:
    """As :func:`local_tiles`, computed on the workers of ``client`` (in completion order)."""
    with client_scope(client) as cl:
        for pos, (t, means) in map_unordered(cl, _tile_task, [tiles[k] for k in todo], str(store), options,
                                             degenerate, factor):
            yield todo[pos], t, means
