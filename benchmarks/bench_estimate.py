"""Benchmark of the cost estimates: predicted vs measured time and peak RAM of real runs.

For each job the estimate is computed first in this process (:mod:`rdm_widgets.estimate`,
including its calibration), then the job runs in its own subprocess so that its peak RSS is
its own:

- ``create_rdms`` (correlation) on synthetic per-stimulus ``.npz`` folders of two sizes,
  written to a temporary folder first (so they are in the OS cache, as the calibration assumes);
- ``eeg_rdm`` on synthetic epochs of two sizes (exact LDA, rank-deficient and full-rank
  regimes) and one crossnobis run with pseudo-trials (the flop-counted path).

Measured peak RAM is the subprocess's peak RSS minus its RSS just before the job (after a tiny
warm-up run of the same code path, so that library code and thread pools are not counted).

Usage::

    .venv/bin/python benchmarks/bench_estimate.py [--quick] [--out benchmarks/results/estimate.md]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def jobs(quick: bool) -> list[dict]:
    s = 2 if quick else 1
    return [
        dict(name="create_rdms small", kind="rdm", n=500 // s, dims=[4096, 9216]),
        dict(name="create_rdms large", kind="rdm", n=2000 // s, dims=[16384, 4096, 1000]),
        dict(name="eeg_rdm lda, rank-deficient", kind="eeg", n_cond=8, k=20, C=64, T=30 // s,
             options={}),
        dict(name="eeg_rdm lda, full-rank", kind="eeg", n_cond=12, k=50, C=32, T=40 // s, options={}),
        dict(name="eeg_rdm crossnobis, pseudo-trials", kind="eeg", n_cond=20, k=20, C=32, T=60 // s,
             options=dict(method="crossnobis", pseudo_trials=5, n_permutations=4, random_state=0)),
    ]


def describe(job: dict) -> str:
    if job["kind"] == "rdm":
        return f"N={job['n']}, D={job['dims']}, per-stimulus npz, correlation"
    opts = ", ".join(f"{k}={v}" for k, v in job["options"].items() if k != "random_state")
    return (f"{job['n_cond']} cond x {job['k']} trials x {job['C']} ch x {job['T']} times"
            + (f", {opts}" if opts else ", lda loo"))


def make_eeg(job: dict):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(job["n_cond"]), job["k"])
    x = rng.standard_normal((len(labels), job["C"], job["T"]))
    x[:, :, job["T"] // 3:] += 0.5 * rng.standard_normal((job["n_cond"], job["C"], 1))[labels]
    return x, labels


def write_features(job: dict, folder: Path) -> None:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for i in range(job["n"]):
        np.savez(folder / f"stim_{i:05d}.npz",
                 **{f"layer_{j}": rng.standard_normal((1, d)).astype(np.float32) for j, d in enumerate(job["dims"])})


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(job: dict) -> None:
    """Run one job; print wall, CPU seconds and peak RSS increase as JSON."""
    import rdm_widgets

    # a tiny run of the same code path first: thread pools, lazily loaded library code and
    # allocator arenas belong to the process, not to the job (the estimate leaves them out)
    if job["kind"] == "eeg":
        x, labels = make_eeg(job)
        tiny = make_eeg(dict(job, n_cond=2, T=2))
        rdm_widgets.eeg_rdm(*tiny, **job["options"])
        run = lambda: rdm_widgets.eeg_rdm(x, labels, **job["options"])  # noqa: E731
    else:
        rdm_widgets.RDMCreator().compute_rdms({f"l{j}": np.ones((8, 16)) * np.arange(8)[:, None] ** j
                                               for j in (1, 2)})
        run = lambda: rdm_widgets.RDMCreator().create_rdms(job["folder"], job["out"])  # noqa: E731
    before = _rss()
    t0, c0 = time.perf_counter(), time.process_time()
    run()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    print(json.dumps({"wall": wall, "cpu": cpu, "peak": max(peak, 0)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    ap.add_argument("--out", default=str(HERE / "results" / "estimate.md"))
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads for the estimates and the jobs (default 1: on a shared 2-core "
                         "machine more threads spin against other jobs and timings vary tenfold)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.child:
        child(json.loads(args.child))
        return

    from rdm_widgets.estimate import calibrate, estimate_eeg_rdm, estimate_features, format_bytes

    load = os.getloadavg()[0]
    cal = calibrate()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_estimate_") as tmp:
        for i, job in enumerate(jobs(args.quick)):
            t0 = time.perf_counter()
            if job["kind"] == "rdm":
                job["folder"], job["out"] = str(Path(tmp) / f"feats_{i}"), str(Path(tmp) / f"rdms_{i}")
                write_features(job, Path(job["folder"]))
                t0 = time.perf_counter()
                est = estimate_features(job["folder"])
            else:
                est = estimate_eeg_rdm(*make_eeg(job), **job["options"])
            t_est = time.perf_counter() - t0
            out = subprocess.run([sys.executable, __file__, "--threads", str(args.threads),
                                  "--child", json.dumps(job)], check=True,
                                 capture_output=True, text=True, cwd=HERE.parent)
            got = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append((job, est, t_est, got))
            print(f"{job['name']}: predicted {est.seconds:.2f} s, measured {got['wall']:.2f} s "
                  f"(CPU {got['cpu']:.2f} s), ratio {got['wall'] / est.seconds:.2f}; peak RAM predicted "
                  f"{format_bytes(est.peak_bytes)}, measured {format_bytes(got['peak'])}", flush=True)
    load_end = os.getloadavg()[0]

    lines = [
        "## Cost estimates (`bench_estimate.py`)",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
        f"{torch.__version__} ({torch.get_num_threads()} thread(s)), device cpu. Load average {load:.1f} at "
        f"start, {load_end:.1f} at the end (a shared machine: wall times are pessimistic). Calibration "
        f"took {cal['seconds']:.2f} s: GEMM float32 {cal['gemm_float32'] / 1e9:.0f} GFLOP/s, float64 "
        f"{cal['gemm_float64'] / 1e9:.0f} GFLOP/s, npz read {cal['read'] / 1e9:.1f} GB/s.",
        "",
        "Each estimate is computed in this process, then the job runs in a fresh subprocess after "
        "a tiny warm-up run of the same code path (measured peak RAM = its peak RSS minus its RSS "
        "before the job). Ratio = measured / predicted; the estimates aim at a factor ~2 (0.5-2).",
        "",
        "| job | sizes | estimate took (s) | predicted (s) | measured wall (s) | **wall ratio** | "
        "measured CPU (s) | predicted peak RAM | measured peak RAM | RAM ratio |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for job, est, t_est, got in rows:
        regime = f" ({est.regime})" if est.regime else ""
        lines.append(
            f"| {job['name']}{regime} | {describe(job)} | {t_est:.2f} | {est.seconds:.2f} | {got['wall']:.2f} | "
            f"**{got['wall'] / est.seconds:.2f}** | {got['cpu']:.2f} | {format_bytes(est.peak_bytes)} | "
            f"{format_bytes(got['peak'])} | {got['peak'] / max(est.peak_bytes, 1):.2f} |")
    lines.append("")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
