"""Benchmark of temporal generalisation (``eeg_rdm(..., generalization=True)``) at the classic size
against the plain scikit-learn train-at-t / test-at-t' loop, in one run.

Classic size: 92 conditions x 30 trials x 64 channels x 100 train x 100 test times, exact
leave-one-trial-pair-out LDA (the default method). Neither side is run in full (hours):

* ours: ``eeg_rdm`` on a sample of condition pairs -- the first ``--conditions`` conditions
  (all their pairs), every time point, every fold -- and the time per pair multiplied by the
  4186 pairs (the work is per pair; per-condition work is negligible for LDA). Stated as
  "sampled and extrapolated".
* scikit-learn: ``--sk-fits`` random (pair, fold, train time) items, each one
  ``LinearDiscriminantAnalysis().fit`` on the 58 training trials at ``t`` plus one ``predict`` of
  the 2 held-out trials at all 100 test times (the cheapest faithful loop: one predict call per
  fit), 1 BLAS thread (its fastest setting here); the mean time per item multiplied by
  4186 x 30 x 100 items.

Usage::

    .venv/bin/python benchmarks/bench_eeg_generalization.py [--conditions 5] [--sk-fits 200]
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis as LDA
from threadpoolctl import threadpool_limits

from rdm_widgets.eeg import eeg_rdm

N_COND, K, C, T = 92, 30, 64, 100
N_PAIRS = N_COND * (N_COND - 1) // 2


def make(n_cond, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_cond), K)
    x = rng.standard_normal((n_cond * K, C, T))
    x[:, :, T // 3: 2 * T // 3] += 0.5 * rng.standard_normal((n_cond, C, 1))[labels]
    return x, labels


def time_ours(n_cond: int) -> tuple:
    x, labels = make(n_cond)
    w0, c0 = time.perf_counter(), time.process_time()
    res = eeg_rdm(x, labels, generalization=True)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    w0 = time.perf_counter()
    eeg_rdm(x, labels)
    diag = time.perf_counter() - w0
    pairs = n_cond * (n_cond - 1) // 2
    return wall / pairs, cpu / pairs, diag / pairs, res


def time_sklearn(n_items: int, seed=1) -> tuple:
    x, labels = make(6, seed=seed)          # the data's values do not change sklearn's cost
    rng = np.random.default_rng(seed)
    units = np.stack([x[labels == c] for c in range(6)])         # (6, K, C, T)
    items = [(rng.choice(6, 2, replace=False), int(rng.integers(K)), int(rng.integers(T))) for _ in range(n_items)]
    y = np.r_[np.zeros(K - 1), np.ones(K - 1)]
    with threadpool_limits(1):
        w0, c0 = time.perf_counter(), time.process_time()
        for (i, j), f, t in items:
            keep = np.r_[0:f, f + 1:K]
            clf = LDA().fit(np.r_[units[i, keep, :, t], units[j, keep, :, t]], y)
            test = np.r_[units[i, f][None], units[j, f][None]]                 # (2, C, T)
            clf.predict(test.transpose(2, 0, 1).reshape(2 * T, C))             # every test time at once
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return wall / n_items, cpu / n_items


def fmt(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    return f"{s / 60:.1f} min" if s >= 120 else f"{s:.1f} s"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--conditions", type=int, default=5, help="conditions timed on our side (all their pairs)")
    ap.add_argument("--sk-fits", type=int, default=200, help="sklearn items timed")
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    per_pair, per_pair_cpu, diag_pair, _ = time_ours(args.conditions)
    sk, sk_cpu = time_sklearn(args.sk_fits)
    items = N_PAIRS * K * T
    ours_total, ours_cpu = per_pair * N_PAIRS, per_pair_cpu * N_PAIRS
    sk_total, sk_cpu_total = sk * items, sk_cpu * items
    pairs = args.conditions * (args.conditions - 1) // 2
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} (threads "
          f"{torch.get_num_threads()}), float64, device cpu. Load average at start: {load0:.1f} (shared machine).")
    print()
    print(f"Classic size: {N_COND} conditions x {K} trials x {C} channels x {T} train x {T} test times, "
          f"`method='lda'` (exact), leave-one-trial-pair-out: {N_PAIRS:,} pairs x {K} folds x {T} train times = "
          f"{items:,} classifiers, each tested at {T} times.")
    print()
    print("| side | how it was timed | time per pair | classic size (extrapolated), wall / CPU |")
    print("|---|---|---:|---:|")
    print(f"| `eeg_rdm(..., generalization=True)` | sampled: all {pairs} pairs of {args.conditions} conditions, "
          f"every fold and time, x {N_PAIRS / pairs:.0f} extrapolated | {per_pair:.2f} s | "
          f"**{fmt(ours_total)}** / {fmt(ours_cpu)} |")
    print(f"| scikit-learn loop (fit at t, predict the 2 held-out trials at all {T} t') | sampled: "
          f"{args.sk_fits} random (pair, fold, t) fits, 1 BLAS thread, x {items / args.sk_fits:,.0f} "
          f"extrapolated | {sk * K * T:.1f} s | {fmt(sk_total)} / {fmt(sk_cpu_total)} |")
    print()
    print(f"Speed-up (extrapolated, wall): **{sk_total / ours_total:.0f}x** (CPU: {sk_cpu_total / ours_cpu:.0f}x). "
          f"For scale, the diagonal alone (ordinary `eeg_rdm`, same sample): {diag_pair:.3f} s per pair, "
          f"{fmt(diag_pair * N_PAIRS)} extrapolated; temporal generalisation costs "
          f"{per_pair / diag_pair:.0f}x the diagonal (it includes it). sklearn: {sk * 1e3:.2f} ms per fit + "
          f"predict. Load average at end: {os.getloadavg()[0]:.1f}.")


if __name__ == "__main__":
    main()
