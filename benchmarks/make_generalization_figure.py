"""Make docs/figures/eeg_s001_generalization.png: temporal generalisation of the bundled S001 epochs.

Real data: PhysioNet EEG Motor Movement/Imagery subject S001 (bundled demo copy), 4 ``target``
conditions, exact leave-one-trial-pair-out LDA (the default of ``eeg_rdm``) trained at every
time point and tested at every time point (``generalization=True``; 161 x 161 samples). Prints
the mean accuracy on the diagonal (train = test) and off it, over the whole epoch and after the
cue. Needs matplotlib (a docs/bench extra); Agg backend.

Usage::

    .venv/bin/python benchmarks/make_generalization_figure.py [--out docs/figures/eeg_s001_generalization.png]
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


def summary(mean_map: np.ndarray, times: np.ndarray) -> dict:
    """Mean accuracy on / off the diagonal (all times, and train and test both >= 0 s), and
    within / beyond 0.2 s of the diagonal after the cue."""
    n = len(times)
    diag = np.eye(n, dtype=bool)
    post = (times[:, None] >= 0) & (times[None, :] >= 0)
    lag = np.abs(times[:, None] - times[None, :])
    return {"diagonal": mean_map[diag].mean(), "off-diagonal": mean_map[~diag].mean(),
            "diagonal, t >= 0": mean_map[diag & post].mean(), "off-diagonal, t, t' >= 0": mean_map[~diag & post].mean(),
            "|t - t'| <= 0.2 s, t, t' >= 0 (off-diagonal)": mean_map[~diag & post & (lag <= 0.2)].mean(),
            "|t - t'| > 0.5 s, t, t' >= 0": mean_map[post & (lag > 0.5)].mean(),
            "baseline (t, t' < 0)": mean_map[(times[:, None] < 0) & (times[None, :] < 0)].mean()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(REPO / "docs" / "figures" / "eeg_s001_generalization.png"))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with np.load(demo_path("eeg"), allow_pickle=False) as z:
        eeg, target, times = z["eeg"], z["target"], z["times"].astype(np.float64)
    t0 = time.perf_counter()
    gen = eeg_rdm(eeg, target, times=times, generalization=True)
    elapsed = time.perf_counter() - t0
    m = gen.mean_map()
    print(f"eeg_rdm(generalization=True) on {eeg.shape} ({len(gen.conditions)} conditions, k={gen.meta['k']}, "
          f"{len(times)} x {len(times)} times): {elapsed:.1f} s")
    for name, value in summary(m, times).items():
        print(f"  mean accuracy, {name}: {value:.3f}")

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9.5, 4.0), dpi=150, gridspec_kw={"width_ratios": [1.15, 1]})
    half = max(float(np.abs(m - 0.5).max()), 0.05)
    im = ax.imshow(m, origin="lower", cmap="RdBu_r", vmin=0.5 - half, vmax=0.5 + half, aspect="equal",
                   extent=[times[0], times[-1], times[0], times[-1]], interpolation="nearest")
    ax.plot([times[0], times[-1]], [times[0], times[-1]], color="k", lw=0.6, ls="--")
    ax.axvline(0, color="0.3", lw=0.6)
    ax.axhline(0, color="0.3", lw=0.6)
    ax.set_xlabel("Test time (s)")
    ax.set_ylabel("Train time (s)")
    ax.set_title("Mean pairwise accuracy, train x test", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="decoding accuracy")
    diag = np.diagonal(m)
    i03 = int(np.argmin(np.abs(times - 0.3)))
    ax2.axhline(0.5, color="0.5", ls="--", lw=1, label="chance (0.5)")
    ax2.plot(times, diag, color="C0", lw=1.5, label="train = test (diagonal)")
    ax2.plot(times, m[i03], color="C3", lw=1.2, label=f"trained at {times[i03]:.2f} s, tested at t")
    ax2.plot(times, (m.sum(1) - diag) / (len(times) - 1), color="0.4", lw=1.2,
             label="trained at t, mean over other test times")
    ax2.set_xlabel("Time (s)")
    ax2.set_ylabel("Decoding accuracy")
    ax2.set_xlim(times[0], times[-1])
    ax2.set_ylim(min(0.33, float(m.min()) - 0.01), max(0.72, float(diag.max()) + 0.02))   # room for the legend
    ax2.legend(loc="lower right", fontsize=7, frameon=False)
    ax2.set_title("Diagonal vs generalisation", fontsize=9)
    fig.suptitle("S001 (PhysioNet EEGMMIDB), 4 targets: temporal generalisation, exact leave-one-trial-pair-out "
                 "LDA", fontsize=9)
    fig.tight_layout()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp)
    os.replace(tmp, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
