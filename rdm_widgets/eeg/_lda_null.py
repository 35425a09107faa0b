"""The null-space path of the exact LDA kernel (rank-deficient regime, ``2k-2 <= C``).

See :mod:`rdm_widgets.eeg._lda` for the algebra shared by all paths and :func:`_null_space`
for this one: the per-fold std enters only a small oblique system, and one factorisation of
the pair's Helmert Gram serves all k folds.
"""
from __future__ import annotations

import functools

import torch

from ._lda_base import (_SAFETY, _MIN_DOWNDATE, _MIN_VAR_FRAC, _helmert, _helmert_cached,
                        _chol_lower_bound_ok)
from ._lda_fold import _chol_solve, _cholesky_inplace, _fold_gram_upper


def _scratch(buf: torch.Tensor, *shape) -> torch.Tensor:
    """A contiguous view of the first prod(shape) elements of the flat buffer ``buf``."""
    numel = 1
    for d in shape:
        numel *= d
    return buf[:numel].view(shape)


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
    """Basis (N, q0, C) (as rows) of null(Z0), orthonormal to ~1e-4 or better, and a mask of
    where it is reliable.

    Projects q0 fixed random directions with ``I - Z0^T G0^-1 Z0`` (``dtm = G0^-1 Z0``),
    orthonormalises them by Cholesky QR (``u = L Q`` from the Cholesky factor of ``u u^T``:
    batched GEMMs and a q0-square factorisation, where a batched Householder QR runs one
    LAPACK/cuSOLVER call per matrix), and projects once more to bring the residual span
    component down to rounding. Cholesky QR loses orthogonality like ``eps cond(u)^2``; it
    accepts ``cond`` up to ~1e6 (diagonal of L > 1e-6 with unit-norm probes), leaving the rows
    orthonormal to ~1e-4 at worst: any basis of the null space serves the fold systems
    ``U_f^T V_f U_f`` (computed from the basis itself), a nearly orthonormal one keeps them as
    well-conditioned as ``V_f``. Pair-times where the random directions are nearly dependent
    after projection (their null-space part is ill-conditioned: prob. ~ 1e-6 per pair-time)
    get ``False``.
    """
    n_pt, _, n_chan = z0.shape
    if q0 == 0:
        return z0.new_zeros(n_pt, 0, n_chan), torch.ones(n_pt, dtype=torch.bool, device=z0.device)
    om = _null_probe(n_chan, q0, z0.dtype, z0.device)
    # om @ D (N, q0, m0) as one GEMM over all pair-times (om is shared)
    u = torch.baddbmm(om, (dtm.reshape(-1, n_chan) @ om.T).view(n_pt, -1, q0).mT, z0, alpha=-1.0)
    l, info = torch.linalg.cholesky_ex(u @ u.mT)
    ok = (info == 0) & (torch.diagonal(l, dim1=-2, dim2=-1).amin(-1) > 1e-6)
    if not bool(ok.all()):
        l = torch.where(ok[:, None, None], l, torch.eye(q0, dtype=z0.dtype, device=z0.device))
    u = torch.linalg.solve_triangular(l, u, upper=False)
    # out of place: the triangular solve leaves u column-major, and U0^T row-major makes the
    # fold systems' elementwise products (_fold_gram_upper) read contiguous rows (3x faster)
    return torch.baddbmm(u, u @ dtm.mT, z0, alpha=-1.0), ok


def _null_space(x, k, tol, weights=False):
    """Fast path for 2k-2 <= C with a small null space. Returns decisions (N, k, 2), mask (N, k).

    ``weights=True`` (temporal generalisation) returns the classifiers instead: ``w`` (N, k, C)
    in the raw channel coordinates, ``decision(x') = (x' - mid_f) . w`` for fold f (mid_f the
    midpoint of the fold's class means), with the same mask (see the end of the function).

    ``x`` (N, 2k, C): the k trials of class a, then the k trials of class b.

    In the pair's B0-scaled channel coordinates (so var0 = 1 and the fold variances are
    ``v_f = 1 - delta_f``, ``delta_f = c (r_a^2 + r_b^2) / n``) the fold's within scatter
    ``Q_f = Q - c (r_a r_a^T + r_b r_b^T)`` has the null space ``span U_f``,
    ``U_f = [p_a, p_b, U0]`` with ``U0`` the null space of the pair's ``Q`` (``C-2k+2``
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
    see :func:`_null_basis`). The k fold systems ``U_f^T V_f U_f`` are built with one GEMM
    per pair and time and factorised by Cholesky (:mod:`._lda_fold`). Since
    ``Q_f^+ U0 = 0`` exactly, the ``U0`` component of
    ``Pi b`` is left out rather than computed, so rounding in ``U0`` is not amplified
    by ``Q^+``. The decision is evaluated as ``(e_x - y_x)^T g`` with ``g = Q_f^+ Pi d_f``
    (``Q_f^+ = D M^T M D^T``, ``M`` the projection ``I - P_N`` in ``D^T`` coordinates), so
    only ``d_f`` goes through ``D^T`` (and ``M^T v`` back through ``D``); ``e_x^T g`` and
    ``y_x^T g = coef_x . U^T Delta_f g`` (``U^T g = 0``) are small dot products. Per fold
    this costs O(C (C-2k+4)^2 + 2 C (2k)) instead of the O((2k)^2 C) weighted Gram and
    Cholesky of :func:`_sample_space`; per pair and time O((2k)^2 C).

    Certificates: the same pair-level truncation bound as the sample path (every kept
    eigenvalue of the fold's scaled matrix exceeds SAFETY tol^2; here from the norm of the
    computed ``G0^-1``, with the shifted Cholesky test for the few pair-times where that
    bound is not sharp enough), plus well-conditioned small systems:
    ``v_f > _MIN_VAR_FRAC``, ``U^T V U`` positive definite (positive Cholesky pivots; it is
    whenever V_f > 0 and U_f has full rank), ``p_a, p_b`` not near-parallel and
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
    # Dead large arrays serve as scratch for the later (N, 2k, C)-sized temporaries: the first
    # touch of a fresh ~1 MB allocation (page faults) costs ~5-10x the arithmetic of such a pass.
    buf1 = r2.view(-1)
    del r2
    if not all_live:
        ndelta = torch.where(live[:, None], ndelta, torch.full_like(ndelta, -1.0))   # -> not certified
    # min_c fl(1 + delta_c) = fl(1 + min_c delta_c) (rounding is monotone): same test as
    # (1 + delta > _MIN_VAR_FRAC).all(-1), NaN -> False, without the (N, k, C) V_f
    ok = (ndelta.amin(-1) + 1.0) > _MIN_VAR_FRAC
    if not bool(ok.all()):
        ndelta = torch.where(~ok[..., None], torch.zeros_like(ndelta), ndelta)   # keep finite; uncertified
    # pair factorisation: G0 = Z0 Z0^T (Helmert contrasts of the 2k residuals, rank 2k-2)
    z0 = torch.empty(n_pt, m0, n_chan, dtype=dt, device=dev)
    # Helmert products as GEMMs with the (k, k-1) matrix hk (also D^T r_i = Helmert row i)
    hk = _helmert_cached(k, dt, dev)
    torch.matmul(hk.T, r.view(n_pt, 2, k, n_chan), out=z0.view(n_pt, 2, k - 1, n_chan))
    g0 = z0 @ z0.mT
    l0, info0 = torch.linalg.cholesky_ex(g0)
    factored = info0 == 0
    eye = torch.eye(m0, dtype=dt, device=dev)
    if not bool(factored.all()):                                      # singular: exact path
        l0 = torch.where(factored[:, None, None], l0, eye)
    # G0^-1 (N, m0, m0), into the (dead) r^2 buffer: it is no longer needed once ft and dtm exist
    li = torch.linalg.solve_triangular(l0, eye, upper=False)           # L0^-1 (trsm + GEMM: faster than potri)
    gi = torch.matmul(li.mT, li, out=_scratch(buf1, n_pt, m0, m0))
    tau = _SAFETY * tol**2 * n
    cert = factored & _inverse_lower_bound_ok(gi, qdiag.new_full((n_pt,), float(n * n_chan)), tau)
    if not bool(cert.all()):
        redo = (~cert & factored).nonzero()[:, 0]
        cert[redo] = _chol_lower_bound_ok(g0[redo], torch.full((len(redo),), tau, dtype=dt, device=dev))
        gi = torch.where(cert[:, None, None], gi, eye)                # keep finite; uncertified
    ok = ok & cert[:, None]
    del g0, l0, li
    dtm = gi @ z0                                                     # D^T = G0^-1 Z0 (N, m0, C)
    u0t, ok_u = _null_basis(z0, dtm, q0)                              # U0^T (N, q0, C)
    ok = ok & ok_u[:, None]
    buf2 = z0.view(-1)                                                # z0, r: scratch from here on
    buf3 = r.view(-1)
    del z0, r
    # gi is symmetric; its transpose is the row-major view
    ft = torch.empty(n_pt, 2, k, m0, dtype=dt, device=dev)            # D^T p_i
    torch.matmul(hk, gi.mT.view(n_pt, 2, k - 1, m0), out=ft)
    del gi                                                            # buf1 is free again
    pt4 = _scratch(buf1, n_pt, 2, k, n_chan)                          # p_i rows
    torch.matmul(hk, dtm.view(n_pt, 2, k - 1, n_chan), out=pt4)
    ud = (dtm @ ds[..., None])[..., 0]                                # D^T d  (N, m0)
    # S_f = U_f^T V_f U_f  (N, k, q, q) with U_f = [p_a, p_b, U0], upper triangle only (row-major
    # storage): the Cholesky below reads the lower triangle of its transpose. (p_a, p_b first:
    # their rows p_s^T V_f U0 are then contiguous in s.)
    s = torch.empty(n_pt, k, q, q, dtype=dt, device=dev)
    # v_f = 1 + delta_f: U0^T V_f U0 as one GEMM (v_f > _MIN_VAR_FRAC where certified; rounding
    # 1 + delta_f perturbs V_f by eps relative, a backward error)
    _fold_gram_upper(u0t, torch.add(ndelta, 1.0), s)
    wp = torch.addcmul(pt4, pt4, ndelta[:, None], out=_scratch(buf3, n_pt, 2, k, n_chan))   # V_f p
    s0p = (wp.view(n_pt, 2 * k, n_chan) @ u0t.mT).view(n_pt, 2, k, q0).transpose(1, 2)
    s[..., :2, 2:] = s0p                                              # p_s^T V_f u_i
    tmp = _scratch(buf2, n_pt, k, n_chan)
    s[..., 0, 0] = torch.mul(wp[:, 0], pt4[:, 0], out=tmp).sum(-1)      # p_s^T V_f p_s'  (N, k)
    s[..., 0, 1] = torch.mul(wp[:, 0], pt4[:, 1], out=tmp).sum(-1)
    s[..., 1, 1] = torch.mul(wp[:, 1], pt4[:, 1], out=tmp).sum(-1)
    # the fold's vectors e = [x_a - mid_f, x_b - mid_f, d_f] = W3 [d, r_a, r_b]
    w3 = _fold_vectors(k, dt, dev)                                    # (3, 3)
    # U_f^T e  (N, k, q, 3), with p_i^T d = (H^T e_i) . D^T d and p_i^T r_j = (H H^T)_ij; in
    # LAPACK's column-major layout, which the triangular solves then take without a copy
    rhs = torch.empty(n_pt, k, 3, q, dtype=dt, device=dev).mT
    # U0^T e = W3[:, 0] U0^T d: U0^T r_i = 0 (r_i is in the row space of Z0; computed, it is
    # rounding of ~eps |r|)
    rhs[..., 2:, :] = (u0t @ ds[..., None])[:, None] * w3[:, 0]       # (N, k, q0, 3)
    pd = (hk @ ud.view(n_pt, 2, k - 1, 1)).view(n_pt, 2, k)          # p_i^T d
    rhs[..., 0, :] = torch.addcmul(w3[:, 1] * (1.0 - 1.0 / k), pd[:, 0, :, None], w3[:, 0])
    rhs[..., 1, :] = torch.addcmul(w3[:, 2] * (1.0 - 1.0 / k), pd[:, 1, :, None], w3[:, 0])
    # S_f is symmetric positive definite where ok (V_f > 0, U_f of full rank): Cholesky in place
    # (s's row-major storage is S^T = S in LAPACK's column-major layout; no copy of s)
    chol, ok_s = _cholesky_inplace(s)
    ok = ok & ok_s
    coef = _chol_solve(chol, rhs)                                     # (N, k, q, 3)
    # (I - P_N) with N = [p_a, p_b] in D^T coordinates: M u = u - F (N^T N)^-1 h^T u, with
    # F = D^T N (rows of ft) and h = D^T [r_a, r_b] (Helmert rows); Q_f^+ = D M^T M D^T.
    nn = (ft.view(n_pt, 2, k, 2, k - 1) * hk[:, None]).sum(-1)         # p_s^T p_s' (N, 2, k, 2)
    naa, nbb, nab = nn[:, 0, :, 0], nn[:, 1, :, 1], nn[:, 0, :, 1]
    det = naa * nbb - nab * nab
    ok = ok & (det > _MIN_DOWNDATE * naa * nbb)                       # p_a, p_b not near-parallel
    inv = torch.stack([nbb, -nab, -nab, naa], -1).div_(torch.where(det > 0, det, torch.ones_like(det))[..., None])
    inv = inv.view(n_pt, k, 2, 2)
    # decision_x = n (Pi e_x)^T Q_f^+ (Pi d_f) = n (e_x - y_x)^T g,  g = Q_f^+ (d_f - y_d),
    # y = V_f U_f coef - U0 coef_0 = V_f [p_a, p_b] coef_p + Delta_f U0 coef_0 (Q_f^+ U0 = 0, so
    # the exact null component is left out). Only d_f goes through D^T and back through D.
    cd = coef[..., 2]                                                 # (N, k, q)
    y = cd[..., 2:] @ u0t                                             # (N, k, C)
    y.mul_(ndelta)
    y.addcmul_(cd[..., 0, None], wp[:, 0])
    y.addcmul_(cd[..., 1, None], wp[:, 1])
    # w = D^T (d_f - y_d);  D^T d_f = D^T d + (Helmert row a - Helmert row b) / (k - 1)
    w = torch.baddbmm(torch.add(_fold_vectors_u(k, dt, dev)[:, 2], ud[:, None]), y, dtm.mT, alpha=-1.0)
    # v = M w
    a1 = (w.view(n_pt, k, 2, k - 1) * hk[:, None]).sum(-1)              # h^T w  (N, k, 2)
    alpha = (inv @ a1[..., None])[..., 0]
    w.addcmul_(alpha[..., 0, None], ft[:, 0], value=-1.0)
    w.addcmul_(alpha[..., 1, None], ft[:, 1], value=-1.0)
    udv = (w @ ud[..., None])[..., 0]                                 # (D^T d) . v  (N, k)
    # M^T v = v - h beta,  beta = (N^T N)^-1 F^T v
    beta = (inv @ (ft * w[:, None]).sum(-1).transpose(1, 2)[..., None])[..., 0]   # (N, k, 2)
    mtv = torch.addcmul(w.view(n_pt, k, 2, k - 1), beta[..., None], hk[:, None], value=-1.0)
    g = mtv.view(n_pt, k, m0) @ dtm                                   # g = D M^T v  (N, k, C)
    if weights:
        return _weights_from_g(g, ndelta, u0t, pt4, chol, n, s0), ok
    g.mul_(ndelta)                                                    # Delta_f g
    # y_x^T g = coef_x . U_f^T Delta_f g  (U_f^T g = 0)
    pg = torch.mul(pt4, g[:, None], out=_scratch(buf3, n_pt, 2, k, n_chan)).sum(-1)    # p_s^T Delta_f g
    z = torch.cat([pg.transpose(1, 2), g @ u0t.mT], -1)              # U_f^T Delta_f g  (N, k, q)
    yg = (z[..., None, :] @ coef[..., :2])[..., 0, :]                 # (N, k, 2)
    # eg = -(M D^T e_x) . v = (N^T e_x) . beta - W3[x, 0] (D^T d) . v   (h^T v = 0 after M)
    eg = torch.addcmul((beta[..., None, :] @ rhs[..., :2, :2])[..., 0, :], udv[..., None], w3[:2, 0],
                       value=-1.0)
    return eg.add_(yg).mul_(-n), ok



def _weights_from_g(g, ndelta, u0t, pt4, chol, n, s0):
    """The fold classifiers of :func:`_null_space`: ``decision(x) = n (Pi e_x)^T g`` with
    ``Pi = I - V U S^-1 U^T``, so ``w = n Pi^T g = n (g - U S^-1 U^T V g)`` (B0-scaled), and
    ``U^T V g = U^T Delta_f g`` since ``U^T g = 0``. Returns ``w`` (N, k, C) in raw coordinates."""
    dg = g * ndelta                                                   # Delta_f g
    pg = (pt4 * dg[:, None]).sum(-1)                                  # p_s^T Delta_f g  (N, 2, k)
    z = torch.cat([pg.transpose(1, 2), dg @ u0t.mT], -1)              # U_f^T V_f g  (N, k, q)
    c = _chol_solve(chol, z[..., None])[..., 0]                       # S^-1 U^T V g
    w = g - c[..., 2:] @ u0t
    w.addcmul_(c[..., 0, None], pt4[:, 0], value=-1.0)
    w.addcmul_(c[..., 1, None], pt4[:, 1], value=-1.0)
    return w.mul_(s0[:, None]).mul_(n)
