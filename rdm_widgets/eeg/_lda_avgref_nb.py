"""The average-reference path of the exact LDA kernel (:func:`._lda_channel._avgref_channel_space`)
compiled as one loop over pair-times (numba), for CPUs.

Same algebra and certificates as the torch version, which stays the reference and the fallback
(no numba, a GPU, ``RDMW_NUMBA=0``): one factorisation of the pair's base ``B0 Q B0 + gamma
(B0 1)(B0 1)^T`` per pair-time, ``L^-1`` applied to ``[d, B0 1]`` and per fold ``[B0 r_a, B0 r_b,
B0 var_f]``, and the rank-4 update of each fold as two 2x2 Woodbury steps. The torch version
spends most of its time in small per-fold operations (5x5 matrices, k = 44 of them per
pair-time) and holds the interpreter lock between them; here they are scalar code, and a call
runs a whole chunk without the lock.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ._lda_base import _MIN_DOWNDATE, _SAFETY
from ._lda_channel import _avgref_weights
from ._nb_linalg import aat, abt, abt_lower_b, chol, class_residuals, jit, lower_inverse, shifted_chol_ok

__all__ = ["avgref_rows", "avgref_decisions"]

_EPS = float(np.finfo(np.float64).eps)
# False: certify every base with the shifted Cholesky test (tests switch the cheap bound off)
_INVERSE_BOUND = True


@jit
def _fold_terms(g, k, c, gamma, sum_f, n, w, ok, frac, bil):
    """Per fold: the downdate certificate and fraction, and the 3x3 bilinear forms ``bil[f]``
    of (held-out a, held-out b, d_f) under ``(Q_f + mu v v^T)^-1`` (see the torch version).
    ``g`` (k, 5, 5): ``E_f^T base^-1 E_f`` for the basis [d, g, r_a, r_b, var_f]."""
    gtt = np.empty((5, 5))                  # gam_t, transposed: W gam_t is abt(W, gtt)
    g5 = np.empty((5, 5))
    tmp = np.empty((5, 5))
    for f in range(k):
        gaa, gbb, gab = g[f, 2, 2], g[f, 3, 3], g[f, 2, 3]
        lam = 0.5 * (gaa + gbb) + math.sqrt(0.25 * (gaa - gbb) ** 2 + gab * gab)
        frac[f] = 1.0 - c * lam
        if not frac[f] > _MIN_DOWNDATE:
            ok[f] = False
        a11, a22, a12 = 1.0 / c - gaa, 1.0 / c - gbb, -gab
        det = a11 * a22 - a12 * a12
        det = det if det > 0 else 1.0
        k00, k01, k11 = a22 / det, -a12 / det, a11 / det
        # gam_t = gam + gam[:, 2:4] K gam[2:4, :]
        for i in range(5):
            u0 = g[f, i, 2] * k00 + g[f, i, 3] * k01
            u1 = g[f, i, 2] * k01 + g[f, i, 3] * k11
            for j in range(5):
                gtt[j, i] = g[f, i, j] + u0 * g[f, 2, j] + u1 * g[f, 3, j]
        # g5 = W gam_t W^T
        abt(w, gtt, tmp)
        abt(tmp, w, g5)
        # second Woodbury step: - gamma g g^T + mu v v^T (det < 0 when exact)
        q11 = g5[3, 3] - 1.0 / gamma
        q12 = g5[3, 4]
        q22 = g5[4, 4] + sum_f[f] / n
        qdet = q11 * q22 - q12 * q12
        if not qdet < -1e-6 * (abs(q11) * abs(q22) + q12 * q12):
            ok[f] = False
        qdet = qdet if qdet < 0 else -1.0
        c00, c01, c11 = q22 / qdet, -q12 / qdet, q11 / qdet
        for i in range(3):
            s0 = g5[i, 3] * c00 + g5[i, 4] * c01
            s1 = g5[i, 3] * c01 + g5[i, 4] * c11
            for j in range(3):
                bil[f, i, j] = g5[i, j] - (s0 * g5[j, 3] + s1 * g5[j, 4])


@jit
def _pair_time(xa, xb, tol, w, inv_bound, dec, ok):
    """Decisions ``dec`` (k, 2) and certificates ``ok`` (k,) of one pair-time (``xa``, ``xb``
    (k, C)); the names follow the torch version."""
    k, n_chan = xa.shape
    n = 2 * (k - 1)
    c = k / (k - 1)
    ok[:] = True
    means, r, qdiag = class_residuals(xa, xb)
    ma, mb, ra, rb = means[0], means[1], r[:k], r[k:]
    var0 = np.empty(n_chan)
    for ch in range(n_chan):
        var0[ch] = qdiag[ch] / n
    # per-fold variances (population, as np.std); a (near-)constant channel: not certified
    var_f = np.empty((k, n_chan))
    sum_f = np.zeros(k)
    sa = np.zeros(k)
    sb = np.zeros(k)
    for f in range(k):
        good = True
        for ch in range(n_chan):
            v = (qdiag[ch] - c * (ra[f, ch] * ra[f, ch] + rb[f, ch] * rb[f, ch])) / n
            good = good and v > 1e-8 * var0[ch]
            var_f[f, ch] = v
        if not good:
            ok[f] = False
            var_f[f, :] = var0                                     # keep finite; uncertified
        for ch in range(n_chan):
            sum_f[f] += var_f[f, ch]
            sa[f] += ra[f, ch]
            sb[f] += rb[f, ch]
    one_q_one = 0.0                                               # 1^T Q 1 >= 1^T Q_f 1
    for f in range(k):
        one_q_one += sa[f] * sa[f] + sb[f] * sb[f]
    for f in range(k):
        if not one_q_one <= tol ** 2 / _SAFETY * n * sum_f[f]:
            ok[f] = False
    sc = np.empty(n_chan)
    vsum = 0.0
    for ch in range(n_chan):
        sc[ch] = 1.0 / math.sqrt(var0[ch])
        vsum += var0[ch]
    gamma = n * vsum / n_chan ** 2
    # base = B0 Q B0 + gamma (B0 1)(B0 1)^T from the rows [B0 r_a; B0 r_b; sqrt(gamma) B0 1],
    # and the basis E: [d, B0 1] then per fold [B0 r_a, B0 r_b, B0 var_f]
    nv = 2 + 3 * k
    e = np.empty((nv, n_chan))
    for ch in range(n_chan):
        e[0, ch] = (mb[ch] - ma[ch]) * sc[ch]
        e[1, ch] = sc[ch]
    for f in range(k):
        for ch in range(n_chan):
            e[2 + 3 * f, ch] = ra[f, ch] * sc[ch]
            e[3 + 3 * f, ch] = rb[f, ch] * sc[ch]
            e[4 + 3 * f, ch] = var_f[f, ch] * sc[ch]
    rows_t = np.empty((n_chan, 2 * k + 1))                        # the base's rows, transposed
    sg = math.sqrt(gamma)
    for ch in range(n_chan):
        for f in range(k):
            rows_t[ch, f] = e[2 + 3 * f, ch]
            rows_t[ch, k + f] = e[3 + 3 * f, ch]
        rows_t[ch, 2 * k] = sg * sc[ch]
    base = np.empty((n_chan, n_chan))
    aat(rows_t, base)
    lf = base.copy()
    factored = chol(lf, n_chan) > 0.0
    if not factored:
        ok[:] = False
        lf[:, :] = 0.0
        for ch in range(n_chan):
            lf[ch, ch] = 1.0
    li = np.empty((n_chan, n_chan))
    lower_inverse(lf, li, n_chan)
    yt = np.empty((nv, n_chan))                                   # (L^-1 E^T)^T
    abt_lower_b(e, li, yt)
    # Gram entries E_f^T base^-1 E_f (k, 5, 5) for [d, g, r_a(f), r_b(f), var_f(f)]
    g = np.empty((k, 5, 5))
    g00 = np.empty((2, 2))
    for i in range(2):
        for j in range(2):
            s = 0.0
            for ch in range(n_chan):
                s += yt[i, ch] * yt[j, ch]
            g00[i, j] = s
    g0f = np.empty((2, nv - 2))
    abt(yt[:2], yt[2:], g0f)
    for f in range(k):
        for i in range(2):
            for j in range(2):
                g[f, i, j] = g00[i, j]
            for j in range(3):
                g[f, i, 2 + j] = g0f[i, 3 * f + j]
                g[f, 2 + j, i] = g0f[i, 3 * f + j]
        for i in range(3):
            for j in range(i, 3):
                s = 0.0
                for ch in range(n_chan):
                    s += yt[2 + 3 * f + i, ch] * yt[2 + 3 * f + j, ch]
                g[f, 2 + i, 2 + j] = s
                g[f, 2 + j, 2 + i] = s
    frac = np.empty(k)
    bil = np.empty((k, 3, 3))
    _fold_terms(g, k, c, gamma, sum_f, n, w, ok, frac, bil)
    # - 1 1^T / (n |s_f|^2) term of B Z^+ B / n, from the (tiny) channel sums of the vectors
    dsum = 0.0
    for ch in range(n_chan):
        dsum += mb[ch] - ma[ch]
    for f in range(k):
        o2 = dsum * w[2, 0] + sa[f] * w[2, 2] + sb[f] * w[2, 3]
        for x in range(2):
            ox = dsum * w[x, 0] + sa[f] * w[x, 2] + sb[f] * w[x, 3]
            dec[f, x] = n * bil[f, x, 2] - ox * o2 / sum_f[f]
    # pair-level certificate: lambda_2(Z_f) >= frac_f lambda_min(base) / n > SAFETY tol^2, i.e.
    # lambda_min(base) > tau. lambda_min(L L^T) = 1 / ||L^-1||_2^2 >= 1 / ||L^-1||_F^2, and L L^T
    # is base up to the Cholesky backward error (<= ~m eps tr): as in the null-space path
    # (_lda_null._inverse_lower_bound_ok), 1 / ||L^-1||_F^2 > 2 (tau + 100 m eps tr) certifies
    # it (L^-1 is then accurate to ~1e-8); otherwise the shifted Cholesky test decides.
    worst = np.inf
    for f in range(k):
        if ok[f]:
            worst = min(worst, frac[f])
    tau = _SAFETY * tol ** 2 * n / (worst if worst < np.inf else 1.0)
    tr = 0.0
    for ch in range(n_chan):
        tr += base[ch, ch]
    fro2 = 0.0
    for i in range(n_chan):
        for j in range(i + 1):
            fro2 += li[i, j] * li[i, j]
    cert = factored and inv_bound and fro2 * 2.0 * (tau + 100.0 * n_chan * _EPS * tr) < 1.0
    if not (cert or (factored and shifted_chol_ok(base, n_chan, tau))):
        ok[:] = False


@jit
def _decisions(slices, rows, tol, w, inv_bound, dec, ok):
    for p in range(rows.shape[0]):
        _pair_time(slices[rows[p, 0]], slices[rows[p, 1]], tol, w, inv_bound, dec[p], ok[p])


def avgref_rows(slices: torch.Tensor, rows: torch.Tensor, k: int, tol: float) -> tuple:
    """The average-reference path, compiled, for pair-times whose trials are rows of ``slices``
    (R, k, C) float64 on the CPU (pair-time i: class a ``slices[rows[i, 0]]``, class b
    ``slices[rows[i, 1]]``): decisions (N, k, 2) and where they are certified (N, k), as
    :func:`._lda_channel._avgref_channel_space` returns them. Runs without the interpreter lock."""
    w = _avgref_weights(k, torch.float64, torch.device("cpu")).numpy()
    dec = np.empty((len(rows), k, 2))
    ok = np.empty((len(rows), k), dtype=np.bool_)
    _decisions(np.ascontiguousarray(slices.numpy()), np.ascontiguousarray(rows.numpy()), float(tol), w,
               _INVERSE_BOUND, dec, ok)
    return torch.from_numpy(dec), torch.from_numpy(ok)


def avgref_decisions(xa: torch.Tensor, xb: torch.Tensor, tol: float) -> tuple:
    """:func:`avgref_rows` for the trials ``xa`` and ``xb`` (N, k, C) of each pair-time."""
    n_pt, k, n_chan = xa.shape
    rows = torch.arange(2 * n_pt).view(2, n_pt).T
    return avgref_rows(torch.cat([xa, xb]), rows, k, tol)
