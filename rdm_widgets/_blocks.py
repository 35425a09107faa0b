"""Block means of a matrix: how large RDMs are reduced for display and for overview levels.

Used by the Plotly heatmaps (:mod:`rdm_widgets.plotting`) and by the out-of-core store's
overview pyramid (:mod:`rdm_widgets.tiled`), so both reduce a matrix the same way. No plotly
here: the compute core imports this module.
"""
from __future__ import annotations

import numpy as np

__all__ = ["block_means"]


def block_means(matrix: np.ndarray, k: int) -> np.ndarray:
    """Means over k x k blocks of a 2-D matrix (the last block may be smaller).

    Parameters
    ----------
    matrix : ndarray, shape (N, M)
    k : int
        Block size.

    Returns
    -------
    ndarray, shape (ceil(N / k), ceil(M / k)), float64
    """
    m = np.asarray(matrix)
    starts0 = np.arange(0, m.shape[0], k)
    starts1 = np.arange(0, m.shape[1], k)
    # reduceat sums each block in float64 without padding or copying the full matrix
    rows = np.add.reduceat(m, starts0, axis=0, dtype=np.float64)
    sums = np.add.reduceat(rows, starts1, axis=1)
    sizes0 = np.diff(np.append(starts0, m.shape[0]))
    sizes1 = np.diff(np.append(starts1, m.shape[1]))
    return sums / np.outer(sizes0, sizes1)
