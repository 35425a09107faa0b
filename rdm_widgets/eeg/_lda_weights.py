"""Explicit two-class LDA weights ``(w, b)`` for temporal generalisation, exact as sklearn.

Why this module exists: the leave-one-out kernels of :mod:`._lda` compute the held-out trials'
decision values without ever forming the classifier (that is what makes them fast). Temporal
generalisation applies the classifier trained at time ``t`` to the held-out units at every time
``t'``, so it needs the classifier itself: ``decision(x) = x . w + b``. This module solves for
``w`` and ``b`` with the algebra of :mod:`._linalg` (sklearn's svd solver) and certifies, per
problem, that the fast solve keeps exactly the singular values sklearn keeps; every uncertified
problem is recomputed with the exact batched SVD (:func:`svd_weights`).

svd solver (see :mod:`._linalg`): ``w = B pinv_tol(Y^T Y) B d``, ``b = log(p_b/p_a) - mid . w``
with ``Y = Xc B / sqrt(n)`` (``B = diag(1/std)``), ``d = m_b - m_a``, ``mid = (m_a + m_b) / 2``.

* **sample space** (``m = n - 2 < C``): ``Y = H Z`` with ``H`` the two classes' orthonormal
  Helmert contrasts (``Y``'s columns are centred within each class), ``Z`` (m, C), so
  ``pinv(Y^T Y) = Z^T G^-2 Z`` with ``G = Z Z^T`` when ``G`` is non-singular: one ``m``-square
  Cholesky. Certified when ``lambda_min(G) > SAFETY tol^2`` (every non-structural singular value
  exceeds ``2 tol``, so sklearn keeps them all and drops only the two structural zeros).
* **channel space** (``m >= C``): ``w = B M^-1 B d`` with ``M = Y^T Y`` (C-square Cholesky),
  certified by ``lambda_min(M) > SAFETY tol^2``. Average-referenced data (``Y u = 0`` for
  ``u = std / |std|``): sklearn drops ``u``; ``pinv = (M + u u^T)^-1 - u u^T``, certified when
  ``u^T M u <= tol^2 / SAFETY`` and ``lambda_min(M + u u^T) > SAFETY tol^2`` (interlacing:
  ``lambda_1(M + u u^T) <= lambda_2(M)``, so every other singular value is kept).

lsqr solver (shrinkage): :func:`._linalg.lsqr_weights_from_class_stats`, the same weights the
decoding path uses.
"""
from __future__ import annotations

import math

import torch

from ._lda_base import _SAFETY, _chol_lower_bound_ok, _helmert_cached

__all__ = ["svd_weights", "lda_weights"]


def _log_prior_ratio(n_a: int, n_b: int) -> float:
    return math.log(n_b / (n_a + n_b)) - math.log(n_a / (n_a + n_b))


def _centre(train_a, train_b):
    """Class means, within-class centred data and sklearn's std (zeros -> 1)."""
    m_a, m_b = train_a.mean(1), train_b.mean(1)
    xc = torch.cat([train_a - m_a[:, None], train_b - m_b[:, None]], dim=1)
    # np.std subtracts the (numerically ~0) mean of Xc first; mirror it
    std = (xc - xc.mean(1, keepdim=True)).pow(2).mean(1).sqrt()
    std = torch.where(std == 0, torch.ones_like(std), std)
    return m_a, m_b, xc, std


def _bias(w, m_a, m_b, n_a, n_b):
    return _log_prior_ratio(n_a, n_b) - (0.5 * (m_a + m_b) * w).sum(-1)


def svd_weights(train_a: torch.Tensor, train_b: torch.Tensor, tol: float = 1e-4) -> tuple:
    """Exact sklearn svd-solver LDA weights by a batched SVD (the reference path).

    Parameters
    ----------
    train_a, train_b : Tensor, shape (B, n_a, C) and (B, n_b, C)
        Training units of ``classes_[0]`` and ``classes_[1]`` (float64).
    tol : float
        sklearn's ``tol``.

    Returns
    -------
    w : Tensor, shape (B, C)
    b : Tensor, shape (B,)
        ``decision(x) = x . w + b`` equals sklearn's ``decision_function`` up to rounding.
    """
    n_a, n_b = train_a.shape[1], train_b.shape[1]
    m_a, m_b, xc, std = _centre(train_a, train_b)
    y = math.sqrt(1.0 / (n_a + n_b)) * (xc / std[:, None])
    _, s, vh = torch.linalg.svd(y, full_matrices=False)
    keep = s > tol
    inv_s = torch.where(keep, 1.0 / torch.where(keep, s, torch.ones_like(s)), torch.zeros_like(s))
    scal = (vh / std[:, None, :]).transpose(1, 2) * inv_s[:, None, :]          # (B, C, r)
    proj_d = torch.einsum("bc,bcr->br", m_b - m_a, scal)
    w = torch.einsum("bcr,br->bc", scal, proj_d)
    return w, _bias(w, m_a, m_b, n_a, n_b)


def _contrasts(xc_a, xc_b):
    """``Z_raw`` (B, n - 2, C): the two classes' orthonormal Helmert contrasts of the within-class
    centred units (``Y = H Z`` since Y's columns are centred within each class)."""
    return torch.cat([_helmert_cached(x.shape[1], x.dtype, x.device).T @ x for x in (xc_a, xc_b)], 1)


def _lower_bound_ok(chol, info, g, tau_t):
    """``lambda_min(g) > tau`` certified from ``L^-1`` (``lambda_min >= 1 / |L^-1|_F^2``; a
    computed inverse of the factor of ``g + E``, ``|E| <= ~m eps tr``, see
    :func:`._lda_null._inverse_lower_bound_ok`), and the shifted Cholesky test where that bound
    is not sharp enough. Returns (ok, L^-1)."""
    m = g.shape[-1]
    linv = torch.linalg.solve_triangular(chol, torch.eye(m, dtype=g.dtype, device=g.device).expand_as(g),
                                         upper=False)
    tr = torch.diagonal(g, dim1=-2, dim2=-1).sum(-1)
    shift = tau_t + 100.0 * m * torch.finfo(g.dtype).eps * tr
    ok = (info == 0) & (linv.pow(2).sum((-2, -1)) * (2.0 * shift) < 1.0)         # NaN -> False
    redo = ((info == 0) & ~ok).nonzero()[:, 0]
    if len(redo):
        ok[redo] = _chol_lower_bound_ok(g[redo], tau_t[redo])
    return ok, linv


def _factor(g):
    chol, info = torch.linalg.cholesky_ex(g)
    if not bool((info == 0).all()):
        chol = torch.where((info == 0)[:, None, None], chol, torch.eye(g.shape[-1], dtype=g.dtype, device=g.device))
    return chol, info


def _sample_space(z, bd, tau):
    """``w * std`` and the certified mask in the sample space (m = n - 2 < C): ``Z^T G^-2 Z B d``
    with ``z`` = ``Z`` (B, m, C) scaled, ``G = Z Z^T``."""
    g = z @ z.mT
    chol, info = _factor(g)
    ok, linv = _lower_bound_ok(chol, info, g, torch.full(g.shape[:1], tau, dtype=g.dtype, device=g.device))
    v = z @ bd[..., None]                                                     # Z B d  (B, m, 1)
    for _ in range(2):                                                        # G^-1 = L^-T L^-1, twice
        v = linv.mT @ (linv @ v)
    return (z.mT @ v)[..., 0], ok


def _channel_space(z, std, bd, tau, tol):
    """``w * std`` and the certified mask in channel space (m >= C), average reference too."""
    dt, dev = z.dtype, z.device
    mat = z.mT @ z                                                            # Y^T Y (B, C, C)
    tau_t = torch.full(mat.shape[:1], tau, dtype=dt, device=dev)
    chol, info = _factor(mat)
    ok, linv = _lower_bound_ok(chol, info, mat, tau_t)
    out = (linv.mT @ (linv @ bd[..., None]))[..., 0]
    rest = (~ok).nonzero()[:, 0]
    if len(rest):                                   # average reference: one structural null vector
        u = std[rest] / torch.linalg.vector_norm(std[rest], dim=-1, keepdim=True)
        mr = mat[rest]
        null_ok = torch.einsum("bc,bcd,bd->b", u, mr, u) <= tol**2 / _SAFETY
        mu = mr + u[:, :, None] * u[:, None, :]
        chol_u, info_u = _factor(mu)
        ok_u, linv_u = _lower_bound_ok(chol_u, info_u, mu, tau_t[rest])
        sol = (linv_u.mT @ (linv_u @ bd[rest, :, None]))[..., 0]
        out[rest] = sol - u * (u * bd[rest]).sum(-1, keepdim=True)
        ok[rest] = null_ok & ok_u
    return out, ok


def lda_weights(train_a: torch.Tensor, train_b: torch.Tensor, tol: float = 1e-4) -> tuple:
    """sklearn svd-solver LDA weights, certified fast solve with an exact SVD fallback.

    Parameters
    ----------
    train_a, train_b : Tensor, shape (B, n_a, C) and (B, n_b, C)
        Training units of ``classes_[0]`` and ``classes_[1]`` (float64, finite).
    tol : float
        sklearn's ``tol``.

    Returns
    -------
    w : Tensor, shape (B, C)
    b : Tensor, shape (B,)
        As :func:`svd_weights` (module docstring: the paths and their certificates).
    """
    n_a, n_b, c = train_a.shape[1], train_b.shape[1], train_a.shape[2]
    n = n_a + n_b
    # sklearn's std of the within-class centred data (a constant channel is exactly 0 there and
    # gets std 1, as in sklearn; its Helmert contrasts of the raw units would only be ~eps)
    m_a, m_b, xc, std = _centre(train_a, train_b)
    z = _contrasts(xc[:, :n_a], xc[:, n_a:]) / (std[:, None] * math.sqrt(n))    # (B, n - 2, C)
    bd = (m_b - m_a) / std
    tau = _SAFETY * tol**2
    if n - 2 < c:
        ws, ok = _sample_space(z, bd, tau)
    else:
        ws, ok = _channel_space(z, std, bd, tau, tol)
    w = ws / std
    bad = (~ok).nonzero()[:, 0]
    if len(bad):
        w[bad] = svd_weights(train_a[bad], train_b[bad], tol)[0]
    return w, _bias(w, m_a, m_b, n_a, n_b)
