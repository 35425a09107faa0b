"""Built-in distance kernels of :mod:`rdm_widgets.distances` (private).

Each distance is a ``prepare(x) -> state`` / ``block(state, rows) -> (len(rows), N)`` pair plus
an optional preprocessing step run while the features are copied to the working dtype; see the
table in :mod:`rdm_widgets.distances` for what each ``prepare`` stores. :func:`prepare_features`
runs the copy (:mod:`rdm_widgets._distance_prep`) with the row-local ``prepare`` steps and the
degenerate-row tests folded into it.
"""
from __future__ import annotations

import numpy as np
import torch

from ._covariance import ledoit_wolf_shrinkage
from ._distance_accuracy import mm_t, one_minus_, refine_pairs_, row_norms
from ._distance_gram import block_gram, gram_norms, gram_rows
from ._distance_prep import _source, prep_pass
from ._distance_scaling import common_scale, global_exponent, mul_pow2_, rescale_rows_, unscale_

__all__ = ["prepare_features", "copies_source", "as_result", "custom_pair", "custom_blocks",
           "check_x", "symmetrize_"]


def as_result(value, shape, what: str) -> torch.Tensor:
    """``value`` as a tensor, checked to have ``shape`` and only finite values.

    Parameters
    ----------
    value : array-like
        What a custom distance returned.
    shape : tuple of int
        The expected shape, e.g. ``(k, k)``.
    what : str
        Names the producer in the error message.

    Raises
    ------
    ValueError
        Wrong shape, or NaN / inf values.
    """
    value = torch.as_tensor(value)
    if tuple(value.shape) != tuple(shape):
        raise ValueError(f"{what} returned an array of shape {tuple(value.shape)}; expected "
                         f"{tuple(shape)}.")
    if not bool(torch.isfinite(value).all()):
        raise ValueError(f"{what} returned NaN or inf values (shape {tuple(shape)}).")
    return value


def custom_pair(func, a: torch.Tensor, b, name: str) -> tuple:
    """A custom distance on two row blocks: ``func`` is called once on ``cat(a, b)``.

    Parameters
    ----------
    func : callable
        ``func(x (k, D)) -> (k, k)``, pairwise (entry (i, j) depends on rows i and j only).
    a : torch.Tensor, (Na, D)
    b : torch.Tensor, (Nb, D) or None
        None: the diagonal block (``func(a)`` alone).
    name : str
        The distance's name, for error messages.

    Returns
    -------
    (torch.Tensor, torch.Tensor or None)
        The (Na, Nb) block ``a`` x ``b`` and the (Nb, Na) block ``b`` x ``a`` (custom
        results are not symmetrised); with ``b=None`` the (Na, Na) block and None.
    """
    sub = a if b is None else torch.cat([a, b])
    k = sub.shape[0]
    val = as_result(func(sub), (k, k), f"Custom distance {name!r} (on a block of {k} rows)")
    if b is None:
        return val, None
    na = a.shape[0]
    return val[:na, na:], val[na:, :na]


# ----------------------------------------------------------------------------- whole RDMs
def check_x(x):
    """``x`` as given, checked to be a real (N, D) array or tensor with N, D >= 1."""
    if not isinstance(x, torch.Tensor):
        x = np.asarray(x)
        if x.dtype.kind not in "biuf":
            raise TypeError(f"x must hold real numbers; got an array of dtype {x.dtype}.")
    elif x.is_complex():
        raise TypeError("x must hold real numbers; got a complex tensor.")
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"x must be a 2-D (n_stimuli, n_features) array with both sizes >= 1; "
                         f"got shape {tuple(x.shape)}. Flatten or pool the features first.")
    return x


def symmetrize_(out: torch.Tensor, step: int = 256) -> None:
    """``out = (out + out.T) / 2`` in place, one ``step x step`` tile and its mirror at a time.

    A CPU tensor goes through numpy (the same float arithmetic, the same bits): a tile and its
    transposed partner stay in cache while they are averaged and written back, 6 ms for
    N = 2,000 against 19 ms for bands of 1,024 rows (and torch's strided copies: 71 ms)."""
    n = out.shape[0]
    if out.device.type == "cpu":
        out = out.numpy()
    for s in range(0, n, step):
        e = min(s + step, n)
        for s2 in range(s, n, step):
            e2 = min(s2 + step, n)
            upper, lower = out[s:e, s2:e2], out[s2:e2, s:e]
            mean = (upper + lower.T) / 2
            upper[...] = mean
            lower[...] = mean.T


def custom_blocks(f, x, out, bounds, reporter, name):
    """Fill ``out`` (N, N) from a custom ``f`` evaluated on pairs of row blocks I <= J of ``x``
    (N, D); ``bounds`` lists the blocks' ``(start, stop)``, ``reporter`` advances per block row."""
    for i, (si, ei) in enumerate(bounds):
        for sj, ej in bounds[i:]:
            ab, ba = custom_pair(f, x[si:ei], None if sj == si else x[sj:ej], name)
            out[si:ei, sj:ej] = ab.to(out.device, out.dtype)
            if ba is not None:
                out[sj:ej, si:ei] = ba.to(out.device, out.dtype)
        reporter.update(1)


# ----------------------------------------------------------------------------- built-ins
# amax and amin separately: on CPU they are ~10x faster than torch.aminmax along dim 1
def _constant_rows(x: torch.Tensor) -> torch.Tensor:
    return _constant_from(x.amax(dim=1), x.amin(dim=1))


def _zero_rows(x: torch.Tensor) -> torch.Tensor:
    return _zero_from(x.amax(dim=1), x.amin(dim=1))   # no |x| temporary


def _constant_from(top, bottom):
    return top == bottom


def _zero_from(top, bottom):
    return (top == 0) & (bottom == 0)


def _prepare_unit_rows(x):
    """Scale rows to unit norm in place (zero rows stay zero); returns ``x``.

    Rows whose norm would overflow or underflow in ``x.dtype`` are first brought into range
    by a power of two (:func:`rdm_widgets._distance_scaling.rescale_rows_`), so that e.g. features scaled by 1e20 or 1e-25
    give the same RDM as unscaled ones (scipy's float64 result) instead of all 1 / only 0 and 2.
    Row-local, so it also runs chunk by chunk inside the preprocessing pass (:data:`_ROW_LOCAL`).
    """
    norms = rescale_rows_(x, row_norms(x, keepdim=True))
    return x.div_(norms.clamp_min_(torch.finfo(x.dtype).tiny))


def _one_minus_dot(za, zb):
    """``1 - za zb'`` clipped to [0, 2] (:func:`rdm_widgets._distance_accuracy.one_minus_`)."""
    return one_minus_(mm_t(za, zb))


def _block_one_minus_dot(z, rows):
    return _one_minus_dot(z[rows], z)


def _prepare_sqnorms(x):
    """``(x, squared row norms, k)``: ``x`` (centred columns) multiplied in place by ``2**k``
    when its squares would overflow or underflow (:func:`rdm_widgets._distance_scaling.global_exponent`); the euclidean
    family scales linearly (``d(c x) = c d(x)``), so the blocks divide by ``2**k`` again, exactly."""
    return _sqnorms_state(x, row_norms(x, squared=True))


def _sqnorms_state(x, sq):
    """:func:`_prepare_sqnorms` given the squared row norms ``sq`` of ``x`` (N,)."""
    k = global_exponent(x, sq)
    if k:
        mul_pow2_(x, k)
        sq = row_norms(x, squared=True)
    return x, sq, k


def _sq_row_norms(x):
    return row_norms(x, squared=True)


def _unit_rows_chunk(x):
    _prepare_unit_rows(x)


def _whole(x, per_row):
    return x


def _block_sqeuclidean_scaled(state, rows):
    x, sq, _ = state
    g = mm_t(x[rows], x)
    d2 = g.mul_(-2).add_(sq[rows, None]).add_(sq[None, :]).clamp_min_(0)
    return refine_pairs_(d2, x[rows], x, sq[rows], sq, diag_offset=rows.start)


def _block_sqeuclidean(state, rows):
    return unscale_(_block_sqeuclidean_scaled(state, rows), state[2], 2)


# ----------------------------------------------------------------------------- cross blocks
# ``cross(state_a, state_b) -> (len(a), len(b))``: the distances between two row blocks that
# were prepared separately (out-of-core tiles). Only distances whose ``prepare`` is row-local
# have one; mahalanobis needs the covariance of all rows.
def _cross_one_minus_dot(za, zb):
    return _one_minus_dot(za, zb)


def _cross_sqeuclidean_scaled(sa, sb):
    (xa, sqa, k), (xb, sqb, _) = common_scale(sa, sb)
    d2 = mm_t(xa, xb).mul_(-2).add_(sqa[:, None]).add_(sqb[None, :]).clamp_min_(0)
    return refine_pairs_(d2, xa, xb, sqa, sqb), k


def _cross_sqeuclidean(sa, sb):
    d2, k = _cross_sqeuclidean_scaled(sa, sb)
    return unscale_(d2, k, 2)


def _cross_euclidean(sa, sb):
    d2, k = _cross_sqeuclidean_scaled(sa, sb)
    return unscale_(d2.sqrt_(), k, 1)


def _cross_manhattan(xa, xb):
    return torch.cdist(xa, xb, p=1)


def _cross_chebyshev(xa, xb):
    return torch.cdist(xa, xb, p=float("inf"))


def _block_euclidean(state, rows):
    return unscale_(_block_sqeuclidean_scaled(state, rows).sqrt_(), state[2], 1)


def _block_manhattan(x, rows):
    return torch.cdist(x[rows], x, p=1)


def _block_chebyshev(x, rows):
    return torch.cdist(x[rows], x, p=float("inf"))


def _ledoit_wolf(gram64: torch.Tensor, n: int, p: int, sq_rows: torch.Tensor):
    """Ledoit-Wolf shrinkage and ``mu`` as in sklearn, from ``Xc'Xc`` or ``Xc Xc'``.

    ``||Xc'Xc||_F == ||Xc Xc'||_F`` and ``sum((X**2)'(X**2)) == sum(row_sq_norms**2)``, so
    the same statistics (:func:`rdm_widgets._covariance.ledoit_wolf_shrinkage`) come from
    either Gram matrix.
    """
    trace = float(torch.trace(gram64)) / n             # trace of the empirical covariance
    delta_ = float(gram64.square().sum()) / n ** 2
    beta_ = float(sq_rows.square().sum())
    return ledoit_wolf_shrinkage(trace, delta_, beta_, n, p), trace / p


def _prepare_mahalanobis(x):
    n, p = x.shape
    # the distance is invariant to one common factor (the shrunk covariance scales with its
    # square), so features whose products would overflow or underflow x.dtype (the Gram matrix
    # below) are multiplied by a power of two first, and nothing is undone afterwards
    sq = row_norms(x, squared=True)
    k = global_exponent(x, sq)
    if k:
        mul_pow2_(x, k)
        sq = row_norms(x, squared=True)
    # row_norms sums in float64 blocks (~1e-8 relative); vector_norm(x, dtype=float64) made a
    # float64 copy of all of x (twice its bytes for float32 features) for these N numbers
    sq = sq.to(torch.float64)
    if float(sq.sum()) == 0:
        raise ValueError("mahalanobis: all stimuli have identical features; the covariance is zero.")
    if p > n:
        # Woodbury / eigen form: with K = Xc Xc' = U diag(l) U' and S = a I + b Xc'Xc,
        # Xc S^-1 Xc' = U diag(l / (a + b l)) U' -- only N x N matrices are formed.
        k = torch.mm(x, x.T).to(torch.float64)
        k = (k + k.T) / 2
        shrink, mu = _ledoit_wolf(k, n, p, sq)
        a, b = shrink * mu, (1 - shrink) / n
        lam, u = torch.linalg.eigh(k)
        lam = lam.clamp_min(0)
        tol = lam.max() * n * torch.finfo(torch.float64).eps
        gain = torch.where(lam > tol, lam / (a + b * lam.clamp_min(tol)), torch.zeros_like(lam))
        m = ((u * gain) @ u.T).to(x.dtype)
        return "gram", m, torch.diagonal(m).clone()
    c = torch.mm(x.T, x).to(torch.float64)
    c = (c + c.T) / 2
    shrink, mu = _ledoit_wolf(c, n, p, sq)
    cov = (1 - shrink) / n * c + shrink * mu * torch.eye(p, dtype=torch.float64, device=x.device)
    e, v = torch.linalg.eigh(cov)
    tol = e.max() * p * torch.finfo(torch.float64).eps
    inv_sqrt = torch.where(e > tol, e.clamp_min(tol).rsqrt(), torch.zeros_like(e))
    w = torch.mm(x, (v * inv_sqrt).to(x.dtype))      # whitened rows; x is dropped by the caller
    return ("rows",) + _prepare_sqnorms(w)


def _block_mahalanobis(state, rows):
    if state[0] == "rows":
        return _block_euclidean(state[1:], rows)
    _, m, diag = state
    d2 = m[rows].mul(-2).add_(diag[rows, None]).add_(diag[None, :])
    return d2.clamp_min_(0).sqrt_()


# ----------------------------------------------------------------------------- one pass
#: a built-in ``prepare`` that is row-local -> (its step on one chunk of rows, returning a (k,)
#: tensor or None; how the whole state is built from the working copy and those values): both run
#: inside the preprocessing pass (:func:`rdm_widgets._distance_prep.prep_pass`), while each chunk
#: is in cache, instead of as passes of their own over the (N, D) features
_ROW_LOCAL = {
    _prepare_unit_rows: (_unit_rows_chunk, _whole),
    _prepare_sqnorms: (_sq_row_norms, _sqnorms_state),
}

#: a built-in ``degenerate`` test -> the same test from each row's max and min, which the
#: preprocessing pass takes from the source chunk it reads anyway (the same values, the same result)
_FROM_EXTREMES = {_constant_rows: _constant_from, _zero_rows: _zero_from}

def _unit_rows_from_gram(center, degenerate):
    def build(x, device, dtype):
        done = gram_rows(x, center, degenerate, device, dtype)
        return None if done is None else (block_gram,) + done
    return build


def _norms_from_gram(x, device, dtype):
    state = gram_norms(x, device, dtype)
    return None if state is None else (None, state, None, None)


#: (block, prepare, preprocess) of a built-in distance -> ``build(x, device, dtype)``, which returns
#: ``(block or None for the distance's own, state, row max, row min)`` computed from the source's
#: own Gram matrix (:mod:`rdm_widgets._distance_gram`, no working copy), or None where the source is
#: not already in the working dtype or the numerics call for the working copy
_FROM_GRAM = {
    (_block_one_minus_dot, _prepare_unit_rows, None): _unit_rows_from_gram(False, _zero_from),
    (_block_one_minus_dot, _prepare_unit_rows, "center_rows"): _unit_rows_from_gram(True, _constant_from),
    (_block_euclidean, _prepare_sqnorms, "center_columns"): _norms_from_gram,
    (_block_sqeuclidean, _prepare_sqnorms, "center_columns"): _norms_from_gram,
}


def copies_source(spec) -> bool:
    """Whether ``spec`` makes an (N, D) working copy even of features already contiguous in the
    working dtype on the device (False: computed from their own Gram matrix where the numerics
    allow, :mod:`rdm_widgets._distance_gram`). For cost estimates."""
    return (spec.block, spec.prepare, spec.preprocess) not in _FROM_GRAM


def prepare_features(x, spec, device, dtype, overwrite: bool = False) -> tuple:
    """The kernel and prepared state of ``spec`` (a :class:`rdm_widgets.distances.DistanceSpec`)
    for ``x`` and its degenerate rows, with as few passes over the (N, D) features as possible.

    Parameters
    ----------
    x : (N, D) np.ndarray or torch.Tensor
        Checked by :func:`check_x`.
    spec : DistanceSpec
    device : torch.device
    dtype : torch.dtype
    overwrite : bool
        As ``overwrite_x`` of :func:`rdm_widgets.distances.pairwise_distances`.

    Returns
    -------
    block : callable or None
        ``block(state, rows)``: ``spec.block``, or :func:`rdm_widgets._distance_gram.block_gram`
        where correlation / cosine are taken from the source's Gram matrix (no working copy).
    state : object
        What ``block`` takes: ``spec.prepare(working copy)`` (the working copy for a custom
        callable or no ``prepare``), or its equivalent on the source rows (no working copy:
        :mod:`rdm_widgets._distance_gram`).
    bad : np.ndarray of int64, (n_bad,)
        Rows for which ``spec.degenerate`` holds (empty without one).
    """
    fused_bad = _FROM_EXTREMES.get(spec.degenerate)
    bad = None
    if spec.degenerate is not None and fused_bad is None:   # before x may be overwritten
        bad = spec.degenerate(_source(x))
    build = _FROM_GRAM.get((spec.block, spec.prepare, spec.preprocess))
    gram = None if build is None else build(x, device, dtype)
    if gram is not None:
        block, state, row_max, row_min = gram
        block = block or spec.block
    else:
        step, finish = _ROW_LOCAL.get(spec.prepare, (None, None))
        done = prep_pass(x, spec.preprocess, device, dtype, overwrite=overwrite, rows=step,
                         extremes=fused_bad is not None)
        row_max, row_min = done.row_max, done.row_min
        if finish is not None:
            state = finish(done.x, done.per_row)
        else:
            state = spec.prepare(done.x) if spec.prepare is not None else done.x
        block = spec.block
    if fused_bad is not None:
        bad = fused_bad(row_max, row_min)
    bad = np.zeros(0, np.int64) if bad is None else torch.nonzero(bad).flatten().cpu().numpy().astype(np.int64)
    return block, state, bad
