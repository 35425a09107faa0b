"""Cost of an out-of-core RDM (:func:`rdm_widgets.tiled_rdm`) from the sizes.

The options are resolved and the tiles, staging reads and overview levels counted by the
run's own :func:`check_tiled_options` and :func:`plan_tiles`; this module only prices them.

Why the per-tile cost is measured: every tile is a Python step that makes its values durable
(writes, ``fsync``) and records its progress before the next starts, so a run of many small
tiles costs milliseconds per tile whatever its flops (``tile_size=8`` on 800 stimuli: 5,050
tiles, about a minute, for 0.01 s of GEMMs). :func:`_calibrated_tiles` runs the real
:func:`rdm_widgets.tiled_rdm` on a tiny problem in a temporary folder (15 tiles; about 0.05 s
on an idle machine, once per process, distance, device and dtype): the median time between
two tiles is the fixed cost per tile, the rest of the run the fixed cost per run. On top,
each tile rebuilds the run's list of tiles and its progress mask (both of ``n_tiles``
entries; timed on a plan of :data:`_REF_TILES` tiles), writes each of its rows and its
overview block means' rows with a Python call, and reduces its cells to block means (both
timed on a 256 x 256 tile). The GEMMs, the staging and the reads are priced at the
calibrated rates (:func:`rdm_widgets.estimate.calibrate`) times the machine's
:func:`contention`.
"""
from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from .._blocks import block_means
from .._cost import CostEstimate, calibrate, contention
from .._validate import check_positive_int
from ..tiled import tiled_rdm
from ..tiled._format import NpyFile
from ..tiled._plan import READ_BYTES, check_tiled_options, plan_tiles
from ..reduction import check_reduction
from ._dnn import CDIST_DISTANCES
from ._dnn_options import layer_reduction_cost

__all__ = ["estimate_tiled"]

_TILE_CAL: dict = {}
_TILE_LOCK = threading.Lock()
_CAL_N, _CAL_D, _CAL_TILE, _CAL_TILES = 40, 16, 8, 15    # 5 blocks of 8: 15 tiles
_REF_TILES = 4096                           # plan size at which the per-tile bookkeeping is timed
_TILE_ENTRY_BYTES = 100                     # one (bi, bj) tuple in the run's tile list, with its slot


def _bookkeeping(plan) -> float:
    """Seconds of one tile's bookkeeping that grows with the plan: its tile list and hex mask."""
    t0 = time.perf_counter()
    plan.tiles
    mask = int(format((1 << plan.n_tiles) - 1, "x"), 16)
    format(mask | 1, "x")
    return time.perf_counter() - t0


def _row_costs(folder: Path) -> tuple:
    """(seconds per row of a tile written into a store file, seconds per cell of a tile's block
    means): a large tile is written a row at a time, and its overview block means are a
    strided reduction far below the copy rate."""
    rows, width = 256, 256
    out = NpyFile.create(folder / "rows.npy", (rows * width,), np.float32)
    tile = np.ones((rows, width), np.float32)

    def write_rows():
        with open(out.path, "r+b") as fh:
            for a in range(rows):
                out.write(a * width + a, tile[a, a:], fh)
    per_row = min(_seconds(write_rows) for _ in range(3)) / rows
    per_cell = min(_seconds(lambda: block_means(tile, 8)) for _ in range(3)) / tile.size
    return per_row, per_cell


def _seconds(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _calibrated_tiles(options) -> tuple:
    """(seconds per tile, fixed seconds per run, seconds per tile and listed tile, per row written,
    per cell of the block means) on this machine.

    Measured once per process, device, dtype, distance and thread count by one real run of
    :data:`_CAL_TILES` tiles: the median time between two tiles finishing (its progress
    callback) is the cost per tile, robust to a moment when the machine is busy; the rest of
    the run is the fixed cost.
    """
    name = options.distance.name if not options.distance.is_custom else "correlation"
    key = (str(options.device), options.dtype.name, name, torch.get_num_threads())
    with _TILE_LOCK:
        if key in _TILE_CAL:
            return _TILE_CAL[key]
        x = np.random.default_rng(0).standard_normal((_CAL_N, _CAL_D)).astype(np.float32)
        stamps = []
        with tempfile.TemporaryDirectory(prefix="rdm_widgets_cal_") as tmp:
            t0 = time.perf_counter()
            tiled_rdm(x, Path(tmp) / "store", distance=name, tile_size=_CAL_TILE, device=options.device,
                      dtype=options.dtype.name, progress=lambda done, total: stamps.append(time.perf_counter()))
            total = time.perf_counter() - t0
            per_row, per_cell = _row_costs(Path(tmp))
        steps = np.diff(stamps[-_CAL_TILES:]) if len(stamps) > 2 else np.array([total])
        # the calibration's tiles are 8 rows each (no overview level at 40 stimuli)
        per_tile = max(float(np.median(steps)) - _CAL_TILE * per_row, 0.5 * float(np.median(steps)))
        # the per-tile bookkeeping that grows with the plan: the tile list and the hex progress mask
        blocks = int((2 * _REF_TILES) ** 0.5)
        ref = plan_tiles(8 * blocks, 1, check_tiled_options(name, 8, options.device, options.dtype.name))
        per_listed = min(_bookkeeping(ref) for _ in range(3)) / ref.n_tiles
        _TILE_CAL[key] = (per_tile, max(total - _CAL_TILES * per_tile, 0.0), per_listed, per_row, per_cell)
        return _TILE_CAL[key]


def estimate_tiled(n_stimuli, feature_dim, *, distance="correlation", tile_size=4096, device="cpu",
                   dtype="float32", dim_reduction=None, n_components=None, n_samples_estim=100,
                   srp_before_pca=False, max_dim_allowed=None, eps=0.1, random_state=0) -> CostEstimate:
    """Predict time, peak RAM and disk of :func:`rdm_widgets.tiled_rdm` from the sizes (before a run).

    Parameters
    ----------
    n_stimuli, feature_dim : int
        N and D of the layer (after pooling).
    distance, tile_size, device, dtype
        As in :func:`rdm_widgets.tiled_rdm`.
    dim_reduction, n_components, n_samples_estim, srp_before_pca, max_dim_allowed, eps, random_state
        The layer's reduction, as :func:`rdm_widgets.tiled_rdm` (validated by the same
        :func:`rdm_widgets.reduction.check_reduction`): the fit (PCA: the seeded sample, its
        Gram matrix; SRP: drawing the matrix) and the projection of every row while staging are
        added, and the tiles run over the reduced width (the run's size rule: a layer that would
        not get narrower is priced as it is).

    Returns
    -------
    CostEstimate
        ``seconds`` from the measured cost per tile and per run (a tiny real run, once per
        process) and this machine's calibrated GEMM / cdist / disk rates (within about a factor
        2; see ``BENCHMARKS.md``); ``peak_bytes`` on top of the process (two blocks, one tile
        and its temporaries, one staging read); ``disk_bytes`` of the store while it runs
        (staged features + condensed values + overview levels). ``work`` counts ``tiles``,
        ``pairs``, ``flops`` and the bytes re-read from the staged features.

    Raises
    ------
    ValueError
        As :func:`rdm_widgets.tiled_rdm` for the same options (e.g. a distance that cannot be
        tiled), or ``n_stimuli < 2``.
    """
    options = check_tiled_options(distance, tile_size, device, dtype)
    reduction = check_reduction(dim_reduction, n_components=n_components, n_samples_estim=n_samples_estim,
                                srp_before_pca=srp_before_pca, max_dim_allowed=max_dim_allowed, eps=eps,
                                random_state=random_state)
    n = check_positive_int("n_stimuli", n_stimuli, minimum=2)
    d = check_positive_int("feature_dim", feature_dim)
    cal, busy = calibrate(options.device), contention()
    red_t = red_peak = sampled = 0
    if reduction is not None:     # the run's plan_layer: an impossible n_components raises here too
        layer_plan, red_t, red_peak, sampled = layer_reduction_cost(n, d, reduction, options.dtype, cal)
        d = layer_plan.n_components
    plan = plan_tiles(n, d, options)
    per_tile, per_run, per_listed, per_row, per_cell = _calibrated_tiles(options)
    s = plan.itemsize
    side = min(plan.tile, n)
    cells = plan.n_tiles * side ** 2                              # tiles are computed whole
    flops = 2.0 * cells * d
    compute = (cells * d / cal["cdist"]) if options.distance.name in CDIST_DISTANCES else \
        flops / cal[f"gemm_{options.dtype.name}"]
    reread = 2 * plan.n_tiles * side * d * s                      # both blocks of every tile
    staged = plan.staged_bytes
    rated = (staged / cal["read"] + staged / cal["write"] + reread / cal["read"] + compute
             + 6 * cells * s / cal["memory"] + (plan.pairs * 4 + plan.level_bytes) / cal["write"])
    factor = plan.factors[0] if plan.factors else None
    # rows written per tile: its condensed rows, and its block means' rows (mirrored off the diagonal)
    rows = plan.n_tiles * side + (2 * plan.n_tiles * -(-side // factor) if factor else 0)
    seconds = (per_run + plan.n_tiles * per_tile + plan.n_tiles ** 2 * per_listed + rows * per_row
               + (rated + red_t + (cells * per_cell if factor else 0.0)) * busy)
    t2 = side ** 2
    # two blocks, the tile and its symmetrised copy and output, the block means' float64 row
    # sums (tile/8 x tile x 8 bytes), one staging read (already in the working dtype: no
    # converted copy) and the run's list of tiles (a tuple of two ints each)
    peak = 2 * side * d * s + 3 * t2 * s + t2 + min(READ_BYTES, staged) + _TILE_ENTRY_BYTES * plan.n_tiles
    peak = max(peak, red_peak)            # the reducer's fit and staging end before the tiles
    disk = staged + plan.pairs * 4 + plan.level_bytes + 8 * d + 1024 + n * 24
    work = {"tiles": plan.n_tiles, "pairs": plan.pairs, "flops": int(flops), "reread_bytes": int(reread),
            "staged_bytes": int(staged), "contention": busy}
    if reduction is not None:
        work.update(reduced_dim=int(d), sampled_rows=int(sampled))
    return CostEstimate(float(seconds), int(peak), int(disk), work, str(options.device))
