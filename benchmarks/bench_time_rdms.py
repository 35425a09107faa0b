"""Time-resolved model RDMs: every file read once (ours) against re-reading it per clip (Net2Brain).

N per-stimulus ``.npz`` files hold one video layer ``[1, clips, D]`` (float32). Both runs give
one correlation RDM per clip:

- ``once``: ``RDMCreator().compute_rdms(folder, multi_timepoint_rdms='clip')`` (each file opened
  once for all clips; one ``pairwise_distances`` per clip);
- ``per clip``: what Net2Brain's loop does, re-opening every file for each clip and taking that
  clip's features (with a plain ``np.load``, no checks: a generous baseline), then the same
  ``pairwise_distances`` per clip.

Both are timed in this process, one after the other (best of ``--repeat``), and their RDMs are
checked to be equal. Reported: the wall times and their ratio.

Usage: ``python benchmarks/bench_time_rdms.py [--n 300] [--clips 16] [--dim 2048]``
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def _write(folder: Path, n: int, clips: int, dim: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        np.savez(folder / f"clip_{i:05d}.npz", layer=rng.normal(size=(1, clips, dim)).astype(np.float32))


def _per_clip(folder: Path, clips: int) -> np.ndarray:
    from rdm_widgets.distances import pairwise_distances

    files = sorted(folder.glob("*.npz"))
    out = []
    for c in range(clips):
        x = np.stack([np.load(f)["layer"][0, c] for f in files])     # every file again, per clip
        out.append(pairwise_distances(x, "correlation").numpy())
    return np.stack(out, axis=2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--clips", type=int, default=16)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from rdm_widgets.creator import RDMCreator

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _write(folder, args.n, args.clips, args.dim)
        times = {"once": [], "per clip": []}
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            ours = RDMCreator().compute_rdms(folder, multi_timepoint_rdms="clip")["layer"].data
            times["once"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ref = _per_clip(folder, args.clips)
            times["per clip"].append(time.perf_counter() - t0)
        np.testing.assert_allclose(ours, ref, atol=1e-6)
    best = {k: min(v) for k, v in times.items()}
    mib = args.n * args.clips * args.dim * 4 / 2 ** 20
    print(f"N={args.n}, clips={args.clips}, D={args.dim} (float32 files, {mib:.0f} MiB)")
    for k, v in best.items():
        print(f"  {k:9s} {v:7.2f} s")
    print(f"  ratio per clip / once: {best['per clip'] / best['once']:.1f}x")


if __name__ == "__main__":
    main()
