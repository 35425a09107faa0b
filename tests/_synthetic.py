"""Seeded synthetic test data shared by several test files."""
from pathlib import Path

import numpy as np


def epochs_file(folder: Path, n_per=6, seed=0) -> Path:
    """``epochs.npz`` with ``eeg`` (24, 5, 20), two label arrays (``labels``: 4 conditions,
    ``target``: 2) and ``times``."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(["a_real", "a_imag", "b_real", "b_imag"], n_per)
    target = np.array([s.split("_")[0] for s in labels])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "epochs.npz"
    np.savez(path, eeg=rng.normal(size=(len(labels), 5, 20)).astype(np.float32), labels=labels,
             target=target, times=np.linspace(-0.1, 0.85, 20))
    return path


def per_stimulus_folder(folder: Path, n=40, dims=(30, 70), seed=0) -> Path:
    """``n`` per-stimulus ``.npz`` files ``stim_000.npz`` ... with one ``(1, d)`` layer per ``d``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(n):
        np.savez(folder / f"stim_{i:03d}.npz",
                 **{f"layer_{d}": rng.normal(size=(1, d)).astype(np.float32) for d in dims})
    return folder


def random_rdm(n: int, seed=1) -> np.ndarray:
    """A symmetric (n, n) matrix of uniform values with a zero diagonal."""
    m = np.random.default_rng(seed).random((n, n))
    m = (m + m.T) / 2
    np.fill_diagonal(m, 0)
    return m


def relu_features(n=40, d=300, seed=0) -> np.ndarray:
    """(n, d) float32 ReLU-like features with 4 planted categories (bench_distances' generator,
    small)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d), dtype=np.float32)
    x += np.repeat(rng.standard_normal((4, d), dtype=np.float32), -(-n // 4), axis=0)[:n]
    return np.maximum(x, 0)
