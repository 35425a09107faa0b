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
with ``sqrt(eig) <= tol``. Fast paths evaluate this exactly when the
truncation provably keeps every non-structural eigenvalue:

* **null space** (``2k-2 <= C``, fewer trials than channels, and a null space
  ``C-2k+2`` no larger than ``2k-4``; the usual EEG case): the per-fold std
  enters only through the oblique projection onto range(Q_f) along
  ``diag(var_f) null(Q_f)``, a ``(C-2k+4)``-square system per fold, while
  ``Q_f^+`` is a rank-2 projection of the pair's ``Q^+``, so one Cholesky of the
  pair's ``(2k-2)``-square Helmert Gram serves all k folds (see
  :func:`_null_space`).
* **sample space** (``2k-2 <= C`` with a larger null space): with an
  orthonormal within-class contrast basis (Helmert) ``Xc = H Z``, the non-zero
  spectrum is that of ``G = Z W Z^T`` (``W = B^2``, size ``2k-4``), which is
  positive definite, and ``decision = n a^T G^-2 b`` with ``a = Z W (x-mid)``,
  ``b = Z W d``: one small Cholesky per fold. (The per-fold std changes ``W``
  in every channel, so no factorisation can be shared between folds in this
  form; a difference-basis variant that builds all fold Grams from one product
  of the per-channel outer products was measured slower on CPU.)
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

Certificates (Weyl interlacing for the null-space and sample paths: removing a trial cannot push
the smallest non-zero eigenvalue below the pair's one; ``S - vv^T >= (1 -
v^T S^-1 v) S`` for the channel paths; the per-fold std only grows the scaled
spectrum since ``var_f <= var_pair``) guarantee that every kept singular value
exceeds ``2 * tol``. For the average-reference path the bound is on the
second-smallest eigenvalue (a rank-one term ``gamma g g^T`` raises the smallest
eigenvalue to at most the second one, so ``lambda_2(Z_f) >= frac_f *
lambda_min(B0 (Q + gamma 1 1^T) B0) / n``), and the Rayleigh quotient
``u^T Z_f u <= 1^T Q 1 / (n |std_f|^2) < tol^2 / 4`` certifies that sklearn
drops exactly that one direction. Anything uncertified (near-singular data,
average referencing with ``2k-2 == C``, constant channels, and for the
null-space path a fold variance below ``_MIN_VAR_FRAC`` of the pair's or an
ill-conditioned small system) is recomputed with the exact batched SVD of
:func:`rdm_widgets.eeg._linalg.svd_decisions`.

All paths work with Gram matrices (normal equations), so their rounding error
grows like ``eps * cond`` of the pair's scaled Gram (sklearn's SVD: ``eps *
sqrt(cond)``); for EEG (cond ~ 1e4) that is ~1e-12 relative, and even near the
truncation certificate's limit (cond ~ 1e9) decisions agree to ~1e-7 relative.
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
# Null-space path: fold variances below this fraction of the pair's (one trial holding > 99.999% of
# a channel's within variance) lose digits in the small oblique system: left to the exact path.
_MIN_VAR_FRAC = 1e-5
# Pair-times per call of the null-space path: ~1-4 MB per (N, k, 3, C) intermediate stays in
# cache (on the 2-core benchmark machine 24-48 were equally fast, 12 and 64+ 15-50% slower).
_NULL_CHUNK = 32
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
def _helmert_cached(k: int, dtype, device) -> torch.Tensor:
    return _helmert(k, dtype, device)


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


def _helmert_contrasts(r: torch.Tensor) -> torch.Tensor:
    """(..., k, X) -> (..., k-1, X): ``_helmert(k).T @ r`` in O(k X) (cumulative sums)."""
    k = r.shape[-2]
    j = torch.arange(1, k, dtype=r.dtype, device=r.device)
    out = torch.addcmul(r.cumsum(-2)[..., :-1, :], r[..., 1:, :], j[:, None], value=-1.0)  # contiguous
    return out.mul_(torch.rsqrt(j * (j + 1))[:, None])


def _helmert_expand(y: torch.Tensor) -> torch.Tensor:
    """(..., k-1, X) -> (..., k, X): ``_helmert(k) @ y`` in O(k X) (cumulative sums)."""
    km1 = y.shape[-2]
    j = torch.arange(1, km1 + 1, dtype=y.dtype, device=y.device)
    ys = y * torch.rsqrt(j * (j + 1))[:, None]
    cs = ys.cumsum(-2)                                               # cs[j-1] = sum_{i <= j} ys_i
    out = torch.empty(y.shape[:-2] + (km1 + 1, y.shape[-1]), dtype=y.dtype, device=y.device)
    out[..., 0, :] = cs[..., -1, :]                                  # row 0: every column has a 1
    torch.sub(cs[..., -1:, :], cs, out=out[..., 1:, :])              # row i: columns j > i ...
    out[..., 1:, :].addcmul_(ys, j[:, None], value=-1.0)             # ... and -i in column i
    return out


@functools.lru_cache(maxsize=8)
def _fold_vectors(k: int, dtype, device) -> torch.Tensor:
    """(3, 3): held-out a, held-out b and d_f (fold means) in the basis [d, r_a, r_b]."""
    h = 1.0 / (2 * (k - 1))
    return torch.tensor([[-0.5, 1.0 + h, h], [0.5, h, 1.0 + h], [1.0, 1.0 / (k - 1), -1.0 / (k - 1)]],
                        dtype=dtype, device=device)


@functools.lru_cache(maxsize=8)
def _fold_vectors_u(k: int, dtype, device) -> torch.Tensor:
    """(k, 3, 2k-2): the r_a, r_b part of D^T [x_a - mid_f, x_b - mid_f, d_f] for fold f.

    ``D^T r_i`` is the Helmert row of trial i (class a in the first k-1 coordinates).
    """
    hk = _helmert(k, dtype, device)
    w3 = _fold_vectors(k, dtype, device)
    out = torch.zeros(k, 3, 2, k - 1, dtype=dtype, device=device)
    out[:, :, 0] = w3[:, 1, None] * hk[:, None]
    out[:, :, 1] = w3[:, 2, None] * hk[:, None]
    return out.view(k, 3, 2 * k - 2)


def _inverse_lower_bound_ok(gi: torch.Tensor, tr: torch.Tensor, tau) -> torch.Tensor:
    """True where lambda_min(G) > tau is certified from a computed inverse ``gi`` of G.

    ``lambda_min(G) >= 1 / ||G^-1||_F``. The factorisation behind ``gi`` is the exact one of
    some ``G + E`` with ``||E|| <= ~m eps tr(G)`` (Householder QR / Cholesky backward error),
    and ``gi`` itself is accurate to far better than a factor 2 whenever
    ``1 / ||gi||_F > 2 (tau + 100 m eps tr)``, so that test implies ``lambda_min(G) > tau``.
    A false answer only means "not certified here" (callers then try the exact test).
    """
    m = gi.shape[-1]
    shift = tau + 100.0 * m * torch.finfo(gi.dtype).eps * tr
    return torch.linalg.matrix_norm(gi) * (2.0 * shift) < 1.0        # NaN / inf -> False


@functools.lru_cache(maxsize=8)
def _null_probe(n_chan: int, q0: int, dtype, device) -> torch.Tensor:
    """Fixed (q0, C) orthonormal rows: random directions whose projections span the null space."""
    gen = torch.Generator().manual_seed(20240613)
    om = torch.randn(n_chan, q0, generator=gen, dtype=torch.float64)
    return torch.linalg.qr(om)[0].mT.contiguous().to(dtype=dtype, device=device)


def _null_basis(z0, dtm, q0):
    """Orthonormal basis (N, q0, C) (as rows) of null(Z0), and a mask of where it is reliable.

    Projects q0 fixed random directions with ``I - Z0^T G0^-1 Z0`` (``dtm = G0^-1 Z0``),
    orthonormalises (Householder QR), and projects and orthonormalises once more (Cholesky
    QR of a nearly orthonormal set) to bring the residual span component down to rounding.
    Pair-times where the random directions are nearly dependent after projection (their
    null-space part is ill-conditioned: prob. ~ 1e-6 per pair-time) get ``False``.
    """
    n_pt, _, n_chan = z0.shape
    if q0 == 0:
        return z0.new_zeros(n_pt, 0, n_chan), torch.ones(n_pt, dtype=torch.bool, device=z0.device)
    om = _null_probe(n_chan, q0, z0.dtype, z0.device)
    u = om - (om @ dtm.mT) @ z0                                       # (N, q0, C)
    qf, rf = torch.linalg.qr(u.mT)                                    # u^T = qf rf
    dg = torch.diagonal(rf, dim1=-2, dim2=-1).abs()
    ok = dg.amin(-1) > 1e-6                                           # |rows of om| = 1
    u = qf.mT
    u = u - (u @ dtm.mT) @ z0
    l, info = torch.linalg.cholesky_ex(u @ u.mT)
    ok = ok & (info == 0)
    if not bool(ok.all()):
        l = torch.where(ok[:, None, None], l, torch.eye(q0, dtype=l.dtype, device=l.device))
    return torch.linalg.solve_triangular(l, u, upper=False), ok


def _null_space(x, k, tol):
    """Fast path for 2k-2 <= C with a small null space. Returns decisions (N, k, 2), mask (N, k).

    ``x`` (N, 2k, C): the k trials of class a, then the k trials of class b.

    In the pair's B0-scaled channel coordinates (so var0 = 1 and the fold variances are
    ``v_f = 1 - delta_f``, ``delta_f = c (r_a^2 + r_b^2) / n``) the fold's within scatter
    ``Q_f = Q - c (r_a r_a^T + r_b r_b^T)`` has the null space ``span U_f``,
    ``U_f = [U0, p_a, p_b]`` with ``U0`` the null space of the pair's ``Q`` (``C-2k+2``
    columns) and ``p = Q^+ r`` (removing trial f drops the rank by exactly one per class,
    since ``c r^T Q^+ r = 1``). sklearn's ``B pinv(B Q_f B / n) B`` with ``B = diag(v_f)^-1/2``
    is the solution operator of the saddle-point system ``[Q_f/n, V U; U^T V, 0]`` with
    ``V = diag(v_f)``, i.e.::

        B pinv(B Q_f B / n) B = n Pi^T Q_f^+ Pi,   Pi = I - V U (U^T V U)^-1 U^T

    (``Pi``: the projection onto range(Q_f) along ``V U``). The per-fold channel scaling
    only enters through the small ``(C-2k+4)``-square system ``U^T V U``, and
    ``Q_f^+ = (I - P_N) Q^+ (I - P_N)`` (``P_N`` the orthogonal projector onto
    ``span{p_a, p_b}``) reuses one factorisation per pair and time: the Cholesky factor
    and inverse of the Gram ``G0 = Z0 Z0^T`` of the pair's Helmert contrasts ``Z0``
    (``Q = Z0^T Z0``). With ``D^T = G0^-1 Z0``, ``x^T Q^+ y = (D^T x).(D^T y)``,
    ``D^T r_i = H^T e_i`` (the Helmert row of trial i) and ``p_i = D H^T e_i``;
    ``U0`` comes from projecting fixed random directions with ``I - Z0^T D^T`` (twice,
    see :func:`_null_basis`). Since ``Q_f^+ U0 = 0`` exactly, the ``U0`` component of
    ``Pi b`` is left out rather than computed, so rounding in ``U0`` is not amplified
    by ``Q^+``. Per fold this costs O(C (C-2k+4)^2 + 3 C (2k)) (three (2k)-vectors
    through ``D^T``) instead of the O((2k)^2 C) weighted Gram and Cholesky of
    :func:`_sample_space`; per pair and time O((2k)^2 C).

    Certificates: the same pair-level truncation bound as the sample path (every kept
    eigenvalue of the fold's scaled matrix exceeds SAFETY tol^2; here from the norm of the
    computed ``G0^-1``, with the shifted Cholesky test for the few pair-times where that
    bound is not sharp enough), plus well-conditioned small systems:
    ``v_f > _MIN_VAR_FRAC``, ``U^T V U`` non-singular, ``p_a, p_b`` not near-parallel and
    a well-conditioned null-space probe.
    """
    n_pt, _, n_chan = x.shape
    n = 2 * (k - 1)
    c = k / (k - 1)
    m0 = 2 * k - 2
    q0 = n_chan - m0                                                  # nullity of the pair's Q
    q = q0 + 2
    dt, dev = x.dtype, x.device
    means = x.view(n_pt, 2, k, n_chan).mean(2)                        # (N, 2, C)
    r = (x.view(n_pt, 2, k, n_chan) - means[:, :, None]).view(n_pt, 2 * k, n_chan)   # residuals
    ma, mb = means[:, 0], means[:, 1]
    r2 = r * r
    qdiag = r2.sum(1)                                                 # n var0
    live = qdiag > 0                                                  # constant channels: exact path
    all_live = bool(live.all())
    if not all_live:
        qdiag = torch.where(live, qdiag, torch.full_like(qdiag, float(n)))
    s0 = torch.rsqrt(qdiag / n)
    r.mul_(s0[:, None])                                               # B0-scaled
    ds = (mb - ma).mul_(s0)
    ndelta = torch.add(r2[:, :k], r2[:, k:]).mul_((-c) / qdiag[:, None])   # var_f / var0 - 1  (N, k, C)
    if not all_live:
        ndelta = torch.where(live[:, None], ndelta, torch.full_like(ndelta, -1.0))   # -> not certified
    vf = ndelta + 1.0
    ok = (vf > _MIN_VAR_FRAC).all(-1)
    if not bool(ok.all()):
        bad = ~ok[..., None]
        vf = torch.where(bad, torch.ones_like(vf), vf)                # keep finite; uncertified
        ndelta = torch.where(bad, torch.zeros_like(vf), ndelta)
    # pair factorisation: G0 = Z0 Z0^T (Helmert contrasts of the 2k residuals, rank 2k-2)
    z0 = _helmert_contrasts(r.view(n_pt, 2, k, n_chan)).view(n_pt, m0, n_chan)
    g0 = z0 @ z0.mT
    l0, info0 = torch.linalg.cholesky_ex(g0)
    factored = info0 == 0
    eye = torch.eye(m0, dtype=dt, device=dev)
    if not bool(factored.all()):                                      # singular: exact path
        l0 = torch.where(factored[:, None, None], l0, eye)
    gi = torch.cholesky_inverse(l0)                                   # G0^-1 (N, m0, m0)
    tau = _SAFETY * tol**2 * n
    cert = factored & _inverse_lower_bound_ok(gi, qdiag.new_full((n_pt,), float(n * n_chan)), tau)
    if not bool(cert.all()):
        redo = (~cert & factored).nonzero()[:, 0]
        cert[redo] = _chol_lower_bound_ok(g0[redo], torch.full((len(redo),), tau, dtype=dt, device=dev))
        gi = torch.where(cert[:, None, None], gi, eye)                # keep finite; uncertified
    ok = ok & cert[:, None]
    dtm = gi @ z0                                                     # D^T = G0^-1 Z0 (N, m0, C)
    u0t, ok_u = _null_basis(z0, dtm, q0)                              # U0^T (N, q0, C)
    ok = ok & ok_u[:, None]
    pt = _helmert_expand(dtm.view(n_pt, 2, k - 1, n_chan)).view(n_pt, 2 * k, n_chan)   # p_i rows
    # gi is symmetric; its transpose is the row-major view
    ft = _helmert_expand(gi.mT.view(n_pt, 2, k - 1, m0)).view(n_pt, 2, k, m0)          # D^T p_i
    ud = (dtm @ ds[..., None])[..., 0]                                # D^T d  (N, m0)
    pa, pb = pt[:, :k], pt[:, k:]
    hk = _helmert_cached(k, dt, dev)                                  # D^T r_i = Helmert row i
    # S_f = U_f^T V_f U_f  (N, k, q, q)
    s = torch.empty(n_pt, k, q, q, dtype=dt, device=dev)
    upair = (u0t[:, :, None, :] * u0t[:, None, :, :]).view(n_pt, q0 * q0, n_chan)
    s[..., :q0, :q0] = (u0t @ u0t.mT)[:, None] + (ndelta @ upair.mT).view(n_pt, k, q0, q0)
    wp = pt.view(n_pt, 2, k, n_chan) * vf[:, None]                    # V_f p  (N, 2, k, C)
    s0p = (wp.view(n_pt, 2 * k, n_chan) @ u0t.mT).view(n_pt, 2, k, q0).transpose(1, 2)
    s[..., q0:, :q0] = s0p
    s[..., :q0, q0:] = s0p.mT
    s[..., q0:, q0:] = (wp[:, :, None] * pt.view(n_pt, 1, 2, k, n_chan)).sum(-1).permute(0, 3, 1, 2)
    # the fold's vectors e = [x_a - mid_f, x_b - mid_f, d_f] = W3 [d, r_a, r_b]
    w3 = _fold_vectors(k, dt, dev)                                    # (3, 3)
    # U_f^T e  (N, k, q, 3), with p_i^T d = (H^T e_i) . D^T d and p_i^T r_j = (H H^T)_ij
    rhs = torch.empty(n_pt, k, q, 3, dtype=dt, device=dev)
    u0r = (r @ u0t.mT).view(n_pt, 2, k, q0)                           # U0^T r_i
    u0e = torch.stack([(u0t @ ds[..., None])[:, None, :, 0].expand(-1, k, -1), u0r[:, 0], u0r[:, 1]], -1)
    rhs[..., :q0, :] = u0e @ w3.T
    pd = _helmert_expand(ud.view(n_pt, 2, k - 1, 1)).view(n_pt, 2, k)  # p_i^T d
    rhs[..., q0, :] = torch.addcmul(w3[:, 1] * (1.0 - 1.0 / k), pd[:, 0, :, None], w3[:, 0])
    rhs[..., q0 + 1, :] = torch.addcmul(w3[:, 2] * (1.0 - 1.0 / k), pd[:, 1, :, None], w3[:, 0])
    coef, info = torch.linalg.solve_ex(s, rhs)
    ok = ok & (info == 0)
    # Pi e = e - V_f U_f coef. Q_f^+ U0 = 0, so only
    # y = V_f U_f coef - U0 coef_0 = V_f [p_a, p_b] coef_p - Delta_f U0 coef_0 matters:
    # leaving out the exact null component keeps rounding in U0 from being amplified by Q^+.
    y = (coef[..., :q0, :].mT.reshape(n_pt, 3 * k, q0) @ u0t).view(n_pt, k, 3, n_chan)
    y.mul_(ndelta[:, :, None])
    y.addcmul_(coef[..., q0, :, None], wp[:, 0, :, None])
    y.addcmul_(coef[..., q0 + 1, :, None], wp[:, 1, :, None])
    # u = D^T (e - y) = D^T Pi e;  D^T e = W3 [D^T d, Helmert row a, Helmert row b]
    u = torch.addcmul(_fold_vectors_u(k, dt, dev), w3[:, 0, None], ud[:, None, None, :])
    u = torch.baddbmm(u.view(n_pt, 3 * k, m0), y.view(n_pt, 3 * k, n_chan), dtm.mT, alpha=-1.0)
    u = u.view(n_pt, k, 3, m0)
    # (I - P_N) with N = [p_a, p_b]: alpha = N^T Pi e (N^T N)^-1 in the same coordinates
    ntb = (u.view(n_pt, k, 3, 2, k - 1) * hk[:, None, None]).sum(-1)   # (N, k, 3, 2)
    nn = (ft.view(n_pt, 2, k, 2, k - 1) * hk[:, None]).sum(-1)         # p_s^T p_s' (N, 2, k, 2)
    naa, nbb, nab = nn[:, 0, :, 0], nn[:, 1, :, 1], nn[:, 0, :, 1]
    det = naa * nbb - nab * nab
    ok = ok & (det > _MIN_DOWNDATE * naa * nbb)                       # p_a, p_b not near-parallel
    inv = torch.stack([nbb, -nab, -nab, naa], -1).div_(torch.where(det > 0, det, torch.ones_like(det))[..., None])
    alpha = (ntb[..., :, :, None] * inv.view(n_pt, k, 1, 2, 2)).sum(-2)   # (N, k, 3, 2)
    u.addcmul_(alpha[..., 0, None], ft[:, 0, :, None], value=-1.0)
    u.addcmul_(alpha[..., 1, None], ft[:, 1, :, None], value=-1.0)
    # decision = n (Pi e_x)^T Q_f^+ (Pi d_f), x = held-out a, b
    return n * (u[:, :, :2] * u[:, :, 2:]).sum(-1), ok


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


def _block_decisions(x, k, tol):
    """Decisions (N, k, 2) for one block of pair-times x (N, 2k, C) = [class a; class b]."""
    c = x.shape[2]
    xa, xb = x[:, :k], x[:, k:]
    if 2 * k - 2 <= c and _use_null_space(k, c):
        # small chunks keep the per-fold working set in cache (measured ~1.5x faster than 300)
        parts = [_null_space(x[s:s + _NULL_CHUNK], k, tol) for s in range(0, x.shape[0], _NULL_CHUNK)]
        dec, ok = torch.cat([d for d, _ in parts]), torch.cat([o for _, o in parts])
    elif 2 * k - 2 <= c:
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


def _use_null_space(k: int, c: int) -> bool:
    """Rank-deficient regime: the null-space path unless the pair's null space is large."""
    return c - (2 * k - 2) <= 2 * k - 4


def _bytes_per_pair_time(k: int, c: int) -> int:
    """Rough peak memory of one pair-time in _block_decisions (sizes the blocks)."""
    common = 8 * k * c * 12
    if 2 * k - 2 <= c and _use_null_space(k, c):
        # the work runs in _NULL_CHUNK pieces; blocks of <= 16 chunks keep the gathered trials in cache
        return max(common, _BLOCK_BYTES // (16 * _NULL_CHUNK))
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
    out = torch.empty(n_pairs, n_times, k, 2, dtype=data.dtype, device=data.device)
    step = max(1, int(_BLOCK_BYTES // _bytes_per_pair_time(k, n_chan)))
    by_time = data.permute(3, 0, 1, 2)                                  # (T, n_cond, k, C) view
    # time-major blocks: each reads a few contiguous (n_cond, k, C) time slices
    for start in range(0, total, step):
        idx = torch.arange(start, min(start + step, total), device=data.device)
        t, p = idx // n_pairs, idx % n_pairs
        t_lo, t_hi = int(t[0]), int(t[-1]) + 1
        rows = ((t - t_lo)[:, None] * n_cond + pairs[p]).reshape(-1)    # rows of the slices
        xt = by_time[t_lo:t_hi].reshape((t_hi - t_lo) * n_cond, k * n_chan)
        x = xt.index_select(0, rows).view(len(idx), 2 * k, n_chan)     # [cond i; cond j]
        out[p, t] = _block_decisions(x, k, tol)
        if progress is not None:
            progress(start + len(idx), total)
    return out


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
