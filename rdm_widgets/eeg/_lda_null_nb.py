"""The null-space path of the exact LDA kernel (:func:`._lda_null._null_space`) compiled as one
loop over pair-times (numba), for CPUs.

Same algebra, same certificates, same decisions up to rounding as the torch version, which stays
the reference and the fallback (no numba, a GPU, ``weights=True``, ``RDMW_NUMBA=0``). What
changes is how the work runs: the torch version makes ~150 batched calls per chunk of pair-times
and each call hands the interpreter lock over twice, so two threads gained 1.1-1.5x on two
cores; here a call runs a whole chunk without the lock (``nogil``), each pair-time's
intermediates (~150 kB) stay in the core's cache from the first product to the decisions, and
the small products are register-blocked (:mod:`._nb_linalg`). Each pair-time is computed on its
own, so results do not depend on how pair-times are grouped into chunks, blocks or threads.

The first call in a fresh installation compiles the kernel (~10 s) and caches it next to this
file (``__pycache__``; numba falls back to a user cache folder where that is read-only); later
processes load it in ~0.3 s.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from . import _lda_null
from ._lda_base import _SAFETY, _MIN_DOWNDATE, _MIN_VAR_FRAC
from ._nb_linalg import (jit, abt, aat, chol, shifted_chol_ok, lower_inverse, class_residuals, helmert_t,
                         helmert_rows, helmert_row, fold_gram, chol_lanes, solve_lanes)

__all__ = ["null_space_rows", "null_space_decisions"]

_EPS = float(np.finfo(np.float64).eps)
# False: certify every pair Gram with the shifted Cholesky test (the inverse-norm bound's fallback;
# tests switch the cheap bound off to exercise it)
_INVERSE_BOUND = True


@jit
def _scaled_residuals(xa, xb, k, n, ok):
    """B0-scaled residuals r (2k, C) (class a, then b), the scaled mean difference d (C,) and the
    per-fold variance changes ``var_f / var0 - 1`` (k, C) of one pair-time; a fold whose variance
    drops below ``_MIN_VAR_FRAC`` of the pair's, or a constant channel, leaves it uncertified."""
    n_chan = xa.shape[1]
    c = k / (k - 1)
    means, r, qdiag = class_residuals(xa, xb)
    live = np.empty(n_chan, dtype=np.bool_)
    for ch in range(n_chan):
        live[ch] = qdiag[ch] > 0
        if not live[ch]:
            qdiag[ch] = n                                         # constant channel: exact path
    ndelta = np.empty((k, n_chan))
    for f in range(k):
        lo = np.inf
        for ch in range(n_chan):
            v = r[f, ch] * r[f, ch] + r[k + f, ch] * r[k + f, ch]
            v = v * (-c / qdiag[ch]) if live[ch] else -1.0
            ndelta[f, ch] = v
            lo = min(lo, v)
        if not (lo + 1.0) > _MIN_VAR_FRAC:
            ok[f] = False
            ndelta[f, :] = 0.0                                    # keep finite; uncertified
    ds = np.empty(n_chan)
    s0 = np.empty(n_chan)
    for ch in range(n_chan):
        s0[ch] = 1.0 / math.sqrt(qdiag[ch] / n)
        ds[ch] = (means[1, ch] - means[0, ch]) * s0[ch]
    for i in range(2 * k):
        for ch in range(n_chan):
            r[i, ch] *= s0[ch]
    return r, ds, ndelta


@jit
def _pair_inverse(z0, tau, n, inv_bound):
    """``G0^-1`` of the pair's Helmert Gram ``G0 = Z0 Z0^T`` and whether ``lambda_min(G0) > tau``
    is certified (inverse-norm bound, else the shifted Cholesky test: see
    :func:`._lda_null._inverse_lower_bound_ok`). Uncertified: the identity (finite)."""
    m0, n_chan = z0.shape
    g0 = np.empty((m0, m0))
    aat(z0, g0)
    l0 = g0.copy()
    gi = np.zeros((m0, m0))
    cert = False
    if chol(l0, m0) > 0.0:
        li = np.empty((m0, m0))
        lower_inverse(l0, li, m0)
        for i in range(m0):                                       # G0^-1 = L^-T L^-1 (lower)
            for p in range(i, m0):
                lpi = li[p, i]
                for j in range(i + 1):
                    gi[i, j] += lpi * li[p, j]
        fro = 0.0
        for i in range(m0):
            for j in range(i):
                gi[j, i] = gi[i, j]
                fro += 2.0 * gi[i, j] * gi[i, j]
            fro += gi[i, i] * gi[i, i]
        cert = inv_bound and math.sqrt(fro) * (2.0 * (tau + 100.0 * m0 * _EPS * (n * n_chan))) < 1.0
        if not cert:
            cert = shifted_chol_ok(g0, m0, tau)
    if not cert:
        gi[:, :] = 0.0
        for i in range(m0):
            gi[i, i] = 1.0
    return gi, cert


@jit
def _project_out(x, z0t, dtm, t, out):
    """``out = x - (x dtm^T) z0t^T``: the projection ``I - Z0^T D^T`` applied to the rows of ``x``
    (q0, C); ``t`` is the (q0, m0) scratch."""
    abt(x, dtm, t)
    abt(t, z0t, out)
    for a in range(x.shape[0]):
        for ch in range(x.shape[1]):
            out[a, ch] = x[a, ch] - out[a, ch]


@jit
def _null_basis(om, z0t, dtm):
    """U0^T (q0, C): the probe ``om`` projected with ``I - Z0^T D^T``, orthonormalised by Cholesky
    QR, projected once more (see :func:`._lda_null._null_basis`), and whether it is reliable."""
    q0, n_chan = om.shape
    m0 = dtm.shape[0]
    t = np.empty((q0, m0))
    u = np.empty((q0, n_chan))
    _project_out(om, z0t, dtm, t, u)
    uu = np.empty((q0, q0))
    aat(u, uu)
    good = chol(uu, q0) > 1e-6
    if not good:
        uu[:, :] = 0.0
        for a in range(q0):
            uu[a, a] = 1.0
    lu = np.empty((q0, q0))
    lower_inverse(uu, lu, q0)
    u2 = np.empty((q0, n_chan))
    abt(lu, np.ascontiguousarray(u.T), u2)                        # L^-1 u
    u0t = np.empty((q0, n_chan))
    _project_out(u2, z0t, dtm, t, u0t)
    return u0t, good


@jit
def _pair_time(xa, xb, k, tau, om, hcoef, w3, inv_bound, sf, cf, dec, ok):
    """Decisions ``dec`` (k, 2) and certificates ``ok`` (k,) of one pair-time (the trials ``xa``,
    ``xb`` (k, C) of its two classes); the names follow :func:`._lda_null._null_space`. ``sf``
    (q, q, kp) and ``cf`` (3, q, kp): the fold systems' workspace, its lanes ``f >= k`` the
    identity (they stay so)."""
    n_chan = xa.shape[1]
    n = 2 * (k - 1)
    m0 = 2 * k - 2
    q0 = n_chan - m0
    q = q0 + 2
    ok[:] = True
    r, ds, ndelta = _scaled_residuals(xa, xb, k, n, ok)
    z0 = np.empty((m0, n_chan))
    helmert_t(r[:k], z0[:k - 1], k, hcoef)
    helmert_t(r[k:], z0[k - 1:], k, hcoef)
    z0t = np.ascontiguousarray(z0.T)
    gi, cert = _pair_inverse(z0, tau, n, inv_bound)
    dtm = np.empty((m0, n_chan))                                  # D^T = G0^-1 Z0
    abt(gi, z0t, dtm)
    u0t, good = _null_basis(om, z0t, dtm)
    if not (cert and good):
        ok[:] = False
    # D^T p_i (Helmert rows of G0^-1), p_i (of D^T), D^T d, p_i^T d, U0^T d
    ft = np.empty((2, k, m0))
    pt4 = np.empty((2 * k, n_chan))
    for s in range(2):
        helmert_rows(gi[s * (k - 1):(s + 1) * (k - 1)], ft[s], k, hcoef)
        helmert_rows(dtm[s * (k - 1):(s + 1) * (k - 1)], pt4[s * k:(s + 1) * k], k, hcoef)
    dsm = ds.reshape(1, n_chan)
    ud = np.empty((1, m0))
    abt(dsm, dtm, ud)
    u0d = np.empty((1, q0))
    abt(dsm, u0t, u0d)
    pd = np.empty((2, k))
    for s in range(2):
        helmert_rows(ud[0, s * (k - 1):(s + 1) * (k - 1)].reshape(k - 1, 1), pd[s].reshape(k, 1), k, hcoef)
    # the k fold systems S_f = U_f^T V_f U_f, U_f = [p_a, p_b, U0], folds in the last axis
    # (lower triangles; padded to whole vector registers with the identity)
    kp = sf.shape[2]
    vf = np.empty((k, n_chan))
    for f in range(k):
        for ch in range(n_chan):
            vf[f, ch] = ndelta[f, ch] + 1.0
    fold_gram(u0t, vf, sf, 2)
    wp = np.empty((2 * k, n_chan))                                # V_f p_s (row s k + f)
    for s in range(2):
        for f in range(k):
            for ch in range(n_chan):
                wp[s * k + f, ch] = pt4[s * k + f, ch] + pt4[s * k + f, ch] * ndelta[f, ch]
    sx = np.empty((2 * k, q0))
    abt(wp, u0t, sx)
    for s in range(2):
        for f in range(k):
            for a in range(q0):
                sf[2 + a, s, f] = sx[s * k + f, a]
            for s2 in range(s, 2):
                acc = 0.0
                for ch in range(n_chan):
                    acc += wp[s * k + f, ch] * pt4[s2 * k + f, ch]
                sf[s2, s, f] = acc
    # right-hand sides U_f^T [x_a - mid_f, x_b - mid_f, d_f]  (3, q, folds)
    for e in range(3):
        for a in range(q0):
            for f in range(kp):
                cf[e, 2 + a, f] = u0d[0, a] * w3[e, 0]
        for f in range(k):
            cf[e, 0, f] = w3[e, 1] * (1.0 - 1.0 / k) + pd[0, f] * w3[e, 0]
            cf[e, 1, f] = w3[e, 2] * (1.0 - 1.0 / k) + pd[1, f] * w3[e, 0]
    rhs_p = cf[:2, :2].copy()
    invd = np.empty((q, kp))
    failed = np.zeros(kp)
    chol_lanes(sf, invd, failed)
    for f in range(k):
        if failed[f] != 0.0:                                      # not positive definite: identity
            ok[f] = False
            for i in range(q):
                sf[i, :i, f] = 0.0
                sf[i, i, f] = 1.0
                invd[i, f] = 1.0
    solve_lanes(sf, invd, cf)                                     # coef
    # y = V_f [p_a, p_b] coef_p + Delta_f U0 coef_0 (the d_f column), all folds: (k, C)
    cd = np.empty((k, q0))
    for f in range(k):
        for a in range(q0):
            cd[f, a] = cf[2, 2 + a, f]
    y = np.empty((k, n_chan))
    abt(cd, np.ascontiguousarray(u0t.T), y)
    for f in range(k):
        for ch in range(n_chan):
            y[f, ch] = y[f, ch] * ndelta[f, ch] + cf[2, 0, f] * wp[f, ch] + cf[2, 1, f] * wp[k + f, ch]
    yd = np.empty((k, m0))
    abt(y, dtm, yd)
    # per fold: w = D^T (d_f - y), v = M w, M^T v = v - h beta (rows of mtv), in D^T coordinates
    mtv = np.empty((k, m0))
    udv = np.empty(k)
    beta = np.empty((k, 2))
    hf = np.empty(k - 1)                                          # Helmert row of trial f
    for f in range(k):
        helmert_row(f, hcoef, hf)
        nn00 = nn01 = nn11 = 0.0                                  # p_s^T p_s'
        for jc in range(k - 1):
            nn00 += ft[0, f, jc] * hf[jc]
            nn01 += ft[0, f, k - 1 + jc] * hf[jc]
            nn11 += ft[1, f, k - 1 + jc] * hf[jc]
        det = nn00 * nn11 - nn01 * nn01
        if not det > _MIN_DOWNDATE * nn00 * nn11:                 # p_a, p_b near-parallel
            ok[f] = False
        dd = det if det > 0 else 1.0
        i00, i01, i11 = nn11 / dd, -nn01 / dd, nn00 / dd
        w = mtv[f]
        for p in range(m0):
            w[p] = ud[0, p] - yd[f, p]
        a0 = a1 = 0.0
        for jc in range(k - 1):
            w[jc] += w3[2, 1] * hf[jc]
            w[k - 1 + jc] += w3[2, 2] * hf[jc]
            a0 += w[jc] * hf[jc]
            a1 += w[k - 1 + jc] * hf[jc]
        al0, al1 = i00 * a0 + i01 * a1, i01 * a0 + i11 * a1
        uv = b0 = b1 = 0.0
        for p in range(m0):
            w[p] -= al0 * ft[0, f, p] + al1 * ft[1, f, p]
            uv += w[p] * ud[0, p]
            b0 += ft[0, f, p] * w[p]
            b1 += ft[1, f, p] * w[p]
        be0, be1 = i00 * b0 + i01 * b1, i01 * b0 + i11 * b1
        udv[f] = uv
        beta[f, 0] = be0
        beta[f, 1] = be1
        for jc in range(k - 1):
            w[jc] -= be0 * hf[jc]
            w[k - 1 + jc] -= be1 * hf[jc]
    g = np.empty((k, n_chan))                                     # g = D M^T v, then Delta_f g
    abt(mtv, np.ascontiguousarray(dtm.T), g)
    for f in range(k):
        for ch in range(n_chan):
            g[f, ch] *= ndelta[f, ch]
    zu = np.empty((k, q0))                                        # U0^T Delta_f g
    abt(g, u0t, zu)
    for f in range(k):
        z0_ = z1_ = 0.0                                           # p_s^T Delta_f g
        for ch in range(n_chan):
            z0_ += pt4[f, ch] * g[f, ch]
            z1_ += pt4[k + f, ch] * g[f, ch]
        for e in range(2):
            yg = z0_ * cf[e, 0, f] + z1_ * cf[e, 1, f]
            for a in range(q0):
                yg += zu[f, a] * cf[e, 2 + a, f]
            eg = beta[f, 0] * rhs_p[e, 0, f] + beta[f, 1] * rhs_p[e, 1, f] - udv[f] * w3[e, 0]
            dec[f, e] = -n * (eg + yg)


@jit
def _decisions(slices, rows, k, tau, om, hcoef, w3, inv_bound, dec, ok):
    n_chan = slices.shape[2]
    q, kp = n_chan - 2 * k + 4, (k + 7) // 8 * 8
    # the fold systems' workspace, allocated once: its padding lanes hold the identity, which the
    # factorisation and solves leave as it is
    sf = np.zeros((q, q, kp))
    cf = np.zeros((3, q, kp))
    for f in range(k, kp):
        for a in range(q):
            sf[a, a, f] = 1.0
    for p in range(rows.shape[0]):
        _pair_time(slices[rows[p, 0]], slices[rows[p, 1]], k, tau, om, hcoef, w3, inv_bound, sf, cf,
                   dec[p], ok[p])


def _constants(k: int, n_chan: int) -> tuple:
    """The torch version's fixed null-space probe and fold vectors, and the Helmert scales."""
    cpu = torch.device("cpu")
    q0 = n_chan - 2 * (k - 1)
    om = _lda_null._null_probe(n_chan, q0, torch.float64, cpu).numpy() if q0 else np.zeros((0, n_chan))
    w3 = _lda_null._fold_vectors(k, torch.float64, cpu).numpy()
    jj = np.arange(1, k, dtype=np.float64)
    return om, w3, 1.0 / np.sqrt(jj * (jj + 1))


def null_space_rows(slices: torch.Tensor, rows: torch.Tensor, k: int, tol: float) -> tuple:
    """The null-space path, compiled, for pair-times whose trials are rows of ``slices``:
    decisions (N, k, 2) and where they are certified (N, k), as
    :func:`._lda_null._null_space` returns them. Runs without the interpreter lock.

    ``slices`` (R, k, C) float64 on the CPU: k trials of one condition at one time point per
    row; ``rows`` (N, 2) int: pair-time i has class a ``slices[rows[i, 0]]`` and class b
    ``slices[rows[i, 1]]``.
    """
    n_chan = slices.shape[2]
    om, w3, hcoef = _constants(k, n_chan)
    dec = np.empty((len(rows), k, 2))
    ok = np.empty((len(rows), k), dtype=np.bool_)
    _decisions(np.ascontiguousarray(slices.numpy()), np.ascontiguousarray(rows.numpy()), k,
               _SAFETY * tol ** 2 * 2 * (k - 1), om, hcoef, w3, _INVERSE_BOUND, dec, ok)
    return torch.from_numpy(dec), torch.from_numpy(ok)


def null_space_decisions(x: torch.Tensor, k: int, tol: float) -> tuple:
    """:func:`null_space_rows` for gathered pair-times ``x`` (N, 2k, C): the k trials of class
    a, then the k of class b."""
    n_pt, _, n_chan = x.shape
    rows = torch.arange(2 * n_pt).view(n_pt, 2)
    return null_space_rows(x.reshape(2 * n_pt, k, n_chan), rows, k, tol)
