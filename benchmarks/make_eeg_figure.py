"""Make docs/figures/eeg_s001_timecourse.png: mean pairwise decoding accuracy over time.

Real data: PhysioNet EEG Motor Movement/Imagery subject S001 (bundled demo copy),
4 ``target`` conditions, exact leave-one-trial-pair-out LDA (the default of
``eeg_rdm``) and shrinkage LDA (``method='lda_shrinkage'``, Ledoit-Wolf) at
every one of the 161 samples. Needs matplotlib (a docs/bench
extra, not a dependency of the package); uses the Agg backend (no display).

Usage::

    .venv/bin/python benchmarks/make_eeg_figure.py [--out docs/figures/eeg_s001_timecourse.png]
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from rdm_widgets.demo import demo_path
from rdm_widgets.eeg import eeg_rdm

REPO = Path(__file__).resolve().parents[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(REPO / "docs" / "figures" / "eeg_s001_timecourse.png"))
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1 is fastest on a loaded machine: many tiny matrices)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with np.load(demo_path("eeg"), allow_pickle=False) as z:
        eeg, target, times = z["eeg"], z["target"], z["times"]
    t0 = time.perf_counter()
    rdm = eeg_rdm(eeg, target, times=times)
    elapsed = time.perf_counter() - t0
    t0 = time.perf_counter()
    shr = eeg_rdm(eeg, target, times=times, method="lda_shrinkage")
    elapsed_shr = time.perf_counter() - t0
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=150)
    ax.axhline(0.5, color="0.5", ls="--", lw=1, label="chance (0.5)")
    ax.axvline(0.0, color="0.7", lw=1)
    top, bottom = 0.5, 0.5
    for res, sec, color, name, offset in [(rdm, elapsed, "C0", "LDA (default, exact sklearn)", (8, -12)),
                                          (shr, elapsed_shr, "C1", "shrinkage LDA (Ledoit-Wolf)", (8, 2))]:
        mt = res.mean_timecourse()
        peak = int(np.argmax(mt))
        print(f"{res.meta['method']}: eeg_rdm on {eeg.shape} ({len(res.conditions)} conditions, "
              f"k={res.meta['k']}): {sec:.1f} s; peak {mt[peak]:.3f} at {times[peak]:.3f} s; at 0.30 s "
              f"{mt[res.time_index(0.3)]:.3f}; baseline mean {mt[times < 0].mean():.3f}")
        ax.plot(times, mt, color=color, lw=1.5, label=name)
        ax.plot(times[peak], mt[peak], "o", color=color, ms=4)
        ax.annotate(f"{mt[peak]:.2f} at {times[peak]:.2f} s", (times[peak], mt[peak]),
                    xytext=offset, textcoords="offset points", fontsize=7, color=color)
        top, bottom = max(top, mt.max()), min(bottom, mt.min())
    ax.set_ylim(min(0.4, bottom - 0.02), top + 0.05)  # room for the peak labels
    ax.set_xlabel("Time (s)")
    ax.set_ylabel("Decoding accuracy")
    ax.set_title("S001 (PhysioNet EEGMMIDB): mean pairwise accuracy, 4 targets, "
                 "leave-one-trial-pair-out", fontsize=9)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    ax.set_xlim(times[0], times[-1])
    fig.tight_layout()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp)
    os.replace(tmp, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
