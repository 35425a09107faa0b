"""Benchmark: RDMCreator.create_rdms against the I/O + matmul floor and a Net2Brain-style loop.

Data: N synthetic AlexNet-sized stimuli (one float32 .npz per stimulus, 5 layers:
64x27x27, 192x13x13, 384x13x13, 256x13x13, 4096), written once to a temporary folder
and deleted afterwards. Distance: correlation.

Methods (each in its own subprocess, so that peak RSS is its own):

- ``ours``: ``RDMCreator().create_rdms(folder, save_path=..., distance='correlation')``
  (reads, validates, computes and writes the 5 RDM files atomically);
- ``floor``: read each file once (``np.load``, all keys) into preallocated (N, D)
  arrays, then per layer centre/normalise rows and one ``torch.mm`` (nothing saved);
- ``net2brain``: Net2Brain-style: for each layer open every file again, stack in
  float64, centre/normalise and one ``torch.mm`` in float64;
- ``before`` (with ``--before DIR``): ``ours`` with the ``rdm_widgets`` package found in DIR
  (e.g. a copy of the package before a change), so that a change is measured against the
  floor and against the code it replaces in one run.

Methods run interleaved (floor, ours, before, floor, ours, ...), so that a change of machine
load hits every method alike; medians of the repeats are reported (best in brackets).

Usage::

    python benchmarks/bench_create_rdms.py            # N=1000 (~0.77 GB of features)
    python benchmarks/bench_create_rdms.py --quick    # N=300
    python benchmarks/bench_create_rdms.py --n 500 --repeats 3
    python benchmarks/bench_create_rdms.py --n 1000 2000 --before /tmp/old --no-net2brain

Results (ratios to the floor) go to ``benchmarks/results/create_rdms.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

LAYERS = {
    "features.0": (1, 64, 27, 27),
    "features.3": (1, 192, 13, 13),
    "features.6": (1, 384, 13, 13),
    "features.8": (1, 256, 13, 13),
    "classifier.4": (1, 4096),
}
RESULTS = Path(__file__).resolve().parent / "results" / "create_rdms.md"


def _rss_mb() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 ** 2 if sys.platform == "darwin" else 1024)


def _current_rss_mb() -> float:
    try:
        import psutil

        return psutil.Process().memory_info().rss / 1024 ** 2
    except ImportError:
        return _rss_mb()


def write_features(folder: Path, n: int, seed: int = 0) -> int:
    """Write n per-stimulus npz files; return the feature bytes (float32)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        arrays = {k: rng.standard_normal(s, dtype=np.float32) for k, s in LAYERS.items()}
        np.savez(folder / f"stim_{i:05d}.npz", **arrays)
    return n * sum(int(np.prod(s)) for s in LAYERS.values()) * 4


def _corr_mm(x, torch):
    x = x - x.mean(dim=1, keepdim=True)
    x = x / x.norm(dim=1, keepdim=True)
    return 1.0 - x @ x.T


def worker(method: str, folder: Path, out_dir: Path) -> dict:
    import torch

    from rdm_widgets.creator import RDMCreator  # imports are not timed

    files = sorted(folder.glob("*.npz"))
    n = len(files)
    rss_start = _current_rss_mb()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = ru0.ru_utime + ru0.ru_stime
    t0 = time.perf_counter()
    if method in ("ours", "before"):
        RDMCreator(device="cpu").create_rdms(folder, save_path=out_dir, save_format="npz",
                                             distance="correlation")
    elif method == "floor":
        dims = {k: int(np.prod(s)) for k, s in LAYERS.items()}
        feats = {k: np.empty((n, d), np.float32) for k, d in dims.items()}
        for i, f in enumerate(files):
            with np.load(f) as z:
                for k in LAYERS:
                    feats[k][i] = z[k].reshape(-1)
        for k in LAYERS:
            rdm = _corr_mm(torch.from_numpy(feats.pop(k)), torch)
            del rdm
    elif method == "net2brain":
        for k in LAYERS:
            x = np.stack([np.load(f)[k].reshape(-1).astype(np.float64) for f in files])
            rdm = _corr_mm(torch.from_numpy(x), torch)
            del x, rdm
    else:
        raise ValueError(method)
    seconds = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    import rdm_widgets

    return {"seconds": seconds, "cpu_seconds": ru.ru_utime + ru.ru_stime - cpu0,
            "peak_rss_mb": _rss_mb(), "rss_start_mb": rss_start, "package": rdm_widgets.__file__}


def run_method(method: str, folder: Path, tmp: Path, repeat: int, before=None) -> dict:
    out_dir = tmp / f"rdms_{method}_{repeat}"
    cmd = [sys.executable, __file__, "--worker", method, "--folder", str(folder), "--out", str(out_dir)]
    env = dict(os.environ)
    if method == "before":                  # the old package first on the path
        env["PYTHONPATH"] = os.pathsep.join([str(before)] + [p for p in [env.get("PYTHONPATH")] if p])
    res = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"{method} failed:\n{res.stderr[-3000:]}")
    shutil.rmtree(out_dir, ignore_errors=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def check_against_reference(folder: Path, tmp: Path, n_check: int = 300) -> float:
    """Max |ours - float64 numpy| over the 5 RDMs on the first ``n_check`` stimuli (sanity check;
    300 > 256 rows: the one-triangle path is the one checked)."""
    from rdm_widgets.creator import RDMCreator
    from rdm_widgets.rdm import load_rdms

    sub = tmp / "subset"
    sub.mkdir()
    for f in sorted(folder.glob("*.npz"))[:n_check]:
        os.link(f, sub / f.name)
    out = RDMCreator().create_rdms(sub, save_path=tmp / "check")
    rdms = load_rdms(out)
    err = 0.0
    for k in LAYERS:
        x = np.stack([np.load(f)[k].reshape(-1) for f in sorted(sub.glob("*.npz"))]).astype(np.float64)
        ref = 1.0 - np.corrcoef(x)
        err = max(err, float(np.abs(rdms[k].matrix - ref).max()))
    shutil.rmtree(sub)
    shutil.rmtree(out)
    return err


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, nargs="+", default=None,
                   help="number(s) of stimuli (default 1000; --quick 300)")
    p.add_argument("--quick", action="store_true", help="smaller run (N=300, 1 repeat)")
    p.add_argument("--repeats", type=int, default=None, help="timed runs per method (median is reported)")
    p.add_argument("--no-net2brain", action="store_true", help="skip the Net2Brain-style baseline")
    p.add_argument("--before", type=Path, default=None,
                   help="a folder holding an older rdm_widgets package, timed as 'before'")
    p.add_argument("--output", type=Path, default=RESULTS)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.folder, args.out)))
        return
    sizes = args.n or [300 if args.quick else 1000]
    repeats = args.repeats or (1 if args.quick else 3)
    sections = []
    for n in sizes:
        sections.append(run_size(n, repeats, args))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(sections))
    print(args.output.read_text())


def run_size(n: int, repeats: int, args) -> str:
    tmp = Path(tempfile.mkdtemp(prefix="bench_create_rdms_"))
    try:
        t0 = time.perf_counter()
        feat_bytes = write_features(tmp / "features", n)
        print(f"wrote {n} files ({feat_bytes / 1e9:.2f} GB float32) in {time.perf_counter() - t0:.1f} s")
        max_err = check_against_reference(tmp / "features", tmp)
        print(f"max |ours - numpy float64| on 300 stimuli: {max_err:.2e}")
        load0 = os.getloadavg()
        methods = ["floor", "ours"] + (["before"] if args.before else []) + \
            ([] if args.no_net2brain else ["net2brain"])
        results = {m: [] for m in methods}
        for r in range(repeats):
            for m in methods:
                if m == "net2brain" and r > 0:
                    continue  # slow context baseline: once is enough
                res = run_method(m, tmp / "features", tmp, r, args.before)
                results[m].append(res)
                print(f"N={n} {m:10s} {res['seconds']:7.2f} s (CPU {res['cpu_seconds']:7.2f} s)  "
                      f"peak RSS {res['peak_rss_mb']:7.0f} MiB  load {os.getloadavg()[0]:.1f}  "
                      f"[{res['package']}]", flush=True)
        summary = {}
        for m, rs in results.items():
            summary[m] = {key: float(np.median([r[key] for r in rs]))
                          for key in ("seconds", "cpu_seconds", "peak_rss_mb", "rss_start_mb")}
            summary[m]["best"] = min(r["seconds"] for r in rs)
            summary[m]["runs"] = len(rs)
        return report(n, feat_bytes, summary, repeats, max_err, load0, os.getloadavg())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(n: int, feat_bytes: int, best: dict, repeats: int, max_err: float, load0, load1) -> str:
    """One markdown section: medians of the interleaved runs, as ratios to the floor."""
    import torch

    floor, floor_cpu = best["floor"]["seconds"], best["floor"]["cpu_seconds"]
    feat_mib = feat_bytes / 1024 ** 2
    lines = [
        f"## create_rdms: per-stimulus npz folder -> 5 correlation RDMs, N = {n}",
        "",
        f"N = {n} synthetic AlexNet-sized stimuli (layers 64x27x27, 192x13x13, 384x13x13, 256x13x13, "
        f"4096; one float32 .npz per stimulus, {feat_mib:.0f} MiB of features), CPU, "
        f"{os.cpu_count()} cores, torch {torch.__version__}, {platform.python_implementation()} "
        f"{platform.python_version()}; load average (1/5/15 min) {load0[0]:.1f}/{load0[1]:.1f}/{load0[2]:.1f} "
        f"at start, {load1[0]:.1f}/{load1[1]:.1f}/{load1[2]:.1f} at the end (other processes share "
        f"the cores, so CPU time is shown too). Median of {repeats} interleaved run(s) (best wall time "
        "in brackets; Net2Brain-style: 1 run); each method in its own process. Floor = read every "
        "file once (np.load, all keys) + centre/normalise + one full torch.mm per layer, nothing "
        "saved. Ours also validates every file (shapes, NaN/inf) and writes 5 RDM files atomically.",
        "",
        "| method | wall (s) | wall / floor | CPU (s) | CPU / floor | peak RSS (MiB) | "
        "(peak RSS - start) / features |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    labels = {"floor": "floor (read once + torch.mm)", "ours": "**ours** `RDMCreator.create_rdms`",
              "before": "ours before the change (`--before`)",
              "net2brain": "Net2Brain-style (file opened per layer, float64)"}
    for m, r in best.items():
        ratio_mem = (r["peak_rss_mb"] - r["rss_start_mb"]) / feat_mib
        lines.append(f"| {labels[m]} | {r['seconds']:.2f} ({r['best']:.2f}) | {r['seconds'] / floor:.2f}x | "
                     f"{r['cpu_seconds']:.2f} | {r['cpu_seconds'] / floor_cpu:.2f}x | "
                     f"{r['peak_rss_mb']:.0f} | {ratio_mem:.2f} |")
    ok = best["ours"]["seconds"] / floor <= 1.0
    lines += ["", f"Target ours <= 1.0x floor: **{'met' if ok else 'not met'}** "
              f"(wall {best['ours']['seconds'] / floor:.2f}x, CPU "
              f"{best['ours']['cpu_seconds'] / floor_cpu:.2f}x). Max |ours - numpy float64 1 - corrcoef| "
              f"on the first 300 stimuli: {max_err:.1e}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
