"""RDMs from the features' own Gram matrix, without a working copy (private).

Why this module exists: correlation, cosine and the euclidean distances used to write a centred
(N, D) working copy of the features before their GEMM. From an array the caller keeps, that
copy is new memory, and its first touch alone cost ~100 ms of a 1.2 s GEMM at 2000 x 50000
float32 (page faults): the full product ran at 84-89% of the raw ``torch.mm`` rate, and the copy
doubled the memory. What the copy was for is a cheap correction of the raw Gram matrix
``G = X X'``:

- cosine: ``1 - G_ij a_i a_j`` with ``a_i = 1 / |x_i|``;
- correlation: the row-centred Gram matrix is ``G - u u'`` with ``u_i = sum(x_i) / sqrt(D)``
  (``Xc Xc' = X X' - D m m'`` for the row means ``m``), and ``a_i = 1 / |x_i - m_i|``;
- euclidean, sqeuclidean: ``|x_i|^2 + |x_j|^2 - 2 G_ij`` is translation invariant as it stands;
  the column centring only reduced its cancellation.

So the features are read once (row sums, squared norms and the degenerate-row test, chunk by
chunk; the euclidean guard's centroid from a sample of rows) and the RDM blocks are the GEMM of the source rows plus a pass or two over each
(rows, N) block -- no (N, D) write at all.

Numerics: the GEMM now rounds the raw products, ``~eps |x_i| |x_j|``, which relative to the
centred ones is ``sqrt(r_i r_j)`` times larger, where ``r_i = |x_i|^2 / |x_i - m_i|^2`` (1 for
zero-mean rows). Correlation takes this path only where every row has ``r <= MAX_RATIO`` (4: at
most 4x a float32 cosine's rounding). The euclidean distances keep their guarantee either way:
pairs whose squared distance is below 1% of ``|x_i|^2 + |x_j|^2`` are recomputed in float64
(:func:`rdm_widgets._distance_accuracy.refine_pairs_`), now of the raw norms; the path is taken
where the features' total energy is at most ``MAX_RATIO`` times their total variance (a common
offset would send many pairs to that slow float64 step). Every squared norm must also be inside
the safe range of the working dtype (:func:`rdm_widgets._distance_scaling.safe_range`); otherwise
-- a large common offset, extreme scales, NaN/inf, which the copy path reports -- the caller makes
the working copy as before. Real DNN features are far inside: MobileNetV2 layers r = 1.0-1.4, its
``avgpool`` up to 2.4, MiniLM's hidden states 1.0. The centred squared norms
``|x_i|^2 - sum(x_i)^2 / D`` are taken in float64 from block sums (~1e-8 relative), where
``r <= 4`` bounds their cancellation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from ._distance_accuracy import mm_t, one_minus_, row_norms, row_sums
from ._distance_prep import _extremes, _source
from ._distance_scaling import safe_range

__all__ = ["GramRows", "gram_rows", "gram_norms", "block_gram", "leading_gram", "MAX_RATIO"]

#: largest ``|x_i|^2 / |x_i - m_i|^2`` for which the row-centred Gram matrix is taken from the raw
#: one (the rounding of the raw products, relative to the centred ones, grows with its root); for
#: the euclidean distances the largest ratio of the features' energy to their variance
MAX_RATIO = 4.0

#: elements per chunk of the read pass (64 MiB of float32: stays in the last-level cache
#: between the reductions of one chunk, as in :mod:`rdm_widgets._distance_prep`)
_CHUNK_ELEMENTS = 1 << 24

#: rows of the sample whose centroid the euclidean guard uses (``gram_norms``)
_GUARD_ROWS = 256


@dataclass(frozen=True)
class GramRows:
    """The state of a one-minus-dot RDM computed from the source rows.

    Attributes
    ----------
    x : torch.Tensor, (N, D)
        The caller's features, in the working dtype on the working device (never modified).
    shift : torch.Tensor or None, (N,)
        ``u`` of the rank-one centring ``G - u u'`` (correlation); None for cosine.
    scale : torch.Tensor, (N,)
        ``1 / |x_i - m_i|`` (cosine: ``1 / |x_i|``); 0 for degenerate rows, whose distances
        the caller sets.
    """

    x: torch.Tensor
    shift: Optional[torch.Tensor]
    scale: torch.Tensor


def _usable_source(x, device, dtype) -> Optional[torch.Tensor]:
    """``x`` as a tensor if its GEMM can run on it as it is (contiguous, in ``dtype`` on
    ``device``; not on MPS, which has no float64 for the corrections), else None."""
    src = _source(x)
    if (src.dtype != dtype or src.device != torch.device(device) or not src.is_contiguous()
            or src.device.type == "mps" or not dtype.is_floating_point):
        return None
    return src


def gram_rows(x, center: bool, degenerate, device, dtype) -> Optional[tuple]:
    """The :class:`GramRows` state for ``x`` and each row's extremes, or None where the path
    does not apply (see the module notes) and the caller makes a working copy instead.

    Parameters
    ----------
    x : (N, D) np.ndarray or torch.Tensor
        Checked by :func:`rdm_widgets._distance_kernels.check_x`.
    center : bool
        Correlation (rows centred) rather than cosine.
    degenerate : callable
        ``degenerate(row max, row min) -> (N,) bool``: the rows without a defined distance
        (constant rows for correlation, all-zero rows for cosine), whose scale is set to 0.
    device : torch.device
    dtype : torch.dtype
        Working dtype: ``x`` must already be a contiguous array of it on ``device``.

    Returns
    -------
    (GramRows, torch.Tensor, torch.Tensor) or None
        The state and each row's max and min (as
        :class:`rdm_widgets._distance_prep.PrepPass`, for the degenerate-row tests).
    """
    src = _usable_source(x, device, dtype)
    if src is None:
        return None
    n, d = src.shape
    top, bottom = (torch.empty(n, dtype=src.dtype, device=src.device) for _ in range(2))
    sq = torch.empty(n, dtype=torch.float64, device=src.device)
    sums = torch.zeros(n, dtype=torch.float64, device=src.device)
    step = max(1, _CHUNK_ELEMENTS // max(d, 1))
    for s in range(0, n, step):
        chunk = src[s:s + step]
        _extremes(chunk, top[s:s + step], bottom[s:s + step])
        sq[s:s + step] = row_norms(chunk, squared=True, wide=True)
        if center:
            sums[s:s + step] = row_sums(chunk)
    # the guard on (N,) vectors in numpy: a dozen torch calls on them cost more than the whole
    # copy path for an RDM of 78 stimuli (~0.2 ms)
    ok = ~degenerate(top, bottom).cpu().numpy()
    sq_h, sums_h = sq.cpu().numpy(), sums.cpu().numpy()
    lo, hi = safe_range(dtype)
    with np.errstate(all="ignore"):
        centred = sq_h - sums_h ** 2 / d
        if not (np.isfinite(sq_h).all() and np.isfinite(sums_h).all() and (sq_h[ok] <= hi).all()
                and (centred[ok] >= lo).all() and (sq_h[ok] <= MAX_RATIO * centred[ok]).all()):
            return None
        scale = np.where(ok, 1 / np.sqrt(np.maximum(centred, lo)), 0.0)

    def back(v):
        return torch.from_numpy(v).to(device=src.device, dtype=dtype)
    return GramRows(src, back(sums_h / np.sqrt(d)) if center else None, back(scale)), top, bottom


def block_gram(state: GramRows, rows: slice) -> torch.Tensor:
    """Rows ``rows`` of the RDM against all N rows of ``state``: (len(rows), N), in [0, 2]."""
    g = mm_t(state.x[rows], state.x)
    if state.shift is not None:
        g.addr_(state.shift[rows], state.shift, alpha=-1)
    return one_minus_(g.mul_(state.scale[rows, None]).mul_(state.scale[None, :]))


def leading_gram(state: GramRows, stop: int) -> GramRows:
    """``state`` restricted to rows ``0:stop`` (views), for one triangle of the RDM."""
    shift = None if state.shift is None else state.shift[:stop]
    return GramRows(state.x[:stop], shift, state.scale[:stop])


def gram_norms(x, device, dtype) -> Optional[tuple]:
    """The euclidean state ``(x, squared row norms, 0)`` of
    :func:`rdm_widgets._distance_kernels._prepare_sqnorms` on the source rows themselves (not
    centred, no power-of-two scale), or None where the path does not apply (module notes).

    Parameters
    ----------
    x : (N, D) np.ndarray or torch.Tensor
    device : torch.device
    dtype : torch.dtype

    Returns
    -------
    (torch.Tensor (N, D), torch.Tensor (N,), int) or None
    """
    src = _usable_source(x, device, dtype)
    if src is None:
        return None
    n, d = src.shape
    sq = torch.empty(n, dtype=torch.float64, device=src.device)
    step = max(1, _CHUNK_ELEMENTS // max(d, 1))
    for s in range(0, n, step):
        sq[s:s + step] = row_norms(src[s:s + step], squared=True, wide=True)
    # the guard only decides how many pairs the float64 refinement may get, not the accuracy:
    # the centroid of every k-th row (~_GUARD_ROWS rows, a fraction of a full pass) will do; its
    # sampling error only raises |c|^2 (by ~variance / rows), i.e. errs towards the copy
    sample = src[::max(1, n // _GUARD_ROWS)]
    centre = sample.sum(dim=0).to(sq.dtype) / sample.shape[0]
    energy = float(sq.mean())
    variance = energy - float(centre.square().sum())           # mean |x_i - c|^2
    lo, hi = safe_range(dtype)
    top = float(sq.max())
    if not (np.isfinite(energy) and np.isfinite(variance) and lo <= top <= hi
            and energy <= MAX_RATIO * variance):
        return None
    return src, sq.to(dtype), 0
