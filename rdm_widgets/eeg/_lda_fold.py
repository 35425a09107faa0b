"""The k fold systems ``S_f = U_f^T V_f U_f`` of the null-space path (:mod:`._lda_null`):
built with one GEMM per pair and time, factorised by Cholesky in place, solved.

Per call of the null-space path (32 pair-times, k = 21 folds on the S001 epochs) these are
672 small SPD systems; what they cost on a CPU is per-call overhead (small batched GEMMs,
one LAPACK call per matrix), not arithmetic, so the work is arranged in few, large
operations and without copies of the (N, k, q, q) matrices.
"""
from __future__ import annotations

import functools

import torch


# rows of U0^T multiplied per operation when building the products u_i * u_j (see _fold_gram_upper)
_ROW_BLOCK = 3


@functools.lru_cache(maxsize=8)
def _pair_rows(q0: int, q: int, device) -> tuple:
    """The pairs (i, j) of rows of U0^T multiplied by :func:`_fold_gram_upper`: for each block
    ``a <= i < b`` of ``_ROW_BLOCK`` rows every ``j >= a`` (the upper triangle and a few pairs of
    the block below its diagonal). Returns the blocks and the pairs' flat positions
    ``(i + q - q0) q + (j + q - q0)`` in a q x q matrix (its trailing q0 x q0 block)."""
    blocks = [(a, min(a + _ROW_BLOCK, q0)) for a in range(0, q0, _ROW_BLOCK)]
    ii = torch.cat([torch.arange(a, b)[:, None].expand(b - a, q0 - a).reshape(-1) for a, b in blocks])
    jj = torch.cat([torch.arange(a, q0)[None, :].expand(b - a, q0 - a).reshape(-1) for a, b in blocks])
    return blocks, ((ii + q - q0) * q + jj + q - q0).to(device)


def _fold_gram_upper(u0t: torch.Tensor, vf: torch.Tensor, s: torch.Tensor) -> None:
    """Write the upper triangle of ``U0^T V_f U0 = sum_c v_fc u_c u_c^T`` into the trailing
    block ``s[..., -q0:, -q0:]`` (row-major), for all folds at once (below the diagonal: a few
    entries, or none).

    ``u0t`` (N, q0, C): U0^T; ``vf`` (N, k, C): v_f; ``s`` (N, k, q, q), q >= q0. One GEMM
    per pair-time, the products ``u_i * u_j`` of rows of U0^T (C values each, ~q0 (q0+1)/2
    pairs) against the k fold variances, instead of q0 small ones (2-3x faster on the S001
    epochs, q0 = 24). The products are made ``_ROW_BLOCK`` rows i at a time (every j >= the
    block's first row: for q0 = 24, 8% more pairs than the triangle and 8 operations instead
    of 24).
    """
    n_pt, q0, n_chan = u0t.shape
    k, q = s.shape[1], s.shape[-1]
    if q0 == 0:                                                       # 2k-2 == C: U_f = [p_a, p_b]
        return
    blocks, pos_s = _pair_rows(q0, q, u0t.device)
    kr = u0t.new_empty(n_pt, len(pos_s), n_chan)
    off = 0
    for a, b in blocks:
        size = (b - a) * (q0 - a)
        torch.mul(u0t[:, a:b, None], u0t[:, None, a:], out=kr[:, off:off + size].view(n_pt, b - a, q0 - a, n_chan))
        off += size
    tri = kr @ vf.mT                                                  # (N, pairs, k)
    s.view(n_pt, k, q * q).index_copy_(2, pos_s, tri.mT)


def _cholesky_inplace(s: torch.Tensor) -> tuple:
    """Cholesky factors of the symmetric matrices whose upper triangles ``s`` (..., q, q) holds
    (row-major; the lower triangle is not read), computed in s's storage.

    Returns ``L`` (the lower factor, as the column-major view ``s.mT``: no copy of s) and where
    it exists: LAPACK's ``info == 0``, i.e. every pivot positive (a NaN fails too). Failed
    factors are replaced by the identity (finite; the caller treats them as uncertified).
    """
    st = s.mT
    info = torch.empty(s.shape[:-2], dtype=torch.int32, device=s.device)
    torch.linalg.cholesky_ex(st, out=(st, info))
    good = info == 0
    if not bool(good.all()):
        eye = torch.eye(s.shape[-1], dtype=s.dtype, device=s.device)
        st.copy_(torch.where(good[..., None, None], st, eye))
    return st, good


def _chol_solve(chol: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(L L^T)^-1 b`` for the lower factor ``chol`` (..., q, q) and ``b`` (..., q, m)."""
    y = torch.linalg.solve_triangular(chol, b, upper=False)
    return torch.linalg.solve_triangular(chol.mT, y, upper=True)
