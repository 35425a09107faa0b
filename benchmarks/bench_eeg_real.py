"""Exact LDA ``eeg_rdm`` on real EEG (PhysioNet S001) against the scikit-learn loop, side by side.

Every case is timed in one run, ours and the reference interleaved (``--repeats`` rounds of:
``eeg_rdm`` on the whole case, then ``--fits`` random scikit-learn fits of the same case), so
that the load of a shared machine hits both; medians over the rounds are reported. The
reference is the plain loop ``LinearDiscriminantAnalysis().fit(...).predict(...)`` per
(pair, time point, leave-one-out fold), timed on a random sample of its fits (1 BLAS thread,
its fastest setting here) and multiplied by the number of fits.

Cases: the bundled S001 epochs (64 channels, average-referenced) with the 8 ``labels``
conditions (21 trials each after balancing: the rank-deficient regime, null-space path) and
the 4 ``target`` conditions (44 trials: the average-reference channel path), at 1, 8, 32
and all 161 time points (starting at the stimulus, wrapping the epoch for the longer
slices); synthetic rank-deficient (benchmark (a): 16 cond x 30 trials x 64 ch) and
synthetic full-rank (16 cond x 40 trials x 32 ch) data.

Usage::

    .venv/bin/python benchmarks/bench_eeg_real.py [--repeats 5] [--fits 60] [--threads 2]
        [--only s8,s4,a,f] [--times 1,8,32,161] [--out benchmarks/results/eeg_real.md]
        [--baseline DIR]

``--baseline DIR``: DIR holds an older copy of the package renamed ``rdm_widgets_base``
(e.g. ``git worktree add /tmp/old <commit>; mkdir /tmp/pkg; cp -r /tmp/old/rdm_widgets
/tmp/pkg/rdm_widgets_base``); it is then timed in the same rounds (before/after in one run).
"""
from __future__ import annotations

import argparse
import importlib
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis as LDA
from threadpoolctl import threadpool_limits

from rdm_widgets.eeg import eeg_rdm, UnbalancedTrialsWarning

warnings.simplefilter("ignore", UnbalancedTrialsWarning)   # S001 has 21-24 trials per condition

DATA = Path(os.environ.get("RDMW_SHARED_DATA", "/work/shared/data")) / "eeg" / "eegmmidb_S001_epochs.npz"


def _s001(key):
    with np.load(DATA, allow_pickle=False) as z:
        return z["eeg"], z[key]


def _synthetic(n_cond, n_trials, n_chan, n_times, seed):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_cond), n_trials)
    x = rng.standard_normal((n_cond * n_trials, n_chan, n_times))
    x[:, :, n_times // 3: 2 * n_times // 3] += 0.5 * rng.standard_normal((n_cond, n_chan, 1))[labels]
    return x, labels


CASES = {
    "s8": ("S001, 8 `labels` conditions x 21 trials x 64 ch (avg-ref, rank-deficient)", lambda: _s001("labels")),
    "s4": ("S001, 4 `target` conditions x 44 trials x 64 ch (avg-ref, average-reference path)",
           lambda: _s001("target")),
    "a": ("synthetic 16 cond x 30 trials x 64 ch (rank-deficient)", lambda: _synthetic(16, 30, 64, 161, 0)),
    "f": ("synthetic 16 cond x 40 trials x 32 ch (full rank)", lambda: _synthetic(16, 40, 32, 161, 1)),
}


def units_of(x, labels):
    """(n_cond, k, C, T): the first k trials of every condition, as ``eeg_rdm`` balances them."""
    conds = np.unique(labels)
    k = min(int((labels == c).sum()) for c in conds)
    return np.stack([x[np.flatnonzero(labels == c)[:k]] for c in conds]).astype(np.float64)


def sklearn_fits(units, n_fits, rng):
    """Mean seconds of one (pair, time, fold) fit + predict of the sklearn loop."""
    n_cond, k, _, T = units.shape
    with threadpool_limits(1):
        t0 = time.perf_counter()
        for _ in range(n_fits):
            i, j = sorted(rng.choice(n_cond, 2, replace=False))
            t, f = rng.integers(T), rng.integers(k)
            tr = np.delete(np.arange(k), f)
            m = LDA().fit(np.concatenate([units[i, tr, :, t], units[j, tr, :, t]]), [0] * (k - 1) + [1] * (k - 1))
            m.predict(np.stack([units[i, f, :, t], units[j, f, :, t]]))
        return (time.perf_counter() - t0) / n_fits


def time_slice(x, n_times):
    """``n_times`` samples from the stimulus onset on (index 32 = 0.0 s), wrapping the epoch."""
    idx = (32 + np.arange(n_times)) % x.shape[-1]
    return np.ascontiguousarray(x[:, :, idx])


def _timed(fn, *args):
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def run_case(name, x, labels, n_times, repeats, n_fits, rng, before=None):
    """One table row: medians over interleaved rounds of (before,) ours and the sklearn sample."""
    xs = time_slice(x, n_times)
    units = units_of(xs, labels)
    n_cond, k = units.shape[:2]
    n_fits_total = n_cond * (n_cond - 1) // 2 * n_times * k
    for fn in (eeg_rdm, before) if before else (eeg_rdm,):
        fn(xs[..., :1], labels)                                       # warm-up (imports, caches)
    ours, old, per_fit = [], [], []
    for _ in range(repeats):                                          # interleaved rounds
        if before:
            old.append(_timed(before, xs, labels))
        ours.append(_timed(eeg_rdm, xs, labels))
        per_fit.append(sklearn_fits(units, n_fits, rng))
    o, p = statistics.median(ours), statistics.median(per_fit)
    n_pt = n_cond * (n_cond - 1) // 2 * n_times
    row = (f"| {name} | {n_times} | {n_pt:,} | {p * k * 1e3:.1f} ms | {o / n_pt * 1e3:.3f} ms | "
           f"{o * 1e3:,.1f} ms | **{p * n_fits_total / o:,.0f}x** |")
    if before:
        b = statistics.median(old)
        row += f" {b / n_pt * 1e3:.3f} ms | {p * n_fits_total / b:,.0f}x | {b / o:.1f}x |"
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--fits", type=int, default=60, help="sklearn fits timed per round")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--only", default=",".join(CASES))
    ap.add_argument("--times", default="1,8,32,161")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "eeg_real.md"))
    ap.add_argument("--baseline", default=None, help="folder holding a package copy `rdm_widgets_base`")
    args = ap.parse_args()
    before = None
    if args.baseline:
        sys.path.insert(0, args.baseline)
        before = importlib.import_module("rdm_widgets_base.eeg").eeg_rdm
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    load = os.getloadavg()[0]
    lines = [f"Machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
             f"(threads {torch.get_num_threads()}), float64, cpu. Load average at start: {load:.1f}. "
             f"Medians of {args.repeats} interleaved rounds (eeg_rdm on the whole case, then "
             f"{args.fits} random sklearn fits).", "",
             "| case | times | pair-times | sklearn LOO loop per pair-time | eeg_rdm per pair-time | "
             "eeg_rdm total | speed-up |" + (" before: per pair-time | before: speed-up | faster than before |"
                                             if before else ""),
             "|---|---:|---:|---:|---:|---:|---:|" + ("---:|---:|---:|" if before else "")]
    for key in args.only.split(","):
        name, load_fn = CASES[key.strip()]
        x, labels = load_fn()
        for n_times in (int(v) for v in args.times.split(",")):
            lines.append(run_case(name, x, labels, n_times, args.repeats, args.fits, rng, before))
            print(lines[-1], flush=True)
    lines += ["", f"Load average at end: {os.getloadavg()[0]:.1f}.", ""]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(args.out).with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines))
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
