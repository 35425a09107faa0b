"""Time the same jobs on two commits of rdm_widgets side by side, in one run.

Used to show that a restructure did not slow anything down: each job runs in a fresh
subprocess whose ``PYTHONPATH`` points at one checkout, the two checkouts alternate
(base, new, base, new, ...) so that load changes on a shared machine hit both alike, and
the best of the repeats is kept. The ratio is new / base (< 1: faster).

    python benchmarks/compare_commits.py --base 62c1b13 [--repeats 5] [--out results/restructure.md]

The jobs use only the public API that both commits share: ``RDMCreator.create_rdms`` on a
folder of per-stimulus npz files, ``pairwise_distances``, ``eeg_rdm`` (exact LDA) and
``tiled_rdm``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# Each job prints the seconds of its timed part (setup excluded) as its last line.
JOBS = {
    "create_rdms (300 npz files, 4 layers, correlation)": """
import time, numpy as np, tempfile, shutil
from pathlib import Path
from rdm_widgets import RDMCreator
feat = Path(DATA) / "feat"
out = Path(tempfile.mkdtemp())
t = time.perf_counter()
RDMCreator().create_rdms(str(feat), str(out / "r"), "npz", "correlation")
print(time.perf_counter() - t)
shutil.rmtree(out)
""",
    "pairwise_distances (2000 x 8000, correlation)": """
import time, numpy as np
from rdm_widgets import pairwise_distances
x = np.random.default_rng(0).standard_normal((2000, 8000)).astype(np.float32)
pairwise_distances(x[:50], "correlation")
t = time.perf_counter()
pairwise_distances(x, "correlation")
print(time.perf_counter() - t)
""",
    "eeg_rdm (8 cond x 20 trials x 32 ch x 10 times, exact LDA)": """
import time, numpy as np
from rdm_widgets import eeg_rdm
rng = np.random.default_rng(0)
labels = np.repeat(np.arange(8), 20)
eeg = rng.standard_normal((160, 32, 10)) + labels[:, None, None] * 0.05
t = time.perf_counter()
eeg_rdm(eeg, labels)
print(time.perf_counter() - t)
""",
    "tiled_rdm (3000 x 512, tiles of 1000)": """
import time, numpy as np, tempfile, shutil
from pathlib import Path
from rdm_widgets import tiled_rdm
x = np.random.default_rng(0).standard_normal((3000, 512)).astype(np.float32)
out = Path(tempfile.mkdtemp())
t = time.perf_counter()
tiled_rdm({"l": x}, out / "store", layer="l", tile_size=1000)
print(time.perf_counter() - t)
shutil.rmtree(out)
""",
}


def _make_features(folder: Path, n: int = 300) -> None:
    import numpy as np

    rng = np.random.default_rng(1)
    feat = folder / "feat"
    feat.mkdir(parents=True)
    for i in range(n):
        np.savez(feat / f"img_{i:04d}.npz",
                 conv1=rng.standard_normal((1, 32, 16, 16)).astype(np.float32),
                 conv2=rng.standard_normal((1, 64, 8, 8)).astype(np.float32),
                 fc=rng.standard_normal((1, 2048)).astype(np.float32),
                 tokens=rng.standard_normal((12, 384)).astype(np.float32))


def _run(tree: Path, code: str, data: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    out = subprocess.run([sys.executable, "-c", f"DATA = {str(data)!r}\n" + code], env=env, cwd=data,
                         capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"job failed in {tree}:\n{out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="git revision to compare against (e.g. the commit before a change)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "restructure.md")
    args = ap.parse_args(argv)
    base_rev = subprocess.run(["git", "rev-parse", "--short", args.base], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout.strip()
    new_rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "rdm_widgets"], cwd=REPO,
                                capture_output=True, text=True).stdout.strip())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base_tree = tmp / "base"
        subprocess.run(["git", "worktree", "add", "--detach", str(base_tree), base_rev], cwd=REPO,
                       capture_output=True, check=True)
        try:
            _make_features(tmp / "data")
            rows = []
            for name, code in JOBS.items():
                times = {"base": [], "new": []}
                for _ in range(args.repeats):
                    for label, tree in (("base", base_tree), ("new", REPO)):
                        times[label].append(_run(tree, code, tmp / "data"))
                b, n = min(times["base"]), min(times["new"])
                rows.append((name, b, n, n / b))
                print(f"{name}: base {b:.3f} s, new {n:.3f} s, ratio {n / b:.2f}", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base_tree)], cwd=REPO, capture_output=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        f"Base `{base_rev}` vs new `{new_rev}`{' (+ uncommitted changes)' if dirty else ''}; "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"best of {args.repeats} alternating runs, each in a fresh process; load average at end {load:.1f}.",
        "",
        "| job | base (s) | new (s) | **new / base** |",
        "|---|---:|---:|---:|",
        *[f"| {name} | {b:.3f} | {n:.3f} | **{r:.2f}** |" for name, b, n, r in rows],
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
