"""Where the time of the exact LDA kernel goes: torch profiler tables for one scenario.

Usage::

    python benchmarks/profile_eeg.py [--device cuda] [--shape 92,30,64,4] [--rows 20]

Prints the operators (and, on CUDA, the GPU kernels) sorted by their own time, for
``lda_loo_decisions`` on seeded data of shape (n_cond, k, channels, times), after one warm-up.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

from rdm_widgets.eeg._lda import block_pair_times, lda_loo_decisions


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--shape", default="92,30,64,4", help="n_cond,k,channels,times")
    ap.add_argument("--rows", type=int, default=20)
    args = ap.parse_args()
    n_cond, k, c, t = (int(v) for v in args.shape.split(","))
    dev = torch.device(args.device)
    data = torch.from_numpy(np.random.default_rng(0).standard_normal((n_cond, k, c, t))).to(dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    lda_loo_decisions(data[:, :, :, :1])                                   # warm-up
    sync()
    t0 = time.perf_counter()
    lda_loo_decisions(data)
    sync()
    wall = time.perf_counter() - t0
    n_pt = n_cond * (n_cond - 1) // 2 * t
    print(f"{args.shape} on {dev}: {wall:.3f} s, {n_pt} pair-times, {wall / n_pt / k * 1e6:.2f} us per fold, "
          f"block {block_pair_times(k, c, dev)} pair-times")
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    with profile(activities=acts) as prof:
        lda_loo_decisions(data)
        sync()
    key = "self_cuda_time_total" if dev.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=args.rows, max_name_column_width=60))


if __name__ == "__main__":
    main()
