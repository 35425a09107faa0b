"""Batched (torch, float64) reference implementations of two-class LDA.

These functions reproduce scikit-learn's ``LinearDiscriminantAnalysis`` for two
classes exactly (up to float rounding), for a batch of independent problems at
once. They are the *exact* path: :mod:`rdm_widgets.eeg._lda` uses
:func:`svd_decisions` for every leave-one-out fold that its fast paths cannot
certify.

Derivation of the svd solver (sklearn 1.9, ``_solve_svd``), two classes::

    Xc   = within-class centred training data (n, C)
    std  = Xc.std(0), zeros -> 1;  B = diag(1/std)
    Y    = sqrt(1/n) * Xc B ;  U S Vt = svd(Y) ;  keep S > tol
    scalings A = B Vt[:r].T / S[:r]

The between-class step projects on the single direction ``(m1-m0)^T A`` (two
centroids span one dimension), which leaves ``A A^T (m1-m0)`` unchanged, so the
binary decision is::

    decision(x) = (x - (m0+m1)/2)^T A A^T (m1-m0) + log(p1/p0)

with ``A A^T = B pinv_tol(B Xc^T Xc B / n) B``. Note the 1/n (not 1/(n-2)).
"""
from __future__ import annotations

import math

import torch

from .._covariance import ledoit_wolf_shrinkage, shrunk_covariance

__all__ = ["svd_decisions", "lsqr_decisions", "ledoit_wolf_cov", "empirical_cov",
           "lsqr_weights_from_class_stats"]


def _log_prior_ratio(n_a: int, n_b: int) -> float:
    # sklearn: priors_ = counts / n; binary intercept_ = intercept_[1] - intercept_[0]
    return math.log(n_b / (n_a + n_b)) - math.log(n_a / (n_a + n_b))


def svd_decisions(train_a: torch.Tensor, train_b: torch.Tensor, test: torch.Tensor,
                  tol: float = 1e-4) -> torch.Tensor:
    """Exact batched sklearn svd-solver LDA decision values.

    Parameters
    ----------
    train_a : torch.Tensor, shape (B, n_a, C)
        Training trials of class 0 (``classes_[0]``).
    train_b : torch.Tensor, shape (B, n_b, C)
        Training trials of class 1.
    test : torch.Tensor, shape (B, m, C)
        Trials to score.
    tol : float
        sklearn's ``tol``: singular values of the scaled within-class data
        ``<= tol`` are discarded.

    Returns
    -------
    torch.Tensor, shape (B, m)
        ``decision_function`` values; > 0 means class 1 is predicted.
    """
    n_a, n_b = train_a.shape[1], train_b.shape[1]
    n = n_a + n_b
    m_a = train_a.mean(1)
    m_b = train_b.mean(1)
    xc = torch.cat([train_a - m_a[:, None], train_b - m_b[:, None]], dim=1)
    # np.std subtracts the (numerically ~0) mean of Xc first; mirror it
    std = (xc - xc.mean(1, keepdim=True)).pow(2).mean(1).sqrt()
    std = torch.where(std == 0, torch.ones_like(std), std)
    y = math.sqrt(1.0 / n) * (xc / std[:, None])
    _, s, vh = torch.linalg.svd(y, full_matrices=False)
    keep = s > tol
    inv_s = torch.where(keep, 1.0 / torch.where(keep, s, torch.ones_like(s)), torch.zeros_like(s))
    # scalings (B, C, r) = (Vt / std).T / S
    scal = (vh / std[:, None, :]).transpose(1, 2) * inv_s[:, None, :]
    d = m_b - m_a
    mid = 0.5 * (m_a + m_b)
    proj_d = torch.einsum("bc,bcr->br", d, scal)
    proj_x = torch.einsum("bmc,bcr->bmr", test - mid[:, None], scal)
    return torch.einsum("bmr,br->bm", proj_x, proj_d) + _log_prior_ratio(n_a, n_b)


def empirical_cov(x: torch.Tensor) -> torch.Tensor:
    """sklearn ``empirical_covariance`` (biased, 1/n) of a batch ``(B, n, C)`` -> ``(B, C, C)``."""
    xc = x - x.mean(1, keepdim=True)
    return xc.transpose(1, 2) @ xc / x.shape[1]


def ledoit_wolf_cov(x: torch.Tensor) -> torch.Tensor:
    """sklearn ``_cov(X, 'auto')``: Ledoit-Wolf on standardised features, rescaled.

    Parameters
    ----------
    x : torch.Tensor, shape (B, n, C)

    Returns
    -------
    torch.Tensor, shape (B, C, C)
    """
    n, c = x.shape[1], x.shape[2]
    # StandardScaler: population std, constant features keep scale 1
    mean = x.mean(1, keepdim=True)
    scale = (x - mean).pow(2).mean(1, keepdim=True).sqrt()
    scale = torch.where(scale == 0, torch.ones_like(scale), scale)
    z = (x - mean) / scale
    # LedoitWolf.fit centres again (location_ = mean), then assume_centered=True
    z = z - z.mean(1, keepdim=True)
    emp = z.transpose(1, 2) @ z / n
    # ledoit_wolf_shrinkage, single block (C < block_size=1000 in sklearn's default)
    z2 = z * z
    beta_ = (z2.sum(2) ** 2).sum(1)                   # sum(X2.T @ X2) = sum_s (sum_i x_si^2)^2
    delta_ = (emp * emp).sum((1, 2))                  # sum((X.T X)^2) / n^2
    shrink = ledoit_wolf_shrinkage((z2.sum(1) / n).sum(1), delta_, beta_, n, c)  # 0 for one feature
    s = scale.transpose(1, 2)  # (B, C, 1)
    return s * shrunk_covariance(emp, shrink) * scale


def _shrunk(x: torch.Tensor, shrinkage) -> torch.Tensor:
    if shrinkage is None:
        return empirical_cov(x)
    if isinstance(shrinkage, str):  # validated upstream: 'auto'
        return ledoit_wolf_cov(x)
    return shrunk_covariance(empirical_cov(x), shrinkage)


def _lstsq_min_norm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """scipy.linalg.lstsq (gelsd, cond=eps): minimum-norm solution via SVD.

    a (B, C, C), b (B, C, K) -> (B, C, K). Done with an SVD so that CPU and CUDA
    agree (torch's CUDA lstsq has no rank-revealing driver).
    """
    u, s, vh = torch.linalg.svd(a, full_matrices=False)
    cut = torch.finfo(a.dtype).eps * s[:, :1]
    keep = s > cut
    inv_s = torch.where(keep, 1.0 / torch.where(keep, s, torch.ones_like(s)), torch.zeros_like(s))
    return vh.transpose(1, 2) @ (inv_s[:, :, None] * (u.transpose(1, 2) @ b))


def _solve_spd_or_lstsq(cov: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """``lstsq(cov, rhs)`` for a batch of symmetric covariances.

    A shrunk covariance is positive definite, and then the least-squares solution sklearn
    computes (SVD-based ``scipy.linalg.lstsq``) is the unique solution of the system, which a
    batched Cholesky gives at a fraction of the cost. Matrices whose Cholesky fails (singular:
    no shrinkage and fewer trials than channels) keep the minimum-norm least-squares route.
    """
    chol, info = torch.linalg.cholesky_ex(cov)
    ok = info == 0
    if bool(ok.all()):                   # the usual case: no masked copies of the batch
        return torch.cholesky_solve(rhs, chol)
    out = torch.empty_like(rhs)
    if bool(ok.any()):
        out[ok] = torch.cholesky_solve(rhs[ok], chol[ok])
    if not bool(ok.all()):
        bad = ~ok
        out[bad] = _lstsq_min_norm(cov[bad], rhs[bad])
    return out


def lsqr_decisions(train_a: torch.Tensor, train_b: torch.Tensor, test: torch.Tensor,
                   shrinkage=None) -> torch.Tensor:
    """Exact batched sklearn lsqr-solver LDA decision values.

    ``covariance_ = p0 * cov(class 0) + p1 * cov(class 1)`` with each class
    covariance from sklearn's ``_cov`` (empirical, Ledoit-Wolf 'auto', or fixed
    shrinkage), ``coef = lstsq(covariance_, means.T).T``,
    ``intercept = -0.5 diag(means coef^T) + log(priors)``.

    Shapes as :func:`svd_decisions`; returns ``(B, m)``.
    """
    return lsqr_from_class_stats(_shrunk(train_a, shrinkage), train_a.mean(1), train_a.shape[1],
                                 _shrunk(train_b, shrinkage), train_b.mean(1), train_b.shape[1], test)


def class_stats(train: torch.Tensor, shrinkage=None) -> tuple:
    """``(covariance (B, C, C), mean (B, C))`` of one class as sklearn's lsqr solver uses them.

    A class' statistics do not depend on the class it is paired with, so pairwise decoding
    computes them once per condition and reuses them in every pair.
    """
    return _shrunk(train, shrinkage), train.mean(1)


def lsqr_from_class_stats(cov_a, mean_a, n_a: int, cov_b, mean_b, n_b: int, test) -> torch.Tensor:
    """:func:`lsqr_decisions` from per-class statistics (see :func:`class_stats`): ``cov_*``
    (B, C, C), ``mean_*`` (B, C), ``n_*`` training counts, ``test`` (B, m, C) -> (B, m)."""
    w, b = lsqr_weights_from_class_stats(cov_a, mean_a, n_a, cov_b, mean_b, n_b)
    return torch.einsum("bmc,bc->bm", test, w) + b[:, None]


def lsqr_weights_from_class_stats(cov_a, mean_a, n_a: int, cov_b, mean_b, n_b: int) -> tuple:
    """The lsqr classifier itself: ``w`` (B, C) and ``b`` (B,) with ``decision(x) = x . w + b``
    (sklearn's binary ``coef_`` and ``intercept_``); temporal generalisation applies them at
    other times."""
    n = n_a + n_b
    p_a, p_b = n_a / n, n_b / n
    cov = p_a * cov_a + p_b * cov_b
    means = torch.stack([mean_a, mean_b], dim=2)                     # (B, C, 2)
    coef = _solve_spd_or_lstsq(cov, means)                           # (B, C, 2)
    inter = -0.5 * (means * coef).sum(1) + torch.log(
        torch.tensor([p_a, p_b], dtype=cov.dtype, device=cov.device))
    return coef[:, :, 1] - coef[:, :, 0], inter[:, 1] - inter[:, 0]