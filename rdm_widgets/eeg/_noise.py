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

A time point whose training residuals are all zero (no noise: a one-sample baseline, zero
padding) has no inverse square root; it is left unwhitened (``W = I``) with a RuntimeWarning
(:func:`_regularise_flat` says why). A whitener that is still not finite raises ValueError.
"""
from __future__ import annotations

import warnings

import torch

from .._covariance import ledoit_wolf_shrinkage, shrunk_covariance
from ._lda_base import run_threaded

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
        and the Ledoit-Wolf shrinkage ``s`` (:mod:`rdm_widgets._covariance`), equal to
        ``sklearn.covariance.ledoit_wolf(x[b], assume_centered=True)[0]``.
    """
    B, N, p = x.shape
    if n is None:
        n = torch.full((B,), float(N), dtype=x.dtype, device=x.device)
    elif not torch.is_tensor(n):
        n = torch.full((B,), float(n), dtype=x.dtype, device=x.device)
    else:
        n = n.to(dtype=x.dtype, device=x.device)
    emp = x.transpose(1, 2) @ x / n[:, None, None]                    # (B, p, p)
    x2 = x * x
    emp_trace = x2.sum(dim=1) / n[:, None]                            # (B, p)
    beta_ = (x2.transpose(1, 2) @ x2).sum(dim=(1, 2))                 # (B,)
    delta_ = ((x.transpose(1, 2) @ x) ** 2).sum(dim=(1, 2)) / n ** 2  # (B,)
    return shrunk_covariance(emp, ledoit_wolf_shrinkage(emp_trace.sum(dim=1), delta_, beta_, n, p))


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
    # folds run in workers with one intra-op thread each (run_threaded): on a busy 2-core machine
    # a 2-thread OpenMP team in the caller spun on these small covariance problems (10x slower).
    # The flat-time-point check warns, so it runs here, in the caller's thread.
    # A job of a few time points runs its folds in one thread: each fold is then a few small
    # LAPACK calls, and handing them between threads cost more than it saved (crossnobis, 20
    # conditions x 32 channels, 1 time point: 2.6-3.1 ms in one thread, 4.4-4.8 ms in two).
    folds = range(train_mask.shape[0])
    workers = 1 if x.shape[-1] < _SPREAD_MIN_TIMES else None
    covs = list(run_threaded(lambda f: _fold_covariance(x, train_mask[f], mode), folds, x.device, workers))
    covs = [_regularise_flat(cov, f, mode) for f, cov in zip(folds, covs)]
    return torch.stack(list(run_threaded(lambda f: _whitener(covs[f], f, mode), folds, x.device, workers)))


# noise_whiteners spreads its folds over the threads from this many time points on
_SPREAD_MIN_TIMES = 4


def _fold_covariance(x: torch.Tensor, train: torch.Tensor, mode: str) -> torch.Tensor:
    """Ledoit–Wolf noise covariance (T', C, C) of one fold's training residuals."""
    n_cond, k, C, T = x.shape
    m = train.to(x.dtype)                                           # (n_cond, k)
    cnt = m.sum(dim=1).clamp(min=1)
    mean = torch.einsum("ck,ckxt->cxt", m, x) / cnt[:, None, None]
    res = (x - mean[:, None]) * m[:, :, None, None]                 # zero rows = not training
    res = res.permute(3, 0, 1, 2).reshape(T, n_cond * k, C)
    cov = ledoit_wolf(res, torch.full((T,), float(m.sum()), dtype=x.dtype, device=x.device))
    return cov.mean(dim=0, keepdim=True) if mode == "epoch" else cov


def _whitener(cov: torch.Tensor, f: int, mode: str) -> torch.Tensor:
    """``cov^(-1/2)`` of fold ``f``, with errors that say how to fix the data."""
    try:
        w = _inv_sqrt(cov)
    except torch.linalg.LinAlgError as exc:
        raise ValueError(f"noise_normalization={mode!r}: the noise covariance of fold {f} could not be "
                         f"decomposed ({str(exc).splitlines()[0]}). Rescale the data (e.g. volts to "
                         "microvolts is 1e6).") from None
    bad = ~torch.isfinite(w).all(dim=-1).all(dim=-1)
    if bool(bad.any()):
        idx = bad.nonzero().flatten().tolist()
        raise ValueError(f"noise_normalization={mode!r}: the noise covariance of fold {f} has no finite "
                         f"inverse square root at time index/indices {idx[:10]}"
                         f"{' ...' if len(idx) > 10 else ''} (values too large for float64?). Rescale "
                         "the data (e.g. volts to microvolts is 1e6).")
    return w


def _regularise_flat(cov: torch.Tensor, fold: int, mode: str) -> torch.Tensor:
    """Covariances (T', C, C) with identity matrices where the training residuals are all 0.

    A time point at which every training trial equals its condition's mean on every channel
    (a one-sample baseline, zero padding, a reference sample) has a zero noise covariance, whose
    inverse square root is undefined (it gave NaN distances). It has no noise to normalise,
    so it is left unwhitened (``W = I``) and a RuntimeWarning names it: with no variation
    between trials the distances there are 0 and decoding is at chance whatever ``W`` is.
    """
    flat = torch.diagonal(cov, dim1=-2, dim2=-1).sum(-1) == 0
    if not bool(flat.any()):
        return cov
    idx = flat.nonzero().flatten().tolist()
    where = (f"time index/indices {idx[:10]}{' ...' if len(idx) > 10 else ''}" if mode == "time"
             else "any time point of the epoch")
    warnings.warn(f"noise_normalization={mode!r}: the training trials have no noise at {where} (every "
                  "trial equals its condition's mean on every channel, e.g. a one-sample baseline or "
                  "zero padding); left unwhitened there (W = I) instead of giving NaN.",
                  RuntimeWarning, stacklevel=2)
    eye = torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
    return torch.where(flat[:, None, None], eye, cov)


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
