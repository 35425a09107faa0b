"""The cost model every estimate shares: :class:`CostEstimate` and this machine's measured rates.

:func:`calibrate` times micro-benchmarks once per process, device and thread count (about
0.1-0.3 s): GEMMs, small batched products, ``torch.cdist``, a sort, a memory pass, writing
and reading ``.npz`` files. The estimates (:mod:`rdm_widgets.estimate`: DNN RDMs, tiled
RDMs, EEG decoding) count the work of a run and divide it by these rates.

A core module of its own (not inside :mod:`rdm_widgets.estimate`) because the EEG estimates
need it too and the estimate package imports them: both import this module, it imports
neither.
"""
from __future__ import annotations

import math
import mmap
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ._options import check_device
from ._progress import format_seconds

__all__ = ["CostEstimate", "calibrate", "contention", "format_bytes"]


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
    # a copy into new memory (from the allocator, usually already mapped)
    out["memory_fresh"] = src.nbytes / _best(lambda: src.copy(), 3)

    def touch():
        # memory new to the process: the first write to each page faults it in (large arrays
        # are mapped fresh from the OS; on virtual machines this can be slower than a copy)
        with mmap.mmap(-1, src.nbytes) as m:
            np.frombuffer(m, np.uint8)[::4096] = 1
    out["page_in"] = src.nbytes / _best(touch, 3)
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

        def synced(path):
            with open(path, "r+b") as fh:
                fh.write(b"x" * 256)
                fh.flush()
                os.fsync(fh.fileno())
        out["fsync"] = _best(lambda: synced(small), 3)     # a small write made durable
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
        ``memory_fresh`` (bytes/s of a copy into newly allocated memory), ``page_in``
        (bytes/s of first-touching memory new to the process), ``fsync`` (seconds
        of a small write made durable in the temporary folder) and ``seconds`` (how long the
        measurement took).
    """
    dev = check_device(device)
    key = (str(dev), torch.get_num_threads())   # rates depend on the thread count too
    with _CAL_LOCK:
        if refresh or key not in _CAL:
            _CAL[key] = _measure(dev)
        return dict(_CAL[key])


def _runnable() -> Optional[float]:
    """Tasks running or waiting for a core now, besides this one (median of a few samples of
    ``/proc/loadavg``'s running count; None where it cannot be read)."""
    counts = []
    for _ in range(7):
        try:
            with open("/proc/loadavg") as fh:
                counts.append(int(fh.read().split()[3].split("/")[0]) - 1)
        except (OSError, ValueError, IndexError):
            return None
        time.sleep(0.002)
    return float(np.median(counts))


def contention(threads: Optional[int] = None) -> float:
    """How much slower than an idle core a long run will be on this machine now (>= 1).

    The micro-benchmarks of :func:`calibrate` take the best of a few millisecond-long
    repetitions, which fit in one scheduler time slice and so see an idle core even on a busy
    machine, and the tiny calibration runs count CPU time; a run of seconds shares the cores
    with everything else that runs. The factor is ``(others + threads) / cores``, where
    ``others`` is the smaller of the number of other tasks running or waiting for a core now
    (Linux ``/proc/loadavg``: noisy) and the 1-minute load average (which also counts tasks
    waiting for disks); 1 on an idle machine or where the load cannot be read.

    Parameters
    ----------
    threads : int or None
        Threads the run uses (default ``torch.get_num_threads()``).
    """
    try:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        load = os.getloadavg()[0]
    except OSError:
        return 1.0
    now = _runnable()
    # the smaller of the two: a moment's count is noisy, the average counts disk waits
    others = load if now is None else min(now, load)
    threads = torch.get_num_threads() if threads is None else threads
    return max(1.0, (max(others, 0.0) + min(threads, cores)) / max(cores, 1))
