"""Benchmark: correlation RDM of an (N, D) float32 feature matrix.

Compared side by side in one run (best of ``--repeats`` interleaved timings each):

- ``ours``: ``pairwise_distances(x, 'correlation', device=...)`` from a numpy float32
  array (includes conversion, centring, normalisation, the GEMM, symmetrising and the
  copy of the result to the CPU);
- ``ours, overwrite_x=True``: the same, using x's memory as the working copy (what a
  caller that made ``x`` itself can do; saves one (N, D) copy);
- ``ours, full product``: both of the above with the one-triangle blocks switched off
  (``rdm_widgets._distance_triangle``), i.e. the full (N, N) GEMM plus the kernel's other
  passes: its ratio to ``gemm`` is the overhead of everything but the products;
- ``gemm``: the raw ``torch.mm(x, x.T)`` of the same matrix, already on the device (the
  floor: the same number of multiply-adds, no other work) -> achieved fraction of its rate;
- ``scipy``: ``scipy.spatial.distance.pdist(x64, 'correlation')`` in float64, what most
  people use (only one timing when one run takes over 20 s);
- ``rsatoolbox``: ``rsatoolbox.rdm.calc_rdm(..., method='correlation')`` if importable.

Usage::

    python benchmarks/bench_distances.py            # N=2000, D=50000 (scipy takes ~1-3 min)
    python benchmarks/bench_distances.py --quick    # N=1000, D=20000
    python benchmarks/bench_distances.py --device cuda

Results (ratios) go to ``benchmarks/results/distances.md``.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from rdm_widgets import _distance_triangle as triangle  # noqa: E402
from rdm_widgets.distances import pairwise_distances  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "distances.md"


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def best_of(fn, repeats, device, give_up_after=None):
    """Best wall time of ``repeats`` calls (stops early once one call exceeds ``give_up_after``)."""
    times, result = [], None
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        result = fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
        if give_up_after is not None and times[-1] > give_up_after:
            break
    return min(times), len(times), result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N=1000, D=20000")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--d", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-scipy", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS, help="markdown result fragment")
    args = ap.parse_args(argv)
    n = args.n or (1000 if args.quick else 2000)
    d = args.d or (20000 if args.quick else 50000)
    device = torch.device(args.device)

    # planted structure: 20 categories + noise, ReLU-like non-negative features
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d), dtype=np.float32)
    x += np.repeat(rng.standard_normal((20, d), dtype=np.float32), -(-n // 20), axis=0)[:n]
    np.maximum(x, 0, out=x)
    flops = 2.0 * n * n * d
    print(f"x: {n} x {d} float32 ({x.nbytes / 2**30:.2f} GiB), device {device}, "
          f"torch threads {torch.get_num_threads()}", flush=True)

    xt = torch.from_numpy(x).to(device)
    pairwise_distances(x[:64, :256], "correlation", device=device)          # warm-up
    # interleaved (gemm, ours, ...) rounds, so that a change of machine load hits all alike
    t_gemm = t_ours = t_owx = t_full = t_full_owx = float("inf")
    rows = dict(triangle._BLOCK_ROWS)
    for _ in range(args.repeats):
        t_gemm = min(t_gemm, best_of(lambda: torch.mm(xt, xt.T), 1, device)[0])
        t, _, ours = best_of(lambda: pairwise_distances(x, "correlation", device=device), 1, device)
        t_ours = min(t_ours, t)
        xc = x.copy()                                 # overwrite_x destroys its input
        t_owx = min(t_owx, best_of(lambda: pairwise_distances(xc, "correlation", device=device,
                                                              overwrite_x=True), 1, device)[0])
        del xc
        triangle._BLOCK_ROWS[device.type] = 1 << 62   # one block: the full product
        try:
            t_full = min(t_full, best_of(lambda: pairwise_distances(x, "correlation", device=device),
                                         1, device)[0])
            xc = x.copy()
            t_full_owx = min(t_full_owx, best_of(lambda: pairwise_distances(xc, "correlation", device=device,
                                                                            overwrite_x=True), 1, device)[0])
            del xc
        finally:
            triangle._BLOCK_ROWS.clear()
            triangle._BLOCK_ROWS.update(rows)
    del xt
    print(f"gemm  : {t_gemm:8.3f} s  ({flops / t_gemm / 1e9:.1f} GFLOP/s)", flush=True)
    print(f"ours  : {t_ours:8.3f} s  ({flops / t_ours / 1e9:.1f} GFLOP/s effective, "
          f"{t_gemm / t_ours:.1%} of the GEMM rate)", flush=True)
    print(f"ours, overwrite_x=True: {t_owx:8.3f} s  ({t_gemm / t_owx:.1%} of the GEMM rate)",
          flush=True)
    print(f"full product: {t_full:8.3f} s ({t_gemm / t_full:.1%}), overwrite_x=True {t_full_owx:8.3f} s "
          f"({t_gemm / t_full_owx:.1%} of the GEMM rate)", flush=True)

    rows = []
    t_scipy = None
    if not args.no_scipy:
        from scipy.spatial.distance import pdist, squareform

        x64 = x.astype(np.float64)
        t_scipy, k, ref = best_of(lambda: pdist(x64, "correlation"), args.repeats, "cpu",
                                  give_up_after=20)
        err = float(np.abs(squareform(ref) - ours.numpy()).max())
        del x64, ref
        print(f"scipy : {t_scipy:8.3f} s  (best of {k}; ours is {t_scipy / t_ours:.1f}x faster; "
              f"max |ours - scipy| = {err:.2e})", flush=True)
        rows.append(("scipy `pdist(x.astype(float64), 'correlation')`", t_scipy, k,
                     f"{t_scipy / t_ours:.1f}x", f"max abs diff of ours {err:.1e}"))
    try:
        import rsatoolbox  # noqa: F401
    except ImportError:
        rsa_line = "not installed (not benchmarked)"
        print("rsatoolbox: not installed")
    else:
        from rsatoolbox.data import Dataset
        from rsatoolbox.rdm import calc_rdm

        t_rsa, k, _ = best_of(lambda: calc_rdm(Dataset(x.astype(np.float64)), method="correlation"),
                              args.repeats, "cpu", give_up_after=20)
        rsa_line = f"{t_rsa:.3f} s (best of {k}); ours is {t_rsa / t_ours:.1f}x faster"
        print(f"rsatoolbox: {rsa_line}")

    dev_name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    lines = [
        "## Pairwise distances (`bench_distances.py`)",
        "",
        f"Correlation RDM of a {n} x {d} float32 matrix (ReLU-like features with 20 planted "
        f"categories). Best of {args.repeats} timings per method, one run"
        f"{' (--quick)' if args.quick else ''}. Machine: {os.cpu_count()} CPU(s), "
        f"torch {torch.__version__} with {torch.get_num_threads()} thread(s), device `{device}` "
        f"({dev_name}), Python {platform.python_version()}.",
        "",
        "| method | time (s) | ratio |",
        "|---|---|---|",
        f"| raw `torch.mm(x, x.T)` on the device (floor) | {t_gemm:.3f} | "
        f"{flops / t_gemm / 1e9:.1f} GFLOP/s |",
        f"| **ours** `pairwise_distances(x, 'correlation')` from numpy | {t_ours:.3f} | "
        f"**{t_gemm / t_ours:.0%} of the GEMM rate** (target >= 80%) |",
        f"| ours with `overwrite_x=True` (x's memory is the working copy; no (N, D) copy) | "
        f"{t_owx:.3f} | {t_gemm / t_owx:.0%} of the GEMM rate |",
        f"| ours, full product (one-triangle blocks off), from numpy | {t_full:.3f} | "
        f"{t_gemm / t_full:.0%} of the GEMM rate |",
        f"| ours, full product, `overwrite_x=True` | {t_full_owx:.3f} | "
        f"**{t_gemm / t_full_owx:.0%} of the GEMM rate** (target >= 95%) |",
    ]
    for label, t, k, ratio, note in rows:
        lines.append(f"| {label} (best of {k}) | {t:.3f} | ours is **{ratio} faster** (target >= 10x); {note} |")
    lines += [f"| rsatoolbox `calc_rdm(method='correlation')` | - | {rsa_line} |", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, args.out)
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
