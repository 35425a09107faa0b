"""Small dense linear algebra for the compiled LDA kernels (:mod:`._lda_null_nb`,
:mod:`._lda_avgref_nb`), written
for matrices of tens of rows: register-blocked products, Cholesky factors, Helmert contrasts and
the k fold systems factorised side by side in vector lanes.

Every function is compiled with numba (``nogil``, cached on disk) when numba imports; without it
they stay plain Python (correct, slow: the kernels are then not used, see :func:`._lda._compiled`). ``fastmath`` allows reassociation and contraction (sums run in
vector lanes, FMA) and nothing else: NaN and inf keep their meaning, the certificates test for
them.
"""
from __future__ import annotations

import math

import numpy as np

try:                                                              # optional: the torch path runs without it
    import numba
except ImportError:                                               # pragma: no cover - numba is a dependency
    numba = None

__all__ = ["jit", "abt", "aat", "abt_lower_b", "chol", "shifted_chol_ok", "lower_inverse", "class_residuals",
           "helmert_t", "helmert_rows", "helmert_row", "fold_gram", "chol_lanes", "solve_lanes", "time_major"]

_EPS = float(np.finfo(np.float64).eps)

_FASTMATH = {"reassoc", "contract", "nsz"}


def jit(fn):
    """``numba.njit(nogil=True, cache=True, fastmath=...)``, or ``fn`` itself without numba.

    The compiled code is cached next to the module (``__pycache__``) or, where that is read-only,
    in numba's user cache folder; with neither, each process compiles it again (~10 s)."""
    if numba is None:
        return fn
    try:
        return numba.njit(nogil=True, cache=True, fastmath=_FASTMATH)(fn)
    except RuntimeError:                                          # pragma: no cover - no cache folder
        return numba.njit(nogil=True, fastmath=_FASTMATH)(fn)


_FULL, _LOWER, _B_LOWER = 0, 1, 2


@jit
def _blocked_products(a, b, out, mode):
    """``out[i, j] = sum_c a[i, c] b[j, c]`` in blocks of 2 x 4 dot products that share their
    loads (8 running sums in vector lanes). ``mode``: every block (``_FULL``); only blocks on or
    below the diagonal (``_LOWER``, for ``a is b``); or ``b`` lower-triangular, each block of
    columns j..j+3 summing only up to ``c <= j+3`` (``_B_LOWER``). Rows and columns past the end
    repeat the last one: computed, not stored."""
    m, n, width = a.shape[0], b.shape[0], a.shape[1]
    for i in range(0, m, 2):
        i1 = min(i + 1, m - 1)
        for j in range(0, i + 2 if mode == _LOWER else n, 4):
            j1, j2, j3 = min(j + 1, n - 1), min(j + 2, n - 1), min(j + 3, n - 1)
            s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = 0.0
            for c in range(j3 + 1 if mode == _B_LOWER else width):
                x0, x1 = a[i, c], a[i1, c]
                y0, y1, y2, y3 = b[j, c], b[j1, c], b[j2, c], b[j3, c]
                s00 += x0 * y0
                s01 += x0 * y1
                s02 += x0 * y2
                s03 += x0 * y3
                s10 += x1 * y0
                s11 += x1 * y1
                s12 += x1 * y2
                s13 += x1 * y3
            out[i, j] = s00
            if j + 1 < n:
                out[i, j + 1] = s01
            if j + 2 < n:
                out[i, j + 2] = s02
            if j + 3 < n:
                out[i, j + 3] = s03
            if i + 1 < m:
                out[i1, j] = s10
                if j + 1 < n:
                    out[i1, j + 1] = s11
                if j + 2 < n:
                    out[i1, j + 2] = s12
                if j + 3 < n:
                    out[i1, j + 3] = s13


@jit
def abt(a, b, out):
    """``out = a @ b.T`` for row-major ``a`` (m, L), ``b`` (n, L): ~18-20 G multiply-adds/s on
    one core here for the kernel's sizes, 1.6-1.9x one dot product at a time."""
    _blocked_products(a, b, out, _FULL)


@jit
def aat(a, out):
    """``out = a @ a.T`` (m, m): the blocks on and below the diagonal, mirrored (~half the work)."""
    _blocked_products(a, a, out, _LOWER)
    for i in range(out.shape[0]):
        for j in range(i):
            out[j, i] = out[i, j]


@jit
def abt_lower_b(a, b, out):
    """``out = a @ b.T`` for a lower-triangular ``b`` (n, n): half the work of :func:`abt`."""
    _blocked_products(a, b, out, _B_LOWER)


@jit
def chol(a, m):
    """In-place lower Cholesky of ``a[:m, :m]`` (lower triangle read and written). Returns the
    smallest pivot: <= 0 or NaN means not positive definite (the factor is then garbage)."""
    smallest = np.inf
    for j in range(m):
        d = a[j, j]
        for p in range(j):
            d -= a[j, p] * a[j, p]
        if not d > 0.0:
            return d if d == d else np.nan
        d = math.sqrt(d)
        smallest = min(smallest, d)
        a[j, j] = d
        inv = 1.0 / d
        for i in range(j + 1, m):
            s = a[i, j]
            for p in range(j):
                s -= a[i, p] * a[j, p]
            a[i, j] = s * inv
    return smallest


@jit
def shifted_chol_ok(g, m, tau):
    """Whether ``lambda_min(g[:m, :m]) > tau`` is certified by a Cholesky of ``g - shift I``, with
    the Cholesky backward error (~m eps tr(g)) added to ``tau`` (as
    :func:`._lda_base._chol_lower_bound_ok`). Overwrites ``g``."""
    tr = 0.0
    for i in range(m):
        tr += g[i, i]
    shift = tau + 100.0 * m * _EPS * tr
    for i in range(m):
        g[i, i] -= shift
    return chol(g, m) > 0.0


@jit
def class_residuals(xa, xb):
    """Class means (2, C), residuals (2k, C) (class a's k rows, then b's) and their per-channel
    sums of squares (C,) of the trials ``xa``, ``xb`` (k, C) of one pair-time."""
    k, n_chan = xa.shape
    means = np.zeros((2, n_chan))
    for i in range(k):
        for ch in range(n_chan):
            means[0, ch] += xa[i, ch]
            means[1, ch] += xb[i, ch]
    for ch in range(n_chan):
        means[0, ch] /= k
        means[1, ch] /= k
    r = np.empty((2 * k, n_chan))
    qdiag = np.zeros(n_chan)
    for i in range(k):
        for ch in range(n_chan):
            va, vb = xa[i, ch] - means[0, ch], xb[i, ch] - means[1, ch]
            r[i, ch] = va
            r[k + i, ch] = vb
            qdiag[ch] += va * va + vb * vb
    return means, r, qdiag


@jit
def lower_inverse(l, out, m):
    """``out[:m, :m] = L^-1`` for the lower factor in ``l[:m, :m]``, row by row (row i of L^-1
    is ``(e_i - sum_p L_ip row_p) / L_ii``: contiguous rows); zero above the diagonal."""
    out[:m, :m] = 0.0
    for i in range(m):
        for p in range(i):
            lip = l[i, p]
            for j in range(p + 1):
                out[i, j] -= lip * out[p, j]
        inv = 1.0 / l[i, i]
        for j in range(i):
            out[i, j] *= inv
        out[i, i] = inv


@jit
def helmert_t(r, out, k, coef):
    """``out[j] = (sum_{i <= j} r_i - (j+1) r_{j+1}) coef_j`` for j < k-1: the Helmert contrasts
    ``H^T r`` of k rows (prefix sums instead of a (k-1, k) product); ``coef_j = 1/sqrt((j+1)(j+2))``."""
    width = r.shape[1]
    acc = np.zeros(width)
    for j in range(k - 1):
        for c in range(width):
            acc[c] += r[j, c]
            out[j, c] = (acc[c] - (j + 1) * r[j + 1, c]) * coef[j]


@jit
def helmert_row(i, coef, out):
    """``out[j] = H[i, j]``: row i of the (k, k-1) Helmert basis (``coef_j`` for i <= j,
    ``-(j+1) coef_j`` for i = j+1, else 0)."""
    for j in range(out.shape[0]):
        out[j] = coef[j] if i <= j else (-(j + 1) * coef[j] if i == j + 1 else 0.0)


@jit
def helmert_rows(y, out, k, coef):
    """``out[i] = sum_j H[i, j] y_j`` for i < k: the Helmert rows applied to k-1 rows ``y``
    (``H[i, j] = coef_j`` for i <= j, ``-(j+1) coef_j`` for i = j+1; suffix sums)."""
    width = y.shape[1]
    acc = np.zeros(width)
    for i in range(k - 1, -1, -1):
        for c in range(width):
            v = acc[c]
            if i >= 1:
                v -= i * coef[i - 1] * y[i - 1, c]
            out[i, c] = v
        if i >= 1:
            for c in range(width):
                acc[c] += coef[i - 1] * y[i - 1, c]


@jit
def fold_gram(u0t, vf, sf, off):
    """``sf[off + a, off + b, f] = sum_c vf[f, c] u0t[a, c] u0t[b, c]`` for b <= a: ``U0^T V_f U0``
    of every fold, lower triangle, folds in the last axis.

    Two rows b, b+1 and four folds at a time (8 running sums sharing their loads): 1.9x one
    reduction per entry on the S001 sizes (q0 = 24, C = 64, k = 21).
    """
    q0, n_chan = u0t.shape
    k = vf.shape[0]
    pr0 = np.empty(n_chan)
    pr1 = np.empty(n_chan)
    for a in range(q0):
        for b in range(0, a + 1, 2):
            two = b + 1 <= a
            for c in range(n_chan):
                pr0[c] = u0t[a, c] * u0t[b, c]
                pr1[c] = u0t[a, c] * u0t[b + 1, c] if two else 0.0
            for f in range(0, k, 4):
                f1, f2, f3 = min(f + 1, k - 1), min(f + 2, k - 1), min(f + 3, k - 1)
                a0 = a1 = a2 = a3 = c0 = c1 = c2 = c3 = 0.0
                for c in range(n_chan):
                    p, s = pr0[c], pr1[c]
                    v0, v1, v2, v3 = vf[f, c], vf[f1, c], vf[f2, c], vf[f3, c]
                    a0 += p * v0
                    a1 += p * v1
                    a2 += p * v2
                    a3 += p * v3
                    c0 += s * v0
                    c1 += s * v1
                    c2 += s * v2
                    c3 += s * v3
                sf[off + a, off + b, f] = a0
                if f + 1 < k:
                    sf[off + a, off + b, f1] = a1
                if f + 2 < k:
                    sf[off + a, off + b, f2] = a2
                if f + 3 < k:
                    sf[off + a, off + b, f3] = a3
                if two:
                    sf[off + a, off + b + 1, f] = c0
                    if f + 1 < k:
                        sf[off + a, off + b + 1, f1] = c1
                    if f + 2 < k:
                        sf[off + a, off + b + 1, f2] = c2
                    if f + 3 < k:
                        sf[off + a, off + b + 1, f3] = c3


@jit
def chol_lanes(sf, invd, failed):
    """Lower Cholesky of every matrix ``sf[:, :, f]`` (q, q, lanes) in place, the matrices side
    by side in vector lanes (a 26-square factorisation has rows too short to vectorise alone).
    ``invd`` (q, lanes) gets the inverse pivots; ``failed[f]`` is set to 1 where a pivot is <= 0
    or NaN (that lane's factor is then garbage, finite)."""
    q, lanes = sf.shape[0], sf.shape[2]
    for j in range(q):
        for p in range(j):
            for f in range(lanes):
                sf[j, j, f] -= sf[j, p, f] * sf[j, p, f]
        for f in range(lanes):
            d = sf[j, j, f]
            bad = not d > 0.0
            failed[f] = 1.0 if bad else failed[f]
            d = math.sqrt(1.0 if bad else d)
            sf[j, j, f] = d
            invd[j, f] = 1.0 / d
        for i in range(j + 1, q):
            for p in range(j):
                for f in range(lanes):
                    sf[i, j, f] -= sf[i, p, f] * sf[j, p, f]
            for f in range(lanes):
                sf[i, j, f] *= invd[j, f]


@jit
def solve_lanes(sf, invd, b):
    """``b[e, :, f] = (L_f L_f^T)^-1 b[e, :, f]`` in place for the factors of :func:`chol_lanes`
    (``b`` (m, q, lanes)): L y = b by rows, then L^T z = y by columns of L^T (rows of L)."""
    q, lanes = sf.shape[0], sf.shape[2]
    for e in range(b.shape[0]):
        for i in range(q):
            for p in range(i):
                for f in range(lanes):
                    b[e, i, f] -= sf[i, p, f] * b[e, p, f]
            for f in range(lanes):
                b[e, i, f] *= invd[i, f]
        for i in range(q - 1, -1, -1):
            for f in range(lanes):
                b[e, i, f] *= invd[i, f]
            for p in range(i):
                for f in range(lanes):
                    b[e, p, f] -= sf[i, p, f] * b[e, i, f]


@jit
def time_major(x, out):
    """``out[t, r, c] = x[r, c, t]`` for ``x`` (R, C, T): one pass over x's rows (a torch copy of
    the permuted view reads one cache line per value when T is long: 4-5x slower here)."""
    n_rows, n_chan, n_times = x.shape
    for r in range(n_rows):
        for t in range(n_times):
            for c in range(n_chan):
                out[t, r, c] = x[r, c, t]
