"""Multivariate noise normalisation (Guggenmos et al. 2018), fitted on training folds only.

Why this module exists: EEG/MEG channels have very unequal and correlated noise;
whitening the data with the inverse square root of the noise covariance makes
distances and (shrinkage) classifiers far more reliable (Guggenmos, Sterzer &
Cichy 2018, NeuroImage 173:434-447). The covariance must be estimated from the
*training* trials of each fold only, otherwise test-trial noise leaks into the
whitening and biases cross-validated results.

Definition used here, for fold ``f``:

1. residuals ``r = x - mean_c`` of every training trial, with ``mean_c`` the
   mean of the training trials of the trial's own condition (pooled over all
   conditions, per time point);
2. one Ledoit-Wolf shrunk covariance per time point from the pooled residuals
   (``sklearn.covariance.ledoit_wolf(r, assume_centered=True)``, re-implemented
   batched in torch and tested against sklearn);
3. ``'time'``: one covariance per time point; ``'epoch'``: the mean of the
   per-time covariances over the epoch (as in Guggenmos et al.);
4. whitening matrix ``W = cov^(-1/2)`` (symmetric, via eigendecomposition).
"""
from __future__ import annotations

import torch

__all__ = ["ledoit_wolf", "noise_whiteners", "whiten", "NOISE_MODES"]

NOISE_MODES = ("epoch", "time")


def ledoit_wolf(x: torch.Tensor, n: torch.Tensor | int | None = None) -> torch.Tensor:
    """Batched Ledoit-Wolf covariance of centred samples (sklearn's formula).

    Parameters
    ----------
    x : Tensor, shape (B, N, p)
        Samples (already centred; rows of zeros are allowed and simply do not
        count when ``n`` says how many real samples there are).
    n : int, Tensor of shape (B,) or None
        Number of real samples per batch item (default ``N``).

    Returns
    -------
    Tensor, shape (B, p, p)
        ``(1 - s) * S + s * mu * I`` with ``S = x'x / n``, ``mu = trace(S)/p``
        and the Ledoit-Wolf shrinkage ``s``, equal to
        ``sklearn.covariance.ledoit_wolf(x[b], assume_centered=True)[0]``.
    """
    B, N, p = x.shape
    if n is None:
        n = torch.full((B,), float(N), dtype=x.dtype, device=x.device)
    elif not torch.is_tensor(n):
        n = torch.full((B,), float(n), dtype=x.dtype, device=x.device)
    else:
        n = n.to(dtype=x.dtype, device=x.device)
    nb = n[:, None, None]
    emp = x.transpose(1, 2) @ x / nb                                  # (B, p, p)
    x2 = x * x
    emp_trace = x2.sum(dim=1) / n[:, None]                            # (B, p)
    mu = emp_trace.sum(dim=1) / p                                     # (B,)
    beta_ = (x2.transpose(1, 2) @ x2).sum(dim=(1, 2))                 # (B,)
    delta_ = ((x.transpose(1, 2) @ x) ** 2).sum(dim=(1, 2)) / n ** 2  # (B,)
    beta = (beta_ / n - delta_) / (p * n)
    delta = (delta_ - 2.0 * mu * emp_trace.sum(dim=1) + p * mu ** 2) / p
    beta = torch.minimum(beta, delta)
    shrink = torch.where(beta == 0, torch.zeros_like(beta), beta / torch.where(delta == 0, torch.ones_like(delta), delta))
    eye = torch.eye(p, dtype=x.dtype, device=x.device)
    return (1.0 - shrink)[:, None, None] * emp + (shrink * mu)[:, None, None] * eye


def _inv_sqrt(cov: torch.Tensor) -> torch.Tensor:
    """Symmetric inverse square root of SPD matrices, shape (..., p, p)."""
    w, v = torch.linalg.eigh(cov)
    # guard against round-off making tiny eigenvalues zero or negative
    floor = w.amax(dim=-1, keepdim=True) * 1e-12
    w = torch.clamp(w, min=floor)
    return (v * w.rsqrt().unsqueeze(-2)) @ v.transpose(-1, -2)


def noise_whiteners(x: torch.Tensor, train_mask: torch.Tensor, mode: str) -> torch.Tensor:
    """Whitening matrices per fold from the training trials' residuals.

    Parameters
    ----------
    x : Tensor, shape (n_cond, k, C, T)
        Single trials (before any pseudo-trial averaging).
    train_mask : bool Tensor, shape (F, n_cond, k)
        ``train_mask[f, c, r]``: trial ``r`` of condition ``c`` is a training
        trial in fold ``f``.
    mode : {'epoch', 'time'}

    Returns
    -------
    Tensor, shape (F, T', C, C)
        ``W[f, t] = cov_f(t)^(-1/2)``; ``T' = T`` for ``'time'``, 1 for ``'epoch'``.
    """
    n_cond, k, C, T = x.shape
    out = []
    for f in range(train_mask.shape[0]):
        m = train_mask[f].to(x.dtype)                                   # (n_cond, k)
        cnt = m.sum(dim=1).clamp(min=1)
        mean = torch.einsum("ck,ckxt->cxt", m, x) / cnt[:, None, None]
        res = (x - mean[:, None]) * m[:, :, None, None]                 # zero rows = not training
        res = res.permute(3, 0, 1, 2).reshape(T, n_cond * k, C)
        n_f = m.sum()
        cov = ledoit_wolf(res, torch.full((T,), float(n_f), dtype=x.dtype, device=x.device))
        if mode == "epoch":
            cov = cov.mean(dim=0, keepdim=True)
        out.append(_inv_sqrt(cov))
    return torch.stack(out)


def whiten(units: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Apply one fold's whitening matrices.

    Parameters
    ----------
    units : Tensor, shape (n_cond, n_units, C, T)
    w : Tensor, shape (T or 1, C, C)

    Returns
    -------
    Tensor, shape (n_cond, n_units, C, T)
    """
    if w.shape[0] == 1:
        return torch.einsum("ij,cujt->cuit", w[0], units)
    return torch.einsum("tij,cujt->cuit", w, units)
