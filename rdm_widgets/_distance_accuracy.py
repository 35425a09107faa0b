"""Accurate float32 arithmetic for the distance kernels (private): row norms, products of a few
rows, pairs lost to cancellation.

Why this module exists: a float32 RDM should be as close to float64 as float32 features allow
(~1e-6 for correlation / cosine at any width), but three steps of the kernels lost more on wide
layers: torch's float32 ``vector_norm`` sums along the row (3.3e-5 relative at D = 62,720, the
correlation RDM of MobileNetV2's ``features.18`` 2.9e-5 from float64), MKL's GEMM for fewer
than 16 rows sums along all of D (3e-5 for the last, small row block), and the Gram identity of
the euclidean distances cancels for close pairs far from the centroid. :mod:`rdm_widgets._distance_kernels`
and :mod:`rdm_widgets._distance_scaling` call these; none copies the features to float64.
"""
from __future__ import annotations

import math

import torch

__all__ = ["row_norms", "row_sums", "mm_t", "one_minus_", "refine_pairs_"]

#: elements per chunk of the pairs recomputed in float64
_PAIR_ELEMENTS = 1 << 22


def _block_reduce(x: torch.Tensor, reduce) -> torch.Tensor:
    """``reduce`` of each row of ``x`` (N, D) over ~sqrt(D) blocks of it: an (N, n_blocks)
    array in float64 (``x.dtype`` on MPS), whose row sums are accurate where one float32 sum
    along a row of 60,000 values is not. ``reduce(t, dim)`` is e.g. ``torch.sum``; the blocks
    are views of ``x`` (no copy)."""
    n, d = x.shape
    k = 1 << max(4, round(math.log2(math.sqrt(d)))) if d > 64 else max(d, 1)
    m = d // k
    parts = [reduce(x[:, :m * k].reshape(n, m, k), 2)]
    if d > m * k:
        parts.append(reduce(x[:, m * k:], 1)[:, None])
    wide = x.dtype if x.device.type == "mps" else torch.float64     # (MPS: no float64)
    return torch.cat(parts, dim=1).to(wide)


def _vector_norm(t: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.linalg.vector_norm(t, dim=dim)


def row_norms(x: torch.Tensor, *, squared: bool = False, keepdim: bool = False,
              wide: bool = False) -> torch.Tensor:
    """Euclidean norms (or squared norms) of the rows of ``x`` (N, D), accurate in ``x.dtype``.

    Why not ``torch.linalg.vector_norm(x, dim=1)``: on the CPU its float32 sum runs along the
    row, so its error grows with D: on MobileNetV2's 62,720-wide ``features.18`` it is 3.3e-5
    relative, which made the float32 correlation RDM 2.9e-5 from float64. Here each row is cut
    into ~sqrt(D) blocks whose norms torch computes (short sums, a view: no copy), and the
    blocks' squares are added in float64 (an (N, sqrt(D)) array): ~1e-8 relative, for about the
    time of one ``vector_norm`` (a few percent of the GEMM that follows). Overflow and underflow
    behave as before: inf / 0 norms, which :func:`rdm_widgets._distance_scaling.rescale_rows_`
    and :func:`rdm_widgets._distance_scaling.global_exponent` detect.

    Parameters
    ----------
    x : torch.Tensor, shape (N, D)
    squared : bool
        Return the squared norms.
    keepdim : bool
        Shape (N, 1) instead of (N,).
    wide : bool
        Return them in float64 (not rounded to ``x.dtype``; MPS: ``x.dtype``).

    Returns
    -------
    torch.Tensor, shape (N,) or (N, 1), dtype of ``x`` (float64 with ``wide``)
    """
    sq = _block_reduce(x, _vector_norm).square_().sum(dim=1, keepdim=keepdim)
    sq = sq if squared else sq.sqrt_()
    return sq if wide else sq.to(x.dtype)


def row_sums(x: torch.Tensor) -> torch.Tensor:
    """Sums of the rows of ``x`` (N, D) as float64 (N,) (MPS: ``x.dtype``), from block sums
    as :func:`row_norms`: ~1e-8 relative in float32, where one sum along the row loses digits
    with D."""
    return _block_reduce(x, torch.sum).sum(dim=1)


#: below this many rows on either side, MKL's float32 GEMM takes a path that sums along all of D
#: (its error grows with D: 3.7e-6 at D = 62,720 against 2.4e-7 for larger blocks); such products
#: are split along D into pieces of _K_PIECE columns whose partial products are added in float64
_SMALL_GEMM = 16
_K_PIECE = 4096


def mm_t(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b.T`` ((Na, D) x (Nb, D) -> (Na, Nb)), as accurate for a few rows as for many.

    Products with at least ``_SMALL_GEMM`` rows on both sides (every block of an ordinary run
    but the last) are one plain GEMM, untouched; smaller ones (a last block of a few rows, an RDM
    of a few stimuli) add float64 partial products over pieces of D: the extra passes are over a
    (few, Nb) array, so they cost next to nothing.
    """
    d = a.shape[1]
    if min(a.shape[0], b.shape[0]) >= _SMALL_GEMM or d <= _K_PIECE or a.dtype == torch.float64:
        return torch.mm(a, b.T)
    wide = a.dtype if a.device.type == "mps" else torch.float64     # (MPS: no float64)
    acc = torch.zeros((a.shape[0], b.shape[0]), dtype=wide, device=a.device)
    for s in range(0, d, _K_PIECE):
        acc += torch.mm(a[:, s:s + _K_PIECE], b[:, s:s + _K_PIECE].T)
    return acc.to(a.dtype)


def one_minus_(g: torch.Tensor) -> torch.Tensor:
    """``1 - g`` in place, clipped to [0, 2]: the one-minus-dot distances from their products.

    The GEMM accumulates into zeros and 1 is subtracted after: an ``addmm`` into ones rounds
    each of its ~D/256 partial sums against 1, which cost ~10 ulps of 1 on wide layers (1.4e-6
    at D = 62,720, against 6e-8 this way), for no measurable time (one pass over the (rows, N)
    block beside a GEMM over D)."""
    return torch.sub(torch.ones((), dtype=g.dtype, device=g.device), g, out=g).clamp_(0, 2)


#: below this fraction of ``|x_i|^2 + |x_j|^2`` a Gram-trick squared distance has lost too many
#: digits to cancellation (points close together but far from the centroid); such pairs are
#: recomputed directly in float64
_CANCEL_FRACTION = {torch.float32: 1e-2, torch.float64: 1e-7}


def refine_pairs_(d2, xa, xb, sqa, sqb, diag_offset=None):
    """Recompute, as ``sum((a_i - b_j)**2)`` in float64, the entries of ``d2`` (rows of ``xa``
    against rows of ``xb``) hit by cancellation. ``diag_offset``: row i of ``xa`` is row
    ``i + diag_offset`` of ``xb`` (its self-distance stays as is)."""
    frac = _CANCEL_FRACTION.get(xa.dtype, 1e-2)
    close = d2 < frac * (sqa[:, None] + sqb[None, :])
    if diag_offset is not None:
        i = torch.arange(d2.shape[0], device=d2.device)
        close[i, i + diag_offset] = False
    pairs = close.nonzero()
    step = max(1, _PAIR_ELEMENTS // max(xa.shape[1], 1))
    for s in range(0, pairs.shape[0], step):
        i, j = pairs[s:s + step].unbind(1)
        wide = xa.dtype if xa.device.type == "mps" else torch.float64
        diff = xa[i].to(wide) - xb[j].to(wide)
        d2[i, j] = diff.square_().sum(dim=1).to(d2.dtype)
    return d2
