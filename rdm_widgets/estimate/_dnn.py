"""Cost of DNN RDMs in memory (:meth:`RDMCreator.create_rdms`), from sizes or a feature source.

Both estimates validate their options with the run's own :func:`rdm_options` (and
:func:`estimate_features` opens the source with the run's :func:`plan_job`), so an estimate
refuses what the run refuses. The work counted per layer is described in
:mod:`rdm_widgets.estimate`.
"""
from __future__ import annotations

import dataclasses
import math
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from .._cost import CostEstimate, calibrate, contention
from .._distance_kernels import copies_source
from .._distance_triangle import product_fraction
from .._layer_rdms import RDMOptions, check_reduction_options, plan_job, rdm_options
from .._validate import check_positive_int
from ..features import DEFAULT_MAX_BYTES, ReadCost, plan_passes
from ._dnn_options import calibrated_options, layer_work, plan_work, reduction_cost, source_reads

__all__ = ["estimate_rdms", "estimate_features", "CDIST_DISTANCES"]

#: distances whose pairwise step is ``torch.cdist`` (far slower than a GEMM), in memory and in tiles
CDIST_DISTANCES = ("manhattan", "chebyshev")

# passes over the (N, D) working copy: conversion, centring, degenerate-row check, norms
_PREP_PASSES = {"correlation": 6, "cosine": 5, "spearman": 10, "euclidean": 3, "sqeuclidean": 3,
                "manhattan": 2, "chebyshev": 2, "mahalanobis": 4}
# the same without a working copy (rdm_widgets._distance_gram, features already in the working
# dtype on the CPU): row statistics read from the features, never written
_GRAM_PREP_PASSES = {"correlation": 2, "cosine": 1, "euclidean": 2, "sqeuclidean": 2}
# passes over the (N, N) result: clamp, symmetrise, finite check (+ the Gram-trick steps)
_POST_PASSES = {"euclidean": 10, "sqeuclidean": 9, "mahalanobis": 10}
# distances that refine close pairs through a (chunk, N) bool mask
_REFINES_PAIRS = ("euclidean", "sqeuclidean", "mahalanobis")
_EIGH_FLOPS = 9.0          # flops of a symmetric eigendecomposition with vectors, per m^3
_SMALL_EFFICIENCY = 0.25   # batched small matrix products reach about this share of the GEMM rate
_FILE_CAL: dict = {}
_FILE_LOCK = threading.Lock()


# ----------------------------------------------------------------------------- fixed costs
def _timed(fn) -> float:
    """Seconds of ``fn()``: CPU time where it is less than the wall time (an idle core's time;
    the estimate multiplies by :func:`contention`), the wall time where threads or disk waits
    make it more."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return min(time.perf_counter() - t0, time.process_time() - c0)


def _calibrated_files() -> tuple:
    """(fixed seconds per call, per layer, per file opened, per array read) of ``create_rdms``.

    Python work that no rate tells -- opening and validating every ``.npz`` of a per-stimulus
    folder, reading each array's header, writing each layer's file -- is measured once per
    process by real ``create_rdms`` runs on tiny folders of 16 and 48 files with 1 and 3 layers
    of 8 values, in a temporary folder (the median of 3 each; about 0.3 s): a file costs ``per_file + layers x
    per_array``, a layer ``per_layer``; the differences of the runs give each.
    """
    key = torch.get_num_threads()
    with _FILE_LOCK:
        if key in _FILE_CAL:
            return _FILE_CAL[key]
        from ..creator import RDMCreator

        rng = np.random.default_rng(0)
        t = {}
        with tempfile.TemporaryDirectory(prefix="rdm_widgets_cal_") as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # the first run pays one-time costs: (48, 3) once more first; then the median of 3
            for files, layers in ((48, 3),) + ((16, 1), (48, 1), (16, 3), (48, 3)) * 3:
                folder = Path(tmp) / f"f{files}_{layers}"
                if not folder.exists():
                    folder.mkdir()
                    for i in range(files):
                        arrays = {f"l{j}": rng.standard_normal((1, 8)).astype(np.float32) for j in range(layers)}
                        np.savez(folder / f"s{i:03d}.npz", **arrays)
                out = Path(tmp) / f"o{time.perf_counter_ns()}"
                t.setdefault((files, layers), []).append(_timed(lambda: RDMCreator().create_rdms(folder, out)))
        t = {k: float(np.median(v[-3:])) for k, v in t.items()}
        d1 = max(t[48, 1] - t[16, 1], 0.0) / 32              # per file with 1 array
        d3 = max(t[48, 3] - t[16, 3], 0.0) / 32              # per file with 3 arrays
        per_key = max((d3 - d1) / 2, 0.0)
        per_file = max(d1 - per_key, 0.0)
        per_layer = max((t[16, 3] - t[16, 1]) / 2 - 16 * per_key, 0.0)
        fixed = max(t[16, 1] - per_layer - 16 * (per_file + per_key), 0.0)
        _FILE_CAL[key] = (fixed, per_layer, per_file, per_key)
        return _FILE_CAL[key]


# ----------------------------------------------------------------------------- pairwise step
# Each returns (seconds, flops, extra peak bytes) of one layer's pairwise step; ``flops``
# always counts the 2 N^2 D of the pairs (the unit ``work['flops']`` reports).
def _gemm_pairs(n, d, itemsize, cal, dtype_name):
    flops = 2.0 * n * n * d
    return flops / cal[f"gemm_{dtype_name}"], flops, 0


def _cdist_pairs(n, d, itemsize, cal, dtype_name):
    return n * n * d / cal["cdist"], 2.0 * n * n * d, 0


def _spearman_pairs(n, d, itemsize, cal, dtype_name):
    t, flops, _ = _gemm_pairs(n, d, itemsize, cal, dtype_name)
    return t + n * d * math.log2(max(d, 2)) / cal["sort"], flops, 0


def _mahalanobis_pairs(n, d, itemsize, cal, dtype_name):
    t, flops, _ = _gemm_pairs(n, d, itemsize, cal, dtype_name)
    m = min(n, d)                # Gram (N, N) for D > N, else covariance (D, D)
    more = 4.0 * n * d * m + _EIGH_FLOPS * m ** 3
    peak = 4 * m * m * 8 + (n * d * itemsize if d <= n else 0)
    return t + more / (cal["gemm_float64"] * _SMALL_EFFICIENCY), flops + more, peak


#: the pairwise step of each distance (default: one GEMM)
_PAIR_COSTS = {**dict.fromkeys(CDIST_DISTANCES, _cdist_pairs), "spearman": _spearman_pairs,
               "mahalanobis": _mahalanobis_pairs}


def _rdm_cost(n: int, work: list, options: RDMOptions, reads: ReadCost, name_bytes: int,
              extra=(0.0, 0, 0, 0, 0)) -> CostEstimate:
    """Cost of ``create_rdms`` for ``work`` (one :class:`LayerWork` per layer: its time points and
    the width its distances run over); ``extra`` is what the reduction adds
    (:func:`reduction_cost`); see :mod:`rdm_widgets.estimate`."""
    # a custom callable is counted like one GEMM-based distance
    name = "correlation" if options.distance.is_custom else options.distance.name
    dev, s = options.device, options.dtype.itemsize
    cal = calibrate(dev)
    mem_dev, mem = cal["memory_device"], cal["memory"]
    step = n if options.chunk_size is None else min(options.chunk_size, n)
    nn = n * n * s
    timed = options.multi_timepoint is not None
    # time-resolved results are kept (N, N, T) in float64 and saved so
    out_item = 8 if timed else s
    fixed, per_layer, per_file, per_key = _calibrated_files()
    per_time = calibrated_options()["per_time"] if timed else 0.0
    red_seconds, red_peak, red_files, red_keys, red_bytes = extra
    # reading: disk (or the caller's arrays), then a validating copy into the (N, D) block
    seconds = fixed + 2 * sum(n * w.n_times * w.dim * s for w in work) / mem + red_seconds
    if reads.read_bytes is not None:
        seconds += (reads.read_bytes / cal["read"] + reads.file_reads * max(per_file, cal["file_open"])
                    + reads.key_reads * max(per_key, cal["key_read"]))
    flops = extra_peak = 0
    # correlation, cosine, euclidean: the features' own Gram matrix, no working copy (the CPU
    # gets the features in the working dtype; another device needs its copy anyway)
    gram = dev.type == "cpu" and not options.distance.is_custom and not copies_source(options.distance.spec)
    prep = _GRAM_PREP_PASSES if gram else _PREP_PASSES
    # built-in distances over several blocks compute one triangle of the symmetric product
    share = 1.0 if options.distance.is_custom else product_fraction(n, options.chunk_size, dev)
    for w in work:
        d = w.width
        nd = n * d * s
        pair_t, pair_flops, pair_peak = _PAIR_COSTS.get(name, _gemm_pairs)(n, d, s, cal, options.dtype.name)
        pair_t *= share
        flops += pair_flops * w.n_times
        extra_peak = max(extra_peak, pair_peak, step * n if name in _REFINES_PAIRS else 0)
        t = prep.get(name, 4) * nd / mem_dev + _POST_PASSES.get(name, 4) * nn / mem_dev + pair_t
        if timed:       # each time point's view copied out, its RDM copied into the (N, N, T) result
            t += (2 * nd + n * n * 8) / mem_dev + per_time
        if dev.type != "cpu":
            t += (nd + nn) / cal.get("transfer", mem)
        seconds += w.n_times * (t + n * n * out_item / cal["write"]) + per_layer
    dims = [w.width for w in work]
    peak, extra_dev = _peak_bytes(n, dims, s, step, dev.type == "cpu", reads, extra_peak, copies=not gram)
    if timed:           # the (N, N, T) float64 result, its copy while saved, the time point's contiguous copy
        peak += max(2 * n * n * w.n_times * 8 + n * w.width * s for w in work)
    peak += red_peak
    n_rdms = sum(w.n_times for w in work)
    disk = n_rdms * n * n * out_item + len(work) * (name_bytes + 2048)
    work_counts = {"layers": len(work), "stimuli": n, "pairs": n_rdms * n * (n - 1) // 2,
                   "flops": int(flops), "file_reads": int(reads.file_reads + red_files),
                   "read_bytes": int((reads.read_bytes or 0) + red_bytes),
                   "feature_bytes": int(reads.block_bytes),
                   "result_bytes": int(max(w.n_times for w in work) * n * n * out_item),
                   "blocks": n_rdms * math.ceil(n / step)}
    if timed:
        work_counts["time_points"] = [w.n_times for w in work]
    if options.reduction is not None:
        work_counts["reduced_dims"] = dims
        work_counts["sample_reads"] = int(red_files)
    if extra_dev:
        work_counts["device_bytes"] = int(extra_dev)
    work_counts["contention"] = busy = contention()
    # the rates are an idle core's; a run of seconds shares the cores with the machine's load
    return CostEstimate(float(seconds * busy), int(peak), int(disk), work_counts, str(dev))


def _peak_bytes(n, dims, s, step, on_cpu, reads: ReadCost, extra_peak, copies: bool = True) -> tuple:
    """(peak host bytes, extra device bytes) of a run; ``copies``: whether the distance makes a
    working copy of the features (:func:`rdm_widgets._distance_kernels.copies_source`)."""
    nn = n * n * s
    work_copy = max(n * d * s for d in dims)
    extra_dev = 0
    if on_cpu:
        # features read from files are converted in place; the caller's arrays are copied
        # unless the distance works on them as they are
        peak = reads.block_bytes + (0 if reads.from_files or not copies else work_copy)
    else:
        peak, extra_dev = reads.block_bytes, work_copy + nn + step * n * s + extra_peak
    # unchunked on the CPU the block is the result; chunked, a (chunk, N) block comes on top;
    # symmetrising works in bands of 1024 rows
    peak += nn + (step * n * s if step < n else 0) + 2 * min(1024, n) * n * s
    peak += extra_peak if on_cpu else 0
    return peak, extra_dev


# ----------------------------------------------------------------------------- public
#: the options of issue 17, as the run takes them (passed on unchanged)
_OPTION_DOC = """multi_timepoint_rdms : {None, 'clip', 'all_timepoints'}
        Time-resolved RDMs, as :meth:`RDMCreator.compute_rdms` (one RDM per time point).
    dim_reduction, n_components, n_samples_estim, srp_before_pca, max_dim_allowed, random_state
        The dimensionality reduction, as :meth:`RDMCreator.compute_rdms` (validated by the same
        :func:`rdm_widgets.reduction.check_reduction`; the reduced widths come from the run's
        own size rule, so a layer that would not get narrower is priced as it is)."""


def _reduction(dim_reduction, n_components, n_samples_estim, srp_before_pca, max_dim_allowed, random_state):
    return check_reduction_options(dim_reduction, n_components, n_samples_estim, srp_before_pca,
                                   max_dim_allowed, random_state)


def _priced(n, work, options, reads, name_bytes) -> CostEstimate:
    cal = calibrate(options.device)
    _, _, per_file, per_key = _calibrated_files()
    files = (max(per_file, cal["file_open"]), max(per_key, cal["key_read"]))
    return _rdm_cost(n, work, options, reads, name_bytes, reduction_cost(n, work, options, reads, cal, files))


def estimate_rdms(n_stimuli, feature_dims, *, distance="correlation", n_layers=None, device="cpu",
                  dtype="float32", chunk_size=None, n_files=None, multi_timepoint_rdms=None, n_times=1,
                  dim_reduction=None, n_components=None, n_samples_estim=100, srp_before_pca=False,
                  max_dim_allowed=None, random_state=0) -> CostEstimate:
    """Predict the cost of :meth:`RDMCreator.create_rdms` from the sizes alone.

    Parameters
    ----------
    n_stimuli : int
        N (>= 2).
    feature_dims : int or sequence of int
        D of every layer (after pooling/flattening; per time point with ``multi_timepoint_rdms``);
        one int with ``n_layers`` repeats it.
    distance : str or callable
        A name from :func:`rdm_widgets.available_distances` (callables are counted like
        correlation).
    n_layers : int or None
        Number of layers when ``feature_dims`` is one int (default 1).
    device : str
        Where the distances run.
    dtype : {'float32', 'float64'}
        Working precision (float64 halves the GEMM rate and doubles memory).
    chunk_size : int or None
        Rows per distance block (bounds memory).
    n_files : int or None
        Number of per-stimulus ``.npz`` files holding all layers (Net2Brain layout), read from
        disk; None: the features are arrays in memory (no disk reads, one extra working copy).
    n_times : int
        Clips / (clip, t) time points of every layer with ``multi_timepoint_rdms``.
    {options}

    Returns
    -------
    CostEstimate
        ``work['flops']`` = ``2 N^2 D`` summed over layers and time points (+ mahalanobis
        extras); with the options also ``time_points``, ``reduced_dims``, ``sample_reads``.
    """
    n = check_positive_int("n_stimuli", n_stimuli, minimum=2)
    dims = _check_dims(feature_dims, n_layers)
    n_files = check_positive_int("n_files", n_files, allow_none=True)
    reduction = _reduction(dim_reduction, n_components, n_samples_estim, srp_before_pca, max_dim_allowed,
                           random_state)
    options = rdm_options(distance, None, dtype, device, chunk_size, multi_timepoint_rdms=multi_timepoint_rdms,
                          reduction=reduction)
    n_times = check_positive_int("n_times", n_times) if options.multi_timepoint is not None else 1
    work = [plan_work(f"layer {i}", n_times, d, n, options) for i, d in enumerate(dims)]
    sizes = [n * n_times * d * options.dtype.itemsize for d in dims]
    plan = plan_passes(sizes, DEFAULT_MAX_BYTES)    # the per-stimulus reader's passes of <= 2 GiB
    if n_files is None:
        reads = ReadCost(0, 0, None, max(sizes), False)
    else:
        reads = ReadCost(len(plan) * n_files, len(dims) * n_files, sum(sizes),
                         max(sum(sizes[i] for i in part) for part in plan), True)
    if reduction is not None:     # reduced layers are read in blocks and held reduced
        from .._reduction_source import BLOCK_BYTES

        s = options.dtype.itemsize
        held = sum(w.n_times * n * w.width * s for w in work if w.reduced)
        big = min(BLOCK_BYTES, max(sizes))
        reads = dataclasses.replace(reads, block_bytes=int(max((s_ for s_, w in zip(sizes, work) if not w.reduced),
                                                               default=0) + held + big))
    return _priced(n, work, options, reads, name_bytes=n * 4 * 16)


def _check_dims(feature_dims, n_layers) -> list:
    """One D per layer from ``feature_dims`` (int or sequence) and ``n_layers``."""
    if isinstance(feature_dims, (int, np.integer)) and not isinstance(feature_dims, bool):
        reps = check_positive_int("n_layers", 1 if n_layers is None else n_layers)
        return [check_positive_int("feature_dims", feature_dims)] * reps
    dims = [check_positive_int("feature_dims", d) for d in feature_dims]
    if not dims:
        raise ValueError("Invalid value for 'feature_dims': an empty list. Give one D per layer.")
    if n_layers is not None and check_positive_int("n_layers", n_layers) != len(dims):
        raise ValueError(f"n_layers={n_layers} but feature_dims lists {len(dims)} layers.")
    return dims


def estimate_features(source, *, distance="correlation", pooling=None, layers=None, device="cpu",
                      dtype="float32", chunk_size=None, multi_timepoint_rdms=None, dim_reduction=None,
                      n_components=None, n_samples_estim=100, srp_before_pca=False, max_dim_allowed=None,
                      random_state=0) -> CostEstimate:
    """Predict the cost of ``create_rdms`` on a feature source, reading only file headers.

    Parameters
    ----------
    source : path, list of paths, dict, array or FeatureSource
        Anything :func:`rdm_widgets.open_features` accepts.
    distance, device, dtype, chunk_size
        As in :meth:`RDMCreator.create_rdms` / :func:`estimate_rdms`.
    pooling : {'mean', 'max', 'first', 'last'} or None
        Pooling of sequence layers (needed when their lengths vary).
    layers : list of str or None
        Layers to use (default all).
    {options}

    Returns
    -------
    CostEstimate
        With the options, ``work`` also counts ``time_points`` (per layer), ``reduced_dims``
        (per layer) and ``sample_reads`` (files PCA's sample opens).
    """
    reduction = _reduction(dim_reduction, n_components, n_samples_estim, srp_before_pca, max_dim_allowed,
                           random_state)
    options = rdm_options(distance, pooling, dtype, device, chunk_size, multi_timepoint_rdms=multi_timepoint_rdms,
                          reduction=reduction)
    job = plan_job(source, layers, options)          # raises as the run would, e.g. "choose a pooling"
    src = job.source
    work = layer_work(src, job.layers, options)      # the run's reduced widths and time axes
    # the source counts its own reads (headers only)
    reads = source_reads(src, work, options)
    n = src.n_stimuli
    return _priced(n, work, options, reads, name_bytes=n * 4 * max(len(s) for s in src.stimuli))


estimate_rdms.__doc__ = estimate_rdms.__doc__.replace("{options}", _OPTION_DOC)
estimate_features.__doc__ = estimate_features.__doc__.replace("{options}", _OPTION_DOC)
