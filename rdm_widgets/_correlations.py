"""The correlations RSA compares RDMs with: vectorised Pearson, Spearman and Kendall's tau-a.

Why this module exists: :mod:`rdm_widgets.rsa` (comparisons, noise ceilings, time courses) and
:mod:`rdm_widgets.model_rsa` share one registry, :data:`CORRELATIONS`, of functions
``f(x (n,), Y (n, m)) -> (m,)`` that correlate one vector with many columns at once, so that
permutation tests and time courses need no Python loop over permutations or time points
(except for Kendall's tau-a). The choices (ties, tau-a's two routes) are documented in
:mod:`rdm_widgets.rsa`.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["CORRELATIONS", "kendall_tau_a", "masked_correlations"]

_KENDALL_DIRECT_MAX = 500  # pairs; above this the O(n log n) route is used


def _pearson_many(x: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Pearson r of x (n,) with each column of Y (n, m); NaN for constant columns."""
    xc = x - x.mean()
    Yc = Y - Y.mean(axis=0)
    denom = np.sqrt((xc @ xc) * np.einsum("ij,ij->j", Yc, Yc))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (xc @ Yc) / denom
    return np.clip(r, -1.0, 1.0)


def _rank(a, axis=None):
    """scipy.stats.rankdata (ties averaged), imported lazily: scipy.stats takes ~1 s to import."""
    from scipy.stats import rankdata

    return rankdata(a, axis=axis)


def _spearman_many(x, Y):
    return _pearson_many(_rank(x), _rank(Y, axis=0))


def _tau_a_direct(x: np.ndarray, y: np.ndarray) -> float:
    n = x.size
    s = 0.0
    step = max(1, 500_000 // max(n, 1))  # bounds memory to a few MB per chunk
    for start in range(0, n, step):
        stop = min(start + step, n)
        dx = np.sign(x[start:stop, None] - x[None, :])
        dy = np.sign(y[start:stop, None] - y[None, :])
        s += float(np.einsum("ij,ij->", dx, dy))
    # every unordered pair was counted twice (i, j) and (j, i)
    return s / 2.0 / (n * (n - 1) / 2.0)


def _tie_pairs(v: np.ndarray) -> float:
    _, counts = np.unique(v, return_counts=True)
    return float((counts * (counts - 1) / 2.0).sum())


def _tau_a_from_tau_b(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import kendalltau

    n0 = x.size * (x.size - 1) / 2.0
    tau_b = kendalltau(x, y, variant="b").statistic
    if not np.isfinite(tau_b):
        return float("nan")
    return float(tau_b * np.sqrt((n0 - _tie_pairs(x)) * (n0 - _tie_pairs(y))) / n0)


def kendall_tau_a(x, y) -> float:
    """Kendall's tau-a of two vectors (ties count as neither concordant nor discordant).

    Parameters
    ----------
    x, y : array-like, shape (n,)

    Returns
    -------
    float
        ``(concordant - discordant) / (n (n - 1) / 2)``. NaN when ``n < 2`` or when either
        vector is constant, at every length: a correlation with a constant RDM is undefined
        throughout this package (Pearson and Spearman give NaN, :func:`rdm_widgets.rsa.compare_rdms`
        refuses it, :func:`rdm_widgets.rsa.rsa_timecourse` gives NaN at such time points). The
        peers differ here: rsatoolbox's tau-a gives 0 (its formula has no denominator that
        vanishes), mne-rsa NaN (scipy's tau-b). Before, this gave 0 up to 500 pairs and NaN above.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"Vectors must have the same length; got {x.size} and {y.size}.")
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    if x.size <= _KENDALL_DIRECT_MAX:
        return _tau_a_direct(x, y)
    return _tau_a_from_tau_b(x, y)


def _kendall_many(x, Y):
    return np.array([kendall_tau_a(x, Y[:, j]) for j in range(Y.shape[1])])


CORRELATIONS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "spearman": _spearman_many,
    "pearson": _pearson_many,
    "kendall_tau_a": _kendall_many,
}


def masked_correlations(method: str, x: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Correlation of ``x`` (n,) with each column of ``Y`` (n, m) over the entries where both
    are finite (each column its own pairs; ``nan_policy='omit'`` of :mod:`rdm_widgets.rsa`).

    Spearman ranks each column's defined pairs (scipy's ``rankdata(nan_policy='omit')``),
    Pearson centres them, tau-a counts them. NaN for a column with fewer than 3 defined pairs
    or constant values on them.
    """
    mask = np.isfinite(x)[:, None] & np.isfinite(Y)
    if method == "kendall_tau_a":
        return np.array([kendall_tau_a(x[m], Y[m, j]) if m.sum() >= 3 else np.nan
                         for j, m in enumerate(mask.T)])
    X = np.where(mask, x[:, None], np.nan)
    Yv = np.where(mask, Y, np.nan)
    if method == "spearman":
        from scipy.stats import rankdata

        X, Yv = rankdata(X, axis=0, nan_policy="omit"), rankdata(Yv, axis=0, nan_policy="omit")
    with np.errstate(invalid="ignore", divide="ignore"):
        Xc = X - np.nanmean(X, axis=0)
        Yc = Yv - np.nanmean(Yv, axis=0)
        r = np.nansum(Xc * Yc, axis=0) / np.sqrt(np.nansum(Xc * Xc, axis=0) * np.nansum(Yc * Yc, axis=0))
    r[mask.sum(axis=0) < 3] = np.nan
    return np.clip(r, -1.0, 1.0)
