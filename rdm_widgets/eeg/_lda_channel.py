"""Channel-space paths of the exact LDA kernel (``2k-4 >= C``, and average-referenced data):
one factorisation per pair and time, a 2x2 Woodbury downdate per fold (see :mod:`rdm_widgets.eeg._lda`)."""
from __future__ import annotations

import functools

import torch

from ._lda_base import _MIN_DOWNDATE, _SAFETY, _chol_lower_bound_ok, _fold_stats


def _downdate_capacitance(gaa, gbb, gab, c, ok):
    """Certificate and 2x2 Woodbury capacitance of the leave-one-out downdate Q - c U U^T.

    ``gaa, gbb, gab`` are the entries of U^T Q^-1 U for U = [r_a, r_b]. The downdate keeps
    Q_f >= (1 - c lambda_max(U^T Q^-1 U)) Q, so folds whose remaining fraction is below
    ``_MIN_DOWNDATE`` are not certified. Returns (ok, remaining fraction, K) with
    K = (I/c - U^T Q^-1 U)^-1.
    """
    lam_max = 0.5 * (gaa + gbb) + torch.sqrt(0.25 * (gaa - gbb) ** 2 + gab**2)
    frac = 1.0 - c * lam_max
    ok = ok & (frac > _MIN_DOWNDATE)
    a11, a22, a12 = 1.0 / c - gaa, 1.0 / c - gbb, -gab
    det = a11 * a22 - a12**2
    det = torch.where(det > 0, det, torch.ones_like(det))
    kinv = torch.stack([torch.stack([a22, -a12], -1), torch.stack([-a12, a11], -1)], -2) / det[..., None, None]
    return ok, frac, kinv


@functools.lru_cache(maxsize=8)
def _avgref_weights(k: int, dtype, device) -> torch.Tensor:
    """(5, 5): held-out a, held-out b, d_f, g = B0 1 and B0 var_f in the average-reference path's
    basis [d, g, r_a, r_b, var_f] (from the leave-one-out mean updates)."""
    h = 1.0 / (2 * (k - 1))
    #                  d     g    r_a           r_b           var_f
    return torch.tensor([[-0.5, 0.0, 1.0 + h, h, 0.0],
                         [0.5, 0.0, h, 1.0 + h, 0.0],
                         [1.0, 0.0, 1.0 / (k - 1), -1.0 / (k - 1), 0.0],
                         [0.0, 1.0, 0.0, 0.0, 0.0],
                         [0.0, 0.0, 0.0, 0.0, 1.0]], dtype=dtype, device=device)


def _channel_space(xa, xb, tol):
    """Fast path for 2k-4 >= C. Returns decisions (N, k, 2) and certified mask (N, k)."""
    k = xa.shape[1]
    n = 2 * (k - 1)
    c = k / (k - 1)
    ma, mb, ra, rb, var0, var_f, ok = _fold_stats(xa, xb)
    s0 = var0.rsqrt()                                                # B0 (scale-invariant algebra)
    ras, rbs = ra * s0[:, None], rb * s0[:, None]
    qs = ras.transpose(1, 2) @ ras + rbs.transpose(1, 2) @ rbs      # B0 Q B0 (N, C, C)
    chol, info = torch.linalg.cholesky_ex(qs)
    ok = ok & (info == 0)[:, None]
    e = torch.cat([((mb - ma) * s0)[:, None], ras, rbs], 1)          # (N, 2k+1, C)
    y = torch.linalg.solve_triangular(chol, e.transpose(1, 2), upper=False)  # L^-1 E
    yd, ya, yb = y[:, :, :1], y[:, :, 1:k + 1], y[:, :, k + 1:]
    gdd = (yd * yd).sum(1).expand(-1, k)
    gda, gdb = (yd * ya).sum(1), (yd * yb).sum(1)
    gaa, gbb, gab = (ya * ya).sum(1), (yb * yb).sum(1), (ya * yb).sum(1)
    # Gamma = E_f^T Qs^-1 E_f for the basis E_f = [d, r_a(f), r_b(f)]  (N, k, 3, 3)
    gam = torch.stack([torch.stack([gdd, gda, gdb], -1), torch.stack([gda, gaa, gab], -1),
                       torch.stack([gdb, gab, gbb], -1)], -2)
    ok, frac, kinv = _downdate_capacitance(gaa, gbb, gab, c, ok)
    # held-out a, held-out b and d_f in the basis E_f (derived from the LOO mean updates)
    h = 1.0 / (2 * (k - 1))
    coef = torch.tensor([[-0.5, 1.0 + h, h], [0.5, h, 1.0 + h], [1.0, 1.0 / (k - 1), -1.0 / (k - 1)]],
                        dtype=xa.dtype, device=xa.device)
    left = coef @ gam                                                # (N, k, 3, 3)
    bil = left @ coef.T + left[..., 1:] @ kinv @ left[..., 1:].transpose(-1, -2)
    dec = n * torch.stack([bil[..., 0, 2], bil[..., 1, 2]], -1)
    # pair-level certificate: lambda_min(Qs) * min_f frac_f / n > SAFETY tol^2
    worst = torch.where(ok, frac, torch.full_like(frac, float("inf"))).amin(1)
    tau = _SAFETY * tol**2 * n / torch.where(torch.isfinite(worst), worst, torch.ones_like(worst))
    ok = ok & _chol_lower_bound_ok(qs, tau)[:, None]
    return dec, ok


def _avgref_channel_space(xa, xb, tol):
    """Fast path for average-referenced data with 2k-3 >= C (within scatter of rank C-1).

    Returns decisions (N, k, 2) and certified mask (N, k).

    With ``1^T r = 0`` for every residual, the fold's scaled within matrix
    ``Z = B_f Q_f B_f / n`` has the structural null vector ``u = s_f / |s_f|``
    (``s_f`` the fold's std), which sklearn truncates. For any ``alpha > 0``,
    ``Z^+ = (Z + alpha u u^T)^-1 - u u^T / alpha``; with ``alpha = 1`` this gives::

        B_f Z^+ B_f / n = (Q_f + mu v v^T)^-1 - 1 1^T / (n sum(v)),   v = var_f, mu = n / sum(v)

    ``Q_f + mu v v^T = (Q + gamma 1 1^T) - c r_a r_a^T - c r_b r_b^T - gamma 1 1^T + mu v v^T``
    is a rank-4 update of one base per pair-time (factorised once, in B0-scaled
    coordinates as the channel path); the base is solved for ``d``, ``B0 1`` and, per fold,
    ``B0 r_a``, ``B0 r_b`` and ``B0 v`` (``v = var0 - c (r_a^2 + r_b^2) / n``). When rounding
    leaves tiny channel sums (float32 data), this differs from sklearn's truncated
    pseudo-inverse only at second order in them (``u`` is an exact eigenvector up to first order).
    """
    n_pt, k, n_chan = xa.shape
    n = 2 * (k - 1)
    c = k / (k - 1)
    ma, mb, ra, rb, var0, var_f, ok = _fold_stats(xa, xb)
    var_f = torch.where(ok[..., None], var_f, var0[:, None])        # keep finite; uncertified
    sum_f = var_f.sum(-1)                                            # |s_f|^2  (N, k)
    # sklearn truncates the null direction: u^T Z_f u = 1^T Q_f 1 / (n |s_f|^2) << tol^2
    sa, sb = ra.sum(-1), rb.sum(-1)                                  # 1^T r  (N, k)
    one_q_one = sa.pow(2).sum(1) + sb.pow(2).sum(1)                  # 1^T Q 1 >= 1^T Q_f 1
    ok = ok & (one_q_one[:, None] <= tol**2 / _SAFETY * n * sum_f)
    sc = var0.rsqrt()                                                # B0 (scale-invariant algebra)
    gamma = n * var0.sum(-1) / n_chan**2    # gamma ((B0 1)^T u0)^2 = n, the base's mean eigenvalue
    # base = B0 Q B0 + gamma (B0 1)(B0 1)^T as one Gram of the rows [B0 r_a; B0 r_b; sqrt(gamma) B0 1]
    rows = torch.empty(n_pt, 2 * k + 1, n_chan, dtype=xa.dtype, device=xa.device)
    ras = torch.mul(ra, sc[:, None], out=rows[:, :k])
    rbs = torch.mul(rb, sc[:, None], out=rows[:, k:2 * k])
    torch.mul(sc, gamma.sqrt()[:, None], out=rows[:, 2 * k])
    base = rows.mT @ rows
    chol, info = torch.linalg.cholesky_ex(base)
    ok = ok & (info == 0)[:, None]
    # basis [d, g = B0 1, B0 r_a, B0 r_b, B0 var_f]; the last three per fold (B0 var_f itself
    # rather than B0 var0, B0 r_a^2, B0 r_b^2: 3k + 2 vectors through the solve, not 4k + 3).
    # Rows ordered fold-major (2 + 3 f + i): L^-1 E comes back column-major, so its transpose
    # (N, 2 + 3k, C) is contiguous and the per-fold 3 x C blocks are plain views (no strided
    # copies for the fold Grams, which cost more than the whole solve)
    e = torch.empty(n_pt, 2 + 3 * k, n_chan, dtype=xa.dtype, device=xa.device)
    torch.mul(mb - ma, sc, out=e[:, 0])
    e[:, 1] = sc
    ef = e[:, 2:].view(n_pt, k, 3, n_chan)
    ef[:, :, 0] = ras
    ef[:, :, 1] = rbs
    torch.mul(var_f, sc[:, None], out=ef[:, :, 2])
    yt = torch.linalg.solve_triangular(chol, e.mT, upper=False).mT  # (L^-1 E)^T  (N, 2 + 3k, C)
    y0t = yt[:, :2]                                                  # (N, 2, C)
    yft = yt[:, 2:]                                                  # (N, 3k, C)
    g00 = (y0t @ y0t.mT)[:, None].expand(-1, k, -1, -1)
    g0f = (y0t @ yft.mT).view(n_pt, 2, k, 3).transpose(1, 2)         # (N, k, 2, 3)
    yfk = yft.reshape(n_pt, k, 3, n_chan)                            # a view when contiguous
    # the fold Grams (N, k, 3, 3) as row-wise dot products: a batched GEMM of N k tiny 3 x C
    # matrices costs ~5x more per element than these multiply-and-sum passes
    gff = torch.empty(n_pt, k, 3, 3, dtype=xa.dtype, device=xa.device)
    for i in range(3):
        row = (yfk[:, :, i:i + 1] * yfk[:, :, i:]).sum(-1)           # (N, k, 3 - i)
        gff[..., i, i:] = row
        gff[..., i + 1:, i] = row[..., 1:]
    gam = torch.cat([torch.cat([g00, g0f], -1), torch.cat([g0f.mT, gff], -1)], -2)  # (N, k, 5, 5)
    # Q_f + gamma 1 1^T = base - c U U^T, U = [r_a, r_b]: same certificate as the channel path
    gaa, gbb, gab = gam[..., 2, 2], gam[..., 3, 3], gam[..., 2, 3]
    ok, frac, kinv = _downdate_capacitance(gaa, gbb, gab, c, ok)
    gam_t = gam + gam[..., :, 2:4] @ kinv @ gam[..., 2:4, :]        # E^T (Q_f + gamma 1 1^T)^-1 E
    w = _avgref_weights(k, xa.dtype, xa.device)
    g5 = w @ gam_t @ w.T                                             # (N, k, 5, 5)
    # second Woodbury step: - gamma g g^T + mu v v^T  (2x2 capacitance, det < 0 when exact)
    k11 = g5[..., 3, 3] - 1.0 / gamma[:, None]
    k12 = g5[..., 3, 4]
    k22 = g5[..., 4, 4] + sum_f / n
    kdet = k11 * k22 - k12**2
    ok = ok & (kdet < -1e-6 * (k11.abs() * k22.abs() + k12**2))
    kdet = torch.where(kdet < 0, kdet, -torch.ones_like(kdet))
    cinv = torch.stack([torch.stack([k22, -k12], -1), torch.stack([-k12, k11], -1)], -2) / kdet[..., None, None]
    side = g5[..., :3, 3:5]
    bil = g5[..., :3, :3] - side @ cinv @ side.mT
    # - 1 1^T / (n |s_f|^2) term of B Z^+ B / n, from the (tiny) channel sums of the vectors
    ones = torch.stack([(mb - ma).sum(-1)[:, None].expand(-1, k), sa, sb], -1) @ w[:3, [0, 2, 3]].T
    dec = n * bil[..., :2, 2] - ones[..., :2] * ones[..., 2:] / sum_f[..., None]
    # pair-level certificate (see module docstring): lambda_2(Z_f) >= frac_f lambda_min(base) / n
    worst = torch.where(ok, frac, torch.full_like(frac, float("inf"))).amin(1)
    tau = _SAFETY * tol**2 * n / torch.where(torch.isfinite(worst), worst, torch.ones_like(worst))
    ok = ok & _chol_lower_bound_ok(base, tau)[:, None]
    return dec, ok


