"""What a source knows of one layer (shape, sequence axis, varying lengths) and the dtype rule."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .._npy import PickledArrayError
from ._pooling import is_sequence_shape, same_but_length, shape_mismatch_error

__all__ = ["LayerInfo", "layer_info", "check_numeric", "check_stored", "pickled_error"]

_NUMERIC_KINDS = "biuf"


@dataclass
class LayerInfo:
    """What a source knows of one layer."""

    shape: tuple                # per-stimulus shape of the reference stimulus
    sequence: bool              # has a token axis that pooling reduces
    varying: Optional[tuple] = None  # (name_a, shape_a, name_b, shape_b) when lengths differ
    checked: bool = True        # False until every stimulus' shape has been seen


def layer_info(layer: str, shapes: list, names: list) -> LayerInfo:
    """Check that one layer's per-stimulus shapes agree; return its info."""
    ref = shapes[0]
    sequence = any(is_sequence_shape(s) for s in shapes)
    varying = None
    for name, s in zip(names, shapes):
        if s == ref:
            continue
        if sequence and same_but_length(s, ref):
            varying = varying or (names[0], ref, name, s)
            continue
        raise shape_mismatch_error(layer, name, s, names[0], ref)
    return LayerInfo(ref, sequence, varying)


def check_numeric(layer, dtype, where: str, what: str = "Layer") -> None:
    """Raise TypeError unless ``dtype`` is numeric (bool, int or float); ``where`` is quoted already."""
    if np.dtype(dtype).kind not in _NUMERIC_KINDS:
        raise TypeError(f"{what} {layer!r} in {where} has dtype {dtype}; features must be numeric.")


def check_stored(layer, dtype, where: str) -> None:
    """:func:`check_numeric` of an array stored in an ``.npz`` (its header's dtype): an object
    array is pickled, and is refused as such (the message never suggests loading it)."""
    if np.dtype(dtype).kind == "O":
        raise pickled_error(layer, where)
    check_numeric(layer, dtype, where)


def pickled_error(layer, where: str) -> PickledArrayError:
    """The error of a layer stored as an object (pickled) array; ``where`` is quoted already."""
    return PickledArrayError(f"{where}: layer {layer!r} is a pickled object array; it is never loaded (loading "
                      "runs code): save numeric arrays.")
