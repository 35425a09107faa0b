"""Video features and dimensionality reduction: time, peak memory and RDM agreement.

N clips of ``[1, 16, 3, 112, 112]`` features (602,112 values per clip, as a video model's
early layer) are written as one float16 ``.npz`` per clip (Net2Brain's per-stimulus layout)
into a temporary folder, with planted graded structure (16 latent factors + noise). Each method runs in
its own subprocess (so its peak RSS is its own, measured with ``resource.getrusage``), under
a data-segment limit (``RLIMIT_DATA``, ``--cap-mb``) for the reduced runs:

- ``full``: the whole (N, D) float32 layer in memory, then the correlation RDM (no reduction;
  the reference) -- not capped;
- ``tiled``: ``tiled_rdm`` without reduction (out of core: the features staged to disk);
- ``pca`` / ``srp`` / ``srp+pca``: ``reduced_source`` (fitted per layer; PCA on a seeded
  sample of 100 clips, SRP to the Johnson-Lindenstrauss size for N and eps = 0.1), rows
  reduced block by block as the files stream, then the correlation RDM;
- ``tiled srp``: ``tiled_rdm(dim_reduction='srp')``.

Reported: wall and CPU time, peak RSS, reduced width, and the Spearman correlation of each RDM
with the full one (upper triangle).

Usage: ``python benchmarks/bench_video.py [--n 300] [--cap-mb 1536]`` (the issue's 2,000 clips
are 2.4 GB of float16 files and 4.8 GB of float32 features in memory for the full run).
Results: ``benchmarks/results/video.md``.
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
SHAPE = (1, 16, 3, 112, 112)
LAYER = "block1"


def write_clips(folder: Path, n: int, seed: int = 0) -> int:
    """``n`` per-clip float16 npz files with graded structure: 16 latent factors per clip mixed
    into the 602,112 features (``z @ B``), plus as much independent noise per feature."""
    rng = np.random.default_rng(seed)
    d = int(np.prod(SHAPE))
    mix = rng.standard_normal((16, d), dtype=np.float32)
    for i in range(n):
        x = rng.standard_normal(16, dtype=np.float32) @ mix + 4.0 * rng.standard_normal(d, dtype=np.float32)
        np.savez(folder / f"clip_{i:05d}.npz", **{LAYER: x.reshape(SHAPE).astype(np.float16)})
    return n * d * 2


# ------------------------------------------------------------------ workers (subprocesses)
def worker(mode: str, folder: str, out: str, cap_mb: int) -> dict:
    if cap_mb:
        resource.setrlimit(resource.RLIMIT_DATA, (cap_mb * 1024 ** 2, cap_mb * 1024 ** 2))
    import torch

    torch.set_num_threads(1)
    from rdm_widgets import open_features, pairwise_distances, tiled_rdm
    from rdm_widgets.reduction import check_reduction, reduced_source

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0, c0 = time.perf_counter(), time.process_time()
    methods = {"pca": ("pca", {}), "srp": ("srp", {}), "srp+pca": ("pca", {"srp_before_pca": True})}
    if mode.startswith("tiled"):
        red = {"dim_reduction": "srp"} if mode == "tiled srp" else {}
        store = tiled_rdm(folder, Path(out).with_suffix(".store"), tile_size=128, **red)
        cond = np.asarray(store.condensed, np.float32).copy()
        width = store.meta["feature_dim"]
    else:
        src = open_features(folder)
        if mode != "full":
            method, extra = methods[mode]
            src = reduced_source(src, check_reduction(method, **extra))
        x = dict(src.iter_layers([LAYER]))[LAYER]
        width = x.shape[1]
        rdm = pairwise_distances(x, "correlation", overwrite_x=True).numpy()
        del x
        cond = rdm[np.triu_indices(len(rdm), 1)]
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    np.save(out, cond)
    return {"mode": mode, "wall": wall, "cpu": cpu, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "import_mb": base, "width": int(width), "cap_mb": cap_mb}


def run(mode: str, folder: Path, tmp: Path, cap_mb: int) -> dict:
    out = tmp / f"{mode.replace(' ', '_').replace('+', '_')}.npy"
    cmd = [sys.executable, __file__, "--worker", mode, str(folder), str(out), str(cap_mb)]
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if res.returncode:
        raise RuntimeError(f"{mode} failed:\n{res.stderr[-3000:]}")
    info = json.loads(res.stdout.strip().splitlines()[-1])
    info["cond"] = out
    return info


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--cap-mb", type=int, default=1536)
    ap.add_argument("--worker", nargs=4)
    args = ap.parse_args()
    if args.worker:
        mode, folder, out, cap = args.worker
        print(json.dumps(worker(mode, folder, out, int(cap))))
        return
    from scipy.stats import spearmanr

    import torch

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = tmp / "clips"
        folder.mkdir()
        t = time.perf_counter()
        stored = write_clips(folder, args.n)
        t_write = time.perf_counter() - t
        rows = [run("full", folder, tmp, 0)]
        for mode in ("tiled", "pca", "srp", "srp+pca", "tiled srp"):
            rows.append(run(mode, folder, tmp, args.cap_mb if mode != "tiled" else 0))
        ref = np.load(rows[0]["cond"])
        for r in rows:
            r["spearman"] = float(spearmanr(ref, np.load(r["cond"]))[0])
    d = int(np.prod(SHAPE))
    full_gb = args.n * d * 4 / 1024 ** 3
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared), torch {torch.__version__} "
        f"(1 thread), float32, CPU. Load average at start: {os.getloadavg()[0]:.1f}.",
        f"Data: {args.n} clips x `{list(SHAPE)}` = {d:,} values per clip, one float16 npz per clip "
        f"({stored / 1024 ** 3:.2f} GB on disk, written in {t_write:.0f} s; {full_gb:.2f} GB as float32 "
        "in memory). Correlation distance. PCA: 100 sampled clips (`n_samples_estim=100`, seed 0); "
        "SRP: `n_components='auto'` = JL(N, eps=0.1), seed 0.",
        f"Reduced runs under `RLIMIT_DATA` = {args.cap_mb} MiB (heap and anonymous memory of the "
        "process); `full` and `tiled` uncapped. Peak RSS includes ~"
        f"{rows[0]['import_mb']:.0f} MB of imported libraries.",
        "",
        "Wall time is what a user waits; CPU time (process time) is less distorted by the other jobs "
        "on a shared machine. Times include fitting (SRP: drawing the matrix; PCA: reading the sample) "
        "and the RDM.",
        "",
        "| method | width | wall | CPU | peak RSS | vs full: CPU time | vs full: peak RSS | Spearman with full RDM |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['mode']} | {r['width']:,} | {r['wall']:.1f} s | {r['cpu']:.1f} s | {r['peak_mb']:.0f} MB | "
                     f"{r['cpu'] / rows[0]['cpu']:.2f}x | {r['peak_mb'] / rows[0]['peak_mb']:.2f}x | "
                     f"{r['spearman']:.4f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    res = HERE / "results"
    res.mkdir(exist_ok=True)
    (res / "video.md").write_text(text)


if __name__ == "__main__":
    main()
