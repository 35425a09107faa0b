"""Benchmark of rdm_widgets.eeg.eeg_rdm against the plain sklearn loop, in one run.

The sklearn reference is the loop of the issue: one
``LinearDiscriminantAnalysis`` fit + predict per (pair, time, fold). The full
loops would take hours, so a random sample of those fits is timed and the
per-fit time is multiplied by the number of fits (stated in the output). Our
side is run in full unless a scenario says it was timed on a slice of time
points and extrapolated (it scales linearly with time points).

Usage::

    .venv/bin/python benchmarks/bench_eeg.py [--quick] [--out benchmarks/results/eeg.md]
        [--only a,c] [--c-times 2]

``--only`` runs a subset of the scenarios (a, b, r, c, d); ``--c-times`` sets how many time
points scenario (c) is timed on (it is linear in time points, extrapolated to 100).
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis as LDA
from threadpoolctl import threadpool_limits

from rdm_widgets.demo import demo_path

from rdm_widgets.eeg import eeg_rdm


def make(n_cond, n_trials, C, T, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_cond), n_trials)
    x = rng.standard_normal((n_cond * n_trials, C, T))
    x[:, :, T // 3: 2 * T // 3] += 0.5 * rng.standard_normal((n_cond, C, 1))[labels]
    return x, labels


def sklearn_per_fit(units, n_sample, rng, **lda_kw):
    """Seconds per (pair, time, fold) fit+predict of the LOO loop over units (n_cond, k, C, T)."""
    n_cond, k, C, T = units.shape
    with threadpool_limits(1):  # 1 BLAS thread is ~10x faster for these tiny fits here
        return _per_fit(units, n_sample, rng, lda_kw)


def _per_fit(units, n_sample, rng, lda_kw):
    n_cond, k, C, T = units.shape
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n_sample):
        i, j = sorted(rng.choice(n_cond, 2, replace=False))
        t, f = rng.integers(T), rng.integers(k)
        tr = np.delete(np.arange(k), f)
        m = LDA(**lda_kw).fit(np.concatenate([units[i, tr, :, t], units[j, tr, :, t]]),
                              [0] * (k - 1) + [1] * (k - 1))
        m.predict(np.stack([units[i, f, :, t], units[j, f, :, t]]))
    return (time.perf_counter() - t0) / n_sample, (time.process_time() - c0) / n_sample


def pseudo_units(x, labels, K, rng):
    """Pseudo-trials as the sklearn user would build them (shuffle, split in K, average)."""
    out = []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        out.append(np.stack([x[part].mean(0) for part in np.array_split(idx, K)]))
    return np.stack(out)


def secs(s):
    """Seconds with two significant digits below 10 s (GPU runs), whole seconds above."""
    return f"{s:.2g} s" if s < 10 else f"{s:.0f} s"


def timed(fn):
    """(wall seconds, CPU seconds), result."""
    t0, c0 = time.perf_counter(), time.process_time()
    res = fn()
    return (time.perf_counter() - t0, time.process_time() - c0), res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller samples and slices")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "eeg.md"))
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads for eeg_rdm (1 is fastest on a loaded 2-core machine)")
    ap.add_argument("--only", default="a,b,r,c,d", help="comma-separated scenarios to run (a, b, r, c, d)")
    ap.add_argument("--c-times", type=int, default=None, help="time points timed in scenario (c)")
    ap.add_argument("--device", default="cpu", help="where eeg_rdm runs ('cuda' on a GPU machine)")
    args = ap.parse_args()
    only = {x.strip() for x in args.only.split(",")}
    torch.set_num_threads(args.threads)
    gpu = torch.device(args.device).type == "cuda"
    if gpu:  # CUDA context, cuBLAS/cuSOLVER handles: started once, before anything is timed
        eeg_rdm(*make(3, 6, 8, 2), device=args.device)
        eeg_rdm(*make(3, 30, 64, 2), device=args.device)
        torch.cuda.reset_peak_memory_stats()
    rng = np.random.default_rng(0)
    n_sample = 100 if args.quick else 400
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "## EEG time-resolved decoding RDMs (`eeg_rdm`)",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__} (threads {torch.get_num_threads()}), float64, device {args.device}"
        f"{f' ({torch.cuda.get_device_name()}; CUDA started before timing)' if gpu else ''}. "
        f"Load average at start: {load:.1f} (shared machine).",
        "sklearn reference: the plain per-(pair, time, fold) `LinearDiscriminantAnalysis` fit+predict loop; "
        f"{n_sample} random fits are timed (1 BLAS thread, the fastest setting for sklearn here) and the "
        "per-fit time is multiplied by the number of fits (the full loops would take hours). "
        "Synthetic data: Gaussian noise + a condition pattern in the middle third of the epoch.",
        "",
        "Wall time is what a user waits; CPU time (process time) is less distorted by the other jobs.",
        "",
        "| scenario | fits | sklearn loop, extrapolated (wall / CPU) | eeg_rdm (wall / CPU) | speed-up wall | speed-up CPU |",
        "|---|---:|---:|---:|---:|---:|",
    ]

    def row(name, n_fits, per_fit, ours):
        (pw, pc), (ow, oc) = per_fit, ours
        lines.append(f"| {name} | {n_fits:,} | {pw * n_fits:,.0f} s / {pc * n_fits:,.0f} s "
                     f"({pw * 1e3:.2f} ms/fit wall) | {ow:.2f} s / {oc:.2f} s | **{pw * n_fits / ow:,.0f}x** | "
                     f"{pc * n_fits / oc:,.0f}x |")
        print(lines[-1], flush=True)

    if "a" in only:  # (a) 16 cond x 30 trials x 64 ch x 20 times, default exact LDA
        x, y = make(16, 30, 64, 20)
        ours, _ = timed(lambda: eeg_rdm(x, y, device=args.device))
        per = sklearn_per_fit(x.reshape(16, 30, 64, 20), n_sample, rng)
        row("(a) 16 cond x 30 trials x 64 ch x 20 times, `method='lda'` (exact)", 120 * 20 * 30, per, ours)

    if "b" in only:  # (b) 20 cond x 80 trials -> 10 pseudo-trials x 17 ch x 20 times, shrinkage LDA
        x, y = make(20, 80, 17, 20, seed=1)
        ours, _ = timed(lambda: eeg_rdm(x, y, method="lda_shrinkage", pseudo_trials=10, random_state=0, device=args.device))
        per = sklearn_per_fit(pseudo_units(x, y, 10, rng), n_sample, rng, solver="lsqr", shrinkage="auto")
        row("(b) 20 cond x 80 trials -> 10 pseudo-trials x 17 ch x 20 times, `lda_shrinkage`",
            190 * 20 * 10, per, ours)

    if "r" in only:  # (r) real S001 data: 4 targets x 44 trials x 64 ch (avg-referenced: rank 63)
        with np.load(demo_path("eeg"), allow_pickle=False) as z:
            T_r = 10 if args.quick else 20
            xr, yr = z["eeg"][:, :, 60:60 + T_r].astype(np.float64), z["target"]
        ours, res = timed(lambda: eeg_rdm(xr, yr, device=args.device))
        k = res.meta["k"]
        units = np.stack([xr[np.flatnonzero(yr == c)[:k]] for c in res.conditions])
        per = sklearn_per_fit(units, n_sample, rng)
        row(f"(r) real S001 EEG, 4 targets x {k} trials x 64 ch (avg-referenced) x {T_r} times, "
            "`method='lda'`", 6 * T_r * k, per, ours)

    lines += ["", "| absolute time | eeg_rdm | target |", "|---|---:|---:|"]
    if "c" in only:  # (c) 92 cond x 30 trials x 64 ch x 100 times, default; slice of time points
        T_slice = args.c_times or (2 if args.quick else 4)  # linear in time points
        x, y = make(92, 30, 64, T_slice, seed=2)
        (ours, cpu), _ = timed(lambda: eeg_rdm(x, y, device=args.device))
        est, est_cpu = ours * 100 / T_slice, cpu * 100 / T_slice
        lines.append(f"| (c) 92 cond x 30 trials x 64 ch x 100 times, `method='lda'` (exact; timed on "
                     f"{T_slice} time points, x{100 / T_slice:g} extrapolated) | {secs(est)} (CPU {secs(est_cpu)}) "
                     "| <= 120 s |")
        print(lines[-1], flush=True)

    if "d" in only:  # (d) 200 cond x 17 ch x 100 times, 5 pseudo-trials (20 trials each) -> 5 LOO folds
        T_d = 20 if args.quick else 50
        x, y = make(200, 20, 17, T_d, seed=3)
        (ours, cpu), _ = timed(lambda: eeg_rdm(x, y, pseudo_trials=5, random_state=0, device=args.device))
        est, est_cpu = ours * 100 / T_d, cpu * 100 / T_d
        note = "" if T_d == 100 else f"; timed on {T_d} time points, x{100 // T_d} extrapolated"
        lines.append(f"| (d) 200 cond x 20 trials -> 5 pseudo-trials x 17 ch x 100 times, `method='lda'`, "
                     f"5 folds{note} | {secs(est)} (CPU {secs(est_cpu)}) | <= 60 s |")
        print(lines[-1], flush=True)
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    if gpu:
        lines += ["", f"Peak GPU memory allocated by torch: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB."]
    where = ("sklearn on one core of this machine's CPU, eeg_rdm on the GPU" if gpu else
             "timings on a 2-core machine shared with other jobs are pessimistic")
    lines += ["", f"Load average at end: {load_end:.1f}. Both sides ran in the same process under the same "
              f"load; {where}.", ""]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(args.out).with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines))
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
