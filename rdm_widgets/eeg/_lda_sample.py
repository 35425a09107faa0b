"""The sample-space path of the exact LDA kernel and its exact fallback (private).

See :mod:`rdm_widgets.eeg._lda` for the algebra shared by all paths. :func:`_sample_space`
serves ``2k-2 <= C`` with a null space larger than ``2k-4`` (fewer trials than channels by
far): one small Cholesky of the fold's scaled ``(2k-4)``-square Gram per fold.
:func:`_exact_folds` recomputes the (pair-time, fold) entries no fast path certified with the
exact batched SVD of :func:`rdm_widgets.eeg._linalg.svd_decisions`.
"""
from __future__ import annotations

import torch

from ._lda_base import _BLOCK_BYTES, _SAFETY, _chol_lower_bound_ok, _fold_helmert, _fold_stats, _helmert
from ._linalg import svd_decisions


def _sample_space(xa, xb, tol):
    """Fast path for 2k-2 <= C. Returns decisions (N, k, 2) and certified mask (N, k)."""
    n_pt, k, _ = xa.shape
    n = 2 * (k - 1)
    ma, mb, ra, rb, var0, var_f, ok = _fold_stats(xa, xb)
    var_f = torch.where(ok[..., None], var_f, var0[:, None])        # keep finite; uncertified
    # pair-level certificate: lambda_min of the (2k-2)-dim scaled Gram of all 2k trials
    hk = _helmert(k, xa.dtype, xa.device)
    z0 = torch.cat([torch.einsum("ij,nic->njc", hk, ra), torch.einsum("ij,nic->njc", hk, rb)], 1)
    z0 = z0 * var0.rsqrt()[:, None]
    g0 = z0 @ z0.transpose(1, 2)
    tau = torch.full((n_pt,), _SAFETY * tol**2 * n, dtype=xa.dtype, device=xa.device)
    ok = ok & _chol_lower_bound_ok(g0, tau)[:, None]
    # per fold: Gram of the contrasts of the 2k-2 training trials, scaled by 1/var_f
    hf = _fold_helmert(k, xa.dtype, xa.device)
    sw = var_f.rsqrt()                                               # (N, k, C)
    z = torch.cat([torch.einsum("fij,nic->nfjc", hf, ra), torch.einsum("fij,nic->nfjc", hf, rb)], 2)
    z.mul_(sw[:, :, None, :])
    g = z @ z.transpose(-1, -2)                                      # (N, k, m, m)
    ma_f = ma[:, None] - ra / (k - 1)
    mb_f = mb[:, None] - rb / (k - 1)
    mid = 0.5 * (ma_f + mb_f)
    vec = torch.stack([xa - mid, xb - mid, mb_f - ma_f], 2) * sw[:, :, None, :]
    rhs = z @ vec.transpose(-1, -2)                                  # (N, k, m, 3)
    chol, info = torch.linalg.cholesky_ex(g)
    ok = ok & (info == 0)
    zz = torch.cholesky_solve(rhs, chol)                             # G^-1 [a_a, a_b, b]
    dec = n * torch.stack([(zz[..., 0] * zz[..., 2]).sum(-1), (zz[..., 1] * zz[..., 2]).sum(-1)], -1)
    return dec, ok


def _exact_folds(xa, xb, pt, fold, tol, max_bytes=_BLOCK_BYTES):
    """Exact SVD-path decisions for the (pair-time, fold) entries listed in pt/fold."""
    k, c = xa.shape[1], xa.shape[2]
    keep = torch.tensor([[i for i in range(k) if i != f] for f in range(k)], device=xa.device)
    out = torch.empty(len(pt), 2, dtype=xa.dtype, device=xa.device)
    step = max(1, int(max_bytes // (8 * 6 * (2 * k) * max(c, 2 * k))))
    for s in range(0, len(pt), step):
        p, f = pt[s:s + step], fold[s:s + step]
        ta = xa[p[:, None], keep[f]]
        tb = xb[p[:, None], keep[f]]
        test = torch.stack([xa[p, f], xb[p, f]], 1)
        out[s:s + step] = svd_decisions(ta, tb, test, tol)
    return out
