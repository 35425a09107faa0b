"""Pass 1 of a tiled run: the layer's features streamed into one (N, D) ``.npy`` in the store.

Tiles read their row blocks many times (every block meets every other), so the features are
read from their source once -- pooled and validated exactly as in memory, a block of stimuli
at a time -- and written in the working dtype to ``features.npy``, where a block is one
contiguous read. The same pass sums the columns (column-centred distances centre every tile
with the mean of *all* stimuli) and finds the degenerate rows (e.g. constant features under
correlation), which need all of a row's features at once.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ._format import NpyFile
from ._plan import TiledOptions, TilePlan

__all__ = ["stage_features"]


def stage_features(src, layer: str, pooling, options: TiledOptions, plan: TilePlan, store: Path,
                   reporter) -> np.ndarray:
    """Features -> ``store/features.npy`` and ``store/colmean.npy``.

    Parameters
    ----------
    src : FeatureSource
    layer : str
    pooling : str or None
        Canonical pooling name.
    options : TiledOptions
        Its dtype is the staged dtype; its distance finds the degenerate rows.
    plan : TilePlan
        Gives the stimuli per read (``read_rows``).
    store : Path
    reporter : ProgressReporter
        Advanced by one per read.

    Returns
    -------
    np.ndarray, (N,) bool
        Degenerate rows.

    Raises
    ------
    ValueError
        The column sums overflow (features too large for the dtype).
    """
    np_dtype, degenerate_of = options.dtype.numpy, options.distance.spec.degenerate
    n, d = plan.n, plan.d
    feat = NpyFile.create(store / "features.npy", (n, d), np_dtype)
    colsum = np.zeros(d, np.float64)
    degenerate = np.zeros(n, bool)
    with open(feat.path, "r+b") as fh:
        for idx, x in src.iter_row_blocks(layer, pooling=pooling, dtype=np_dtype, rows=plan.read_rows):
            if np.array_equal(idx, np.arange(idx[0], idx[0] + len(idx))):
                feat.write(int(idx[0]) * d, x, fh)
            else:                                   # a source that stores its stimuli in another order
                for k, i in enumerate(idx):
                    feat.write(int(i) * d, x[k], fh)
            colsum += x.sum(axis=0, dtype=np.float64)
            if degenerate_of is not None:
                degenerate[idx] = degenerate_of(torch.from_numpy(x)).numpy()
            reporter.update(1)
        fh.flush()
        os.fsync(fh.fileno())
    if not np.isfinite(colsum).all():
        raise ValueError(f"Layer {layer!r}: features too large for {np_dtype.name} (their sums "
                         "overflow). Use dtype='float64' or rescale them.")
    with open(store / "colmean.npy", "wb") as fh:
        np.save(fh, colsum / n, allow_pickle=False)
    return degenerate
