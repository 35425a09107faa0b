"""Small feature sets shared by the feature tests (one of every format)."""
from __future__ import annotations

import warnings
from pathlib import Path

import h5py
import numpy as np

from rdm_widgets.features import natural_key, open_features

NUMPY_POOL = {
    "mean": lambda a: a.astype(np.float64).mean(0),
    "max": lambda a: a.max(0),
    "first": lambda a: a[0],
    "last": lambda a: a[-1],
}


def record_opens(monkeypatch, opener: str = "open_npz", key=lambda path: path.stem) -> list:
    """Patch ``rdm_widgets._npy.<opener>`` to record ``key(Path(path))`` of every file it opens, in order.

    The list returned fills as the code under test opens files (clear it between phases).
    """
    from rdm_widgets import _npy

    opened = []
    real = getattr(_npy, opener)

    def recording(path, *args, **kwargs):
        opened.append(key(Path(path)))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(_npy, opener, recording)
    return opened


def open_quiet(path, **kw):
    """``open_features`` with its UserWarnings (e.g. 'Skipped ...' entries) silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return open_features(path, **kw)


def write_mixed(folder: Path, names, seed=0):
    """Per-stimulus files with a conv map, a vector and two variable-length sequence layers."""
    rng = np.random.default_rng(seed)
    truth = {k: [] for k in ("conv", "fc", "tok", "tok3")}
    folder.mkdir(parents=True, exist_ok=True)
    for j, name in enumerate(names):
        seq = 3 + j % 4
        arrays = {
            "conv": rng.normal(size=(1, 3, 4, 4)).astype(np.float32),
            "fc": rng.normal(size=(1, 7)).astype(np.float32),
            "tok": rng.normal(size=(seq, 5)).astype(np.float32),
            "tok3": rng.normal(size=(1, seq + 1, 6)).astype(np.float16),
        }
        for k, v in arrays.items():
            truth[k].append(v)
        np.savez(folder / f"{name}.npz", **arrays)
    return truth


def make_mixed(tmp_path: Path):
    """``(folder, stimuli in natural order, {layer: per-stimulus arrays in that order})``."""
    names = ["img_10", "img_2", "img_1", "img_33", "img_3"]
    truth = write_mixed(tmp_path / "feats", names)
    order = sorted(range(len(names)), key=lambda i: natural_key(names[i]))
    return tmp_path / "feats", [names[i] for i in order], {k: [v[i] for i in order] for k, v in truth.items()}


def write_per_layer(folder: Path, seed=1):
    """A per-layer npz folder whose second file lists the stimuli in another order; returns (a, b)."""
    rng = np.random.default_rng(seed)
    stim = np.array(["s_1", "s_2", "s_10"])
    a = rng.normal(size=(3, 2, 3, 3)).astype(np.float32)
    b = rng.normal(size=(3, 4, 8)).astype(np.float32)  # (N, seq, D)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "conv1.npz", features=a, stimuli=stim)
    perm = [2, 0, 1]  # stored in another order: must be aligned to the first file's order
    np.savez(folder / "z_blocks_0.npz", features=b[perm], stimuli=stim[perm], layer=np.array("blocks/0"))
    return a, b


def write_hdf5(path: Path, seed=2, stimuli=True):
    """An HDF5 file with a float64 conv layer and a float32 (N, seq, D) group layer; returns (x, y)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4, 2, 3, 3))
    y = rng.normal(size=(4, 5, 6)).astype(np.float32)
    with h5py.File(path, "w") as fh:
        fh["conv"] = x
        fh["enc/layer1"] = y
        if stimuli:
            fh["stimuli"] = np.array([b"x1", b"x2", b"x3", b"x10"])
    return x, y
