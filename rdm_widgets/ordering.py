"""Stimulus orderings for displaying RDMs (UI-free).

An ordering is a permutation of the N stimuli of an RDM, used to reveal
structure in a heatmap:

- ``'original'``: the stored order;
- ``'category'``: stimuli grouped by a category label (stable within a
  category, categories in order of first appearance, or sorted);
- ``'cluster'``: leaf order of a hierarchical clustering of the RDM itself
  (:func:`scipy.cluster.hierarchy.linkage` with average linkage on the
  condensed RDM, optionally with optimal leaf ordering so that neighbouring
  leaves are as similar as possible).

Category labels come from the caller, from a feature folder's
``stimuli.json`` (:func:`read_category_labels`) or from the stimulus names
(:func:`labels_from_names`: ``"cat_03"`` -> ``"cat"``).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ._validate import check_option

__all__ = ["ORDERINGS", "LINKAGE_METHODS", "stimulus_order", "order_by_labels", "order_by_clustering",
           "clustering_linkage", "labels_from_names", "read_category_labels"]

#: Above this many stimuli the O(N^3)-ish optimal leaf ordering is skipped (too slow to wait for).
MAX_OPTIMAL_LEAF_ORDERING = 2000


def labels_from_names(names) -> list[str]:
    """Category label of each stimulus from its name: the name without trailing digits.

    ``"dog_03"`` -> ``"dog"``, ``"image10"`` -> ``"image"``; a name without a
    trailing number is its own label.

    Parameters
    ----------
    names : sequence of str, length N

    Returns
    -------
    list of str, length N
    """
    out = []
    for name in names:
        stem = re.sub(r"[\s._-]*\d+$", "", str(name))
        out.append(stem or str(name))
    return out


def read_category_labels(folder) -> dict[str, str]:
    """Category labels stored in a feature folder's ``stimuli.json``.

    The file holds ``{"stimuli": [{"file": "sent_01.npz", "category": "animal"}, ...]}``
    (as in the bundled MiniLM set). Keys of the result are the file stems, which
    are the stimulus names of a per-stimulus npz folder.

    Returns
    -------
    dict
        ``{stimulus name: category}``; empty when there is no usable file.
    """
    path = Path(folder) / "stimuli.json"
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    items = info.get("stimuli", []) if isinstance(info, dict) else info
    labels = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and "category" in item:
            name = item.get("name") or Path(str(item.get("file", ""))).stem
            if name:
                labels[str(name)] = str(item["category"])
    return labels


def order_by_labels(labels, sort: bool = False) -> np.ndarray:
    """Permutation grouping equal labels together (stable within each group).

    Parameters
    ----------
    labels : sequence, length N
        One label per stimulus.
    sort : bool
        Order the groups by sorted label instead of by first appearance.

    Returns
    -------
    ndarray of int, shape (N,)
    """
    labels = [str(label) for label in labels]
    groups = sorted(set(labels)) if sort else list(dict.fromkeys(labels))
    rank = {g: i for i, g in enumerate(groups)}
    return np.array(sorted(range(len(labels)), key=lambda i: (rank[labels[i]], i)), dtype=np.intp)


#: linkage methods on dissimilarities ('ward', 'centroid', 'median' need Euclidean data)
LINKAGE_METHODS = ("average", "complete", "single", "weighted")


def clustering_linkage(matrix, method: str = "average", optimal: bool | None = None) -> np.ndarray:
    """Hierarchical clustering of an RDM: the scipy linkage matrix shared by the ordering and the dendrogram.

    Parameters
    ----------
    matrix : array-like or LayerRDM, shape (N, N), N >= 2
        Symmetric dissimilarities (the diagonal is ignored).
    method : {'average', 'complete', 'single', 'weighted'}
        Linkage method (distance-based methods only; 'ward' needs Euclidean data).
    optimal : bool or None
        Apply optimal leaf ordering; None does so up to ``MAX_OPTIMAL_LEAF_ORDERING`` stimuli.

    Returns
    -------
    ndarray, shape (N - 1, 4)
        :func:`scipy.cluster.hierarchy.linkage` output; ``leaves_list`` of it is
        :func:`order_by_clustering`, and ``scipy.cluster.hierarchy.dendrogram`` draws it.
    """
    from scipy.cluster.hierarchy import linkage, optimal_leaf_ordering
    from scipy.spatial.distance import squareform

    method = check_option("method", method, LINKAGE_METHODS)
    m = np.asarray(getattr(matrix, "matrix", matrix), dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"Clustering needs a square (N, N) RDM; got shape {m.shape}.")
    n = m.shape[0]
    if n < 2:
        raise ValueError(f"Clustering needs at least 2 stimuli; the RDM has {n}.")
    if not np.all(np.isfinite(m)):
        raise ValueError("The RDM contains NaN or inf; clustering needs finite dissimilarities.")
    # symmetrise (float32 RDMs are symmetric only up to rounding) and zero the diagonal
    sym = (m + m.T) / 2.0
    np.fill_diagonal(sym, 0.0)
    condensed = squareform(sym, checks=False)
    # linkage requires non-negative distances; correlation-type RDMs are >= 0 already
    condensed = condensed - min(0.0, float(condensed.min()))
    z = linkage(condensed, method=method)
    if optimal is None:
        optimal = n <= MAX_OPTIMAL_LEAF_ORDERING
    if optimal and n >= 3:
        z = optimal_leaf_ordering(z, condensed)
    return z


def order_by_clustering(matrix, method: str = "average", optimal: bool | None = None) -> np.ndarray:
    """Leaf order of a hierarchical clustering of an RDM.

    Parameters
    ----------
    matrix : array-like or LayerRDM, shape (N, N)
        Symmetric dissimilarities (the diagonal is ignored).
    method : {'average', 'complete', 'single', 'weighted'}
        Linkage method (distance-based methods only; 'ward' needs Euclidean data).
    optimal : bool or None
        Apply optimal leaf ordering; None does so up to
        ``MAX_OPTIMAL_LEAF_ORDERING`` stimuli.

    Returns
    -------
    ndarray of int, shape (N,)
        ``leaves_list(clustering_linkage(matrix, method, optimal))`` (the identity below 3 stimuli).
    """
    from scipy.cluster.hierarchy import leaves_list

    method = check_option("method", method, LINKAGE_METHODS)
    m = np.asarray(getattr(matrix, "matrix", matrix), dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"order_by_clustering needs a square (N, N) RDM; got shape {m.shape}.")
    if m.shape[0] < 3:
        return np.arange(m.shape[0], dtype=np.intp)
    return leaves_list(clustering_linkage(m, method, optimal)).astype(np.intp)


#: name -> description (the registry the viewer's "order" dropdown shows)
ORDERINGS = {
    "original": "stored order",
    "category": "grouped by category label",
    "cluster": "hierarchical clustering (average linkage, optimal leaf order)",
}


def stimulus_order(rdm, by: str = "original", labels=None) -> np.ndarray:
    """Permutation of an RDM's stimuli for display.

    Parameters
    ----------
    rdm : LayerRDM or array-like, shape (N, N)
    by : {'original', 'category', 'cluster'}
    labels : sequence of length N, dict {stimulus name: label} or None
        Category labels for ``by='category'`` (default: from the names, see
        :func:`labels_from_names`). Stimuli missing from a dict keep their
        name-derived label.

    Returns
    -------
    ndarray of int, shape (N,)
    """
    by = check_option("by", by, ORDERINGS)
    m = np.asarray(getattr(rdm, "matrix", rdm))
    n = m.shape[0]
    names = list(getattr(rdm, "stimuli", [str(i) for i in range(n)]))
    if by == "original":
        return np.arange(n, dtype=np.intp)
    if by == "cluster":
        return order_by_clustering(m)
    if labels is None:
        labels = labels_from_names(names)
    elif isinstance(labels, dict):
        fallback = labels_from_names(names)
        labels = [labels.get(name, fallback[i]) for i, name in enumerate(names)]
    else:
        labels = list(labels)
        if len(labels) != n:
            raise ValueError(f"Got {len(labels)} category labels for an RDM of {n} stimuli; give {n}.")
    return order_by_labels(labels)
