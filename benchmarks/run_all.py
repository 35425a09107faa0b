"""Run every benchmark and assemble BENCHMARKS.md from their result fragments.

Each benchmark measures rdm_widgets and its reference side by side in one run and
writes a markdown fragment to ``benchmarks/results/<name>.md``; this script runs them
in turn (``--quick`` for smaller sizes, ``--only NAME`` to rerun one) and concatenates
the fragments, so BENCHMARKS.md always shows the latest ratios.

A benchmark that prints its table instead of writing a fragment (``bench_eeg_generalization``),
or whose fragment has no "## " heading (``bench_video``: its section wraps the output by hand),
keeps the section of the current BENCHMARKS.md whose heading names its script, so assembling
never drops a hand-written section.

Usage: ``python benchmarks/run_all.py [--quick] [--only NAME ...] [--assemble-only]``
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BENCHES = {
    "distances": "bench_distances.py",
    "create_rdms": "bench_create_rdms.py",
    "eeg": "bench_eeg.py",
    "tiled": "bench_tiled.py",
    "estimate": "bench_estimate.py",
    "eeg_generalization": "bench_eeg_generalization.py",
    "video": "bench_video.py",
    "time_rdms": "bench_time_rdms.py",
    "cluster": "bench_cluster.py",
    "bootstrap": "bench_bootstrap.py",
}
#: what ``--quick`` passes to the benchmarks that have no ``--quick`` option of their own
QUICK_ARGS = {
    "eeg_generalization": ["--conditions", "3", "--sk-fits", "50"],
    "video": ["--n", "100"],
    "time_rdms": ["--n", "100", "--repeat", "1"],
}
# one-off comparisons whose section of BENCHMARKS.md is kept as it is, first (not rerun here)
KEPT_FIRST = ("compare_commits.py",)
# written by benchmarks/gpu_check.sh on a GPU machine (copied from its $OUT), not by run_all
GPU_FRAGMENTS = ("eeg_cuda", "distances_cuda")
GPU_HEADER = """## GPU (NVIDIA H200)

Produced by `benchmarks/gpu_check.sh` at commit 9d0cf24, which also ran the 14 EEG CUDA tests
(`tests/test_eeg_cuda.py`: exactness against sklearn in the three regimes and on the real S001
data; log in `benchmarks/results/gpu/pytest_cuda.log`). Fragments are copied from its output
folder; `run_all.py` does not rerun them. Not yet measured on a GPU: the later CPU-side rewrite of
the null-space path (b0a441d: same algebra regrouped, identical masks and decisions to ~1e-11 on
the CPU, including GPU-sized single-chunk blocks), `tests/test_cuda.py` (the DNN core on CUDA) and
the distance benchmark on CUDA: the GPU lent to that session was not available again.

"""
HEADER = """# Benchmarks

Speed and memory targets live here, never in timed unit tests. Every table is produced by a
script in `benchmarks/` that runs rdm_widgets and its reference side by side in one run, and
is reported as ratios. Regenerate with `make bench` (or `python benchmarks/run_all.py`).

Machine for the CPU figures below unless a table says otherwise: the project's CI/development
machine, 2 CPU cores, 24 GiB, no GPU; torch 2.13.0 CPU build. The machine was shared with other
jobs while these were measured (load averages are given per table): ratios measured in one run
are meaningful, absolute seconds are pessimistic. The GPU tables at the end come from
`benchmarks/gpu_check.sh` on a lent NVIDIA H200 (16 CPU cores; its own torch 2.11 + CUDA 13),
where the scikit-learn reference ran on that machine's CPU in the same run.

Out-of-core RDMs (`tiled_rdm`) are measured under a real memory cap: the run is put into a
Linux memory cgroup whose limit (page cache included) is below the size of the features.

EEG targets: every EEG target is met on the GPU (exact LDA (a) about 4,000x the sklearn loop, the
classic size (c) in about 1 s). On the 2-core CPU, (b) shrinkage with pseudo-trials is at 460x
with the default 2 threads, the classic size (c) runs in 94 s in full (<= 120 s) and (d) in 27 s
(<= 60 s), but exact LDA in the rank-deficient regime (fewer training trials than channels, (a))
reaches about 220x with 2 threads (about 165x on one) against the target of >= 300x.
scikit-learn's svd solver rescales every channel by the training fold's pooled std, so the
per-fold std must enter every fold's solution; the null-space path confines it to a small
(C-2k+4)-square oblique system per fold, shares one factorisation of the pair's Helmert Gram
across the k folds and sends one vector per fold through the pair's (2k-2) x C operator (~9 us
per fold and core, 14x less than a per-fold Gram + Cholesky). What remains on the CPU is split
between small-matrix LAPACK per (pair, time) and a few hundred eager torch operations per chunk;
on the GPU the same code runs as one call per block of ~4,000 pair-times.

"""


def _kept_sections(text: str) -> dict:
    """``{script: section}`` of the current BENCHMARKS.md: each "## " section whose heading names
    a script (benchmarks that print their table instead of writing a fragment, one-off comparisons)."""
    out = {}
    for section in re.split(r"(?m)^(?=## )", text):
        found = re.match(r"## .*?`(\w+\.py)", section)
        if found:
            out.setdefault(found.group(1), section.strip() + "\n\n")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    ap.add_argument("--only", choices=sorted(BENCHES), action="append", help="run only these")
    ap.add_argument("--assemble-only", action="store_true", help="only rebuild BENCHMARKS.md")
    args = ap.parse_args()
    if not args.assemble_only:
        for name in args.only or BENCHES:
            quick = QUICK_ARGS.get(name, ["--quick"]) if args.quick else []
            cmd = [sys.executable, str(HERE / BENCHES[name])] + quick
            print("$", " ".join(cmd), flush=True)
            subprocess.run(cmd, check=True, cwd=ROOT)
    parts = [HEADER]
    results = HERE / "results"
    old = ROOT / "BENCHMARKS.md"
    kept = _kept_sections(old.read_text()) if old.exists() else {}
    parts += [kept[script] for script in KEPT_FIRST if script in kept]
    for name, script in BENCHES.items():
        fragment = results / f"{name}.md"
        text = fragment.read_text().strip() + "\n\n" if fragment.exists() else ""
        # a fragment without its "## " heading is raw output that the section wraps by hand
        if script in kept and not text.startswith("## "):
            text = kept[script]
        parts.append(text)
    gpu = [(results / f"{n}.md").read_text().strip() for n in GPU_FRAGMENTS if (results / f"{n}.md").exists()]
    if gpu:   # one section: the fragments' own headings become subsections
        parts += [GPU_HEADER] + [g.replace("## ", "### ", 1) + "\n\n" for g in gpu]
    (ROOT / "BENCHMARKS.md").write_text("".join(parts))
    print("wrote", ROOT / "BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
