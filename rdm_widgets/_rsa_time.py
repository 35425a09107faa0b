"""RSA between two time axes: a time-resolved model RDM against time-resolved brain RDMs.

Why this module exists: video and sequence models give one RDM per model time point (clip,
frame), EEG/MEG one per brain time point. :func:`rdm_widgets.rsa.rsa_timecourse` with a
time-resolved model returns the map of every model time against every brain time
(:func:`model_time_map`), computed with the same vectorised correlations
(:data:`rdm_widgets.rsa.CORRELATIONS`, one model time point against all brain time points at
once) as the single-model time course.
"""
from __future__ import annotations

import numpy as np

from ._correlations import CORRELATIONS

__all__ = ["is_time_resolved", "model_time_map"]


def is_time_resolved(x) -> bool:
    """Whether ``x`` is a time-resolved RDM container (a ``TimeResolvedRDM``-like object)."""
    data = getattr(x, "data", None)
    return hasattr(x, "times") and hasattr(x, "conditions") and getattr(data, "ndim", 0) == 3


def _matched(model, brain) -> np.ndarray:
    """The model's (N, N, Tm) data over the brain's conditions, in their order, matched by name."""
    data = np.asarray(model.data, dtype=np.float64)
    names = [str(c) for c in model.conditions]
    conds = [str(c) for c in getattr(brain, "conditions", names)]
    if names == conds:
        return data
    index = {n: i for i, n in enumerate(names)}
    missing = [c for c in conds if c not in index]
    if missing:
        layer = getattr(model, "layer", "")
        raise ValueError(
            f"The time-resolved model RDM{f' {layer!r}' if layer else ''} has no stimulus named like the "
            f"brain condition(s) {missing[:6]}: model stimuli {names[:10]}, brain conditions {conds[:10]}. "
            "Stimuli are matched to conditions by name.")
    order = [index[c] for c in conds]
    return data[np.ix_(order, order)]


def model_time_map(model, brain, method: str) -> np.ndarray:
    """Correlation of the model RDM at every model time with the brain RDM at every brain time.

    Parameters
    ----------
    model : TimeResolvedRDM
        (N, N, Tm) model RDMs (e.g. one per clip), stimuli matched to ``brain`` by name.
    brain : TimeResolvedRDM or array-like (N, N, Tb)
        Arrays are matched by position.
    method : str
        A canonical key of :data:`~rdm_widgets.rsa.CORRELATIONS`.

    Returns
    -------
    ndarray, shape (Tm, Tb)
        ``out[m, b]`` = correlation of the upper triangles of model time ``m`` and brain time
        ``b``; NaN where either RDM is constant.
    """
    M = _matched(model, brain)
    E = np.asarray(getattr(brain, "data", brain), dtype=np.float64)
    if E.ndim != 3 or E.shape[:2] != M.shape[:2]:
        raise ValueError(f"The model RDMs have shape {M.shape} (N, N, Tm) but the brain RDMs {E.shape} "
                         "(N, N, Tb); they must cover the same conditions.")
    iu, ju = np.triu_indices(M.shape[0], 1)
    X, Y = M[iu, ju, :], E[iu, ju, :]           # (pairs, Tm), (pairs, Tb)
    out = np.full((X.shape[1], Y.shape[1]), np.nan)
    brain_ok = np.ptp(Y, axis=0) > 0
    if not brain_ok.any():
        return out
    for m in np.flatnonzero(np.ptp(X, axis=0) > 0):
        out[m, brain_ok] = CORRELATIONS[method](X[:, m], Y[:, brain_ok])
    return out
