"""Cross-validated distances: cv-Euclidean and crossnobis (Guggenmos et al. 2018).

Why this module exists: decoding accuracy saturates and needs a classifier per
pair, time and fold; cross-validated distances are unbiased (their expected
value is 0 when two conditions do not differ, so they can be negative), are
cheap (a few matrix products for all pairs at once) and work with as few as two
trials per condition.

Definition, for conditions ``i, j``, time ``t`` and fold ``f``, with
``m_c^train`` / ``m_c^test`` the mean pattern (C channels) of condition ``c``
over the training / test units of the fold::

    d_f(i, j, t) = (m_i^train - m_j^train) . (m_i^test - m_j^test) / C

The RDM cell is the mean of ``d_f`` over folds. ``crossnobis`` is the same
after multivariate noise normalisation with the *training* fold's noise
covariance (``W_f = cov_f^(-1/2)`` applied to both means), i.e. the
cross-validated Mahalanobis distance ``(dm^train)' cov_f^-1 (dm^test) / C``.
"""
from __future__ import annotations

import torch

__all__ = ["cv_distances"]


def cv_distances(units: torch.Tensor, fold_of_unit: torch.Tensor, n_folds: int,
                 whiteners: torch.Tensor | None = None, reporter=None) -> torch.Tensor:
    """Cross-validated squared Euclidean distances for all pairs and times.

    Parameters
    ----------
    units : Tensor, shape (n_cond, n_units, C, T)
        Trials or pseudo-trials (float64).
    fold_of_unit : int Tensor, shape (n_cond, n_units)
        Test fold of every unit; every condition must have at least one unit in
        and out of every fold.
    n_folds : int
    whiteners : Tensor, shape (n_folds, T or 1, C, C), optional
        Whitening matrices of each fold (crossnobis).
    reporter : ProgressReporter, optional
        Advanced by one per fold.

    Returns
    -------
    Tensor, shape (n_cond, n_cond, T)
        Symmetric, zero diagonal.
    """
    n_cond, n_units, C, T = units.shape
    out = torch.zeros(T, n_cond, n_cond, dtype=units.dtype, device=units.device)
    for f in range(n_folds):
        test = (fold_of_unit == f).to(units.dtype)
        train = 1.0 - test
        m_tr = torch.einsum("cu,cuxt->cxt", train / train.sum(1, keepdim=True), units)
        m_te = torch.einsum("cu,cuxt->cxt", test / test.sum(1, keepdim=True), units)
        if whiteners is not None:
            w = whiteners[f]
            eq = "ij,cjt->cit" if w.shape[0] == 1 else "tij,cjt->cit"
            w = w[0] if w.shape[0] == 1 else w
            m_tr = torch.einsum(eq, w, m_tr)
            m_te = torch.einsum(eq, w, m_te)
        g = torch.einsum("ixt,jxt->tij", m_tr, m_te)               # (T, n, n)
        diag = torch.diagonal(g, dim1=1, dim2=2)                   # (T, n)
        # (a_i - a_j).(b_i - b_j) = a_i.b_i + a_j.b_j - a_i.b_j - a_j.b_i
        out += diag[:, :, None] + diag[:, None, :] - g - g.transpose(1, 2)
        if reporter is not None:
            reporter.update(1)
    out /= n_folds * C
    idx = torch.arange(n_cond, device=units.device)
    out[:, idx, idx] = 0.0
    return out.permute(1, 2, 0)
