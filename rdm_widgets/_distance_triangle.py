"""One triangle of a symmetric RDM (private): blocks of rows against the rows before them.

Why this module exists: every built-in distance is symmetric, yet computing the RDM in row
blocks against all N rows does each pair twice (``d(i, j)`` and ``d(j, i)``) and then averages the
two triangles. For the GEMM-bound distances (correlation, cosine, spearman, the euclidean
family, mahalanobis) that is twice the multiply-adds needed. Here row block ``I`` (rows
``s:e``) is computed only against rows ``0:e`` -- the distance's own ``block`` kernel applied to
its state restricted to the first ``e`` rows, so the arithmetic of every entry is the kernel's --
and the upper triangle is a transposed copy of the lower one. With ``k`` blocks of equal size
the products cost ``(k + 1) / (2 k)`` of the full ones.

Results: entries below the diagonal blocks are the kernel's values themselves (the full path
stores the mean of ``d(i, j)`` and ``d(j, i)``, which differ by rounding only); the diagonal blocks
are symmetrised as before. :func:`rdm_widgets.distances.pairwise_distances` uses this when the
distance's ``block`` is listed in :data:`LOWER` and the RDM has more rows than one block.
"""
from __future__ import annotations

import math

import torch

from ._distance_gram import block_gram, leading_gram
from ._distance_kernels import (_block_chebyshev, _block_euclidean, _block_mahalanobis, _block_manhattan,
                                _block_one_minus_dot, _block_sqeuclidean)

__all__ = ["LOWER", "triangle_rows", "sub_blocks", "product_fraction", "lower_triangle", "mirror_lower_"]


def _leading_rows(state, stop):
    return state[:stop]


def _leading_norm_rows(state, stop):
    x, sq, k = state
    return x[:stop], sq[:stop], k


def _leading_mahalanobis(state, stop):
    if state[0] == "rows":
        return ("rows",) + _leading_norm_rows(state[1:], stop)
    _, m, diag = state
    return "gram", m[:stop, :stop], diag[:stop]


#: a built-in ``block`` kernel -> ``leading(state, stop)``: its state restricted to rows ``0:stop``
#: (views, no copy), so that ``block(leading(state, e), slice(s, e))`` is rows ``s:e`` against ``0:e``
LOWER = {
    _block_one_minus_dot: _leading_rows,
    _block_manhattan: _leading_rows,
    _block_chebyshev: _leading_rows,
    _block_sqeuclidean: _leading_norm_rows,
    _block_euclidean: _leading_norm_rows,
    _block_mahalanobis: _leading_mahalanobis,
    block_gram: leading_gram,
}

#: rows per triangle block by device type. Measured on 2 CPU cores (BENCHMARKS.md, "DNN RDMs"): with
#: 256 rows the products of N = 1,000 (2,000) are 62% (56%) of the full ones and took 0.63-0.73x of
#: the full GEMM's time at AlexNet widths; 128-row blocks lost more GEMM efficiency than they saved.
#: On a GPU fewer, larger blocks (fewer launches; not measured yet).
_BLOCK_ROWS = {"cpu": 256}
_GPU_BLOCK_ROWS = 2048


def triangle_rows(device: torch.device) -> int:
    """Rows per triangle block on ``device`` (an RDM of at most this many rows stays one block)."""
    return _BLOCK_ROWS.get(torch.device(device).type, _GPU_BLOCK_ROWS)


def sub_blocks(start: int, stop: int, rows: int) -> list:
    """``(s, e)`` bounds of about equal blocks of at most ``rows`` rows covering ``start:stop``.

    Equal sizes, so that no last block of a few rows falls on the slow small-GEMM path.
    """
    k = math.ceil((stop - start) / rows)
    size = math.ceil((stop - start) / k)
    return [(s, min(s + size, stop)) for s in range(start, stop, size)]


def product_fraction(n: int, chunk_size, device) -> float:
    """Fraction of the full ``N x N`` products a built-in symmetric distance computes.

    For cost estimates: 1.0 when the RDM is one block, about ``(k + 1) / (2 k)`` for ``k``
    triangle blocks (0.62 for N = 1,000 on the CPU, 0.56 for N = 2,000).

    Parameters
    ----------
    n : int
        Stimuli N.
    chunk_size : int or None
        As given to :func:`rdm_widgets.pairwise_distances`.
    device : str or torch.device
    """
    rows = triangle_rows(device)
    step = n if chunk_size is None else min(chunk_size, n)
    bounds = [(s, min(s + step, n)) for s in range(0, n, step)]
    if len(bounds) == 1 and n <= rows:
        return 1.0
    return sum((e - s) * e for a, b in bounds for s, e in sub_blocks(a, b, rows)) / n ** 2


def lower_triangle(block, state, out: torch.Tensor, bounds, rows: int, reporter, name: str) -> None:
    """Fill the lower triangle (diagonal blocks included) of ``out`` (N, N).

    Parameters
    ----------
    block : callable
        The distance's ``block(state, rows)``, a key of :data:`LOWER`.
    state : object
        What its ``prepare`` returned for all N rows.
    out : torch.Tensor, (N, N)
        On the CPU; entries above the diagonal blocks are left unset (:func:`mirror_lower_`).
    bounds : list of (int, int)
        The row chunks of the call (``chunk_size``); ``reporter`` advances by one per chunk.
    rows : int
        Rows per triangle block (each chunk is cut into blocks of at most this many).
    reporter : ProgressReporter
    name : str
        The distance's name, for error messages.

    Returns
    -------
    list of (int, int)
        The triangle blocks, for :func:`mirror_lower_`.
    """
    leading, done = LOWER[block], []
    for s, e in bounds:
        for bs, be in sub_blocks(s, e, rows):
            blk = block(leading(state, be), slice(bs, be))
            if tuple(blk.shape) != (be - bs, be):
                raise ValueError(f"Distance {name!r}: block returned shape {tuple(blk.shape)}; "
                                 f"expected {(be - bs, be)}.")
            out[bs:be, :be] = blk
            done.append((bs, be))
        reporter.update(1)
    return done


def mirror_lower_(out: torch.Tensor, blocks) -> None:
    """Make ``out`` (a CPU tensor) symmetric from its lower triangle: each diagonal block is
    replaced by the mean of itself and its transpose (as the full path does), the rest of the upper
    triangle is the transposed lower one (``blocks``: from :func:`lower_triangle`).

    Through numpy: its transposing copies are blocked for the cache (0.2 ms for N = 1,000, where
    torch's strided copy took 17-90 ms, several percent of a layer's products).
    """
    o = out.numpy()
    for s, e in blocks:
        diag = o[s:e, s:e]
        diag[...] = (diag + diag.T) / 2
        o[:s, s:e] = o[s:e, :s].T

