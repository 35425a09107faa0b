"""What model-vs-brain functions accept as models and brain RDMs, turned into one shape.

Why this module exists: :func:`rdm_widgets.model_rsa.model_brain_table` and
:func:`rdm_widgets.bootstrap.bootstrap_models` take the same inputs (LayerRDM dicts, one or two
levels deep; RDMSet stacks from :func:`rdm_widgets.rdm_files.read_rdm_file`; rsatoolbox ``RDMs``);
both read them here, so that they cannot drift apart.
"""
from __future__ import annotations

import numpy as np

from .rdm_files import RDMSet

__all__ = ["as_brains", "as_models"]


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
    if not isinstance(models, dict) or not models:
        raise ValueError("models must be a non-empty dict: {layer: LayerRDM} or {model: {layer: LayerRDM}}.")
    if all(isinstance(v, LayerRDM) for v in models.values()):
        return {"model": dict(models)}
    out = {}
    for name, layers in models.items():
        if not isinstance(layers, dict) or not layers or not all(isinstance(v, LayerRDM) for v in layers.values()):
            raise TypeError(f"Model {name!r} must be a non-empty dict {{layer: LayerRDM}}.")
        out[str(name)] = dict(layers)
    return out
