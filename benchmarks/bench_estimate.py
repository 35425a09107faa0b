"""Benchmark of the cost estimates: predicted vs measured time and peak RAM of real runs.

For each job the estimate is computed first in a fresh subprocess (:mod:`rdm_widgets.estimate`,
including its calibrations, as ``rdm-widgets estimate`` does), then the job runs in its own
fresh subprocess so that its peak RSS is its own:

- ``create_rdms`` (correlation) on synthetic per-stimulus ``.npz`` folders of two sizes,
  written to a temporary folder first (so they are in the OS cache, as the calibration
  assumes), and the first run in a fresh process (no warm-up);
- ``tiled_rdm`` with ``tile_size`` 8, 64 and 1024 (per-tile overhead vs GEMMs);
- ``eeg_rdm`` on synthetic epochs: exact LDA in its three regimes (rank-deficient, full-rank,
  average-referenced) with few and many time points, ``lda_shrinkage`` with pseudo-trials and
  4 folds, crossnobis with pseudo-trials and permutations, cv_euclidean with pseudo-trials and
  many time points; temporal generalisation (``generalization=True``: train x test times) with
  exact LDA, lda_shrinkage with pseudo-trials and crossnobis.

All jobs run side by side in one run (one subprocess each, one after the other); the table
records predicted and measured wall time, CPU time and peak RAM of each.

Measured peak RAM is the subprocess's peak RSS during the job (reset just before it with
``/proc/self/clear_refs``) minus its RSS just before the job (after a tiny warm-up run of the
same code path, so that library code and thread pools are not counted).

Usage::

    .venv/bin/python benchmarks/bench_estimate.py [--quick] [--out benchmarks/results/estimate.md]
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def jobs(quick: bool) -> list[dict]:
    """The kinds of job the panels and the CLI offer, small and large (quick: about half the size)."""
    s = 2 if quick else 1
    lda = dict(method="lda")
    return [
        # DNN RDMs in memory (the Create RDMs panel, `rdm-widgets create`)
        dict(name="create_rdms, first run in a fresh process", kind="rdm", n=300, dims=[4096, 9216],
             fresh=True),
        dict(name="create_rdms small", kind="rdm", n=500 // s, dims=[4096, 9216]),
        dict(name="create_rdms large", kind="rdm", n=2000 // s, dims=[16384, 4096, 1000]),
        # DNN options (issue 17): time-resolved RDMs (per-stimulus [1, clips, (T,) D]) and reduction
        dict(name="dnn option multi_timepoint clip", kind="rdm", n=400 // s, dims=[2048, 512],
             shapes=[(1, 8, 2048), (1, 8, 512)], options=dict(multi_timepoint_rdms="clip")),
        dict(name="dnn option multi_timepoint all_timepoints", kind="rdm", n=300 // s, dims=[1024],
             shapes=[(1, 2, 16, 1024)], options=dict(multi_timepoint_rdms="all_timepoints")),
        dict(name="dnn option pca", kind="rdm", n=800 // s, dims=[32768, 4096],
             options=dict(dim_reduction="pca")),
        dict(name="dnn option srp", kind="rdm", n=800 // s, dims=[32768, 4096],
             options=dict(dim_reduction="srp")),
        dict(name="dnn option tiled srp", kind="tiled", n=3000 // s, d=16384, tile=1024,
             options=dict(dim_reduction="srp")),
        # out-of-core RDMs (`rdm-widgets tiled-rdm`): per-tile overhead vs compute
        dict(name="tiled_rdm tile_size=8", kind="tiled", n=800 // s, d=64, tile=8),
        dict(name="tiled_rdm tile_size=64", kind="tiled", n=3000 // s, d=256, tile=64),
        dict(name="tiled_rdm tile_size=1024", kind="tiled", n=8000 // s, d=1024, tile=1024),
        # EEG decoding (the EEG panel, `rdm-widgets eeg`)
        dict(name="eeg lda rank-deficient, few times", kind="eeg", n_cond=8, k=20, C=64, T=10, options=lda),
        dict(name="eeg lda rank-deficient, many times", kind="eeg", n_cond=8, k=20, C=64, T=400 // s,
             options=lda),
        dict(name="eeg lda full-rank, few times", kind="eeg", n_cond=12, k=50, C=32, T=10, options=lda),
        dict(name="eeg lda full-rank, many times", kind="eeg", n_cond=12, k=50, C=32, T=300 // s, options=lda),
        dict(name="eeg lda average-referenced, few times", kind="eeg", n_cond=4, k=44, C=64, T=10,
             avg_ref=True, options=lda),
        dict(name="eeg lda average-referenced, many times", kind="eeg", n_cond=4, k=44, C=64, T=600 // s,
             avg_ref=True, options=lda),
        dict(name="eeg lda_shrinkage, pseudo-trials", kind="eeg", n_cond=12, k=40, C=32, T=100 // s,
             options=dict(method="lda_shrinkage", pseudo_trials=8, cv=4)),
        dict(name="eeg crossnobis, pseudo-trials", kind="eeg", n_cond=20, k=20, C=32, T=60 // s,
             options=dict(method="crossnobis", pseudo_trials=5, n_permutations=4, random_state=0)),
        dict(name="eeg cv_euclidean, pseudo-trials, many times", kind="eeg", n_cond=40, k=20, C=64, T=500 // s,
             options=dict(method="cv_euclidean", pseudo_trials=5, random_state=0)),
        # temporal generalisation (train x test times): exact LOO LDA, per-fold lsqr, a distance
        dict(name="eeg lda generalization", kind="eeg", n_cond=8, k=20, C=64, T=60 // s,
             options=dict(method="lda", generalization=True)),
        dict(name="eeg lda_shrinkage generalization, pseudo-trials", kind="eeg", n_cond=12, k=40, C=32,
             T=60 // s, options=dict(method="lda_shrinkage", pseudo_trials=8, cv=4, generalization=True)),
        dict(name="eeg crossnobis generalization, pseudo-trials", kind="eeg", n_cond=20, k=20, C=32, T=120 // s,
             options=dict(method="crossnobis", pseudo_trials=5, random_state=0, generalization=True)),
    ]


def describe(job: dict) -> str:
    extra = "".join(f", {k}={v}" for k, v in job.get("options", {}).items()) if job["kind"] != "eeg" else ""
    if job["kind"] == "rdm":
        shapes = f", per stimulus {job['shapes']}" if job.get("shapes") else ""
        return f"N={job['n']}, D={job['dims']}{shapes}, per-stimulus npz, correlation{extra}"
    if job["kind"] == "tiled":
        return f"N={job['n']}, D={job['d']}, tile {job['tile']}, correlation, array in memory{extra}"
    opts = ", ".join(f"{k}={v}" for k, v in job["options"].items() if k != "random_state")
    return (f"{job['n_cond']} cond x {job['k']} trials x {job['C']} ch x {job['T']} times"
            + (", avg-ref" if job.get("avg_ref") else "") + (f", {opts}" if opts else ""))


def make_eeg(job: dict):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(job["n_cond"]), job["k"])
    x = rng.standard_normal((len(labels), job["C"], job["T"]))
    x[:, :, job["T"] // 3:] += 0.5 * rng.standard_normal((job["n_cond"], job["C"], 1))[labels]
    if job.get("avg_ref"):
        x -= x.mean(axis=1, keepdims=True)
    return x, labels


def make_tiled(job: dict):
    return np.random.default_rng(0).standard_normal((job["n"], job["d"])).astype(np.float32)


def write_features(job: dict, folder: Path) -> None:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    shapes = job.get("shapes") or [(1, d) for d in job["dims"]]       # per-stimulus shape of each layer
    for i in range(job["n"]):
        np.savez(folder / f"stim_{i:05d}.npz",
                 **{f"layer_{j}": rng.standard_normal(sh).astype(np.float32) for j, sh in enumerate(shapes)})


def _status(field: str) -> int:
    """``VmRSS`` / ``VmHWM`` (peak RSS) of this process in bytes (Linux)."""
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith(field + ":"))


def _reset_peak() -> bool:
    """Reset this process's peak RSS to its current RSS (Linux ``clear_refs``); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


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
    elif job["kind"] == "tiled":
        x = make_tiled(job)
        rdm_widgets.tiled_rdm(x[:16, :8], Path(job["out"]) / "warm", tile_size=8)
        run = lambda: rdm_widgets.tiled_rdm(x, Path(job["out"]) / "store", tile_size=job["tile"],  # noqa: E731
                                            **job.get("options", {}))
    else:
        if not job.get("fresh"):
            rdm_widgets.RDMCreator().compute_rdms({f"l{j}": np.ones((8, 16)) * np.arange(8)[:, None] ** j
                                                   for j in (1, 2)})
        if job.get("options"):           # the options' code path too (tiny features of the same layout)
            tiny = np.random.default_rng(1).standard_normal((8,) + tuple(job.get("shapes", [(1, 64)])[0][:-1]) + (64,))
            rdm_widgets.RDMCreator().compute_rdms({"l": tiny.astype(np.float32)}, **job["options"])
        run = lambda: rdm_widgets.RDMCreator().create_rdms(job["folder"], job["out"],  # noqa: E731
                                                          **job.get("options", {}))
    _reset_peak()        # the peak of the imports and the warm-up is not the job's
    before = _status("VmRSS")
    load0 = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    run()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = _status("VmHWM") - before
    print(json.dumps({"wall": wall, "cpu": cpu, "peak": max(peak, 0), "load": [load0, os.getloadavg()[0]]}))


def estimate(job: dict) -> tuple:
    """(CostEstimate, seconds it took, its calibrations included, 1-minute load average when it
    started) of one job, in this process."""
    from rdm_widgets.estimate import estimate_eeg_rdm, estimate_features, estimate_tiled

    data = make_eeg(job) if job["kind"] == "eeg" else None
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    if job["kind"] == "tiled":
        est = estimate_tiled(job["n"], job["d"], tile_size=job["tile"], **job.get("options", {}))
    elif job["kind"] == "rdm":
        est = estimate_features(job["folder"], **job.get("options", {}))
    else:
        est = estimate_eeg_rdm(*data, **job["options"])
    return est, time.perf_counter() - t0, load


def cpu_ratio(est, got: dict) -> float:
    """Measured CPU seconds / predicted seconds on an idle core (the prediction without the
    machine's load, ``work['contention']``): the model's accuracy apart from the other jobs."""
    return got["cpu"] / (est.seconds / est.work.get("contention", 1.0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    ap.add_argument("--out", default=str(HERE / "results" / "estimate.md"))
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads for the estimates and the jobs (default 1: on a shared 2-core "
                         "machine more threads spin against other jobs and timings vary tenfold)")
    ap.add_argument("--only", nargs="*", help="run only the jobs whose name contains one of these")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--estimate", help=argparse.SUPPRESS)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.child:
        child(json.loads(args.child))
        return
    if args.estimate:
        print(pickle.dumps(estimate(json.loads(args.estimate))).hex())
        return

    from rdm_widgets.estimate import calibrate, format_bytes

    load = os.getloadavg()[0]
    cal = calibrate()
    rows = []
    selected = [j for j in jobs(args.quick) if not args.only or any(o in j["name"] for o in args.only)]
    with tempfile.TemporaryDirectory(prefix="bench_estimate_") as tmp:
        for i, job in enumerate(selected):
            if job["kind"] == "tiled":
                job["out"] = str(Path(tmp) / f"tiled_{i}")
            elif job["kind"] == "rdm":
                job["folder"], job["out"] = str(Path(tmp) / f"feats_{i}"), str(Path(tmp) / f"rdms_{i}")
                write_features(job, Path(job["folder"]))
            # the estimate in a fresh process too (as `rdm-widgets estimate`): its calibrations
            # then meet the state a fresh run meets, not the allocator state earlier jobs left
            out = subprocess.run([sys.executable, __file__, "--threads", str(args.threads),
                                  "--estimate", json.dumps(job)], check=True,
                                 capture_output=True, text=True, cwd=HERE.parent)
            est, t_est, load_est = pickle.loads(bytes.fromhex(out.stdout.strip().splitlines()[-1]))
            out = subprocess.run([sys.executable, __file__, "--threads", str(args.threads),
                                  "--child", json.dumps(job)], check=True,
                                 capture_output=True, text=True, cwd=HERE.parent)
            got = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append((job, est, (t_est, load_est), got))
            print(f"{job['name']}: predicted {est.seconds:.2f} s, measured {got['wall']:.2f} s "
                  f"(CPU {got['cpu']:.2f} s), ratio {got['wall'] / est.seconds:.2f}, CPU ratio "
                  f"{cpu_ratio(est, got):.2f}; peak RAM predicted "
                  f"{format_bytes(est.peak_bytes)}, measured {format_bytes(got['peak'])}; load {load_est:.1f} at the "
                  f"estimate, {got['load'][0]:.1f}-{got['load'][1]:.1f} in the run", flush=True)
    load_end = os.getloadavg()[0]
    walls = [got["wall"] / est.seconds for _, est, _, got in rows]
    cpus = [cpu_ratio(est, got) for _, est, _, got in rows]
    rams = [got["peak"] / max(est.peak_bytes, 1) for _, est, _, got in rows]

    lines = [
        "## Cost estimates (`bench_estimate.py`)",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
        f"{torch.__version__} ({torch.get_num_threads()} thread(s)), device cpu. Load average {load:.1f} at "
        f"start, {load_end:.1f} at the end (a shared machine: wall times are pessimistic). Calibration "
        f"took {cal['seconds']:.2f} s: GEMM float32 {cal['gemm_float32'] / 1e9:.0f} GFLOP/s, float64 "
        f"{cal['gemm_float64'] / 1e9:.0f} GFLOP/s, npz read {cal['read'] / 1e9:.1f} GB/s.",
        "",
        "Each estimate is computed in a fresh subprocess (its calibrations included: 'estimate "
        "took'), then the job runs in a fresh subprocess after a tiny warm-up run of the same code path, "
        "except the 'first run' job (measured peak RAM = its peak RSS during the job, reset with "
        "`/proc/self/clear_refs`, minus its RSS before). Ratio = measured / predicted; the target "
        "is 0.5-2. 'Load factor' is `contention()` when the estimate was made (the predicted "
        "seconds include it); CPU ratio = measured CPU seconds / (predicted / load factor), the "
        "model's accuracy apart from the other jobs on the machine. 'Load avg' is the 1-minute load "
        "average when the estimate started / when the job started-ended: a wall ratio far from 1 "
        "where these differ is the machine's load changing, not the model (see the CPU ratio).",
        "",
        f"**Wall ratio {min(walls):.2f}-{max(walls):.2f}** over {len(rows)} jobs (CPU ratio "
        f"{min(cpus):.2f}-{max(cpus):.2f}; peak RAM ratio {min(rams):.2f}-{max(rams):.2f}). Before the "
        "per-unit calibration (issue 14, same jobs, estimates of commit b9a5c28) the wall ratio was "
        "0.36-717: tiled_rdm tile_size=8 717 and tile_size=64 18 (no cost per tile), "
        "cv_euclidean 13 and crossnobis 5.6 (flop counts at small-product rates), exact LDA "
        "0.36-0.48 (tiny 2-condition calibration), the first create_rdms 2.9.",
        "",
        "| job | sizes | estimate took (s) | load avg est / run | load factor | predicted (s) | "
        "measured wall (s) | **wall ratio** | "
        "measured CPU (s) | CPU ratio | predicted peak RAM | measured peak RAM | RAM ratio |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for job, est, (t_est, load_est), got in rows:
        regime = f" ({est.regime})" if est.regime else ""
        lines.append(
            f"| {job['name']}{regime} | {describe(job)} | {t_est:.2f} | {load_est:.1f} / "
            f"{got['load'][0]:.1f}-{got['load'][1]:.1f} | {est.work.get('contention', 1.0):.2f} | "
            f"{est.seconds:.2f} | {got['wall']:.2f} | **{got['wall'] / est.seconds:.2f}** | {got['cpu']:.2f} | "
            f"{cpu_ratio(est, got):.2f} | {format_bytes(est.peak_bytes)} | "
            f"{format_bytes(got['peak'])} | {got['peak'] / max(est.peak_bytes, 1):.2f} |")
    lines.append("")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
