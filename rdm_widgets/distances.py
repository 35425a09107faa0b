"""Pairwise distances between stimulus feature vectors, in torch, chunked, on CPU or GPU.

A distance is registered once with :func:`register_distance` and is made of

- an optional *preprocess* step (``'center_rows'``, ``'center_columns'``, ``'rank_rows'``)
  run by :func:`pairwise_distances` while it converts ``x`` to the working dtype and device,
  row chunk by row chunk, in the higher of the input's and the working precision. It
  produces a fresh (N, D) tensor that the distance owns (so a float64 array with a
  large common offset is centred *before* it is rounded to float32); with
  ``overwrite_x=True`` a contiguous array already in the working dtype is used in place;
- ``prepare(x) -> state``: global statistics, computed once. ``x`` is that owned working
  copy, so ``prepare`` may modify it in place (no further copy of the features). The built-in
  row-local ones (unit rows, squared norms) and the degenerate-row tests run inside the
  preprocessing pass, on each row chunk while it is in cache (:mod:`rdm_widgets._distance_prep`):
  one read and one write of the features before the GEMM;
- ``block(state, rows) -> (len(rows), N)``: one block of rows of the RDM.

No working copy at all for correlation, cosine, euclidean and sqeuclidean when ``x`` is already
a contiguous array of the working dtype on the device (float32 numpy features on the CPU): their
RDMs are then corrections of the features' own Gram matrix ``x x'`` (rank one for the row
centring, the row norms as scales; the euclidean identity needs no centring), read once for
their row statistics and never written (:mod:`rdm_widgets._distance_gram`). Where those
corrections would cost digits -- rows whose mean is large beside their spread, features whose
common offset dwarfs their variance, extreme scales -- the working copy is made as described.

``chunk_size`` bounds the rows per block: beyond the working copy of the features (if any) and
what ``prepare`` stores (listed below), the extra memory is one ``(chunk_size, N)`` block
plus the ``(N, N)`` result (kept on the CPU). Computation happens in ``dtype``
(float32 by default; Net2Brain silently upcasts to float64, which doubles memory and time).

What each built-in distance's ``prepare`` stores (besides the working copy it reuses):

=============  ==================  =====================================================
name           preprocess          prepare stores
=============  ==================  =====================================================
correlation    center_rows         rows scaled to unit norm, in place (no extra copy)
cosine         (none)              rows scaled to unit norm, in place
spearman       rank_rows           average ranks (as scipy.stats.rankdata), centred, unit norm
euclidean      center_columns      squared row norms (N,)
sqeuclidean    center_columns      squared row norms (N,)
manhattan      center_columns      nothing (``torch.cdist(p=1)``)
chebyshev      center_columns      nothing (``torch.cdist(p=inf)``)
mahalanobis    center_columns      D <= N: whitened rows (N, D) + squared norms;
                                   D > N: the (N, N) whitened Gram matrix (no D x D matrix)
=============  ==================  =====================================================

Numerics: euclidean-type distances use the Gram identity on column-centred data (they are
translation invariant, and centring removes the float32 cancellation a large common offset
would cause; without a working copy, on the features themselves where their energy is at most
4 times their variance), negative squared distances from rounding are clamped to 0, and pairs whose
squared distance is below 1% (float32) of ``|x_i|^2 + |x_j|^2`` -- where the identity has
lost digits, e.g. tight clusters far from the centroid -- are recomputed directly in
float64. Every built-in
RDM is exactly symmetric and has an exact zero diagonal; correlation, cosine and spearman are
clipped to [0, 2]. An RDM of more than one block (more than 256 rows on the CPU, or several
``chunk_size`` chunks) is computed as one triangle (:mod:`rdm_widgets._distance_triangle`): row
block I against rows ``0:stop(I)`` only, about half the products, the upper triangle copied from
the lower one; a single block is computed whole and its two triangles averaged.

Extreme scales: the working values are kept inside ``dtype``'s range by powers of two, which
are exact (no digit changes, so ordinary data gives the same bits as without them).
Correlation, cosine and spearman are invariant to a factor per row: a row whose norm overflows
(features ~1e20 in float32) or whose squares underflow (~1e-25) is multiplied by the power of two
that puts its largest ``|value|`` in [0.5, 1) before it is normalised. Mahalanobis is invariant to a
common factor, so all features are scaled alike. The euclidean family scales linearly
(``d(2**k x) = 2**k d(x)``): the centred features are multiplied by ``2**k`` when their squared
norms leave the safe range and the distances divided by it again (squared ones by ``4**k``).
Manhattan and chebyshev take no squares and need none of this. Distances that ``dtype`` cannot
hold -- squared euclidean distances of features ~1e20 in float32 -- raise ValueError; distances
below its smallest normal number warn (``RuntimeWarning``); use ``dtype='float64'`` for them.

rsatoolbox's ``calc_rdm(..., method='euclidean')`` is a different quantity: the *squared*
Euclidean distance divided by the number of features D, i.e.
``pairwise_distances(x, 'sqeuclidean') / D`` (not ``'euclidean'``, the plain distance here).

Degenerate rows: a constant feature vector has no correlation (or spearman) and an
all-zero vector has no cosine. :func:`pairwise_distances` then warns with a
:class:`DegenerateRowsWarning` (a ``RuntimeWarning`` whose ``indices`` attribute lists the
rows) and defines the value as **1 to every other row** (the distance of uncorrelated
vectors) **and 0 on the diagonal**. :func:`degenerate_rows` returns those indices so that
callers can name the stimuli.

Mahalanobis uses the covariance of the features across stimuli with Ledoit-Wolf shrinkage,
``S = (1 - s) Xc'Xc / N + s * mu * I`` with ``mu = trace(Xc'Xc / N) / D`` and the shrinkage
``s`` of :func:`sklearn.covariance.ledoit_wolf` (computed here from N x N quantities).
When ``D > N`` the inverse is applied through the (N, N) Gram matrix (Woodbury identity).
The small eigen-decompositions run in float64 whatever ``dtype``; if the shrunk
covariance is singular (shrinkage 0 with rank-deficient data) its pseudo-inverse is used.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch

from ._distance_kernels import (_block_chebyshev, _block_euclidean, _block_mahalanobis,
                                _block_manhattan, _block_one_minus_dot, _block_sqeuclidean, _constant_rows,
                                _cross_chebyshev, _cross_euclidean, _cross_manhattan, _cross_one_minus_dot,
                                _cross_sqeuclidean, _prepare_mahalanobis, _prepare_sqnorms,
                                _prepare_unit_rows, _zero_rows, as_result, check_x,
                                custom_blocks, prepare_features, symmetrize_)
from ._distance_prep import _PREPROCESS, _source, all_finite
from ._distance_triangle import LOWER, lower_triangle, mirror_lower_, triangle_rows
from ._options import check_device, check_dtype
from ._progress import ProgressReporter
from ._validate import check_option, check_positive_int, check_type

__all__ = [
    "register_distance", "available_distances", "resolve_distance", "check_distance", "Distance",
    "pairwise_distances", "degenerate_rows", "degenerate_rows_warning", "DegenerateRowsWarning",
    "DistanceSpec",
]


class DegenerateRowsWarning(RuntimeWarning):
    """Constant / all-zero rows under a scale-invariant distance; ``.indices`` lists them."""

    def __init__(self, message: str, indices=()):
        super().__init__(message)
        self.indices = np.asarray(indices, dtype=np.int64)


@dataclass(frozen=True)
class DistanceSpec:
    """One registered distance (see the module docstring), or a custom callable."""

    name: str
    block: Optional[Callable] = None
    prepare: Optional[Callable] = None
    preprocess: Optional[str] = None
    degenerate: Optional[Callable] = None   # (N, D) tensor -> (N,) bool tensor
    symmetric: bool = True
    func: Optional[Callable] = None          # custom f(x (N, D)) -> (N, N)
    aliases: tuple = ()
    cross: Optional[Callable] = None         # (state_a, state_b) -> (Na, Nb); see rdm_widgets.tiled


_REGISTRY: dict[str, DistanceSpec] = {}
_ALIASES: dict[str, str] = {}                # lower-case alias -> canonical name


# ----------------------------------------------------------------------------- registry
def register_distance(name: str, block_fn: Callable, prepare: Optional[Callable] = None,
                      aliases=(), *, preprocess: Optional[str] = None,
                      degenerate: Optional[Callable] = None, symmetric: bool = True,
                      cross: Optional[Callable] = None, overwrite: bool = False) -> DistanceSpec:
    """Add a distance to the registry used by :func:`pairwise_distances`.

    Parameters
    ----------
    name : str
        Canonical name (case-insensitive).
    block_fn : callable
        ``block_fn(state, rows: slice) -> (len(rows), N)`` tensor, on the working device.
    prepare : callable or None
        ``prepare(x: (N, D) tensor) -> state`` (global statistics). ``x`` is a fresh copy
        owned by the computation, so it may be modified in place. None: state is ``x``.
    aliases : iterable of str
        Synonyms accepted by :func:`resolve_distance`.
    preprocess : {None, 'center_rows', 'center_columns', 'rank_rows'}
        Transform applied while ``x`` is converted (see the module docstring).
    degenerate : callable or None
        ``degenerate(x (N, D) tensor) -> (N,) bool`` rows for which the distance is
        undefined; they get distance 1 to all other rows and a warning.
    symmetric : bool
        Average the result with its transpose and set an exact zero diagonal.
    cross : callable or None
        ``cross(prepare(a), prepare(b)) -> (len(a), len(b))`` for two row blocks prepared
        separately. Give it only when ``prepare`` is row-local (each row's state depends on
        that row alone, after ``preprocess``); it enables out-of-core tiles
        (:func:`rdm_widgets.tiled_rdm`).
    overwrite : bool
        Replace an existing distance of the same name (otherwise ValueError).

    Returns
    -------
    DistanceSpec
    """
    check_type("name", name, str)
    if not callable(block_fn) or any(f is not None and not callable(f) for f in (prepare, cross)):
        raise TypeError("register_distance: 'block_fn', 'prepare' and 'cross' must be callables "
                        "(prepare and cross may be None).")
    check_option("preprocess", "none" if preprocess is None else preprocess,
                 ["none"] + [k for k in _PREPROCESS if k])
    aliases = (aliases,) if isinstance(aliases, str) else tuple(aliases)
    canon = name.lower()
    taken = [k for k in (canon, *map(str.lower, aliases))
             if (k in _REGISTRY or k in _ALIASES) and _ALIASES.get(k, k) != canon]
    if (canon in _REGISTRY or taken) and not overwrite:
        raise ValueError(f"Distance name(s) {sorted(set(taken) | ({canon} & _REGISTRY.keys()))} "
                         "already registered; pass overwrite=True to replace.")
    spec = DistanceSpec(canon, block_fn, prepare, preprocess, degenerate, bool(symmetric),
                        aliases=tuple(a.lower() for a in aliases), cross=cross)
    _REGISTRY[canon] = spec
    _ALIASES.update({a: canon for a in spec.aliases})
    return spec


def available_distances(include_aliases: bool = True) -> list[str]:
    """Canonical distance names, each followed by its synonyms when ``include_aliases``."""
    names = []
    for canon, spec in _REGISTRY.items():
        names.append(canon)
        if include_aliases:
            names.extend(spec.aliases)
    return names


@dataclass(frozen=True)
class Distance:
    """A resolved ``distance`` argument: built once at a public boundary, passed down as is.

    Attributes
    ----------
    name : str
        The canonical name (synonyms resolved, lower case), or a custom callable's ``__name__``.
    spec : DistanceSpec
        What computes it (a custom callable is ``spec.func``).
    """

    name: str
    spec: DistanceSpec

    @property
    def is_custom(self) -> bool:
        """Whether this is a user callable ``f(x (N, D)) -> (N, N)`` (not a registered distance)."""
        return self.spec.func is not None


def check_distance(distance) -> Distance:
    """Resolve a name (case-insensitive, synonyms), callable, spec or :class:`Distance`.

    A callable ``f(x: (N, D) tensor) -> (N, N)`` gives ``Distance(f.__name__, spec)`` with
    ``spec.func = f``; a :class:`Distance` is returned unchanged (no second look-up). The
    result carries the spec itself, so a distance registered in this process also works
    where it is sent (e.g. to dask workers).

    Raises
    ------
    ValueError
        Unknown name (the message lists the allowed names and the closest match).
    TypeError
        Neither a string nor a callable.
    """
    if isinstance(distance, Distance):
        return distance
    if isinstance(distance, DistanceSpec):
        return Distance(distance.name, distance)
    if callable(distance) and not isinstance(distance, str):
        name = getattr(distance, "__name__", type(distance).__name__)
        return Distance(name, DistanceSpec(name, func=distance, symmetric=False))
    name = check_option("distance", distance, available_distances(),
                        extra="Or pass a callable f(x) -> (N, N), or add one with register_distance().")
    canon = _ALIASES.get(name, name)
    return Distance(canon, _REGISTRY[canon])


def resolve_distance(distance) -> tuple[str, DistanceSpec]:
    """Return ``(canonical_name, spec)`` of :func:`check_distance` (for a name or callable)."""
    resolved = check_distance(distance)
    return resolved.name, resolved.spec


for _args, _kw in [
    (("correlation", _block_one_minus_dot, _prepare_unit_rows, ("pearson",)),
     dict(preprocess="center_rows", degenerate=_constant_rows, cross=_cross_one_minus_dot)),
    (("cosine", _block_one_minus_dot, _prepare_unit_rows),
     dict(degenerate=_zero_rows, cross=_cross_one_minus_dot)),
    (("euclidean", _block_euclidean, _prepare_sqnorms, ("l2",)),
     dict(preprocess="center_columns", cross=_cross_euclidean)),
    (("sqeuclidean", _block_sqeuclidean, _prepare_sqnorms),
     dict(preprocess="center_columns", cross=_cross_sqeuclidean)),
    (("manhattan", _block_manhattan, None, ("l1", "cityblock")),
     dict(preprocess="center_columns", cross=_cross_manhattan)),
    (("chebyshev", _block_chebyshev), dict(preprocess="center_columns", cross=_cross_chebyshev)),
    (("spearman", _block_one_minus_dot, _prepare_unit_rows),
     dict(preprocess="rank_rows", degenerate=_constant_rows, cross=_cross_one_minus_dot)),
    (("mahalanobis", _block_mahalanobis, _prepare_mahalanobis), dict(preprocess="center_columns")),
]:
    register_distance(*_args, **_kw)
del _args, _kw


# ----------------------------------------------------------------------------- computing
def degenerate_rows(x, distance="correlation") -> np.ndarray:
    """Indices of rows for which ``distance`` is undefined (e.g. constant rows for correlation).

    Parameters
    ----------
    x : (N, D) array or tensor
    distance : str, callable or Distance

    Returns
    -------
    np.ndarray of int64, (n_bad,)
        Empty for distances that are defined everywhere (and for custom callables).
    """
    spec = check_distance(distance).spec
    x = check_x(x)
    if spec.degenerate is None:
        return np.zeros(0, dtype=np.int64)
    src = _source(x)
    return torch.nonzero(spec.degenerate(src)).flatten().cpu().numpy().astype(np.int64)


def degenerate_rows_warning(layer: str, stimuli, indices, distance_name: str) -> DegenerateRowsWarning:
    """The warning about a layer's degenerate rows that names the stimuli (not row indices).

    Parameters
    ----------
    layer : str
    stimuli : list of str
        All N stimulus names.
    indices : array-like of int, (n_bad,)
        Rows that are constant or all-zero (:func:`degenerate_rows`).
    distance_name : str
        The resolved distance's name (:attr:`Distance.name`).

    Returns
    -------
    DegenerateRowsWarning
        To pass to ``warnings.warn``; ``.indices`` holds ``indices``.
    """
    bad = np.asarray(indices, dtype=np.int64)
    names = [stimuli[i] for i in bad[:10]]
    more = f" and {bad.size - 10} more" if bad.size > 10 else ""
    return DegenerateRowsWarning(
        f"Layer {layer!r}: {bad.size} stimulus/stimuli have constant (or all-zero) features, "
        f"for which distance={distance_name!r} is undefined: {names}{more}. "
        "Their dissimilarity is set to 1 to every other stimulus.", bad)


def pairwise_distances(x, distance="correlation", *, chunk_size: Optional[int] = None,
                       device="cpu", dtype=torch.float32, progress=None,
                       overwrite_x: bool = False) -> torch.Tensor:
    """Representational dissimilarity matrix of the rows of ``x``.

    Parameters
    ----------
    x : (N, D) np.ndarray or torch.Tensor
        One feature vector per stimulus. Not modified (unless ``overwrite_x``).
    distance : str, callable or Distance
        A name from :func:`available_distances` (case-insensitive), or a pairwise function
        ``f(x: (N, D) tensor) -> (N, N)`` whose (i, j) entry depends only on rows i and j.
        With ``chunk_size`` such a function is called on ``cat(x[I], x[J])`` for pairs of
        row blocks and the I x J (and J x I) parts are kept. Its output is not symmetrised.
        A :class:`Distance` from :func:`check_distance` is used as is.
    chunk_size : int or None
        Rows per block (bounds the extra memory to about ``chunk_size x N`` plus what the
        distance's ``prepare`` stores). None computes everything in one block.
    device : str or torch.device
        ``'cpu'``, ``'cuda'``, ``'cuda:1'``, ``'mps'`` ... Unavailable devices raise ValueError.
    dtype : torch.float32, torch.float64, 'float32', 'float64' or DType
        Working precision (and the result's dtype).
    progress : callable or None
        ``progress(done, total)`` over the row blocks; may raise
        :class:`rdm_widgets._progress.Cancelled`, which propagates.
    overwrite_x : bool
        Allow using ``x``'s memory as the working copy when it is already a contiguous,
        writeable array in ``dtype`` on ``device``: saves one (N, D) copy, but ``x`` is
        destroyed (only for arrays the caller made and drops afterwards). Default False:
        ``x`` is never modified.

    Returns
    -------
    torch.Tensor, (N, N)
        On the CPU, in ``dtype``.

    Warns
    -----
    DegenerateRowsWarning
        For constant (correlation, spearman) or all-zero (cosine) rows; see the module notes.

    Examples
    --------
    >>> import numpy as np
    >>> from rdm_widgets import pairwise_distances
    >>> x = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    >>> pairwise_distances(x, "euclidean", dtype="float64").numpy()
    array([[ 0.,  5., 10.],
           [ 5.,  0.,  5.],
           [10.,  5.,  0.]])
    >>> pairwise_distances(x + 1, "cosine").dtype
    torch.float32
    """
    dist = check_distance(distance)
    name, spec = dist.name, dist.spec
    x = check_x(x)
    chunk_size = check_positive_int("chunk_size", chunk_size, allow_none=True)
    dev, dtype = check_device(device), check_dtype(dtype).torch
    n = x.shape[0]
    step = n if chunk_size is None else min(chunk_size, n)
    bounds = [(s, min(s + step, n)) for s in range(0, n, step)]
    with torch.no_grad(), ProgressReporter(len(bounds), progress) as reporter:
        # one pass over x: working copy, preprocessing, degenerate rows and a row-local prepare
        block, state, bad = prepare_features(x, spec, dev, dtype, overwrite=bool(overwrite_x))
        if spec.func is not None:
            xw = state
            if chunk_size is None:
                out = as_result(spec.func(xw), (n, n), f"Custom distance {name!r}")
                out = out.to("cpu", dtype)
                reporter.update(1)
            else:
                out = torch.empty((n, n), dtype=dtype)
                custom_blocks(spec.func, xw, out, bounds, reporter, name)
            return out
        out, rows = None, triangle_rows(dev)
        # symmetric built-ins in more than one block: one triangle, half the products
        triangle = spec.symmetric and block in LOWER and (len(bounds) > 1 or n > rows)
        if triangle:
            out = torch.empty((n, n), dtype=dtype)
            mirror_lower_(out, lower_triangle(block, state, out, bounds, rows, reporter, name))
            bounds = []
        for s, e in bounds:
            blk = block(state, slice(s, e))
            if tuple(blk.shape) != (e - s, n):
                raise ValueError(f"Distance {name!r}: block returned shape {tuple(blk.shape)}; "
                                 f"expected {(e - s, n)}.")
            if len(bounds) == 1 and blk.device.type == "cpu":
                out = blk.to(dtype)
            else:
                if out is None:
                    out = torch.empty((n, n), dtype=dtype)
                out[s:e] = blk
            reporter.update(1)
        del state
    if spec.symmetric and not triangle:
        symmetrize_(out)
    if bad.size:
        idx = torch.as_tensor(bad)
        out[idx, :] = 1.0
        out[:, idx] = 1.0
        listed = ", ".join(map(str, bad[:20].tolist())) + (", ..." if bad.size > 20 else "")
        kind = {_zero_rows: "all-zero", _constant_rows: "constant"}.get(spec.degenerate, "degenerate")
        warnings.warn(DegenerateRowsWarning(
            f"{bad.size} row(s) of x are {kind}, so distance={name!r} is undefined for them "
            f"(row indices: {listed}); their distance is set to 1 to every other row and 0 to "
            "themselves. degenerate_rows(x, distance) returns the indices.", bad), stacklevel=2)
    if spec.symmetric:
        out.fill_diagonal_(0)
    if not all_finite(out):                         # e.g. overflow of huge feature values
        raise ValueError(f"distance={name!r} produced NaN or inf distances in {dtype}. The "
                         "features may be too large for it: use dtype='float64' or rescale them.")
    return out
