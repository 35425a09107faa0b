"""Multidimensional scaling (MDS) of an RDM: coordinates whose distances approximate the dissimilarities.

Three methods (the registry :data:`MDS_METHODS`):

- ``'classical'`` (Torgerson): eigen-decomposition of the double-centred squared
  dissimilarities ``B = -1/2 J D² J`` (``J = I - 11ᵀ/n``); the coordinates are the top-k
  eigenvectors scaled by the square roots of their eigenvalues. Exact (distances reproduced)
  when the RDM is Euclidean with rank ≤ k; deterministic.
- ``'metric'``: SMACOF stress minimisation (:class:`sklearn.manifold.MDS` on the precomputed
  dissimilarities), seeded by ``random_state`` with ``n_init`` starts.
- ``'nonmetric'``: Kruskal's non-metric SMACOF (only the rank order of the dissimilarities).

Every result is put in a canonical pose so that a figure looks the same on every run: the
coordinates are centred, rotated onto their principal axes (distances unchanged; SMACOF's
solution is only defined up to a rotation) and each axis is flipped so that its largest
absolute coordinate is positive. No plotly here (the figure is :func:`rdm_widgets.plotting.mds_figure`).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np

from ._validate import check_option, check_positive_int

__all__ = ["mds", "Embedding", "MDS_METHODS", "kruskal_stress", "canonical_pose"]


@dataclass(frozen=True, eq=False)
class Embedding:
    """An MDS result.

    Attributes
    ----------
    coords : ndarray, shape (n, k)
        Coordinates of the n stimuli (centred, principal axes, sign-fixed).
    stimuli : list of str
        The n stimulus names (the LayerRDM's, else ``"0".."n-1"``).
    method : str
        ``'classical'``, ``'metric'`` or ``'nonmetric'``.
    stress : float
        Kruskal's stress-1 (0 = exact): ``sqrt(Σ (d_ij - δ_ij)² / Σ δ_ij²)`` over the pairs
        i < j of the embedding distances d against the dissimilarities δ (``'classical'``,
        ``'metric'``); for ``'nonmetric'`` against the disparities (monotone regression of d on
        δ) and normalised by ``Σ d_ij²``, since only the rank order of δ is fitted.
    explained : ndarray, shape (k,)
        Fraction of the (positive) variance of the double-centred matrix per axis for
        ``'classical'``; for SMACOF the fraction of the embedding's own variance per axis.
    eigenvalues : ndarray, shape (n,) or None
        All eigenvalues of ``B`` in decreasing order (``'classical'`` only; negative ones show how
        far the RDM is from Euclidean).
    layer : str
        The LayerRDM's layer name ("" for an array).
    meta : dict
        SMACOF's ``random_state`` and ``n_init`` (empty for ``'classical'``).
    """

    coords: np.ndarray
    stimuli: list
    method: str
    stress: float
    explained: np.ndarray
    eigenvalues: np.ndarray | None = None
    layer: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def n_components(self) -> int:
        return int(self.coords.shape[1])


def _dissimilarities(rdm) -> tuple[np.ndarray, list, str]:
    """``(D (n, n) float64 symmetric with zero diagonal, names, layer)`` of a LayerRDM or an array."""
    m = np.asarray(getattr(rdm, "matrix", rdm), dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"MDS needs a square (n, n) RDM; got shape {m.shape}.")
    n = m.shape[0]
    if not np.all(np.isfinite(m)):
        raise ValueError(f"The RDM ({n} x {n}) contains NaN or inf; MDS needs finite dissimilarities "
                         "(drop the stimuli with missing values first, e.g. LayerRDM.subset).")
    if np.any(m < -1e-12 * max(1.0, float(np.abs(m).max(initial=0.0)))):
        raise ValueError(f"The RDM ({n} x {n}) has negative values (min {m.min():.3g}); MDS needs "
                         "dissimilarities >= 0 (a similarity matrix? use 1 - S).")
    # float32 RDMs are symmetric only up to rounding
    d = (m + m.T) / 2.0
    np.fill_diagonal(d, 0.0)
    d = np.clip(d, 0.0, None)
    names = getattr(rdm, "stimuli", None)
    names = [str(s) for s in names] if names is not None else [str(i) for i in range(n)]
    return d, names, str(getattr(rdm, "layer", "") or "")


def kruskal_stress(coords, dissimilarities) -> float:
    """Kruskal's stress-1 of an embedding: ``sqrt(Σ (d_ij - δ_ij)² / Σ δ_ij²)`` over i < j.

    Parameters
    ----------
    coords : array-like, shape (n, k)
    dissimilarities : array-like, shape (n, n)

    Returns
    -------
    float
        0 when the embedding reproduces the dissimilarities; NaN when all are 0.
    """
    x = np.asarray(coords, dtype=np.float64)
    delta = np.asarray(dissimilarities, dtype=np.float64)
    iu = np.triu_indices(x.shape[0], 1)
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))[iu]
    denom = float((delta[iu] ** 2).sum())
    return float(np.sqrt(((d - delta[iu]) ** 2).sum() / denom)) if denom > 0 else float("nan")


def canonical_pose(coords) -> np.ndarray:
    """Centre, rotate onto the principal axes and fix the sign of each axis (distances unchanged).

    Each axis is flipped so that the coordinate of largest magnitude is positive (the first such
    point on ties), as :func:`sklearn.utils.extmath.svd_flip` does for singular vectors.

    Parameters
    ----------
    coords : array-like, shape (n, k)

    Returns
    -------
    ndarray, shape (n, k)
    """
    x = np.asarray(coords, dtype=np.float64)
    x = x - x.mean(axis=0)
    # principal axes by SVD; the rotation is orthogonal, so every pairwise distance is kept
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    x = x @ vt.T
    return _flip_signs(x)


def _flip_signs(x: np.ndarray) -> np.ndarray:
    rows = np.argmax(np.abs(x), axis=0)
    signs = np.sign(x[rows, np.arange(x.shape[1])])
    signs[signs == 0] = 1.0
    return x * signs


def _classical(d: np.ndarray, k: int, **_):
    n = d.shape[0]
    j = np.eye(n) - np.full((n, n), 1.0 / n)
    b = -0.5 * j @ (d ** 2) @ j
    vals, vecs = np.linalg.eigh((b + b.T) / 2.0)
    order = np.argsort(vals)[::-1]
    vals, vecs = vals[order], vecs[:, order]
    top = np.clip(vals[:k], 0.0, None)   # a non-Euclidean RDM has negative eigenvalues: no axis there
    coords = _flip_signs(vecs[:, :k] * np.sqrt(top))
    positive = float(vals[vals > 0].sum())
    explained = top / positive if positive > 0 else np.zeros(k)
    return coords, explained, vals, None


def _smacof(d: np.ndarray, k: int, *, metric: bool, random_state, n_init: int, max_iter: int):
    from sklearn.manifold import MDS

    params = inspect.signature(MDS).parameters
    # scikit-learn 1.8 renamed metric -> metric_mds and dissimilarity -> metric, and warns on init
    if "metric_mds" in params:
        kwargs = dict(metric_mds=metric, metric="precomputed", init="random")
    else:
        kwargs = dict(metric=metric, dissimilarity="precomputed")
    model = MDS(n_components=k, n_init=n_init, max_iter=max_iter, random_state=random_state, **kwargs)
    coords = canonical_pose(model.fit_transform(d))
    var = coords.var(axis=0)
    explained = var / var.sum() if var.sum() > 0 else np.zeros(k)
    return coords, explained, None, (None if metric else _nonmetric_stress(coords, d))


def _nonmetric_stress(coords: np.ndarray, d: np.ndarray) -> float:
    """Kruskal's stress-1 against the disparities (the monotone regression of the embedding
    distances on the dissimilarities): only the rank order of ``d`` is fitted, not its scale."""
    from sklearn.isotonic import IsotonicRegression

    iu = np.triu_indices(d.shape[0], 1)
    dist = np.sqrt(((coords[:, None, :] - coords[None, :, :]) ** 2).sum(-1))[iu]
    disparities = IsotonicRegression().fit_transform(d[iu], dist)
    denom = float((dist ** 2).sum())
    return float(np.sqrt(((dist - disparities) ** 2).sum() / denom)) if denom > 0 else float("nan")


#: method name -> (function, description)
MDS_METHODS = {
    "classical": (_classical, "Torgerson: eigenvectors of the double-centred squared dissimilarities"),
    "metric": (lambda d, k, **kw: _smacof(d, k, metric=True, **kw), "SMACOF (scikit-learn), seeded"),
    "nonmetric": (lambda d, k, **kw: _smacof(d, k, metric=False, **kw),
                  "Kruskal non-metric SMACOF (scikit-learn), seeded"),
}


def mds(rdm, n_components: int = 2, method: str = "classical", *, random_state=0, n_init: int = 4,
        max_iter: int = 300) -> Embedding:
    """Multidimensional scaling of an RDM.

    Parameters
    ----------
    rdm : LayerRDM or array-like, shape (n, n)
        Dissimilarities (>= 0; symmetrised; the diagonal is ignored).
    n_components : int
        Dimensions k of the embedding (``1 <= k < n``).
    method : {'classical', 'metric', 'nonmetric'}
        See :data:`MDS_METHODS`.
    random_state : int or None
        Seed of SMACOF's random starts (``'metric'``, ``'nonmetric'``); the same seed gives the
        same coordinates.
    n_init : int
        SMACOF starts; the one of lowest stress is kept.
    max_iter : int
        SMACOF iterations per start.

    Returns
    -------
    Embedding
        ``coords`` (n, k), ``stress`` (Kruskal stress-1), ``explained`` (k,), ``eigenvalues``.
    """
    method = check_option("method", method, MDS_METHODS)
    d, names, layer = _dissimilarities(rdm)
    n = d.shape[0]
    k = check_positive_int("n_components", n_components)
    if n < 3:
        raise ValueError(f"MDS needs at least 3 stimuli; the RDM has {n}.")
    if k >= n:
        raise ValueError(f"Invalid value for 'n_components': {k}. The RDM has {n} stimuli; give 1..{n - 1}.")
    n_init = check_positive_int("n_init", n_init)
    max_iter = check_positive_int("max_iter", max_iter)
    fn = MDS_METHODS[method][0]
    coords, explained, eigenvalues, stress = fn(d, k, random_state=random_state, n_init=n_init,
                                                max_iter=max_iter)
    return Embedding(coords=np.ascontiguousarray(coords), stimuli=names, method=method,
                     stress=kruskal_stress(coords, d) if stress is None else stress,
                     explained=np.asarray(explained, dtype=np.float64),
                     eigenvalues=eigenvalues, layer=layer,
                     meta={"random_state": random_state, "n_init": n_init} if method != "classical" else {})
