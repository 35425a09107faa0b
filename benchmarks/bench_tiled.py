"""Out-of-core RDMs (``tiled_rdm``): bounded memory at N = 50,000, and its cost against the in-memory path.

Two parts, each method in its own subprocess (so that its peak RSS is its own):

1. **Side by side** at a size that fits in memory (default N = 10,000, D = 2048, float32
   features in HDF5): ``RDMCreator.compute_rdms`` (in memory) vs ``tiled_rdm`` (to disk);
   wall time, CPU time and peak RSS as ratios, plus the max difference of the two RDMs.
2. **Under a memory cap** (default N = 50,000, D = 4096: 0.8 GB of features, a 10 GB square
   RDM / 5 GB condensed): ``tiled_rdm`` runs in a cgroup whose memory limit (default 1 GiB,
   page cache included) is smaller than the features; it is stopped after ~40 % of the tiles
   (as an interrupted job would be) and resumed. Reported: peak RSS, the cgroup's peak
   usage, time, tiles recomputed on resume (must be 0) and the max error of 300 random
   pairs against float64 numpy.

Usage: ``python benchmarks/bench_tiled.py [--quick] [--n 50000] [--dim 4096] [--cap-mb 1024]``
Results: ``benchmarks/results/tiled.md``.
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


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_features(path: Path, n: int, d: int, seed: int = 0) -> int:
    """Seeded (n, d) float32 features with 20 planted clusters, written in row blocks."""
    import h5py

    rng = np.random.default_rng(seed)
    proto = rng.normal(size=(20, d)).astype(np.float32)
    with h5py.File(path, "w") as fh:
        ds = fh.create_dataset("layer", (n, d), dtype=np.float32, chunks=(min(n, 256), d))
        for s in range(0, n, 4096):
            e = min(n, s + 4096)
            lab = np.arange(s, e) % 20
            ds[s:e] = proto[lab] + 2.0 * rng.standard_normal((e - s, d), dtype=np.float32)
    return n * d * 4


# ------------------------------------------------------------------ workers (subprocesses)
def worker(mode: str, feat: str, out: str, tile: int) -> dict:
    import torch

    import rdm_widgets as rw

    cpu0, t0 = time.process_time(), time.perf_counter()
    res: dict = {}
    if mode == "memory":
        rdm = rw.RDMCreator().compute_rdms(feat)["layer"]
        np.save(out, rdm.matrix[:2000, :2000])
    elif mode == "tiled":
        s = rw.tiled_rdm(feat, out, tile_size=tile)
        np.save(out + ".corner.npy", s.window((0, 2000), (0, 2000), max_size=2000).values)
    elif mode == "capped":
        counted = {"n": 0}
        n_tiles = None

        def stop(done, total):
            nonlocal n_tiles
            n_tiles = total
            if done > 0.4 * total:
                raise rw.Cancelled("simulated interruption")

        try:
            rw.tiled_rdm(feat, out, tile_size=tile, progress=stop)
        except rw.Cancelled:
            pass
        res["interrupted_after_s"] = time.perf_counter() - t0
        part = rw.OnDiskRDM(out)
        res["tiles_done_at_interrupt"] = part.tiles_done[0]
        import rdm_widgets.tiled._tiles as tm      # where a local run looks up tile_values

        real = tm.tile_values

        def counting(*a, **k):
            counted["n"] += 1
            return real(*a, **k)

        tm.tile_values = counting
        s = rw.tiled_rdm(feat, out, tile_size=tile)
        res.update(tiles_total=s.tiles_done[1], tiles_computed_on_resume=counted["n"])
        # accuracy: random pairs against float64 numpy straight from the HDF5 file
        import h5py

        rng = np.random.default_rng(1)
        pairs = np.sort(rng.choice(s.n_stimuli, size=(300, 2), replace=True), axis=1)
        pairs = pairs[pairs[:, 0] != pairs[:, 1]]
        with h5py.File(feat, "r") as fh:
            ds = fh["layer"]
            errs = []
            for i, j in pairs:
                a, b = ds[i].astype(np.float64), ds[j].astype(np.float64)
                a, b = a - a.mean(), b - b.mean()
                ref = 1 - a @ b / np.sqrt((a @ a) * (b @ b))
                errs.append(abs(float(s.window((i, i + 1), (j, j + 1)).values[0, 0]) - ref))
        res["max_err"] = max(errs)
        ov = s.window()
        res["overview"] = list(ov.values.shape) + [ov.factor]
        res["disk_mb"] = sum(p.stat().st_size for p in Path(out).iterdir()) / 2 ** 20
    res.update(wall=time.perf_counter() - t0, cpu=time.process_time() - cpu0, peak_rss_mb=_peak_rss_mb(),
               threads=torch.get_num_threads())
    return res


def _cgroup(cap_mb: int):
    """A cgroup-v1/v2 memory cgroup with the limit set, or None where we may not make one."""
    v1 = Path("/sys/fs/cgroup/memory")
    name = f"rdm_bench_{os.getpid()}"
    try:
        if v1.is_dir():
            cg = v1 / name
            cg.mkdir()
            (cg / "memory.limit_in_bytes").write_text(str(cap_mb * 2 ** 20))
            return cg, "tasks", "memory.max_usage_in_bytes", "memory.failcnt"
        v2 = Path("/sys/fs/cgroup")
        if (v2 / "cgroup.controllers").is_file():
            cg = v2 / name
            cg.mkdir()
            (cg / "memory.max").write_text(str(cap_mb * 2 ** 20))
            return cg, "cgroup.procs", "memory.peak", None
    except OSError:
        return None
    return None


def run(mode, feat, out, tile, cap_mb=None) -> dict:
    cmd = [sys.executable, __file__, "--worker", mode, str(feat), str(out), str(tile)]
    cg = _cgroup(cap_mb) if cap_mb else None

    def enter():
        if cg:
            (cg[0] / cg[1]).write_text(str(os.getpid()))

    try:
        p = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=enter if cg else None)
        if p.returncode != 0:
            raise RuntimeError(f"{mode} failed (rc {p.returncode}):\n{p.stderr[-3000:]}")
        res = json.loads(p.stdout.strip().splitlines()[-1])
        if cg:
            res["cgroup_peak_mb"] = int((cg[0] / cg[2]).read_text()) / 2 ** 20
            res["cgroup_failcnt"] = int((cg[0] / cg[3]).read_text()) if cg[3] else None
            res["cap_mb"] = cap_mb
        return res
    finally:
        if cg:
            try:
                cg[0].rmdir()
            except OSError:
                pass


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", nargs=4, metavar=("MODE", "FEAT", "OUT", "TILE"))
    ap.add_argument("--quick", action="store_true", help="N=12000, D=1024 capped; 4000 x 1024 side by side")
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--dim", type=int, default=4096)
    ap.add_argument("--ratio-n", type=int, default=10_000)
    ap.add_argument("--ratio-dim", type=int, default=2048)
    ap.add_argument("--tile", type=int, default=4096)
    ap.add_argument("--cap-mb", type=int, default=1024)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--out", default=str(HERE / "results" / "tiled.md"))
    args = ap.parse_args()
    if args.worker:
        mode, feat, out, tile = args.worker
        print(json.dumps(worker(mode, feat, out, int(tile))))
        return 0
    if args.quick:
        args.n, args.dim, args.ratio_n, args.ratio_dim, args.cap_mb = 12_000, 1024, 4000, 1024, 600
    work = Path(args.workdir or tempfile.mkdtemp(prefix="rdm_bench_tiled_"))
    work.mkdir(parents=True, exist_ok=True)
    load0 = os.getloadavg()[0]
    small = work / "small.h5"
    fb_small = write_features(small, args.ratio_n, args.ratio_dim)
    mem = run("memory", small, work / "mem_corner.npy", args.tile)
    til = run("tiled", small, work / "small_store", args.tile)
    diff = float(np.abs(np.load(work / "mem_corner.npy") - np.load(str(work / "small_store") + ".corner.npy")).max())
    print("memory", mem, "\ntiled", til, "\nmax diff", diff, flush=True)
    big = work / "big.h5"
    fb_big = write_features(big, args.n, args.dim)
    cap = run("capped", big, work / "big_store", args.tile, cap_mb=args.cap_mb)
    print("capped", cap, flush=True)
    load1 = os.getloadavg()[0]
    import torch

    n, d = args.n, args.dim
    lines = [
        "## Out-of-core RDMs: `tiled_rdm` (bounded memory, resumable)",
        "",
        f"CPU, {os.cpu_count()} cores, torch {torch.__version__}, CPython {platform.python_version()}; load average "
        f"{load0:.1f} at start, {load1:.1f} at the end. Correlation distance, float32, tile {args.tile}; "
        "each method in its own subprocess (peak RSS is its own). Features: seeded HDF5 with 20 planted clusters.",
        "",
        f"**1. Side by side** (N = {args.ratio_n}, D = {args.ratio_dim}, {fb_small / 2 ** 20:.0f} MiB of features; "
        "the square RDM fits in memory):",
        "",
        "| method | wall (s) | wall / in-memory | CPU (s) | peak RSS (MiB) | RSS / in-memory |",
        "|---|---:|---:|---:|---:|---:|",
        f"| in memory `RDMCreator.compute_rdms` | {mem['wall']:.1f} | 1.00x | {mem['cpu']:.1f} | "
        f"{mem['peak_rss_mb']:.0f} | 1.00 |",
        f"| **out of core** `tiled_rdm` (to disk) | {til['wall']:.1f} | {til['wall'] / mem['wall']:.2f}x | "
        f"{til['cpu']:.1f} | {til['peak_rss_mb']:.0f} | {til['peak_rss_mb'] / mem['peak_rss_mb']:.2f} |",
        "",
        f"Max |difference| of the two RDMs (first 2000 x 2000): {diff:.1e}.",
        "",
        f"**2. Under a memory cap** (N = {n:,}, D = {d}: {fb_big / 2 ** 20:.0f} MiB of features; the square "
        f"float32 RDM would be {n * n * 4 / 2 ** 30:.1f} GiB, condensed {n * (n - 1) / 2 * 4 / 2 ** 30:.1f} GiB on disk):",
        "",
    ]
    if "cap_mb" in cap:
        lines.append(f"The run is confined to a memory cgroup limited to **{cap['cap_mb']} MiB** (page cache "
                     f"included), less than the features themselves. cgroup peak usage {cap['cgroup_peak_mb']:.0f} MiB"
                     + (f", limit hits (failcnt, reclaim of page cache) {cap['cgroup_failcnt']}" if cap.get('cgroup_failcnt') is not None else "")
                     + ".")
    else:
        lines.append("No memory cgroup could be created on this machine; peak RSS is reported without a cap.")
    lines += [
        "",
        "| quantity | value |",
        "|---|---:|",
        f"| peak RSS of the process (MiB) | {cap['peak_rss_mb']:.0f} |",
        f"| peak RSS / features | {cap['peak_rss_mb'] * 2 ** 20 / fb_big:.2f} |",
        f"| wall time, interrupted at ~40 % + resumed (s) | {cap['wall']:.0f} |",
        f"| tiles finished before the interruption | {cap['tiles_done_at_interrupt']} of {cap['tiles_total']} |",
        f"| tiles computed by the resumed run | {cap['tiles_computed_on_resume']} (= the missing ones) |",
        f"| throughput (pairs/s) | {n * (n - 1) / 2 / cap['wall']:.3g} |",
        f"| max error, 300 random pairs vs numpy float64 | {cap['max_err']:.1e} |",
        f"| store on disk (MiB) | {cap['disk_mb']:.0f} |",
        f"| overview shown by the viewer | {cap['overview'][0]} x {cap['overview'][1]} cells of {cap['overview'][2]} x {cap['overview'][2]} stimuli |",
        "",
        "Memory is set by the tile size (two tile x D blocks, one tile x tile tile and temporaries), not by N. "
        "The in-memory path would need the whole feature matrix plus the square RDM "
        f"(>= {(fb_big + n * n * 4) / 2 ** 30:.1f} GiB) at this size.",
    ]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
