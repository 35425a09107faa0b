"""Where the time of the exact LDA kernel goes: a per-stage split and torch profiler tables.

Usage::

    python benchmarks/profile_eeg.py [--device cuda] [--shape 92,30,64,4] [--rows 20]
    python benchmarks/profile_eeg.py --real labels --times 1,8,32,161 --stages [--threads 1]
        [--baseline DIR]

Default: the operators (and, on CUDA, the GPU kernels) sorted by their own time, for
``lda_loo_decisions`` on seeded data of shape (n_cond, k, channels, times), after one warm-up.

``--real labels|target``: the bundled S001 epochs (8 or 4 conditions) instead, through
``eeg_rdm``. ``--stages``: instead of the operator table, the wall time of one ``eeg_rdm`` call
split into its stages (medians of 5 calls): validation/planning/result outside the kernel,
the kernel's own Python (block gathering, threads), the fast path of the regime and the exact
SVD fallback. ``--baseline DIR`` profiles an older copy of the package (``rdm_widgets_base``
in DIR, see ``bench_eeg_real.py``) the same way.
"""
from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

DATA = Path(os.environ.get("RDMW_SHARED_DATA", "/work/shared/data")) / "eeg" / "eegmmidb_S001_epochs.npz"
# stage name -> function names in rdm_widgets.eeg._lda that are timed (own time, nested excluded)
STAGES = {
    "null-space path": ("_null_space",),
    "null-space path, compiled": ("_compiled_block:null",),
    "average-reference channel path": ("_avgref_channel_space",),
    "average-reference path, compiled": ("_compiled_block:avgref", "_avgref_decisions:compiled"),
    "full-rank channel path": ("_channel_space",),
    "sample-space path": ("_sample_space",),
    "exact SVD fallback": ("_exact_folds",),
}


def _load_real(key, n_times):
    with np.load(DATA, allow_pickle=False) as z:
        idx = (32 + np.arange(n_times)) % z["eeg"].shape[-1]
        return np.ascontiguousarray(z["eeg"][:, :, idx]), z[key]


def _stage_name(lda, name, args):
    """The compiled kernels' calls go through dispatchers: name them by the path they run (the
    torch versions inside them are timed on their own and subtracted)."""
    if name == "_compiled_block":
        return name + (":null" if lda._use_null_space(args[2], args[0].shape[2]) else ":avgref")
    if name == "_avgref_decisions":
        return name + ":compiled"
    return name


def stage_split(pkg, x, labels, repeats=5):
    """Median seconds per stage of ``eeg_rdm(x, labels)`` (the package ``pkg``), over ``repeats``."""
    lda = importlib.import_module(f"{pkg}.eeg._lda")
    eeg_rdm = importlib.import_module(f"{pkg}.eeg").eeg_rdm
    spent = defaultdict(float)
    originals = {}

    def wrap(name, fn):
        def timed(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                spent[_stage_name(lda, name, a)] += time.perf_counter() - t0
        return timed

    for nm in {n.split(":")[0] for n in sum(STAGES.values(), ("lda_loo_decisions",))}:   # names _lda calls
        if hasattr(lda, nm):
            originals[nm] = getattr(lda, nm)
            setattr(lda, nm, wrap(nm, originals[nm]))
    methods = importlib.import_module(f"{pkg}.eeg._methods")
    methods_loo = methods.lda_loo_decisions
    methods.lda_loo_decisions = lda.lda_loo_decisions
    rows = defaultdict(list)
    try:
        eeg_rdm(x, labels)
        for _ in range(repeats):
            spent.clear()
            t0 = time.perf_counter()
            eeg_rdm(x, labels)
            total = time.perf_counter() - t0
            # the dispatchers include the torch versions when those run: count them once
            spent["_avgref_decisions:compiled"] -= spent["_avgref_channel_space"]
            paths = 0.0
            for stage, names in STAGES.items():
                v = sum(spent[nm] for nm in names)
                rows[stage].append(v)
                paths += v
            rows["kernel: gathering, blocks, threads"].append(spent["lda_loo_decisions"] - paths)
            rows["eeg_rdm outside the kernel"].append(total - spent["lda_loo_decisions"])
            rows["total"].append(total)
    finally:
        for nm, fn in originals.items():
            setattr(lda, nm, fn)
        methods.lda_loo_decisions = methods_loo
    return {k: statistics.median(v) for k, v in rows.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--shape", default="92,30,64,4", help="n_cond,k,channels,times")
    ap.add_argument("--rows", type=int, default=20)
    ap.add_argument("--real", default=None, help="'labels' (8 conditions) or 'target' (4) of S001")
    ap.add_argument("--times", default="8", help="time points of the S001 slices (comma-separated)")
    ap.add_argument("--stages", action="store_true", help="per-stage split of eeg_rdm instead")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--baseline", default=None, help="folder holding a package copy `rdm_widgets_base`")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    pkg = "rdm_widgets"
    if args.baseline:
        sys.path.insert(0, args.baseline)
        pkg = "rdm_widgets_base"
    if args.stages:
        key = args.real or "labels"
        for n_times in (int(v) for v in args.times.split(",")):
            x, labels = _load_real(key, n_times)
            split = stage_split(pkg, x, labels)
            n_pt = len(np.unique(labels)) * (len(np.unique(labels)) - 1) // 2 * n_times
            parts = ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in split.items() if v > 5e-5 and k != "total")
            print(f"S001 {key}, {n_times} times ({n_pt} pair-times), {pkg}, threads {torch.get_num_threads()}: "
                  f"total {split['total'] * 1e3:.1f} ms = {split['total'] / n_pt * 1e6:.0f} us/pair-time; {parts}")
        return
    lda = importlib.import_module(f"{pkg}.eeg._lda")
    dev = torch.device(args.device)
    if args.real:
        x, labels = _load_real(args.real, int(args.times.split(",")[0]))
        conds = np.unique(labels)
        k = min(int((labels == c).sum()) for c in conds)
        data = torch.from_numpy(np.stack([x[np.flatnonzero(labels == c)[:k]] for c in conds]).astype(np.float64))
        data = data.to(dev)
        args.shape = ",".join(str(v) for v in data.shape)
    else:
        n_cond, k, c, t = (int(v) for v in args.shape.split(","))
        data = torch.from_numpy(np.random.default_rng(0).standard_normal((n_cond, k, c, t))).to(dev)
    n_cond, k, c, t = data.shape
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    lda.lda_loo_decisions(data[:, :, :, :1])                                   # warm-up
    sync()
    t0 = time.perf_counter()
    lda.lda_loo_decisions(data)
    sync()
    wall = time.perf_counter() - t0
    n_pt = n_cond * (n_cond - 1) // 2 * t
    print(f"{args.shape} on {dev}: {wall:.3f} s, {n_pt} pair-times, {wall / n_pt / k * 1e6:.2f} us per fold, "
          f"block {lda.block_pair_times(k, c, dev)} pair-times")
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    with profile(activities=acts) as prof:
        lda.lda_loo_decisions(data)
        sync()
    key = "self_cuda_time_total" if dev.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=args.rows, max_name_column_width=60))


if __name__ == "__main__":
    main()
