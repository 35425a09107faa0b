"""Cost estimates: the time, memory and disk a run will need, predicted from its sizes.

::

    est = estimate_features("features/", distance="correlation")
    print(est)              # ≈ 2 min 10 s, peak RAM 1.3 GB, disk 40 MB
    est.seconds, est.peak_bytes, est.work["flops"]

How estimates are computed
--------------------------
:func:`calibrate` times micro-benchmarks once per process (about 0.1-0.3 s): GEMMs, small
batched products, ``torch.cdist``, a sort, a memory pass, writing and reading ``.npz`` files.
The estimates count the work of a run and divide it by those rates:

- **DNN RDMs** (:func:`estimate_rdms`, :func:`estimate_features`): reading the features
  (bytes / read rate + files opened x open time), the passes over the (N, D) working copy, the
  pairwise step (``2 N^2 D`` flops per layer at the GEMM rate; manhattan and chebyshev use the
  much slower ``torch.cdist``; spearman adds a row sort; mahalanobis a ``min(N, D)^3``
  eigendecomposition), the passes over the (N, N) result and writing it. Peak RAM: the
  features held at once (largest pass or layer) + the working copy unless it is made in place
  + the (N, N) result + a (chunk, N) block + what the distance stores. Disk: one ``.npz`` per
  layer (N^2 values and the stimulus names).
- **EEG decoding** (:func:`estimate_eeg`, :func:`estimate_eeg_rdm`): fits = pairs x time points
  x folds x permutations (``eeg_rdm``'s progress total). The seconds per fit of the LDA methods
  depend on the regime of the exact kernel (see :mod:`rdm_widgets.eeg._lda`), so they are
  measured by running the real ``eeg_rdm`` on a tiny problem of the same regime, channel count,
  units, folds and method (cached per process); distances, noise normalisation and pseudo-trial
  averaging are counted in flops.

Estimates are rough: expect the actual time within about a factor 2 on an idle machine. Other
jobs on the same cores slow runs down and make the calibration noisy (with several torch
threads on a busy machine the small EEG kernels can be ten times slower; ``torch.set_num_threads(1)``
helps, ``calibrate(refresh=True)`` measures again); cold or network disks read slower. Memory
is what the run allocates on top of what the process holds; sizes are decimal (1 GB = 10^9 B).
"""
from __future__ import annotations

import math
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ._validate import check_option, check_positive_int

__all__ = ["CostEstimate", "calibrate", "estimate_rdms", "estimate_features", "estimate_eeg",
           "estimate_eeg_rdm"]

_DTYPE_BYTES = {"float32": 4, "float64": 8}
_FILE_KINDS = ("npz_folder", "npz_layers", "hdf5")
# passes over the (N, D) working copy: conversion, centring, degenerate-row check, norms
_PREP_PASSES = {"correlation": 6, "cosine": 5, "spearman": 10, "euclidean": 3, "sqeuclidean": 3,
                "manhattan": 2, "chebyshev": 2, "mahalanobis": 4}
# passes over the (N, N) result: clamp, symmetrise, finite check (+ the Gram-trick steps)
_POST_PASSES = {"euclidean": 10, "sqeuclidean": 9, "mahalanobis": 10}
_EIGH_FLOPS = 9.0          # flops of a symmetric eigendecomposition with vectors, per m^3
_SMALL_EFFICIENCY = 0.25   # batched small matrix products reach about this share of the GEMM rate
_LAYER_OVERHEAD = 2e-3     # Python work per layer (metadata, file creation), seconds


@dataclass(frozen=True)
class CostEstimate:
    """Predicted cost of one run (rough: about a factor 2, see :mod:`rdm_widgets.estimate`).

    Attributes
    ----------
    seconds : float
        Wall time.
    peak_bytes : int
        Peak RAM the run allocates on top of what the process already holds.
    disk_bytes : int
        Bytes written (0 for in-memory results).
    work : dict
        Counted units, e.g. ``pairs``, ``flops``, ``fits``, ``file_reads``, ``read_bytes``,
        ``feature_bytes`` (features held at once), ``result_bytes`` (one result matrix).
    device : str
        Where the computation runs.
    regime : str or None
        EEG only: which kernel path decides the cost (``'rank_deficient'``, ``'full_rank'``,
        ``'average_reference'``, ``'exact_svd'``, ``'per_fold_svd'``, ``'per_fold_lsqr'``,
        ``'distance'``).
    """

    seconds: float
    peak_bytes: int
    disk_bytes: int
    work: dict = field(default_factory=dict)
    device: str = "cpu"
    regime: Optional[str] = None

    def describe(self, sep: str = ", ") -> str:
        """``"≈ 2 min 10 s, peak RAM 1.3 GB, disk 40 MB"`` (disk left out when nothing is written)."""
        parts = [f"≈ {format_seconds(self.seconds)}", f"peak RAM {format_bytes(self.peak_bytes)}"]
        if self.disk_bytes:
            parts.append(f"disk {format_bytes(self.disk_bytes)}")
        return sep.join(parts)

    def __str__(self) -> str:
        return self.describe()


def format_seconds(s: float) -> str:
    """``"0.3 s"``, ``"12 s"``, ``"2 min 10 s"``, ``"1 h 05 min"``."""
    if s < 0.95:
        return "< 0.1 s" if s < 0.05 else f"{s:.1f} s"
    s = int(round(s))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def format_bytes(n: float) -> str:
    """``"512 B"``, ``"40 MB"``, ``"1.3 GB"`` (decimal units)."""
    units, i = ("B", "kB", "MB", "GB", "TB"), 0
    while n >= 999.5 and i < len(units) - 1:
        n, i = n / 1000.0, i + 1
    return f"{n:.0f} {units[i]}" if i == 0 or n >= 9.95 else f"{n:.1f} {units[i]}"


# ----------------------------------------------------------------------------- calibration
_CAL: dict = {}
_CAL_LOCK = threading.Lock()


def _best(fn, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return max(best, 1e-7)


def _measure(dev: torch.device) -> dict:
    t_start = time.perf_counter()
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    out = {}
    with torch.no_grad():
        for name, dt in (("float32", torch.float32), ("float64", torch.float64)):
            a = torch.randn(1000, 512, dtype=dt, device=dev)
            torch.mm(a[:100], a[:100].T)  # warm-up: thread pools, kernels
            out[f"gemm_{name}"] = 2 * 1000 * 1000 * 512 / _best(lambda: (torch.mm(a, a.T), sync()), 2)
        # many small products, as in the EEG noise covariances: far below the GEMM rate
        m = torch.randn(32, 400, 32, dtype=torch.float64, device=dev)
        out["bmm_float64"] = 2 * 32 * 400 * 32 * 32 / _best(lambda: (torch.bmm(m.mT, m), sync()), 3)
        a = torch.randn(1000, 128, device=dev)
        out["cdist"] = 128 * 1000 * 128 / _best(lambda: (torch.cdist(a[:128], a, p=1), sync()), 2)
        s = torch.randn(256, 2048, device=dev)
        out["sort"] = 256 * 2048 * 11 / _best(lambda: (torch.sort(s, dim=1), sync()), 2)
        b, c = torch.randn(1 << 22, device=dev), torch.empty(1 << 22, device=dev)
        out["memory_device"] = 4 * (1 << 22) / _best(lambda: (c.copy_(b), sync()), 3)
        if dev.type == "cuda":
            host = torch.randn(1 << 22)
            out["transfer"] = 4 * (1 << 22) / _best(lambda: (host.to(dev), sync()), 2)
    src, dst = np.ones(1 << 22, np.float32), np.empty(1 << 22, np.float32)
    out["memory"] = src.nbytes / _best(lambda: np.copyto(dst, src), 3)
    with tempfile.TemporaryDirectory(prefix="rdm_widgets_cal_") as tmp:
        big, small = Path(tmp) / "big.npz", Path(tmp) / "small.npz"
        out["write"] = src.nbytes / _best(lambda: np.savez(big, x=src), 1)
        np.savez(small, **{f"k{i}": np.zeros(8, np.float32) for i in range(4)})

        def load(path, keys):
            with np.load(path) as z:
                for key in keys:
                    z[key]
        out["read"] = src.nbytes / _best(lambda: load(big, ["x"]), 2)
        t1 = _best(lambda: load(small, ["k0"]), 5)
        t4 = _best(lambda: load(small, ["k0", "k1", "k2", "k3"]), 5)
    out["key_read"] = max((t4 - t1) / 3, 1e-6)          # one more array from an open npz
    out["file_open"] = max(t1 - out["key_read"], 1e-5)   # open an npz and parse its index
    out["seconds"] = time.perf_counter() - t_start
    return out


def calibrate(device="cpu", refresh: bool = False) -> dict:
    """Measured rates of this machine that every estimate uses (cached per process, device and thread count).

    Parameters
    ----------
    device : str or torch.device
        ``'cpu'``, ``'cuda'``, ... (an unavailable device raises ValueError).
    refresh : bool
        Measure again (e.g. after the machine's load changed).

    Returns
    -------
    dict
        ``gemm_float32`` / ``gemm_float64`` (flop/s of a 1000 x 512 GEMM), ``bmm_float64``
        (flop/s of 32 batched 32 x 400 x 32 products), ``cdist``
        (pair-features/s), ``sort`` (element-log2 steps/s), ``memory`` / ``memory_device``
        (bytes/s of one copy pass on the host / the device), ``transfer`` (host to GPU, CUDA
        only), ``read`` / ``write`` (bytes/s of ``np.load`` / ``np.savez``; a file just
        written is in the OS cache, so this is the rate of a fast local disk), ``file_open``
        and ``key_read`` (seconds to open an npz / read one more array from it) and
        ``seconds`` (how long the measurement took).
    """
    from .distances import _check_device

    dev = _check_device(device)
    key = (str(dev), torch.get_num_threads())   # rates depend on the thread count too
    with _CAL_LOCK:
        if refresh or key not in _CAL:
            _CAL[key] = _measure(dev)
        return dict(_CAL[key])


# ----------------------------------------------------------------------------- DNN RDMs
def _rdm_cost(n, dims, *, distance, device, dtype, chunk_size, file_reads, key_reads, read_bytes,
              block_bytes, in_place, name_bytes) -> CostEstimate:
    """Cost of ``create_rdms`` for ``dims`` (one D per layer); see the module docstring."""
    from .distances import _check_device, resolve_distance

    name, spec = resolve_distance(distance)
    if spec.func is not None:
        name = "correlation"            # a custom callable: counted like one GEMM-based distance
    dev = _check_device(device)
    dtype = check_option("dtype", dtype, _DTYPE_BYTES)
    chunk_size = check_positive_int("chunk_size", chunk_size, allow_none=True)
    cal = calibrate(dev)
    s = _DTYPE_BYTES[dtype]
    gemm, mem_dev, mem = cal[f"gemm_{dtype}"], cal["memory_device"], cal["memory"]
    step = n if chunk_size is None else min(chunk_size, n)
    nn = n * n * s
    # reading: disk (or the caller's arrays), then a validating copy into the (N, D) block
    seconds = 2 * sum(n * d * s for d in dims) / mem
    if read_bytes is not None:
        seconds += read_bytes / cal["read"] + file_reads * cal["file_open"] + key_reads * cal["key_read"]
    flops = extra_peak = extra_dev = 0
    for d in dims:
        nd = n * d * s
        pair_flops = 2.0 * n * n * d
        flops += pair_flops
        t = _PREP_PASSES.get(name, 4) * nd / mem_dev + _POST_PASSES.get(name, 4) * nn / mem_dev
        if name in ("manhattan", "chebyshev"):
            t += n * n * d / cal["cdist"]
        else:
            t += pair_flops / gemm
        if name == "spearman":
            t += n * d * math.log2(max(d, 2)) / cal["sort"]
        if name == "mahalanobis":
            m = min(n, d)                # Gram (N, N) for D > N, else covariance (D, D)
            more = 4.0 * n * d * m + _EIGH_FLOPS * m ** 3
            flops += more
            t += more / (cal["gemm_float64"] * _SMALL_EFFICIENCY)
            extra_peak = max(extra_peak, 4 * m * m * 8 + (nd if d <= n else 0))
        if name in ("euclidean", "sqeuclidean", "mahalanobis"):
            extra_peak = max(extra_peak, step * n)          # the bool mask of pairs to refine
        if dev.type != "cpu":
            t += (nd + nn) / cal.get("transfer", mem)
        seconds += t + nn / cal["write"] + _LAYER_OVERHEAD
    feature_bytes = block_bytes
    work_copy = max(n * d * s for d in dims)
    if dev.type == "cpu":
        # features read from files are converted in place; the caller's arrays are copied
        peak = feature_bytes + (0 if in_place else work_copy)
    else:
        peak, extra_dev = feature_bytes, work_copy + nn + step * n * s + extra_peak
    # unchunked on the CPU the block is the result; chunked, a (chunk, N) block comes on top;
    # symmetrising works in bands of 1024 rows
    peak += nn + (step * n * s if step < n else 0) + 2 * min(1024, n) * n * s
    peak += extra_peak if dev.type == "cpu" else 0
    disk = len(dims) * (nn + name_bytes + 2048)
    work = {"layers": len(dims), "stimuli": n, "pairs": len(dims) * n * (n - 1) // 2,
            "flops": int(flops), "file_reads": int(file_reads), "read_bytes": int(read_bytes or 0),
            "feature_bytes": int(feature_bytes), "result_bytes": int(nn),
            "blocks": len(dims) * math.ceil(n / step)}
    if extra_dev:
        work["device_bytes"] = int(extra_dev)
    return CostEstimate(float(seconds), int(peak), int(disk), work, str(dev))


def estimate_rdms(n_stimuli, feature_dims, *, distance="correlation", n_layers=None, device="cpu",
                  dtype="float32", chunk_size=None, n_files=None) -> CostEstimate:
    """Predict the cost of :meth:`RDMCreator.create_rdms` from the sizes alone.

    Parameters
    ----------
    n_stimuli : int
        N (>= 2).
    feature_dims : int or sequence of int
        D of every layer (after pooling/flattening); one int with ``n_layers`` repeats it.
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

    Returns
    -------
    CostEstimate
        ``work['flops']`` = ``2 N^2 D`` summed over layers (+ mahalanobis extras).
    """
    n = check_positive_int("n_stimuli", n_stimuli, minimum=2)
    if isinstance(feature_dims, (int, np.integer)) and not isinstance(feature_dims, bool):
        reps = check_positive_int("n_layers", 1 if n_layers is None else n_layers)
        dims = [check_positive_int("feature_dims", feature_dims)] * reps
    else:
        dims = [check_positive_int("feature_dims", d) for d in feature_dims]
        if not dims:
            raise ValueError("Invalid value for 'feature_dims': an empty list. Give one D per layer.")
        if n_layers is not None and check_positive_int("n_layers", n_layers) != len(dims):
            raise ValueError(f"n_layers={n_layers} but feature_dims lists {len(dims)} layers.")
    n_files = check_positive_int("n_files", n_files, allow_none=True)
    s = _DTYPE_BYTES[check_option("dtype", dtype, _DTYPE_BYTES)]
    from ._feature_source import DEFAULT_MAX_BYTES

    sizes = [n * d * s for d in dims]
    passes, block, fill = 1, sizes[0], sizes[0]
    for size in sizes[1:]:        # the per-stimulus reader's greedy passes of <= 2 GiB
        if fill + size <= DEFAULT_MAX_BYTES:
            fill += size
        else:
            passes, fill = passes + 1, size
        block = max(block, fill)
    from_files = n_files is not None
    return _rdm_cost(n, dims, distance=distance, device=device, dtype=dtype, chunk_size=chunk_size,
                     file_reads=passes * n_files if from_files else 0,
                     key_reads=len(dims) * n_files if from_files else 0,
                     read_bytes=sum(sizes) if from_files else None,
                     block_bytes=block if from_files else max(sizes),
                     in_place=from_files, name_bytes=n * 4 * 16)


def _stored(src, layer):
    """(shape per stimulus, itemsize) of ``layer`` as stored (headers only)."""
    from .features import _npz_headers

    shape = src._layer(layer).shape
    if src.kind == "npz_folder":
        return shape, _npz_headers(src.files[0])[layer][1].itemsize
    if src.kind == "npz_layers":
        return shape, _npz_headers(src._files[layer])["features"][1].itemsize
    if src.kind == "hdf5":
        import h5py

        with h5py.File(src.path, "r") as fh:
            return shape, fh[layer].dtype.itemsize
    arr = getattr(src, "_arrays", {}).get(layer)        # in-memory arrays (other sources: float32)
    return shape, 4 if arr is None else arr.dtype.itemsize


def estimate_features(source, *, distance="correlation", pooling=None, layers=None, device="cpu",
                      dtype="float32", chunk_size=None) -> CostEstimate:
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

    Returns
    -------
    CostEstimate
    """
    from ._pooling import check_pooling
    from .features import open_features

    src = open_features(source)
    if src.n_stimuli < 2:
        raise ValueError(f"An RDM needs at least 2 stimuli; {src.source} holds {src.n_stimuli}.")
    dtype = check_option("dtype", dtype, _DTYPE_BYTES)
    np_dtype = np.dtype(dtype)
    sel, pooling = src.select_layers(layers), check_pooling(pooling)
    request = src._check_request(sel, pooling, np_dtype, None)   # raises e.g. "choose a pooling"
    plan = src._plan(*request)
    n = src.n_stimuli
    dims = {layer: src.feature_dim(layer, pooling) for layer in sel}
    read_bytes = key_reads = 0
    held = {}                     # bytes of each layer's features while it is read
    for layer in sel:
        shape, itemsize = _stored(src, layer)
        stored, rows = n * math.prod(shape) * itemsize, n * dims[layer] * np_dtype.itemsize
        read_bytes += stored
        key_reads += n if src.kind == "npz_folder" else 1
        converts = itemsize != np_dtype.itemsize or math.prod(shape) != dims[layer]
        # a per-layer file is loaded whole and then converted; the caller's arrays are only
        # converted when their dtype or shape differ
        held[layer] = {"npz_layers": rows + (stored if converts else 0),
                       "arrays": rows if converts else 0}.get(src.kind, rows)
    block = max(sum(held[layer] for layer in part) for part in plan)
    from_files = src.kind in _FILE_KINDS
    return _rdm_cost(n, [dims[layer] for layer in sel], distance=distance, device=device, dtype=dtype,
                     chunk_size=chunk_size, file_reads=src._count(plan) if from_files else 0,
                     key_reads=key_reads if from_files else 0,
                     read_bytes=read_bytes if from_files else None, block_bytes=block,
                     in_place=from_files, name_bytes=n * 4 * max(len(s) for s in src.stimuli))


from ._estimate_eeg import estimate_eeg, estimate_eeg_rdm  # noqa: E402  (uses CostEstimate, calibrate)
