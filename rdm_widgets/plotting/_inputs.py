"""Inputs of the figure builders (numpy only): RDM-like arguments, labels, colour ranges and titles.

Kept apart from :mod:`rdm_widgets.plotting` so that the builders stay short; nothing here
imports plotly or the RDM container (a LayerRDM is recognised by its attributes).
"""
from __future__ import annotations

import numpy as np

from .._validate import check_finite

__all__ = ["unique_labels", "positions", "heatmap_input", "offdiagonal_range", "colour_label",
           "tick_labels", "MAX_TICK_LABELS", "DISTANCE_LABELS"]

#: at most this many tick labels per axis; above it every k-th stimulus is labelled
MAX_TICK_LABELS = 60

#: what an RDM computed with each distance holds, for colour bars
DISTANCE_LABELS = {
    "correlation": "correlation distance (1 − r)",
    "pearson": "correlation distance (1 − r)",
    "spearman": "rank-correlation distance (1 − ρ)",
    "cosine": "cosine distance (1 − cos)",
    "euclidean": "euclidean distance",
    "l2": "euclidean distance",
    "sqeuclidean": "squared euclidean distance",
    "manhattan": "manhattan distance",
    "l1": "manhattan distance",
    "cityblock": "manhattan distance",
    "chebyshev": "chebyshev distance",
    "mahalanobis": "mahalanobis distance",
}


def colour_label(meta: dict) -> str:
    """Colour-bar title of an RDM from its ``meta``: what the values are.

    ``meta['distance']`` (e.g. ``'correlation'`` -> ``'correlation distance (1 − r)'``), or
    ``meta['dissimilarity']`` (EEG results); ``'rank of …'`` after a rank transform
    (``meta['rank_transformed']``), whose values are ranks scaled to 0..1.
    """
    meta = meta or {}
    distance = str(meta.get("distance") or "")
    label = DISTANCE_LABELS.get(distance.lower(), distance) or str(meta.get("dissimilarity") or "")
    if meta.get("rank_transformed"):
        return f"rank of {label or 'dissimilarity'} (0–1)"
    return label


def offdiagonal_range(matrix) -> tuple:
    """``(min, max)`` of the finite off-diagonal values (None, None when there are none).

    The zero diagonal of an RDM would otherwise set the lower end of the colour range and
    squeeze the structure between the stimuli into the top of the colour scale.
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim < 2 or m.shape[0] < 2:
        return None, None
    off = ~np.eye(m.shape[0], m.shape[1], dtype=bool)
    vals = m[off] if m.ndim == 2 else m[off, ...].ravel()
    vals = vals[np.isfinite(vals)]
    if not vals.size:
        return None, None
    lo, hi = float(vals.min()), float(vals.max())
    return (lo, hi) if hi > lo else (None, None)


def tick_labels(labels: list) -> list:
    """The labels to show as ticks: all up to :data:`MAX_TICK_LABELS`, else every k-th."""
    step = -(-len(labels) // MAX_TICK_LABELS)
    return list(labels[::max(step, 1)])


def unique_labels(names: list[str]) -> list[str]:
    # categorical axes merge equal labels, so duplicates get their index appended
    seen: dict[str, int] = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    return [n if seen[n] == 1 else f"{n} #{i}" for i, n in enumerate(names)]


def positions(indices, names: list) -> np.ndarray:
    """Positions of ``indices`` (integers, or names looked up in ``names``) for an array input."""
    sel = [indices] if isinstance(indices, (str, int, np.integer)) else list(indices)
    n = len(names)
    if sel and all(isinstance(s, (bool, np.bool_)) for s in sel):
        if len(sel) != n:
            raise ValueError(f"Boolean mask has {len(sel)} entries; the RDM has {n} stimuli.")
        return np.flatnonzero(sel)
    if sel and all(isinstance(s, str) for s in sel):
        lookup = {}
        for i, name in enumerate(names):
            lookup.setdefault(name, i)
        missing = [s for s in sel if s not in lookup]
        if missing:
            raise ValueError(f"Invalid value for 'indices': unknown stimulus name(s) {missing[:5]}. "
                             f"Allowed: the {n} stimulus names, e.g. {names[:3]}.")
        return np.array([lookup[s] for s in sel], dtype=np.intp)
    idx = np.asarray(sel, dtype=np.intp)
    bad = idx[(idx < -n) | (idx >= n)]
    if bad.size:
        raise IndexError(f"Stimulus index {int(bad[0])} is out of range for {n} stimuli.")
    return idx % n if n else idx


def heatmap_input(matrix, stimuli, indices):
    """``(matrix (N, N), names, layer, meta)`` of a LayerRDM-like object or an array.

    A LayerRDM is recognised by its attributes (``matrix``, ``stimuli``, ``subset``), so this
    module never imports :mod:`rdm_widgets.rdm` (whose ``LayerRDM.plot`` imports this one).
    """
    if hasattr(matrix, "matrix") and hasattr(matrix, "stimuli"):
        layer, meta = str(getattr(matrix, "layer", "") or ""), dict(getattr(matrix, "meta", {}) or {})
        if stimuli is None:
            if indices is not None:
                matrix = matrix.subset(indices)
            return np.asarray(matrix.matrix), list(matrix.stimuli), layer, meta
        matrix = matrix.matrix
    else:
        layer, meta = "", {}
    if hasattr(matrix, "detach"):  # torch tensor
        matrix = matrix.detach().cpu().numpy()
    m = np.asarray(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"An RDM must be a square 2-D array (N, N); got shape {m.shape}.")
    if m.dtype.kind not in "biuf":
        raise TypeError(f"RDM values must be numeric; got dtype {m.dtype}.")
    if m.dtype.kind != "f" or m.dtype.itemsize < 4:
        m = m.astype(np.float64)
    check_finite("RDM", m)
    n = m.shape[0]
    names = [str(i) for i in range(n)] if stimuli is None else [str(s) for s in stimuli]
    if len(names) != n:
        raise ValueError(f"Got {len(names)} stimulus names for an RDM of {n} stimuli (shape {m.shape}); "
                         f"give exactly {n} names.")
    if indices is not None:
        idx = positions(indices, names)
        m, names = m[np.ix_(idx, idx)], [names[i] for i in idx]
    return m, names, layer, meta


