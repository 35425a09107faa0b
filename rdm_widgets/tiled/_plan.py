"""What a tiled run will do, decided once: its resolved options and its tile plan.

:func:`rdm_widgets.tiled_rdm` and its cost estimate
(:func:`rdm_widgets.estimate.estimate_tiled`) both call :func:`check_tiled_options` and
:func:`plan_tiles`, so the estimate validates what the run validates and counts exactly the
tiles, staging reads and overview levels the run will make.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .._options import DType, check_device, check_dtype
from .._validate import check_positive_int
from ..distances import Distance, available_distances, check_distance
from ._format import overview_factors

__all__ = ["TiledOptions", "TilePlan", "check_tiled_options", "plan_tiles", "READ_BYTES"]

#: bytes of features read per staging block
READ_BYTES = 64 * 1024 ** 2
#: tile sides are rounded up to a multiple of this (aligned blocks for the GEMM kernels)
TILE_MULTIPLE = 8


@dataclass(frozen=True)
class TiledOptions:
    """The options of a tiled run, validated.

    Attributes
    ----------
    distance : Distance
        A registered distance with a ``cross`` function, or a pairwise callable.
    tile : int
        Stimuli per tile side (a multiple of 8).
    device : torch.device
    dtype : DType
        Working precision (the store always holds float32).
    """

    distance: Distance
    tile: int
    device: torch.device
    dtype: DType


def check_tiled_options(distance, tile_size, device, dtype) -> TiledOptions:
    """Resolve the options :func:`rdm_widgets.tiled_rdm` and its estimate share.

    Raises
    ------
    ValueError
        Unknown distance, one that needs all stimuli at once (e.g. ``'mahalanobis'``),
        ``tile_size < 8``, an unknown dtype or an unavailable device.
    """
    dist = check_distance(distance)
    if not dist.is_custom and dist.spec.cross is None:
        ok = [d for d in available_distances(False) if check_distance(d).spec.cross is not None]
        raise ValueError(f"distance={dist.name!r} cannot be computed in tiles (it needs statistics of all "
                         f"stimuli at once). Out of core: {ok} or a pairwise callable; in memory: "
                         "RDMCreator.compute_rdms / pairwise_distances.")
    dtype = check_dtype(dtype)
    dev = check_device(device)
    tile = check_positive_int("tile_size", tile_size, minimum=TILE_MULTIPLE)
    tile = -(-tile // TILE_MULTIPLE) * TILE_MULTIPLE
    return TiledOptions(dist, tile, dev, dtype)


@dataclass(frozen=True)
class TilePlan:
    """The work of one tiled run of ``n`` stimuli with ``d`` features.

    Attributes
    ----------
    n, d : int
        Stimuli and features per stimulus (after pooling).
    tile : int
        Stimuli per tile side.
    itemsize : int
        Bytes per staged feature value (the working dtype).
    """

    n: int
    d: int
    tile: int
    itemsize: int

    @property
    def n_blocks(self) -> int:
        """Row blocks of ``tile`` stimuli (the last may be smaller)."""
        return math.ceil(self.n / self.tile)

    @property
    def tiles(self) -> list:
        """``(bi, bj)`` block pairs with ``bi <= bj`` in the order of the progress mask's bits."""
        nb = self.n_blocks
        return [(bi, bj) for bi in range(nb) for bj in range(bi, nb)]

    @property
    def n_tiles(self) -> int:
        return self.n_blocks * (self.n_blocks + 1) // 2

    @property
    def pairs(self) -> int:
        return self.n * (self.n - 1) // 2

    @property
    def factors(self) -> list:
        """Block sizes of the overview levels (finest first)."""
        return overview_factors(self.n)

    @property
    def staged_bytes(self) -> int:
        """The (N, D) features staged to disk."""
        return self.n * self.d * self.itemsize

    @property
    def read_rows(self) -> int:
        """Stimuli per staging read (about :data:`READ_BYTES` of features)."""
        return max(1, min(self.n, READ_BYTES // max(1, self.d * self.itemsize)))

    @property
    def n_reads(self) -> int:
        """Staging reads (the first progress units of a run)."""
        return math.ceil(self.n / self.read_rows)

    @property
    def level_bytes(self) -> int:
        """The float32 overview levels."""
        return sum(math.ceil(self.n / f) ** 2 * 4 for f in self.factors)


def plan_tiles(n: int, d: int, options: TiledOptions) -> TilePlan:
    """The plan of a run of ``n`` stimuli with ``d`` features under ``options``."""
    return TilePlan(int(n), int(d), options.tile, options.dtype.itemsize)
