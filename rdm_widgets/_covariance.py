"""Shrunk covariances: the one Ledoit-Wolf formula and the one shrinkage check of the package.

Why this module exists: three computations need scikit-learn's Ledoit-Wolf shrinkage, each
from data it already holds in a different form -- batched centred samples (EEG noise
normalisation, :mod:`rdm_widgets.eeg._noise`), standardised training trials (LDA with
``shrinkage='auto'``, :mod:`rdm_widgets.eeg._linalg`) and an ``N x N`` or ``D x D`` Gram
matrix (the Mahalanobis distance, :mod:`rdm_widgets._distance_kernels`). All of them reduce
their data to the same three sufficient statistics and call :func:`ledoit_wolf_shrinkage`,
which evaluates them in scikit-learn's order of operations
(``sklearn.covariance.ledoit_wolf_shrinkage``, single block).

For centred samples ``X`` of shape ``(n, p)`` and ``S = X'X / n``::

    trace  = sum_j S_jj                      (sklearn: emp_cov_trace.sum())
    delta_ = ||X'X||_F^2 / n^2 = ||S||_F^2
    beta_  = sum_ij (X**2)'(X**2) = sum_i ||x_i||^4
    mu     = trace / p
    beta   = 1 / (p n) * (beta_ / n - delta_)
    delta  = (delta_ - 2 mu trace + p mu^2) / p
    shrinkage = min(beta, delta) / delta     (0 when that minimum is 0, or when p == 1)
"""
from __future__ import annotations

from numbers import Real

import torch

from ._validate import check_option

__all__ = ["ledoit_wolf_shrinkage", "shrunk_covariance", "check_shrinkage"]


def ledoit_wolf_shrinkage(trace, delta_, beta_, n, p: int):
    """scikit-learn's Ledoit-Wolf shrinkage from sufficient statistics.

    Parameters
    ----------
    trace : float or Tensor, shape (B,)
        Trace of the empirical covariance ``S = X'X / n`` of the centred samples.
    delta_ : float or Tensor, shape (B,)
        ``||X'X||_F^2 / n^2``.
    beta_ : float or Tensor, shape (B,)
        ``sum((X**2)'(X**2))``, i.e. the sum over samples of ``||x_i||^4``.
    n : int, float or Tensor, shape (B,)
        Number of samples.
    p : int
        Number of features.

    Returns
    -------
    float or Tensor, shape (B,)
        The shrinkage in [0, 1] (a float when the statistics are floats). One feature is
        never shrunk (as in scikit-learn).
    """
    mu = trace / p
    beta = 1.0 / (p * n) * (beta_ / n - delta_)
    delta = (delta_ - 2.0 * mu * trace + p * mu ** 2) / p
    if not torch.is_tensor(beta):
        beta = min(beta, delta)
        return 0.0 if beta == 0 or p == 1 else beta / delta
    # min(beta, delta) keeps the shrinkage <= 1 (no inversion of the covariances); the
    # guarded divisor only keeps the unselected branch of the where free of 0/0
    beta = torch.minimum(beta, delta)
    safe = torch.where(delta == 0, torch.ones_like(delta), delta)
    shrink = torch.where(beta == 0, torch.zeros_like(beta), beta / safe)
    return torch.zeros_like(shrink) if p == 1 else shrink


def shrunk_covariance(emp: torch.Tensor, shrinkage) -> torch.Tensor:
    """``(1 - s) * emp + s * mu * I`` with ``mu = trace(emp) / p`` (``sklearn.covariance.shrunk_covariance``).

    Parameters
    ----------
    emp : Tensor, shape (B, p, p)
        Empirical covariances.
    shrinkage : float or Tensor, shape (B,)

    Returns
    -------
    Tensor, shape (B, p, p)
    """
    p = emp.shape[-1]
    mu = torch.diagonal(emp, dim1=-2, dim2=-1).sum(-1) / p                 # (B,)
    eye = torch.eye(p, dtype=emp.dtype, device=emp.device)
    if torch.is_tensor(shrinkage):
        return (1.0 - shrinkage)[:, None, None] * emp + (shrinkage * mu)[:, None, None] * eye
    return (1.0 - shrinkage) * emp + (shrinkage * mu)[:, None, None] * eye


def check_shrinkage(shrinkage, *, allow_none: bool = False):
    """Validate a shrinkage option: ``'auto'`` (Ledoit-Wolf), a float in [0, 1] or (if allowed) None.

    Parameters
    ----------
    shrinkage : {'auto'}, float, int or None
    allow_none : bool
        Accept None (no shrinkage: the empirical covariance).

    Returns
    -------
    'auto', float or None

    Raises
    ------
    ValueError
        Another string, a number outside [0, 1] (or NaN), a bool or any other type.
    """
    allowed = ("None, " if allow_none else "") + "'auto' or a float in [0, 1]"
    if shrinkage is None and allow_none:
        return None
    if isinstance(shrinkage, str):
        return check_option("shrinkage", shrinkage, ("auto",), extra="Or a float in [0, 1].")
    if isinstance(shrinkage, bool) or not isinstance(shrinkage, Real) or not 0.0 <= float(shrinkage) <= 1.0:
        raise ValueError(f"Invalid value for 'shrinkage': {shrinkage!r}. Allowed: {allowed}.")
    return float(shrinkage)
