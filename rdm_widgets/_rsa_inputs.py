"""What model-vs-brain functions accept as models and brain RDMs, turned into one shape.

Why this module exists: :func:`rdm_widgets.model_rsa.model_brain_table` and
:func:`rdm_widgets.bootstrap.bootstrap_models` take the same inputs (LayerRDM dicts, one or two
levels deep; RDMSet stacks from :func:`rdm_widgets.rdm_files.read_rdm_file`; rsatoolbox ``RDMs``);
both read them here, so that they cannot drift apart. The functions of :mod:`rdm_widgets.rsa` take
one square RDM or a stack of them the same way (:func:`square_rdm`, :func:`rdm_stack`).
"""
from __future__ import annotations

import os

import numpy as np

from .rdm_files import RDMSet

__all__ = ["as_brains", "as_models", "from_peer", "square_rdm", "check_symmetric", "rdm_stack"]


def as_brains(brain) -> dict:
    """``{name: RDMSet}`` from an RDMSet, LayerRDM, rsatoolbox RDMs, (S, N, N) array or a dict of them."""
    from .interop._rsatoolbox import is_rsatoolbox_rdms
    from .rdm import LayerRDM

    def one(b, name):
        if isinstance(b, RDMSet):
            return b
        if is_rsatoolbox_rdms(b):
            return RDMSet.from_rsatoolbox(b, name)
        if isinstance(b, LayerRDM):
            return RDMSet.from_layer_rdm(b, name)
        if isinstance(b, np.ndarray) and b.ndim in (2, 3):
            return RDMSet(b, None, name)
        raise TypeError(f"Brain RDM {name!r} is a {type(b).__name__}; expected an RDMSet (read_rdm_file), "
                        "a LayerRDM, an rsatoolbox RDMs or an (S, N, N) array.")

    if isinstance(brain, dict):
        if not brain:
            raise ValueError("No brain RDMs given.")
        return {str(k): one(v, str(k)) for k, v in brain.items()}
    b = one(brain, "brain")
    return {b.name or "brain": b}


def as_models(models) -> dict:
    """``{model: {layer: LayerRDM}}`` from ``{layer: LayerRDM}`` (one model, named ``"model"``),
    ``{model: {layer: LayerRDM}}`` or rsatoolbox RDMs (one RDM per layer) at either level."""
    from .interop._rsatoolbox import is_rsatoolbox_rdms
    from .rdm import LayerRDM, load_rdms

    if is_rsatoolbox_rdms(models):
        models = {"model": load_rdms(models)}
    elif isinstance(models, dict):
        models = {k: load_rdms(v) if is_rsatoolbox_rdms(v) else v for k, v in models.items()}
    # a folder path is never loaded here (where a damaged file would drop a layer silently)
    load = (" A folder of RDM files: load it first with load_rdms(folder, on_error='raise'), which fails "
            "on a damaged file instead of leaving its layer out.")
    if not isinstance(models, dict) or not models:
        raise ValueError("models must be a non-empty dict: {layer: LayerRDM} or {model: {layer: LayerRDM}}."
                         + (load if isinstance(models, (str, os.PathLike)) else ""))
    if all(isinstance(v, LayerRDM) for v in models.values()):
        return {"model": dict(models)}
    out = {}
    for name, layers in models.items():
        if not isinstance(layers, dict) or not layers or not all(isinstance(v, LayerRDM) for v in layers.values()):
            raise TypeError(f"Model {name!r} must be a non-empty dict {{layer: LayerRDM}}."
                            + (load if isinstance(layers, (str, os.PathLike)) else ""))
        out[str(name)] = dict(layers)
    return out


def from_peer(x):
    """An rsatoolbox ``RDMs`` as a LayerRDM (one RDM) or an (S, N, N) array; anything else as is."""
    from .interop._rsatoolbox import from_rsatoolbox, is_rsatoolbox_rdms

    if not is_rsatoolbox_rdms(x):
        return x
    if int(x.n_rdm) == 1:
        from .rdm import LayerRDM

        return LayerRDM.from_rsatoolbox(x)
    return from_rsatoolbox(x).matrices


def square_rdm(x, name: str) -> np.ndarray:
    """One RDM (N, N) float64 from a LayerRDM, rsatoolbox RDMs of one RDM, tensor or array; refused
    unless square and symmetric (:func:`check_symmetric`). ``name`` is the argument's name."""
    from .rdm import LayerRDM

    x = from_peer(x)
    if isinstance(x, LayerRDM):
        arr = np.asarray(x.matrix, dtype=np.float64)
    else:
        if hasattr(x, "detach"):
            x = x.detach().cpu().numpy()
        arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        many = (" An rsatoolbox RDMs of several RDMs: pick one, e.g. LayerRDM.from_rsatoolbox(rdms, index=i)."
                if arr.ndim == 3 else "")
        raise ValueError(f"{name!r} must be a square RDM (N, N); got shape {arr.shape}.{many}")
    check_symmetric(arr, name)
    return arr


def check_symmetric(arr: np.ndarray, name: str) -> None:
    """Refuse a square matrix that is not symmetric (the tolerance of :class:`RDMSet`): only its
    upper triangle would be correlated, its lower one silently ignored. NaN cells are left to
    ``nan_policy``."""
    from .rdm_files import SYMMETRY_TOL

    with np.errstate(invalid="ignore"):
        diff = np.abs(arr - arr.T)
    diff[~np.isfinite(diff)] = 0.0
    finite = np.abs(arr[np.isfinite(arr)])
    scale = max(float(finite.max()) if finite.size else 0.0, 1e-300)
    asym = float(diff.max()) if diff.size else 0.0
    if asym > SYMMETRY_TOL * scale:
        i, j = np.unravel_index(np.argmax(diff), diff.shape)
        raise ValueError(f"{name!r} is not a symmetric RDM (shape {arr.shape}): max |{name}[i,j] - {name}[j,i]| = "
                         f"{asym:.4g} at cells [{i},{j}] and [{j},{i}] (values up to {scale:.4g}; allowed: "
                         f"{SYMMETRY_TOL:g} of that). Only the upper triangle would be compared. Pass a "
                         f"symmetric RDM, e.g. ({name} + {name}.T) / 2 if both triangles are meant.")


def rdm_stack(x, name: str, ndim_last: bool = False) -> np.ndarray:
    x = from_peer(x)
    if hasattr(x, "matrix") and not ndim_last:      # one LayerRDM (e.g. an rsatoolbox RDMs of one RDM)
        x = np.asarray(x.matrix)[None]
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    elif hasattr(x, "data") and not isinstance(x, np.ndarray):
        x = x.data
    arr = np.asarray(x, dtype=np.float64)
    shape_txt = "(N, N, T)" if ndim_last else "(S, N, N)"
    ok = arr.ndim == 3 and (arr.shape[0] == arr.shape[1] if ndim_last else arr.shape[1] == arr.shape[2])
    if not ok:
        raise ValueError(f"{name!r} must be a stack of RDMs {shape_txt}; got shape {arr.shape}.")
    return arr
