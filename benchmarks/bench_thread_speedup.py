"""How much faster ``eeg_rdm`` runs with 2 torch threads than with 1, by regime and job size.

The cost estimate (:mod:`rdm_widgets.estimate._eeg_units`) measures the EEG kernels' unit costs
in one thread and divides by a modelled speed-up (:func:`~rdm_widgets.estimate._eeg_units.thread_speedup`).
This benchmark measures the speed-up itself, 1 and 2 threads interleaved in one process
(``--repeats`` rounds, minimum per thread count), for jobs from a dashboard's few time points
to long epochs, and prints the model's prediction beside it (with the job's calibrated one-thread
kernel work, as :func:`rdm_widgets.estimate.estimate_eeg_rdm` calls it).

Usage::

    .venv/bin/python benchmarks/bench_thread_speedup.py [--repeats 5] [--out benchmarks/results/thread_speedup.md]
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from rdm_widgets.eeg import eeg_rdm, plan_eeg_rdm
from rdm_widgets.estimate._eeg_units import calibrated_units, thread_speedup

# name -> (conditions, trials, channels, eeg_rdm options, average-referenced)
CASES = {
    "rank-deficient": (8, 20, 64, {}, False),
    "full-rank": (12, 50, 32, {}, False),
    "average-referenced": (4, 44, 64, {}, True),
    "lda_shrinkage, 4 folds": (12, 40, 32, dict(method="lda_shrinkage", cv=4, pseudo_trials=8), False),
    "cv_euclidean": (20, 20, 32, dict(method="cv_euclidean", pseudo_trials=5), False),
    "crossnobis": (20, 20, 32, dict(method="crossnobis", pseudo_trials=5), False),
}
TIMES = (1, 4, 16, 64, 256)


def _data(n_cond, k, n_ch, n_t, avg, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_cond), k)
    x = rng.standard_normal((len(labels), n_ch, n_t)) + 0.3 * labels[:, None, None]
    if avg:
        x -= x.mean(axis=1, keepdims=True)
    return x, labels


def _time(x, labels, opts, threads):
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    eeg_rdm(x, labels, random_state=0, **opts)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--times", default=",".join(map(str, TIMES)))
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "thread_speedup.md"))
    ap.add_argument("--only", nargs="*", help="run only the jobs whose name contains one of these")
    args = ap.parse_args()
    rows = []
    load0 = os.getloadavg()[0]
    for name in (n for n in CASES if not args.only or any(o in n for o in args.only)):
        n_cond, k, n_ch, opts, avg = CASES[name]
        for n_t in map(int, args.times.split(",")):
            x, labels = _data(n_cond, k, n_ch, n_t, avg)
            _time(x, labels, opts, 1), _time(x, labels, opts, 2)          # warm-up
            one, two = [], []
            for _ in range(args.repeats):
                one.append(_time(x, labels, opts, 1))
                two.append(_time(x, labels, opts, 2))
            torch.set_num_threads(1)
            plan = plan_eeg_rdm(x, labels, **opts)
            fixed, a, b, _ = calibrated_units(plan)
            work = plan.n_times_out * (a * n_cond + b * plan.n_pairs)
            torch.set_num_threads(2)
            model = thread_speedup(plan, work)                  # as the estimate uses it
            rows.append((name, n_t, min(one), min(two), min(one) / min(two), model, work))
            print(f"{name:24s} T={n_t:4d} 1 thread {min(one) * 1e3:8.1f} ms  2 threads {min(two) * 1e3:8.1f} ms"
                  f"  speed-up {min(one) / min(two):5.2f}  model {model:5.2f}  kernel work (1 thread) "
                  f"{work * 1e3:8.1f} ms", flush=True)
    load1 = os.getloadavg()[0]
    lines = [f"Load average {load0:.1f} at start, {load1:.1f} at the end; {args.repeats} rounds, minima.", "",
             "| job | time points | 1 thread (ms) | 2 threads (ms) | measured speed-up | model | "
             "kernel work, 1 thread (ms, calibrated) |", "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {n} | {t} | {a * 1e3:.1f} | {b * 1e3:.1f} | {s:.2f} | {m:.2f} | {w * 1e3:.1f} |"
              for n, t, a, b, s, m, w in rows]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
