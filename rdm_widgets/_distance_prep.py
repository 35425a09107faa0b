"""The preprocessing pass of the distance kernels (private): one pass over row chunks.

Why this module exists: before its GEMM a distance used to sweep the (N, D) features up to six
times -- the degenerate-row test (row max, row min), the copy with its preprocessing (row mean,
centring), then ``prepare`` (row norms, scaling) -- each pass reading all N x D values from
main memory, and each a parallel region of its own. :func:`prep_pass` does all of it in one
sweep over chunks of rows: the source chunk is read from memory once, its row extremes (from a
sample, see ``_extremes``) and mean are taken, the centred values written once, and a row-local
``prepare`` step (norms, scaling to unit length) runs on the chunk while it is still in cache.
The results are the same bits as the separate passes (each step is row-local, so chunking
changes nothing). On 2 CPU cores at 2000 x 50000 float32 this preprocessing took 71-76 ms
instead of 98-101 ms for correlation in place (``overwrite_x``), 54-56 instead of 78-79 for
cosine; from numpy it is bounded by the first touch of the new (N, D) working copy (~100 ms),
which is why correlation, cosine and the euclidean distances of features already in the working
dtype make none at all (:mod:`rdm_widgets._distance_gram`) and come here only where their
numerics need the copy. :mod:`rdm_widgets._distance_kernels` builds on it; ``working_copy`` is the
pass without extras.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch

from ._validate import check_finite

__all__ = ["all_finite", "working_copy", "prep_pass", "PrepPass"]

#: elements per row chunk of the pass: 64 MiB of float32, which a server CPU's last-level cache
#: keeps between the steps. Measured on 2 cores at 2000 x 50000 (in place, 480 MiB L3): 2**24
#: 67-73 ms, 2**22 80-90 ms, 2**20 (L2-sized) 110-125 ms -- each chunk costs ~30 torch calls, 5 of
#: them parallel regions, and on a loaded machine every parallel region waits for its slowest
#: thread (2**22 took twice as long as 2**24 there)
_PREP_ELEMENTS = 1 << 24
#: the same for ``'rank_rows'``, whose sort makes ~40 bytes of temporaries per element, and for
#: the column mean of ``'center_columns'``, a pass of its own (its sum depends on the chunks: kept
#: as they were, so that euclidean RDMs keep their bits)
_RANK_ELEMENTS = _MEAN_ELEMENTS = 1 << 22

#: values per row sampled by the degenerate-row test before a row is reduced whole (``_extremes``)
_SAMPLE = 64



# ----------------------------------------------------------------------------- preprocessing
def _average_ranks(x: torch.Tensor) -> torch.Tensor:
    """Ranks (1..D) along dim 1, ties get their average rank (``scipy.stats.rankdata``)."""
    n, d = x.shape
    values, order = torch.sort(x, dim=1)
    pos = torch.arange(d, device=x.device).expand(n, d)
    new = torch.ones_like(values, dtype=torch.bool)
    new[:, 1:] = values[:, 1:] != values[:, :-1]          # first element of each tie group
    last = torch.ones_like(new)
    last[:, :-1] = new[:, 1:]                              # last element of each tie group
    start = torch.where(new, pos, torch.zeros_like(pos)).cummax(dim=1).values
    end = torch.where(last, pos, torch.full_like(pos, d - 1)).flip(1).cummin(dim=1).values.flip(1)
    avg = (start + end).to(x.dtype) / 2 + 1
    return torch.empty_like(avg).scatter_(1, order, avg)


# chunk transforms: (chunk in the wide dtype, column mean or None) -> values to store
def _center_rows(chunk, col_mean):
    return chunk, chunk.mean(dim=1, keepdim=True)    # (a, b) means a - b, fused on store


def _center_columns(chunk, col_mean):
    return chunk, col_mean


def _rank_rows(chunk, col_mean):
    return _average_ranks(chunk), (chunk.shape[1] + 1) / 2


#: preprocess name -> (needs the column mean, chunk transform, the subtrahend's finiteness
#: shows the chunk's: a mean is finite only if every value is)
_PREPROCESS = {
    None: (False, lambda chunk, col_mean: (chunk, None), False),
    "center_rows": (False, _center_rows, True),
    "center_columns": (True, _center_columns, True),
    "rank_rows": (False, _rank_rows, False),
}


def _source(x) -> torch.Tensor:
    """``x`` as a tensor without copying (read-only arrays too: they are only read here)."""
    if isinstance(x, torch.Tensor):
        return x.detach()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not writable.*")
        return torch.as_tensor(x)


def all_finite(t: torch.Tensor) -> bool:
    # a sum is NaN/inf if any element is (one fast reduction; row sums vectorise far better
    # than a full one on CPU); only a non-finite sum (maybe mere overflow) needs the exact,
    # much slower elementwise test
    if t.dtype.is_floating_point and not bool(torch.isfinite(t.sum(dim=-1)).all()):
        return bool(torch.isfinite(t).all())
    return True


def _too_large(x, dtype):
    check_finite("x", x)                             # raises first if x holds NaN or inf
    src = _source(x)
    raise ValueError(f"x has values too large for {dtype} (max |x| = {float(src.abs().max()):.3g}). "
                     "Use dtype='float64' or rescale the features.")


@dataclass(frozen=True)
class PrepPass:
    """What :func:`prep_pass` returns.

    Attributes
    ----------
    x : torch.Tensor, (N, D)
        The working copy (preprocessed, then changed in place by ``rows``).
    per_row : torch.Tensor or None, (N,)
        What ``rows`` returned for each chunk, concatenated (None if it returned None).
    row_max, row_min : torch.Tensor or None, (N,)
        Largest and smallest value of each row of the *source* (before conversion and
        preprocessing), on its device -- or of a sample of the row whose values already differ
        (``_extremes``): equal exactly for constant rows, both 0 exactly for all-zero rows.
        None unless ``extremes``.
    """

    x: torch.Tensor
    per_row: Optional[torch.Tensor] = None
    row_max: Optional[torch.Tensor] = None
    row_min: Optional[torch.Tensor] = None


def _extremes(raw, top, bottom):
    """Row max and min of ``raw`` (k, D) into ``top`` and ``bottom`` (k,), where it matters.

    What they are for -- is a row constant, is it all zero -- only asks whether all values of a
    row are equal (and 0). A sample of ``_SAMPLE`` values spread over each row answers it for
    almost every row (two sampled values differ: not constant, not zero), so only the rows whose
    sample is constant are reduced whole: on ordinary features two passes over the chunk fewer,
    and the same answer for every row (the sample's extremes differ exactly when the row's would
    have been found to differ too).
    """
    d = raw.shape[1]
    sample = raw[:, ::max(1, d // _SAMPLE)]
    torch.amax(sample, dim=1, out=top)
    torch.amin(sample, dim=1, out=bottom)
    if sample.shape[1] < d:
        same = (top == bottom).nonzero().flatten()
        if same.numel():
            rows = raw[same]
            top[same] = rows.amax(dim=1)
            bottom[same] = rows.amin(dim=1)


def _column_mean(src, device, wide, x, dtype):
    step = max(1, _MEAN_ELEMENTS // max(src.shape[1], 1))
    col_mean = torch.zeros(src.shape[1], dtype=wide, device=device)
    for s in range(0, src.shape[0], step):
        col_mean += src[s:s + step].to(device=device, dtype=wide).sum(dim=0)
    col_mean /= src.shape[0]
    if not all_finite(col_mean):
        _too_large(x, dtype)
    return col_mean


def prep_pass(x, preprocess, device, dtype, *, overwrite: bool = False, col_mean=None,
              rows: Optional[Callable] = None, extremes: bool = False) -> PrepPass:
    """Preprocessed (N, D) copy of ``x`` in ``dtype`` on ``device``, in one pass over row chunks.

    Parameters
    ----------
    x : (N, D) np.ndarray or torch.Tensor
    preprocess : {None, 'center_rows', 'center_columns', 'rank_rows'}
    device : torch.device
    dtype : torch.dtype
        Working dtype.
    overwrite : bool
        Use ``x``'s own memory when it is already contiguous in ``dtype`` on ``device`` and
        writeable (no copy: half the memory, no page faults for a new buffer).
    col_mean : array-like or None, (D,)
        Replaces the column mean of ``x`` (tiles of a larger matrix are centred with the mean
        of all rows); only used by ``'center_columns'``.
    rows : callable or None
        ``rows(chunk (k, D)) -> (k,) tensor or None``, run on each chunk of the working copy
        right after it is written, while it is in cache; it may change the chunk in place and
        must be row-local (each row's result depends on that row only).
    extremes : bool
        Also return each source row's max and min, as far as the degenerate-row tests need
        them (see :class:`PrepPass`).

    Returns
    -------
    PrepPass

    Raises
    ------
    ValueError
        Non-finite input, or values too large for ``dtype``. Where it can, the check rides on a
        reduction computed anyway (a mean is finite only if every value is), because every
        extra pass over the features costs time.

    Notes
    -----
    Arithmetic runs in float64 when the input or the working dtype is float64, so that e.g. a
    float64 input with a large offset is centred before it is rounded to float32.
    """
    src = _source(x)
    n, d = src.shape
    wide = torch.float64 if torch.float64 in (src.dtype, dtype) else dtype
    if torch.device(device).type == "mps":          # MPS has no float64
        wide = dtype
    step = max(1, (_RANK_ELEMENTS if preprocess == "rank_rows" else _PREP_ELEMENTS) // max(d, 1))
    needs_mean, transform, mean_shows = _PREPROCESS[preprocess]
    if not needs_mean:
        col_mean = None
    elif col_mean is not None:
        col_mean = torch.as_tensor(col_mean).to(device=device, dtype=wide)
    else:
        col_mean = _column_mean(src, device, wide, x, dtype)
    in_place = (overwrite and src.dtype == dtype == wide and src.device == torch.device(device)
                and src.is_contiguous() and not (isinstance(x, np.ndarray) and not x.flags.writeable))
    # torch's allocation, not numpy's: numpy asks for transparent huge pages, which were faster
    # only when the freed pages of a previous array could be reused, and 10-40% slower after
    # other work (the kernel compacts memory on the first touch; 2000 x 50000 float32)
    out = src if in_place else torch.empty((n, d), dtype=dtype, device=device)
    top = bottom = None
    if extremes:
        top, bottom = (torch.empty(n, dtype=src.dtype, device=src.device) for _ in range(2))
    parts = []
    for s in range(0, n, step):
        raw = src[s:s + step]
        if extremes:                                 # before the chunk is overwritten in place
            _extremes(raw, top[s:s + step], bottom[s:s + step])
        chunk = raw.to(device=device, dtype=wide)
        values, minus = transform(chunk, col_mean)
        if not all_finite(minus if mean_shows else chunk):
            _too_large(x, dtype)
        view = out[s:s + step]
        if minus is None:
            if not in_place:
                view.copy_(values)
        elif values.dtype == dtype:
            torch.sub(values, minus, out=view)       # no temporary chunk
        else:
            view.copy_(values - minus)
        if wide != dtype and not all_finite(view):  # narrowing cast overflowed
            _too_large(x, dtype)
        if rows is not None:
            parts.append(rows(view))
    per_row = None if not parts or parts[0] is None else torch.cat(parts)
    return PrepPass(out, per_row, top, bottom)


def working_copy(x, preprocess, device, dtype, overwrite=False, col_mean=None) -> torch.Tensor:
    """Preprocessed (N, D) copy of ``x`` in ``dtype`` on ``device``: :func:`prep_pass` without
    the extras (see it for the parameters)."""
    return prep_pass(x, preprocess, device, dtype, overwrite=overwrite, col_mean=col_mean).x
