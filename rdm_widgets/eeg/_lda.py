"""Exact, batched scikit-learn LDA for time-resolved pairwise leave-one-out decoding.

:func:`lda_loo_decisions` returns, for every condition pair, time point and
leave-one-trial-out fold, the ``decision_function`` values that
``sklearn.discriminant_analysis.LinearDiscriminantAnalysis()`` (svd solver,
``tol=1e-4``) gives for the two held-out trials — without fitting thousands of
models one by one.

For two equal-sized classes sklearn's svd solver reduces to (see
:mod:`rdm_widgets.eeg._linalg`)::

    decision(x) = (x - mid)^T  B pinv_tol(B Q B / n) B  d

with ``Q = Xc^T Xc`` (within-class scatter of the n training trials),
``B = diag(1/std)`` (within-class std, recomputed per fold), ``mid``/``d`` the
mid-point/difference of the class means and ``pinv_tol`` dropping eigenvalues
with ``sqrt(eig) <= tol``. Two fast paths evaluate this exactly when the
truncation provably keeps every non-structural eigenvalue:

* **sample space** (``2k-2 <= C``; fewer trials than channels): with an
  orthonormal within-class contrast basis (Helmert) ``Xc = H Z``, the non-zero
  spectrum is that of ``G = Z W Z^T`` (``W = B^2``, size ``2k-4``), which is
  positive definite, and ``decision = n a^T G^-2 b`` with ``a = Z W (x-mid)``,
  ``b = Z W d``: one small Cholesky per fold. (The per-fold std changes ``W``
  in every channel, so no factorisation can be shared between folds; a
  difference-basis variant that builds all fold Grams from one product of the
  per-channel outer products was measured slower on CPU.)
* **channel space** (``2k-4 >= C``): ``Q_f`` is a rank-2 downdate of the pair's
  scatter (removing trial f changes a class scatter by ``-k/(k-1) r r^T``) and
  the decision only involves ``span{d, r_a, r_b}``, so one Cholesky per pair and
  time plus a 2x2 Woodbury correction per fold suffice.
* **average reference** (``2k-3 >= C``, every trial sums to ~0 over channels):
  ``Q`` has rank ``C-1`` and sklearn truncates the fold's structural null
  direction ``u = std_f / |std_f|`` of the scaled matrix. With
  ``Z^+ = (Z + u u^T)^-1 - u u^T`` this becomes a rank-4 update (two LOO
  downdates, ``- gamma 1 1^T``, ``+ mu var_f var_f^T``) of one factorisation of
  ``B0 (Q + gamma 1 1^T) B0`` per pair and time (see
  :func:`_avgref_channel_space`).

Certificates (Weyl interlacing for the sample path: removing a trial cannot push
the smallest non-zero eigenvalue below the pair's one; ``S - vv^T >= (1 -
v^T S^-1 v) S`` for the channel paths; the per-fold std only grows the scaled
spectrum since ``var_f <= var_pair``) guarantee that every kept singular value
exceeds ``2 * tol``. For the average-reference path the bound is on the
second-smallest eigenvalue (a rank-one term ``gamma g g^T`` raises the smallest
eigenvalue to at most the second one, so ``lambda_2(Z_f) >= frac_f *
lambda_min(B0 (Q + gamma 1 1^T) B0) / n``), and the Rayleigh quotient
``u^T Z_f u <= 1^T Q 1 / (n |std_f|^2) < tol^2 / 4`` certifies that sklearn
drops exactly that one direction. Anything uncertified (near-singular data,
average referencing with ``2k-2 == C``, constant channels) is recomputed
with the exact batched SVD of :func:`rdm_widgets.eeg._linalg.svd_decisions`.
"""
from __future__ import annotations

import functools
import math
from numbers import Real

import numpy as np
import torch

from rdm_widgets._validate import check_finite, check_option
from rdm_widgets.eeg._linalg import lsqr_decisions, svd_decisions

__all__ = ["lda_loo_decisions", "lda_decisions"]

# Certified eigenvalues of the scaled within matrix exceed SAFETY * tol**2,
# i.e. singular values exceed 2 * tol: far outside sklearn's SVD rounding.
_SAFETY = 4.0
# Woodbury downdates whose remaining fraction is below this lose digits: exact path.
_MIN_DOWNDATE = 1e-3
_BLOCK_BYTES = 256 * 2**20
# A trial counts as average-referenced when |1^T x| <= this * |1| |x| (float32 rounding ~1e-8).
_AVGREF_COS = 1e-6


def _helmert(n: int, dtype, device) -> torch.Tensor:
    """Orthonormal basis (n, n-1) of the vectors summing to zero."""
    j = torch.arange(1, n, dtype=dtype, device=device)          # column j has j ones
    rows = torch.arange(n, device=device)[:, None]
    cols = torch.arange(1, n, device=device)[None, :]
    h = torch.where(rows < cols, 1.0, 0.0).to(dtype) - torch.where(rows == cols, j, 0.0).to(dtype)
    return h / torch.sqrt(j * (j + 1))


@functools.lru_cache(maxsize=8)
def _fold_helmert(k: int, dtype, device) -> torch.Tensor:
    """(k, k, k-2): for fold f, a contrast basis of the k-1 trials other than f."""
    h = _helmert(k - 1, dtype, device)
    out = torch.zeros(k, k, k - 2, dtype=dtype, device=device)
    for f in range(k):
        keep = [i for i in range(k) if i != f]
        out[f, keep] = h
    return out


def _chol_lower_bound_ok(g: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    """True where lambda_min(g) > tau, certified by a Cholesky of g - tau I.

    The Cholesky backward error (<= ~m eps ||g||) is added to tau.
    """
    m = g.shape[-1]
    tr = torch.diagonal(g, dim1=-2, dim2=-1).sum(-1)
    shift = tau + 100.0 * m * torch.finfo(g.dtype).eps * tr
    eye = torch.eye(m, dtype=g.dtype, device=g.device)
    _, info = torch.linalg.cholesky_ex(g - shift[..., None, None] * eye)
    return info == 0


def _fold_stats(xa, xb):
    """Residuals, class means and per-fold within variances (population, as np.std)."""
    k = xa.shape[1]
    n = 2 * (k - 1)
    c = k / (k - 1)
    ma, mb = xa.mean(1), xb.mean(1)
    ra, rb = xa - ma[:, None], xb - mb[:, None]
    qdiag = ra.pow(2).sum(1) + rb.pow(2).sum(1)                      # (N, C)
    var0 = qdiag / n
    var_f = (qdiag[:, None] - c * (ra.pow(2) + rb.pow(2))) / n       # (N, k, C)
    # var_f <= var0 always; a (near-)constant channel would get std := 1 in sklearn
    ok_var = (var_f > 1e-8 * var0[:, None]).all(-1)                  # (N, k)
    return ma, mb, ra, rb, var0, var_f, ok_var


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


def _avg_referenced(xa, xb):
    """(N,) True where every trial of the pair sums to ~0 over channels (average reference)."""
    x = torch.cat([xa, xb], 1)
    bound = _AVGREF_COS * math.sqrt(x.shape[-1]) * torch.linalg.vector_norm(x, dim=-1)
    return (x.sum(-1).abs() <= bound).all(-1)


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
    coordinates as the channel path), and ``v = var0 - c (r_a^2 + r_b^2) / n``
    lies in ``span{var0, r_a^2, r_b^2}``. When rounding leaves tiny channel sums
    (float32 data), this differs from sklearn's truncated pseudo-inverse only at
    second order in them (``u`` is an exact eigenvector up to first order).
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
    ras, rbs = ra * sc[:, None], rb * sc[:, None]
    gamma = n * var0.sum(-1) / n_chan**2    # gamma ((B0 1)^T u0)^2 = n, the base's mean eigenvalue
    base = ras.mT @ ras + rbs.mT @ rbs + gamma[:, None, None] * (sc[:, :, None] * sc[:, None, :])
    chol, info = torch.linalg.cholesky_ex(base)
    ok = ok & (info == 0)[:, None]
    # basis [d, g = B0 1, B0 var0, B0 r_a, B0 r_b, B0 r_a^2, B0 r_b^2]; the last four per fold
    fixed = torch.stack([(mb - ma) * sc, sc, var0.sqrt()], 1)        # (N, 3, C)
    e = torch.cat([fixed, ras, rbs, ras * ra, rbs * rb], 1)          # (N, 3 + 4k, C)
    y = torch.linalg.solve_triangular(chol, e.mT, upper=False)      # L^-1 E  (N, C, 3 + 4k)
    y0 = y[:, :, :3]
    yf = y[:, :, 3:].reshape(n_pt, n_chan, 4, k).permute(0, 3, 1, 2)  # (N, k, C, 4)
    g00 = (y0.mT @ y0)[:, None].expand(-1, k, -1, -1)
    g0f = torch.einsum("nci,nkcj->nkij", y0, yf)
    gff = torch.einsum("nkci,nkcj->nkij", yf, yf)
    gam = torch.cat([torch.cat([g00, g0f], -1), torch.cat([g0f.mT, gff], -1)], -2)  # (N, k, 7, 7)
    # Q_f + gamma 1 1^T = base - c U U^T, U = [r_a, r_b]: same certificate as the channel path
    gaa, gbb, gab = gam[..., 3, 3], gam[..., 4, 4], gam[..., 3, 4]
    ok, frac, kinv = _downdate_capacitance(gaa, gbb, gab, c, ok)
    gam_t = gam + gam[..., :, 3:5] @ kinv @ gam[..., 3:5, :]        # E^T (Q_f + gamma 1 1^T)^-1 E
    # held-out a, held-out b, d_f, g and B0 var_f in the basis
    h = 1.0 / (2 * (k - 1))
    #                  d     g    var0   r_a           r_b           r_a^2   r_b^2
    w = torch.tensor([[-0.5, 0.0, 0.0, 1.0 + h, h, 0.0, 0.0],
                      [0.5, 0.0, 0.0, h, 1.0 + h, 0.0, 0.0],
                      [1.0, 0.0, 0.0, 1.0 / (k - 1), -1.0 / (k - 1), 0.0, 0.0],
                      [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                      [0.0, 0.0, 1.0, 0.0, 0.0, -c / n, -c / n]], dtype=xa.dtype, device=xa.device)
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
    ones = torch.stack([(mb - ma).sum(-1)[:, None].expand(-1, k), sa, sb], -1) @ w[:3, [0, 3, 4]].T
    dec = n * bil[..., :2, 2] - ones[..., :2] * ones[..., 2:] / sum_f[..., None]
    # pair-level certificate (see module docstring): lambda_2(Z_f) >= frac_f lambda_min(base) / n
    worst = torch.where(ok, frac, torch.full_like(frac, float("inf"))).amin(1)
    tau = _SAFETY * tol**2 * n / torch.where(torch.isfinite(worst), worst, torch.ones_like(worst))
    ok = ok & _chol_lower_bound_ok(base, tau)[:, None]
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


def _block_decisions(xa, xb, tol):
    """Decisions (N, k, 2) for one block of pair-times, exact everywhere."""
    k, c = xa.shape[1], xa.shape[2]
    if 2 * k - 2 <= c:
        dec, ok = _sample_space(xa, xb, tol)
    else:
        dec = torch.empty(xa.shape[0], k, 2, dtype=xa.dtype, device=xa.device)
        ok = torch.zeros(xa.shape[0], k, dtype=torch.bool, device=xa.device)
        # average reference: rank C-1, one structural null direction (also covers 2k-3 == C)
        avg = _avg_referenced(xa, xb)
        for sel, path in ((avg, _avgref_channel_space), (~avg, _channel_space if 2 * k - 4 >= c else None)):
            idx = sel.nonzero()[:, 0]
            if path is not None and len(idx):
                dec[idx], ok[idx] = path(xa[idx], xb[idx], tol)
        # else 2k-3 == C without average reference: fold rank C-1, pair rank C: exact path
    bad = (~ok).nonzero()
    if len(bad):
        dec[bad[:, 0], bad[:, 1]] = _exact_folds(xa, xb, bad[:, 0], bad[:, 1], tol)
    return dec


def _bytes_per_pair_time(k: int, c: int) -> int:
    """Rough peak memory of one pair-time in _block_decisions (sizes the blocks)."""
    common = 8 * k * c * 12
    if 2 * k - 2 <= c:  # per-fold contrasts (k, m, C) twice, Grams and factors (k, m, m) x 3
        m = 2 * k - 4
        return common + 8 * k * m * (2 * c + 3 * m + 8)
    # channel paths; the average-reference one solves 4k+3 vectors and keeps 7x7 fold Grams
    return common + 8 * (4 * c * c + (4 * k + 3) * c * 3 + k * 600)


def _as_tensor(name, x):
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"Invalid type for {name!r}: {type(x).__name__}. Expected a torch.Tensor "
                        "or numpy array of float64 values.")
    if not (x.is_floating_point()):
        raise TypeError(f"Invalid dtype for {name!r}: {x.dtype}. Expected floating point (float64).")
    return x.to(torch.float64)


def _check_tol(tol):
    if isinstance(tol, bool) or not isinstance(tol, Real) or not tol >= 0 or not math.isfinite(tol):
        raise ValueError(f"Invalid value for 'tol': {tol!r}. Expected a finite number >= 0 (sklearn default 1e-4).")
    return float(tol)


def lda_loo_decisions(data, pairs=None, *, tol=1e-4, progress=None) -> torch.Tensor:
    """Leave-one-out LDA decision values for every condition pair and time point.

    Parameters
    ----------
    data : torch.Tensor, shape (n_cond, k, C, T)
        The first ``k`` trials of each condition (conditions in sorted label
        order), ``C`` channels, ``T`` time points. Converted to float64.
    pairs : torch.Tensor of int, shape (P, 2), optional
        Condition pairs ``(i, j)`` with ``i < j``; default all pairs.
    tol : float
        sklearn's ``tol`` for the svd solver.
    progress : callable, optional
        Called as ``progress(done, total)`` after each block of pair-times.

    Returns
    -------
    torch.Tensor, shape (P, T, k, 2)
        For pair p, time t and fold f, the decision values of held-out trial f
        of condition i (``[..., 0]``, correct when < 0) and of condition j
        (``[..., 1]``, correct when > 0), training
        ``LinearDiscriminantAnalysis(tol=tol)`` on the other ``2(k-1)`` trials
        with condition i as ``classes_[0]``. Equal to sklearn's
        ``decision_function`` up to float rounding.
    """
    data = _as_tensor("data", data)
    if data.ndim != 4:
        raise ValueError(f"Invalid shape for 'data': {tuple(data.shape)}. Expected 4 dimensions "
                         "(n_conditions, n_trials, n_channels, n_times).")
    n_cond, k, n_chan, n_times = data.shape
    if n_cond < 2:
        raise ValueError(f"Invalid shape for 'data': {tuple(data.shape)}. Need at least 2 conditions.")
    if k < 3:
        raise ValueError(f"Invalid shape for 'data': {tuple(data.shape)}. Leave-one-out LDA needs at "
                         f"least 3 trials per condition (got {k}): with 2, each fold trains on 2 "
                         "samples for 2 classes, which sklearn rejects.")
    check_finite("EEG data", data)
    tol = _check_tol(tol)
    if pairs is None:
        pairs = torch.triu_indices(n_cond, n_cond, offset=1).T
    pairs = torch.as_tensor(pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or pairs.is_floating_point():
        raise ValueError(f"Invalid 'pairs': shape {tuple(pairs.shape)}, dtype {pairs.dtype}. "
                         "Expected an integer tensor of shape (P, 2).")
    pairs = pairs.to(torch.long)
    if len(pairs) and ((pairs[:, 0] < 0) | (pairs[:, 1] >= n_cond) | (pairs[:, 0] >= pairs[:, 1])).any():
        raise ValueError(f"Invalid 'pairs': every row must be (i, j) with 0 <= i < j < {n_cond}.")
    pairs = pairs.to(data.device)
    n_pairs = len(pairs)
    total = n_pairs * n_times
    out = torch.empty(total, k, 2, dtype=data.dtype, device=data.device)
    step = max(1, int(_BLOCK_BYTES // _bytes_per_pair_time(k, n_chan)))
    for start in range(0, total, step):
        idx = torch.arange(start, min(start + step, total), device=data.device)
        p, t = idx // n_times, idx % n_times
        xa = data[pairs[p, 0], :, :, t]                                 # (N, k, C)
        xb = data[pairs[p, 1], :, :, t]
        out[start:start + len(idx)] = _block_decisions(xa, xb, tol)
        if progress is not None:
            progress(start + len(idx), total)
    return out.reshape(n_pairs, n_times, k, 2)


def lda_decisions(train_a, train_b, test, *, solver="svd", shrinkage=None, tol=1e-4) -> torch.Tensor:
    """Batched two-class ``LinearDiscriminantAnalysis(...).fit(...).decision_function(test)``.

    Parameters
    ----------
    train_a : torch.Tensor, shape (B, n_a, C)
        Class-0 training trials (label ``classes_[0]``).
    train_b : torch.Tensor, shape (B, n_b, C)
        Class-1 training trials.
    test : torch.Tensor, shape (B, m, C)
        Trials to score.
    solver : {'svd', 'lsqr'}
    shrinkage : None, 'auto' or float in [0, 1]
        Only with ``solver='lsqr'`` (as in sklearn). 'auto' is Ledoit-Wolf on
        standardised features. Note: 'lsqr' without shrinkage on a singular
        covariance (fewer trials than channels) is ill-posed; sklearn's result
        is then dominated by rounding and is not reproduced.
    tol : float
        svd-solver rank threshold.

    Returns
    -------
    torch.Tensor, shape (B, m)
        Decision values (> 0 means class 1). Priors are the class proportions.
    """
    solver = check_option("solver", solver, ["svd", "lsqr"])
    tol = _check_tol(tol)
    train_a, train_b, test = (_as_tensor(nm, x) for nm, x in
                              (("train_a", train_a), ("train_b", train_b), ("test", test)))
    shapes = f"train_a {tuple(train_a.shape)}, train_b {tuple(train_b.shape)}, test {tuple(test.shape)}"
    if train_a.ndim != 3 or train_b.ndim != 3 or test.ndim != 3:
        raise ValueError(f"Invalid shapes: {shapes}. Expected 3-D (batch, trials, channels) tensors.")
    if not (train_a.shape[0] == train_b.shape[0] == test.shape[0]
            and train_a.shape[2] == train_b.shape[2] == test.shape[2]):
        raise ValueError(f"Invalid shapes: {shapes}. Batch and channel sizes must agree.")
    if train_a.shape[1] < 1 or train_b.shape[1] < 1 or train_a.shape[1] + train_b.shape[1] <= 2:
        raise ValueError(f"Invalid shapes: {shapes}. Each class needs >= 1 trial and more trials "
                         "than classes in total (sklearn rule).")
    for nm, x in (("train_a", train_a), ("train_b", train_b), ("test", test)):
        check_finite(nm, x)
    if solver == "svd":
        if shrinkage is not None:
            raise ValueError(f"Invalid value for 'shrinkage': {shrinkage!r}. The 'svd' solver does not "
                             "support shrinkage (as in sklearn); use solver='lsqr'.")
        return svd_decisions(train_a, train_b, test, tol)
    if isinstance(shrinkage, str):
        shrinkage = check_option("shrinkage", shrinkage, ["auto"])
    elif shrinkage is not None:
        if isinstance(shrinkage, bool) or not isinstance(shrinkage, Real) or not 0 <= shrinkage <= 1:
            raise ValueError(f"Invalid value for 'shrinkage': {shrinkage!r}. Expected None, 'auto' "
                             "or a float in [0, 1].")
        shrinkage = float(shrinkage)
    return lsqr_decisions(train_a, train_b, test, shrinkage)
