"""Representational similarity analysis: comparing RDMs.

All comparisons use the upper triangle (without diagonal) of the RDMs.
Correlation methods live in a registry (``CORRELATIONS``) of vectorised
functions ``f(x (n,), Y (n, m)) -> (m,)`` that correlate one vector with many
columns at once, so that permutation tests and timecourses need no Python loop
over permutations or time points (except for Kendall's tau-a).

Choices (documented because the literature differs):

* Permutation test: stimulus labels of ``b`` are permuted (rows and columns
  together), one-sided, ``p = (1 + #(null >= r)) / (1 + n_permutations)``.
* Kendall's tau-a = (concordant - discordant) / (n (n - 1) / 2) counts ties
  as neither (as in rsatoolbox). For up to 500 pairs it is computed by a
  vectorised O(n^2) comparison of all pairs; above that it is derived exactly
  from scipy's O(n log n) tau-b by undoing its tie correction,
  ``C - D = tau_b * sqrt((n0 - n1)(n0 - n2))`` with n1, n2 the tied pairs in
  x and y (at 2926 pairs, N = 77: 2 ms instead of 70 ms, which matters for
  permutation tests). Both routes are tested against a brute-force loop.
* Noise ceiling (Nili et al. 2014): upper = mean correlation of each subject
  with the mean of all subjects, lower = with the mean of the other subjects.
  For ``method='spearman'`` the subject RDMs are rank-transformed before
  averaging (as rsatoolbox's ``pool_rdm``) unless ``rank_before_average=False``.
  Net2Brain's ``noise_ceiling_log.json`` is reproduced exactly with
  ``rank_before_average=False, squared=True`` (mean of *squared* Spearman
  correlations of raw RDMs).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ._validate import check_option, check_positive_int

__all__ = ["RSAResult", "CORRELATIONS", "compare_rdms", "noise_ceiling", "leave_one_subject_out",
           "rsa_timecourse", "kendall_tau_a"]

_KENDALL_DIRECT_MAX = 500  # pairs; above this the O(n log n) route is used


def _square(x, name: str) -> np.ndarray:
    from .rdm import LayerRDM

    if isinstance(x, LayerRDM):
        return np.asarray(x.matrix, dtype=np.float64)
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name!r} must be a square RDM (N, N); got shape {arr.shape}.")
    return arr


def _stack(x, name: str, ndim_last: bool = False) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    elif hasattr(x, "data") and not isinstance(x, np.ndarray):
        x = x.data
    arr = np.asarray(x, dtype=np.float64)
    shape_txt = "(N, N, T)" if ndim_last else "(S, N, N)"
    ok = arr.ndim == 3 and (arr.shape[0] == arr.shape[1] if ndim_last else arr.shape[1] == arr.shape[2])
    if not ok:
        raise ValueError(f"{name!r} must be a stack of RDMs {shape_txt}; got shape {arr.shape}.")
    return arr


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
    """Kendall's tau-a of two vectors (ties count as neither concordant nor discordant)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"Vectors must have the same length; got {x.size} and {y.size}.")
    if x.size < 2:
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


def _method(method: str) -> str:
    return check_option("method", method, CORRELATIONS)


@dataclass
class RSAResult:
    """Result of :func:`compare_rdms`.

    Attributes
    ----------
    r : float
        Correlation of the two RDMs' upper triangles.
    p : float or None
        One-sided permutation p-value (None without permutations).
    method : str
    n_permutations : int
    null : ndarray (n_permutations,) or None
        Correlations under permuted stimulus labels.
    """

    r: float
    p: float | None
    method: str
    n_permutations: int
    null: np.ndarray | None = None

    def __float__(self) -> float:
        return float(self.r)


def _check_same_order(a, b) -> None:
    from .rdm import LayerRDM

    if isinstance(a, LayerRDM) and isinstance(b, LayerRDM) and a.stimuli != b.stimuli \
            and sorted(a.stimuli) == sorted(b.stimuli):
        raise ValueError(f"RDMs {a.layer!r} and {b.layer!r} hold the same stimuli in a different "
                         "order; align them first, e.g. b = b.reorder(a.stimuli).")


def compare_rdms(a, b, method: str = "spearman", n_permutations: int = 0,
                 random_state=None) -> RSAResult:
    """Correlate two RDMs (upper triangles), optionally with a permutation test.

    Parameters
    ----------
    a, b : LayerRDM or array-like, shape (N, N)
        RDMs over the same N stimuli in the same order.
    method : {'spearman', 'pearson', 'kendall_tau_a'}
    n_permutations : int
        Number of stimulus-label permutations of ``b`` (0: no test).
    random_state : int, numpy Generator or None
        Seed of the permutations.

    Returns
    -------
    RSAResult
    """
    method = _method(method)
    A, B = _square(a, "a"), _square(b, "b")
    if A.shape != B.shape:
        raise ValueError(f"RDMs must have the same shape; got a {A.shape} and b {B.shape}. "
                         "Use LayerRDM.subset() to select the common stimuli.")
    _check_same_order(a, b)
    n = A.shape[0]
    if n < 3:
        raise ValueError(f"Need at least 3 stimuli to correlate RDMs; got {n}.")
    n_permutations = check_positive_int("n_permutations", n_permutations, minimum=0)
    iu, ju = np.triu_indices(n, 1)
    x = A[iu, ju]
    y = B[iu, ju]
    for name, v in (("a", x), ("b", y)):
        if np.ptp(v) == 0:
            raise ValueError(f"RDM {name!r} is constant; its correlation with any RDM is undefined.")
    func = CORRELATIONS[method]
    r = float(func(x, y[:, None])[0])
    if n_permutations == 0:
        return RSAResult(r, None, method, 0, None)
    rng = np.random.default_rng(random_state)
    null = np.empty(n_permutations)
    chunk = max(1, 1_000_000 // iu.size)  # bounds the (pairs, chunk) matrix
    for start in range(0, n_permutations, chunk):
        m = min(chunk, n_permutations - start)
        perms = np.stack([rng.permutation(n) for _ in range(m)])  # (m, N)
        Y = B[perms[:, iu], perms[:, ju]].T  # (pairs, m): b with relabelled stimuli
        null[start:start + m] = func(x, Y)
    p = (1.0 + np.count_nonzero(null >= r)) / (1.0 + n_permutations)
    return RSAResult(r, float(p), method, n_permutations, null)


def _condensed_stack(S: np.ndarray) -> np.ndarray:
    iu, ju = np.triu_indices(S.shape[1], 1)
    return S[:, iu, ju]  # (S, pairs)


def _pool(V: np.ndarray, rank: bool) -> np.ndarray:
    """Condensed subject RDMs (S, pairs), rank-transformed if requested."""
    return _rank(V, axis=1) if rank else V


def noise_ceiling(subject_rdms, method: str = "spearman", *, rank_before_average: bool | None = None,
                  squared: bool = False) -> tuple[float, float]:
    """Lower and upper noise ceiling (Nili et al. 2014, leave-one-subject-out).

    Parameters
    ----------
    subject_rdms : array-like, shape (S, N, N)
        One RDM per subject (S >= 2).
    method : {'spearman', 'pearson', 'kendall_tau_a'}
    rank_before_average : bool or None
        Rank-transform subject RDMs before averaging. Default: True for
        'spearman' (as rsatoolbox), False otherwise.
    squared : bool
        Average squared correlations (Net2Brain's convention, "R^2").

    Returns
    -------
    (lower, upper) : tuple of float
        lower = mean over subjects of corr(subject, mean of the others);
        upper = mean over subjects of corr(subject, mean of all subjects).
    """
    method = _method(method)
    S = _stack(subject_rdms, "subject_rdms")
    n_sub = S.shape[0]
    if n_sub < 2:
        raise ValueError(f"Need at least 2 subject RDMs for a noise ceiling; got {n_sub}.")
    rank = (method == "spearman") if rank_before_average is None else bool(rank_before_average)
    V = _pool(_condensed_stack(S), rank)
    func = CORRELATIONS[method]
    total = V.sum(axis=0)
    upper = np.array([func(V[s], (total / n_sub)[:, None])[0] for s in range(n_sub)])
    lower = np.array([func(V[s], ((total - V[s]) / (n_sub - 1))[:, None])[0] for s in range(n_sub)])
    if squared:
        upper, lower = upper ** 2, lower ** 2
    return float(np.mean(lower)), float(np.mean(upper))


def leave_one_subject_out(model_rdm, subject_rdms, method: str = "spearman", *,
                          rank_before_average: bool | None = None) -> np.ndarray:
    """Correlation of a model RDM with the mean RDM of all subjects but one.

    For each subject s, the model is correlated with the average of the other
    S - 1 subject RDMs (same averaging as :func:`noise_ceiling`). The spread
    of these jackknife values shows how much the group result depends on
    single subjects.

    Returns
    -------
    ndarray, shape (S,)
    """
    method = _method(method)
    S = _stack(subject_rdms, "subject_rdms")
    M = _square(model_rdm, "model_rdm")
    if M.shape != S.shape[1:]:
        raise ValueError(f"model_rdm has shape {M.shape} but subject RDMs are {S.shape[1:]} "
                         f"(stack {S.shape}); they must cover the same stimuli.")
    n_sub = S.shape[0]
    if n_sub < 2:
        raise ValueError(f"Need at least 2 subject RDMs; got {n_sub}.")
    rank = (method == "spearman") if rank_before_average is None else bool(rank_before_average)
    V = _pool(_condensed_stack(S), rank)
    others = (V.sum(axis=0)[None, :] - V) / (n_sub - 1)  # (S, pairs)
    iu, ju = np.triu_indices(M.shape[0], 1)
    return CORRELATIONS[method](M[iu, ju], others.T)


def rsa_timecourse(model_rdm, eeg_rdms, method: str = "spearman") -> np.ndarray:
    """Correlation of a model RDM with the RDM at each time point.

    Parameters
    ----------
    model_rdm : LayerRDM or array-like, shape (N, N)
    eeg_rdms : array-like (N, N, T), or an object with ``.data`` of that shape
        (e.g. ``TimeResolvedRDM``).
    method : {'spearman', 'pearson', 'kendall_tau_a'}

    Returns
    -------
    ndarray, shape (T,)
        NaN at time points where the RDM is constant (correlation undefined).
    """
    method = _method(method)
    M = _square(model_rdm, "model_rdm")
    E = _stack(eeg_rdms, "eeg_rdms", ndim_last=True)
    if E.shape[:2] != M.shape:
        raise ValueError(f"model_rdm has shape {M.shape} but the time-resolved RDMs are "
                         f"{E.shape} (N, N, T); they must cover the same conditions.")
    iu, ju = np.triu_indices(M.shape[0], 1)
    x = M[iu, ju]
    if np.ptp(x) == 0:
        raise ValueError("model_rdm is constant; its correlation with any RDM is undefined.")
    Y = E[iu, ju, :]  # (pairs, T)
    const = np.ptp(Y, axis=0) == 0
    out = np.full(Y.shape[1], np.nan)
    if (~const).any():
        out[~const] = CORRELATIONS[method](x, Y[:, ~const])
    return out
