"""The work that time-resolved RDMs and dimensionality reduction add to a DNN run, and its price.

Why a module of its own: :mod:`._dnn` prices the distances of one (N, D) block per layer; the
options of issue 17 change *which* blocks there are (one per clip / time point, over the
reduced width) and add the reducer's work (PCA: a seeded sample read again, a Gram matrix and
its eigendecomposition; SRP: drawing the sparse matrix) plus the projection of every row.
Every size comes from the run's own functions -- :func:`rdm_widgets._reduction_options.plan_layer`
(the never-inflate rule and the Johnson-Lindenstrauss size), :func:`rdm_widgets.reduction.sample_indices`
(the stimuli PCA reads), ``FeatureSource.time_axes`` -- never from a copy of their rules.

The rates no calibration of :func:`rdm_widgets.estimate.calibrate` gives -- drawing the sparse
matrix, a CSR projection (a transposed copy of the rows, the sparse product, the transposed
result) and the fixed Python cost of one time point's RDM -- are measured once per process on
small real calls of the same code (:func:`calibrated_options`, about 0.5-1 s, only for runs
that use the options; the projections on blocks of 512 rows, about as large as a streamed
block: smaller ones fit the caches and price the product 2-3x too fast).
"""
from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

__all__ = ["LayerWork", "plan_work", "layer_work", "source_reads", "reduction_cost", "calibrated_options"]

_CAL: dict = {}
_LOCK = threading.Lock()
_EIGH_FLOPS, _SMALL_EFFICIENCY = 9.0, 0.25       # as in ._dnn
_PCA_COLUMNS = 2 ** 15                           # the PCA fit's column blocks (float64 temporaries)
_EIGH_M = 100                                    # the default n_samples_estim: the eigh timed


@dataclass(frozen=True)
class LayerWork:
    """What a run does with one layer.

    Attributes
    ----------
    layer : str
    n_times : int
        RDMs of the layer (1 without ``multi_timepoint_rdms``).
    dim : int
        Features read per stimulus and time point (after pooling / flattening).
    width : int
        Features the distances run over (``dim`` unless reduced).
    plan : LayerPlan or None
        The reducer's plan (None without a reduction).
    rows : int
        Rows the reducer serves (N, or N x n_times for time-resolved RDMs).
    """

    layer: str
    n_times: int
    dim: int
    width: int
    plan: Optional[object]
    rows: int

    @property
    def reduced(self) -> bool:
        return self.plan is not None and self.plan.reduces


def plan_work(layer: str, n_times: int, dim: int, n: int, options) -> LayerWork:
    """One layer's :class:`LayerWork` from its sizes (the run's :func:`plan_layer`)."""
    from .._reduction_options import plan_layer

    red, plan, rows = options.reduction, None, n * n_times
    if red is not None and options.multi_timepoint is not None:
        # as _time_rdms: one reducer fitted on a sample of the N * T (stimulus, time point) rows
        m = min(red.n_samples_estim, rows)
        plan = plan_layer(dataclasses.replace(red, n_samples_estim=max(2, m)), layer, dim, rows)
    elif red is not None:
        plan = plan_layer(red, layer, dim, n)
    return LayerWork(layer, n_times, dim, plan.n_components if plan else dim, plan, rows)


def layer_work(src, layers: list, options) -> list:
    """One :class:`LayerWork` per layer, from the headers and the run's own planning functions.

    Raises
    ------
    ValueError
        As the run (an explicit ``n_components`` PCA cannot give, a layer without clip axes).
    """
    n = src.n_stimuli
    if options.multi_timepoint is None:
        return [plan_work(layer, 1, src.feature_dim(layer, options.pooling), n, options) for layer in layers]
    _, axes = src.time_axes(layers, options.multi_timepoint)
    return [plan_work(layer, axes[layer].n_times, axes[layer].dim, n, options) for layer in layers]


def source_reads(src, work: list, options):
    """The :class:`ReadCost` of the run's main reads (the PCA sample apart): time-resolved
    layers read once for all (or, reduced, once per layer in blocks of stimuli), reduced layers
    in blocks of stimuli (a per-stimulus folder opens each file once for all of them)."""
    from .._reduction_source import BLOCK_BYTES

    n, dt, s = src.n_stimuli, options.dtype.numpy, options.dtype.itemsize
    layers = [w.layer for w in work]
    if options.multi_timepoint is not None:
        with src.trusted_shapes(layers):
            base = src.read_cost(layers, None, dt)
        if options.reduction is None:
            return base
        block = max(w.n_times * n * w.width * s + min(BLOCK_BYTES, w.rows * w.dim * s) for w in work)
        files = 0 if base.read_bytes is None else n * len(work)
        return dataclasses.replace(base, file_reads=files, key_reads=files, block_bytes=int(block))
    reduced = [w for w in work if w.reduced]
    plain = [w.layer for w in work if not w.reduced]
    if not reduced:
        return src.read_cost(layers, options.pooling, dt)
    red = src.read_cost([w.layer for w in reduced], options.pooling, dt)
    files = n if (red.read_bytes is not None and src.format == "npz_folder" and hasattr(src, "files")) \
        else red.file_reads
    block = sum(n * w.width * s for w in reduced) + min(BLOCK_BYTES, n * sum(w.dim for w in reduced) * s)
    if plain:
        rest = src.read_cost(plain, options.pooling, dt)
        return dataclasses.replace(rest, file_reads=rest.file_reads + files, key_reads=rest.key_reads + red.key_reads,
                                   read_bytes=None if rest.read_bytes is None else rest.read_bytes + red.read_bytes,
                                   block_bytes=int(max(rest.block_bytes, block)))
    return dataclasses.replace(red, file_reads=files, block_bytes=int(block))


def sampled_files(work: list, options, n: int) -> int:
    """Files the fits open: one shared sample for all PCA layers of a run of whole layers; for
    time-resolved RDMs one sample per PCA layer (its sampled stimuli's files)."""
    from .._reduction_source import sample_indices

    if options.reduction is None:
        return 0
    if options.multi_timepoint is not None:
        # the time-resolved run reads the sample of each layer PCA is fitted on (its sampled
        # stimuli's files); SRP and layers left as they are need no rows
        return sum(len(np.unique(sample_indices(w.rows, options.reduction) // w.n_times))
                   for w in work if w.plan is not None and w.plan.pca)
    pca = [w for w in work if w.reduced and w.plan.pca]
    return len(sample_indices(n, options.reduction)) if pca else 0


# ----------------------------------------------------------------------------- calibration
def _best(fn, repeat=3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _median(fn, repeat=3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def calibrated_options() -> dict:
    """Seconds per drawn SRP entry; per (row x stored feature), per (row x non-zero) and per
    (row x component) of a CSR projection; per time point's RDM call; per row of PCA's
    eigendecomposition beyond its flops. Measured once per process and thread count."""
    key = torch.get_num_threads()
    with _LOCK:
        if key in _CAL:
            return _CAL[key]
        from .._reduction_fit import Reducer, srp_matrix
        from ..creator import RDMCreator

        draw = srp_matrix(400, 40000, 0)
        per_draw = _best(lambda: srp_matrix(400, 40000, 0)) / len(draw["indices"])
        # three CSR projections of 512 rows (a streamed block is about as large): a wide layer (the
        # transposed copy of the rows dominates), a sparse product, many components (the
        # transposed (k, rows) output); solved for the three unit costs
        t = []
        for k, d in ((160, 2 ** 15), (2048, 2 ** 14), (16384, 512)):
            srp = srp_matrix(k, d, 0)
            r = Reducer("cal", d, k, {"method": "srp"}, srp=srp)
            x = torch.from_numpy(np.random.default_rng(0).standard_normal((512, d)).astype(np.float32))
            r.transform(x[:2])                           # builds the CSR tensor once (cached)
            t.append(([512 * d, 512 * len(srp["indices"]), 512 * k], _best(lambda: r.transform(x), 2)))
        a, b = np.array([u for u, _ in t], float), np.array([v for _, v in t])
        per_elem, per_nnz, per_out = np.clip(np.linalg.lstsq(a, b, rcond=None)[0], 0.0, None)
        # one time point's RDM: Python, the registry's checks and a dozen small torch calls beside
        # the passes and the GEMM the model prices. N = 256 makes the (N, N) calls large enough
        # to be split over the threads, as a real run's are: with more threads than free cores
        # each such call waits for a descheduled thread, which only the median of runs of this
        # size shows (the best of a few escapes it)
        from .._cost import calibrate

        n, d = 256, 16
        x = np.random.default_rng(0).standard_normal((n, 1, 10, d)).astype(np.float32)
        runs = {c: _median(lambda c=c: RDMCreator().compute_rdms({"l": x[:, :, :c]}, multi_timepoint_rdms="clip"))
                for c in (2, 10)}
        cal = calibrate()
        priced = 14 * n * n * 4 / cal["memory_device"] + 2.0 * n * n * d / cal["gemm_float32"]
        per_time = max((runs[10] - runs[2]) / 8 - priced, 0.0)
        # PCA's eigendecomposition of the (m, m) Gram matrix: LAPACK's many small parallel steps
        # wait for descheduled threads on a busy machine (0.3 s instead of 1 ms for m = 100 with
        # two threads); the median of real calls at the default sample size shows it
        g = torch.from_numpy(np.random.default_rng(0).standard_normal((_EIGH_M, 2 * _EIGH_M)))
        g = g @ g.T
        eigh = max(_median(lambda: torch.linalg.eigh(g)) - _EIGH_FLOPS * _EIGH_M ** 3
                   / (cal["gemm_float64"] * _SMALL_EFFICIENCY), 0.0)
        # these calls last tens of milliseconds, longer than a scheduler slice: they share the
        # cores with the machine's load as a run does. The estimates multiply every rate by
        # contention() (an idle core's rates), so the machine's load now is divided out here
        from .._cost import contention

        busy = contention()
        per_draw, per_elem, per_nnz, per_out, eigh, per_time = (
            float(v) / busy for v in (per_draw, per_elem, per_nnz, per_out, eigh, per_time))
        _CAL[key] = {"srp_draw": per_draw, "csr_elem": float(per_elem), "csr_nnz": float(per_nnz),
                     "csr_out": float(per_out), "eigh_steps": eigh / _EIGH_M,
                     "per_time": per_time}
        return _CAL[key]


# ----------------------------------------------------------------------------- pricing
def _srp_nnz(k: int, dim: int) -> float:
    return k * np.sqrt(dim)                          # density 1/sqrt(D) (srp_matrix)


def _project(rows, plan, cal, ocal, s, dtype_name) -> float:
    """Seconds to reduce ``rows`` rows of one layer (the SRP step, then the PCA step)."""
    from .._reduction_fit import DENSE_SRP_MAX

    t, width = 0.0, plan.dim
    if plan.srp_dim:
        if plan.srp_dim * plan.dim <= DENSE_SRP_MAX:
            t += 2.0 * rows * plan.srp_dim * plan.dim / cal[f"gemm_{dtype_name}"]
        else:
            t += rows * (plan.dim * ocal["csr_elem"] + _srp_nnz(plan.srp_dim, plan.dim) * ocal["csr_nnz"]
                         + plan.srp_dim * ocal["csr_out"])
        width = plan.srp_dim
    if plan.pca:
        t += 2 * rows * width * s / cal["memory"] + 2.0 * rows * plan.n_components * width / cal[f"gemm_{dtype_name}"]
    return t


def _project_peak(rows: int, plan, s: int) -> int:
    """Temporaries of reducing one block of ``rows`` rows (beside the block and the outputs):
    a CSR projection copies the rows transposed and transposes its (k, rows) result back;
    PCA centres a copy."""
    from .._reduction_fit import DENSE_SRP_MAX

    peak, width = 0, plan.dim
    if plan.srp_dim:
        dense = plan.srp_dim * plan.dim <= DENSE_SRP_MAX
        peak = rows * plan.srp_dim * s if dense else rows * plan.dim * s + 2 * rows * plan.srp_dim * s
        width = plan.srp_dim
    if plan.pca:
        peak = max(peak, rows * width * s + rows * plan.n_components * s)
    return peak


def _fit(m, plan, cal, ocal, s, dtype_name) -> tuple:
    """(seconds, peak bytes) of fitting one layer's reducer on an ``m``-row sample (read apart)."""
    t, peak = 0.0, 0
    if plan.srp_dim:
        nnz = _srp_nnz(plan.srp_dim, plan.dim)
        t += nnz * ocal["srp_draw"]
        # numpy draw (int64 key, indices, int8 signs) and the torch CSR copy (values, columns)
        peak += int(nnz * (8 + 8 + 1 + s + 8))
        if plan.srp_dim * plan.dim <= 2 ** 22:
            peak += plan.srp_dim * plan.dim * s
    if plan.pca:
        w = plan.srp_dim or plan.dim
        f64 = cal["gemm_float64"]
        t += _project(m, dataclasses.replace(plan, pca=False), cal, ocal, s, dtype_name) if plan.srp_dim else 0.0
        t += (2.0 * m * m * w + 2.0 * plan.n_components * m * w) / f64
        # eigh of the (m, m) Gram matrix: its flops, and a measured cost per step (per row)
        t += _EIGH_FLOPS * m ** 3 / (f64 * _SMALL_EFFICIENCY) + m * ocal["eigh_steps"]
        t += 8 * m * w * 8 / cal["memory"]            # float64 conversions of the column blocks (3 passes)
        # the sample, its float64 column block, the Gram matrix, mean and components
        peak += m * w * s + 2 * m * min(w, _PCA_COLUMNS) * 8 + 2 * m * m * 8 + w * 8 + plan.n_components * w * (s + 8)
    return t, peak


def reduction_cost(n: int, work: list, options, reads, cal: dict, file_cost: tuple) -> tuple:
    """(seconds, extra peak bytes, extra file reads, extra key reads, extra bytes read) the
    reduction adds to the run, ``work`` from :func:`layer_work`.

    ``file_cost`` is (seconds per file opened, seconds per array read); ``reads`` the
    unreduced source's :class:`ReadCost` (its bytes per stimulus price the sample read).
    """
    if options.reduction is None:
        return 0.0, 0, 0, 0, 0
    from .._reduction_source import BLOCK_BYTES, sample_indices

    ocal, s, name = calibrated_options(), options.dtype.itemsize, options.dtype.name
    seconds, peak = 0.0, 0
    timed = options.multi_timepoint is not None
    for w in work:
        # a time-resolved run holds the sampled rows (m, D) of each layer PCA is fitted on
        pca_sample = timed and w.plan is not None and w.plan.pca
        held = len(sample_indices(w.rows, options.reduction)) * w.dim * s if pca_sample else 0
        if not w.reduced:
            peak = max(peak, held)
            continue
        m = len(sample_indices(w.rows, options.reduction)) if w.plan.pca else 0
        t, p = _fit(m, w.plan, cal, ocal, s, name)
        seconds += t + _project(w.rows, w.plan, cal, ocal, s, name)
        # rows per streamed block: all reduced layers' files together, or one layer's time points
        dims = w.n_times * w.dim if timed else sum(v.dim for v in work if v.reduced)
        block = min(w.rows, max(1, BLOCK_BYTES // (dims * s)) * w.n_times)
        peak = max(peak, p + (0 if w.plan.pca else held), _project_peak(block, w.plan, s))
    # the sample's files read again (PCA only): their share of the stored bytes
    files = sampled_files(work, options, n)
    per_stim = (reads.read_bytes or 0) / max(n, 1)
    layers = sum(1 for w in work if w.reduced and w.plan.pca) if options.multi_timepoint is None else len(work)
    keys = files * (layers if options.multi_timepoint is None else 1)
    extra_bytes = int(files * per_stim / max(len(work), 1) * (layers if options.multi_timepoint is None else 1))
    if reads.read_bytes is not None:
        seconds += files * file_cost[0] + keys * file_cost[1] + extra_bytes / cal["read"]
        if options.multi_timepoint is None and any(w.reduced for w in work):
            # the reduced blocks bypass the source's own pass, so its headers are scanned apart
            seconds += n * file_cost[0]
    else:
        files = keys = extra_bytes = 0
    return seconds, peak, files, keys, extra_bytes


def layer_reduction_cost(n: int, dim: int, reduction, dtype, cal: dict) -> tuple:
    """(LayerPlan, seconds, peak bytes, sampled rows) of reducing one in-memory (N, D) layer:
    the fit on the run's seeded sample (gathered from memory), and the projection of all N
    rows, as :func:`rdm_widgets.tiled_rdm` does while it stages (``dtype``: the run's DType)."""
    from .._reduction_options import plan_layer
    from .._reduction_source import BLOCK_BYTES, sample_indices

    plan = plan_layer(reduction, "layer", dim, n)
    if not plan.reduces:
        return plan, 0.0, 0, 0
    s, ocal = dtype.itemsize, calibrated_options()
    m = len(sample_indices(n, reduction)) if plan.pca else 0
    t, peak = _fit(m, plan, cal, ocal, s, dtype.name)
    t += m * dim * s / cal["memory"] + _project(n, plan, cal, ocal, s, dtype.name)
    # staging: blocks of original rows (BLOCK_BYTES) reduced and gathered into reads of READ_BYTES
    # of reduced rows (the parts and their concatenation)
    from ..tiled._plan import READ_BYTES

    rows_in = min(n, max(1, BLOCK_BYTES // (dim * s)))
    rows_out = min(n, -(-min(n, max(1, READ_BYTES // (plan.n_components * s))) // rows_in) * rows_in)
    staging = rows_in * dim * s + _project_peak(rows_in, plan, s) + 2 * rows_out * plan.n_components * s
    return plan, t, max(peak, staging), m
