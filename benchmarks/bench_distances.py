"""Benchmark: RDMs (correlation, cosine, euclidean) of an (N, D) float32 feature matrix.

Compared side by side in one run (interleaved rounds; best and median of ``--repeats`` each):

- ``ours``: ``pairwise_distances(x, distance, device=...)`` from a numpy float32 array
  (includes the preprocessing pass, the GEMM, symmetrising and the copy of the result to the CPU);
- ``ours, overwrite_x=True``: the same, using x's memory as the working copy (what a caller that
  made ``x`` itself can do; saves one (N, D) copy);
- ``full product``: both of the above with the one-triangle blocks switched off
  (``rdm_widgets._distance_triangle``), i.e. the full (N, N) GEMM plus the kernel's other passes:
  its ratio to ``gemm`` is the overhead of everything but the products (issue 16: >= 95%);
- ``before`` (``--before DIR``): the same calls on the package in ``DIR`` (e.g. a ``git worktree``
  of the previous commit), imported under another name and timed in the same rounds;
- ``gemm``: the raw ``torch.mm(x, x.T)`` of the same matrix, already on the device (the floor: the
  same number of multiply-adds, no other work) -> achieved fraction of its rate;
- accuracy: max |ours - float64 numpy| for each distance (and before), on the whole RDM;
- memory (CPU, Linux): the peak resident memory of one call from numpy above what the process held
  before it (``/proc/self/clear_refs`` resets the high-water mark ``VmHWM``), ours and before;
- small RDMs (``--small``): medians of many calls from numpy at the sizes of a dashboard's
  layers (20 x 384 ... 1000 x 1000), ours and before, where fixed costs show;
- ``scipy``: ``pdist(x64, 'correlation')`` in float64, what most people use (one timing when a
  run takes over 20 s; ``--no-scipy`` skips it); ``rsatoolbox`` likewise (``--no-rsatoolbox``).

Usage::

    python benchmarks/bench_distances.py            # N=2000, D=50000 (scipy takes ~1-3 min)
    python benchmarks/bench_distances.py --quick    # N=1000, D=20000
    python benchmarks/bench_distances.py --no-scipy --no-rsatoolbox --before /tmp/gemmbase
    python benchmarks/bench_distances.py --small    # also small RDMs (fixed costs)
    python benchmarks/bench_distances.py --device cuda

Results (ratios) go to ``benchmarks/results/distances.md``.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import rdm_widgets  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "distances.md"
#: (label, overwrite_x, full product)
VARIANTS = [("from numpy", False, False), ("`overwrite_x=True`", True, False),
            ("full product, from numpy", False, True), ("full product, `overwrite_x=True`", True, True)]


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device):
    _sync(device)
    t0 = time.perf_counter()
    result = fn()
    _sync(device)
    return time.perf_counter() - t0, result


def best_of(fn, repeats, device, give_up_after=None):
    """Best wall time of ``repeats`` calls (stops early once one call exceeds ``give_up_after``)."""
    times, result = [], None
    for _ in range(repeats):
        t, result = timed(fn, device)
        times.append(t)
        if give_up_after is not None and t > give_up_after:
            break
    return min(times), len(times), result


def load_package(root: Path, name: str):
    """The ``rdm_widgets`` package under ``root`` imported as ``name`` (its imports are relative)."""
    spec = importlib.util.spec_from_file_location(name, root / "rdm_widgets" / "__init__.py",
                                                  submodule_search_locations=[str(root / "rdm_widgets")])
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def reference(x64: np.ndarray, distance: str) -> np.ndarray:
    """Float64 numpy RDM (GEMM of centred / normalised rows; exact to ~1e-15 here)."""
    if distance == "euclidean":
        c = x64 - x64.mean(axis=0)
        sq = np.einsum("ij,ij->i", c, c)
        return np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * c @ c.T, 0))
    z = x64 - x64.mean(axis=1, keepdims=True) if distance == "correlation" else x64.copy()
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    return np.clip(1 - z @ z.T, 0, 2)


def run_variant(mod, x, distance, device, overwrite, full):
    tri = sys.modules[mod.__name__ + "._distance_triangle"]
    rows = dict(tri._BLOCK_ROWS)
    if full:
        tri._BLOCK_ROWS[device.type] = 1 << 62       # one block: the full product
    try:
        return timed(lambda: mod.pairwise_distances(x, distance, device=device, overwrite_x=overwrite), device)
    finally:
        tri._BLOCK_ROWS.clear()
        tri._BLOCK_ROWS.update(rows)


def _status_mib(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(key)


def peak_above(fn) -> float:
    """Peak resident memory (MiB) of ``fn()`` above the process's resident memory before it, or
    NaN where the high-water mark cannot be reset (not Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")                             # resets VmHWM to the current VmRSS
        before = _status_mib("VmRSS")
    except OSError:
        return float("nan")
    out = fn()
    peak = _status_mib("VmHWM") - before
    del out
    return peak


#: (N, D) of the small-RDM timings: MiniLM sentences, MobileNetV2's avgpool and features.18 on
#: 78 images, and two mid sizes
SMALL_SIZES = [(20, 384), (78, 1280), (78, 62720), (200, 2048), (1000, 1000)]


def small_rdms(codes, distances, device, calls=40) -> list:
    """Markdown rows: median ms of ``calls`` calls from numpy per size, distance and code."""
    rng = np.random.default_rng(1)
    rows = []
    for n, d in SMALL_SIZES:
        x = np.maximum(rng.standard_normal((n, d), dtype=np.float32) + np.float32(0.3), 0)
        for dist in distances:
            med = {}
            for code, mod in codes:
                mod.pairwise_distances(x, dist, device=device)
                ts = [timed(lambda: mod.pairwise_distances(x, dist, device=device), device)[0]
                      for _ in range(calls)]
                med[code] = float(np.median(ts)) * 1e3
            ratio = f"{med['before'] / med['ours']:.2f}x" if "before" in med else "-"
            rows.append(f"| {n} x {d} | {dist} | " + " | ".join(f"{med[c]:.2f}" for c, _ in codes)
                        + f" | {ratio} |")
            print(rows[-1], flush=True)
    return rows


def load_average() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N=1000, D=20000")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--d", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--distances", default="correlation,cosine,euclidean")
    ap.add_argument("--before", type=Path, default=None, help="root of the previous version's checkout")
    ap.add_argument("--small", action="store_true", help="also time small RDMs (fixed costs)")
    ap.add_argument("--no-scipy", action="store_true")
    ap.add_argument("--no-rsatoolbox", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS, help="markdown result fragment")
    args = ap.parse_args(argv)
    n = args.n or (1000 if args.quick else 2000)
    d = args.d or (20000 if args.quick else 50000)
    device = torch.device(args.device)
    distances = args.distances.split(",")
    codes = [("ours", rdm_widgets)] + ([("before", load_package(args.before, "rdm_widgets_before"))]
                                       if args.before else [])
    load_start = load_average()

    # planted structure: 20 categories + noise, ReLU-like non-negative features
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d), dtype=np.float32)
    x += np.repeat(rng.standard_normal((20, d), dtype=np.float32), -(-n // 20), axis=0)[:n]
    np.maximum(x, 0, out=x)
    flops = 2.0 * n * n * d
    print(f"x: {n} x {d} float32 ({x.nbytes / 2**30:.2f} GiB), device {device}, "
          f"torch threads {torch.get_num_threads()}, load {load_start}", flush=True)

    xt = torch.from_numpy(x).to(device)
    for _, mod in codes:
        mod.pairwise_distances(x[:64, :256], "correlation", device=device)     # warm-up
    # interleaved rounds (gemm, then every variant of every code), so that a change of
    # machine load hits all alike
    times: dict = {"gemm": []}
    results: dict = {}
    for r in range(args.repeats):
        times["gemm"].append(timed(lambda: torch.mm(xt, xt.T), device)[0])
        for dist in distances:
            for label, overwrite, full in VARIANTS:
                for code, mod in (codes if r % 2 == 0 else codes[::-1]):    # no fixed order
                    if overwrite:
                        xc = x.copy()
                    t, out = run_variant(mod, xc if overwrite else x, dist, device, overwrite, full)
                    times.setdefault((dist, label, code), []).append(t)
                    if label == "from numpy":
                        results[(dist, code)] = out
                    del out
                    if overwrite:
                        del xc                       # overwrite_x destroyed it
    del xt
    peaks = {}
    if device.type == "cpu":
        for dist in distances:
            for code, mod in codes:
                peaks[(dist, code)] = peak_above(lambda: mod.pairwise_distances(x, dist, device=device))
                print(f"peak memory {dist} {code}: {peaks[(dist, code)]:.0f} MiB above the input", flush=True)
    t_gemm, m_gemm = min(times["gemm"]), float(np.median(times["gemm"]))
    print(f"gemm: best {t_gemm:.3f} s, median {m_gemm:.3f} s ({flops / t_gemm / 1e9:.1f} GFLOP/s)", flush=True)

    x64 = x.astype(np.float64)
    err = {}
    for dist in distances:
        ref = reference(x64, dist)
        for code, _ in codes:
            err[(dist, code)] = float(np.abs(results[(dist, code)].numpy() - ref).max())
        del ref
    table = ["| distance | path | code | best (s) | median (s) | % of GEMM rate (best; median) |",
             "|---|---|---|---:|---:|---:|"]
    for dist in distances:
        for label, _, _ in VARIANTS:
            for code, _ in codes:
                v = times[(dist, label, code)]
                best, med = min(v), float(np.median(v))
                line = (f"| {dist} | {label} | {code} | {best:.3f} | {med:.3f} | "
                        f"{t_gemm / best:.0%}; {m_gemm / med:.0%} |")
                print(line, flush=True)
                table.append(line)
    acc = "; ".join(f"{dist} {' / '.join(f'{code} {err[(dist, code)]:.1e}' for code, _ in codes)}"
                    for dist in distances)
    if args.before:                                  # how far the change moved the results
        acc += ". Max |ours - before|: " + "; ".join(
            f"{dist} {float((results[(dist, 'ours')] - results[(dist, 'before')]).abs().max()):.1e}"
            for dist in distances)
    print(f"max |RDM - float64 numpy|: {acc}", flush=True)

    rows = []
    if not args.no_scipy:
        from scipy.spatial.distance import pdist, squareform

        t_scipy, k, ref = best_of(lambda: pdist(x64, "correlation"), args.repeats, "cpu", give_up_after=20)
        ours = results[("correlation", "ours")]
        e = float(np.abs(squareform(ref) - ours.numpy()).max())
        t_ours = min(times[("correlation", "from numpy", "ours")])
        print(f"scipy: {t_scipy:.3f} s (best of {k}; ours is {t_scipy / t_ours:.1f}x faster; "
              f"max |ours - scipy| = {e:.2e})", flush=True)
        rows.append(f"| scipy `pdist(x.astype(float64), 'correlation')` (best of {k}) | {t_scipy:.3f} | "
                    f"ours (default path, from numpy) is **{t_scipy / t_ours:.1f}x faster** (target >= 10x); "
                    f"max abs diff of ours {e:.1e} |")
    del x64
    if not args.no_rsatoolbox:
        try:
            from rsatoolbox.data import Dataset
            from rsatoolbox.rdm import calc_rdm
        except ImportError:
            rows.append("| rsatoolbox | - | not installed (not benchmarked) |")
        else:
            t_rsa, k, _ = best_of(lambda: calc_rdm(Dataset(x.astype(np.float64)), method="correlation"),
                                  args.repeats, "cpu", give_up_after=20)
            t_ours = min(times[("correlation", "from numpy", "ours")])
            rows.append(f"| rsatoolbox `calc_rdm(method='correlation')` (best of {k}) | {t_rsa:.3f} | "
                        f"ours is {t_rsa / t_ours:.1f}x faster |")
            print(rows[-1], flush=True)

    dev_name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    lines = [
        "## Pairwise distances (`bench_distances.py`)",
        "",
        f"RDMs of a {n} x {d} float32 matrix (ReLU-like features with 20 planted categories). "
        f"{args.repeats} interleaved rounds, one run{' (--quick)' if args.quick else ''}. Machine: "
        f"{os.cpu_count()} CPU(s), torch {torch.__version__} with {torch.get_num_threads()} thread(s), "
        f"device `{device}` ({dev_name}), Python {platform.python_version()}; load average (1/5/15 min) "
        f"{load_start} at the start, {load_average()} at the end.",
        "",
        f"Floor: raw `torch.mm(x, x.T)` on the device, best {t_gemm:.3f} s ({flops / t_gemm / 1e9:.1f} "
        f"GFLOP/s), median {m_gemm:.3f} s. The default paths compute one triangle (about half the "
        "products); `full product` switches that off: its ratio is the cost of everything but the "
        "GEMM (issue 16 target for correlation: >= 95%)."
        + (f" `before`: the package in `{args.before}`, timed in the same rounds." if args.before else ""),
        "",
        *table,
        "",
        f"Max |RDM - float64 numpy| (whole RDM, default path from numpy): {acc}.",
        "",
    ]
    if peaks:
        lines += [f"Peak resident memory of one call from numpy, above what the process held before it "
                  f"(x itself: {x.nbytes / 2**20:.0f} MiB; the RDM: {n * n * 4 / 2**20:.0f} MiB): "
                  + "; ".join(f"{dist} " + " / ".join(f"{code} {peaks[(dist, code)]:.0f} MiB" for code, _ in codes)
                              for dist in distances) + ".", ""]
    if rows:
        lines += ["| method | time (s) | ratio |", "|---|---|---|", *rows, ""]
    if args.small:
        lines += ["Small RDMs from numpy (medians of 40 calls, ms; ratio = before / ours):", "",
                  "| N x D | distance | " + " | ".join(c for c, _ in codes) + " | ratio |",
                  "|---|---|" + "---:|" * (len(codes) + 1), *small_rdms(codes, distances, device), ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, args.out)
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
