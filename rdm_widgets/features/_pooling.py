"""Pooling over the sequence (token) axis of transformer features.

Language and vision transformers give one vector per token, ``[seq, D]`` or
``[1, seq, D]``, and the number of tokens usually differs between stimuli. An
RDM needs one fixed-length vector per stimulus, so such layers are pooled over
the sequence axis: mean or max over tokens, or the first (``[CLS]``) or last
token. The registry is a plain dict so that new poolings can be added without
touching the readers.
"""
from __future__ import annotations

from typing import Callable, Dict

import numpy as np

from .._validate import check_option

__all__ = ["POOLINGS", "pool_features", "check_pooling", "is_sequence_shape", "sequence_axis",
           "is_ambiguous_shape", "same_but_length", "shape_mismatch_error", "varying_length_error",
           "FeatureShapeError"]


def _mean(x: np.ndarray, axis: int, dtype=None) -> np.ndarray:
    # accumulate in the precision asked for (dtype='float64' pools in float64, also from float16
    # or float32 files), and in at least float32 so that float16 features do not lose precision
    acc = np.result_type(x.dtype, np.float32, *(() if dtype is None else (dtype,)))
    return np.mean(x, axis=axis, dtype=acc)


def _max(x: np.ndarray, axis: int, dtype=None) -> np.ndarray:
    return np.max(x, axis=axis)          # exact in any dtype


def _first(x: np.ndarray, axis: int, dtype=None) -> np.ndarray:
    return np.take(x, 0, axis=axis)


def _last(x: np.ndarray, axis: int, dtype=None) -> np.ndarray:
    return np.take(x, x.shape[axis] - 1, axis=axis)


#: name -> ``f(x, axis, dtype=None) -> x`` reduced over ``axis`` (the sequence axis); ``dtype`` is
#: the precision the features are asked for (a mean accumulates in it).
POOLINGS: Dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "mean": _mean,
    "max": _max,
    "first": _first,
    "last": _last,
}


def check_pooling(pooling):
    """Validate a pooling name; return its canonical spelling (the registered key) or None.

    Matching ignores case, so ``'MEAN'`` gives ``'mean'``: metadata and resume keys store
    the canonical name.

    Raises
    ------
    ValueError
        If ``pooling`` is not a registered name (the message suggests the closest).
    """
    if pooling is None:
        return None
    # said every time, not only for 'none': any wrong name may have been meant as "no pooling"
    return check_option("pooling", pooling, POOLINGS,
                        extra="To turn pooling off, pass pooling=None (no pooling is the default).")


def is_sequence_shape(shape) -> bool:
    """Whether a per-stimulus feature shape has a token (sequence) axis.

    ``[seq, D]`` with ``seq != 1`` and ``[1, seq, D]`` are sequences; conv maps
    ``[1, C, H, W]``, vectors ``[1, D]`` / ``[D]`` and ``[C, H, W]`` are not.

    Parameters
    ----------
    shape : tuple of int
        Shape of one stimulus' features (batch axis of 1 included if stored).
    """
    shape = tuple(shape)
    if len(shape) == 2:
        return shape[0] != 1
    if len(shape) == 3:
        return shape[0] == 1
    return False


def sequence_axis(shape) -> int:
    """Index of the sequence axis in a per-stimulus shape with a sequence.

    ``[seq, D]`` -> 0 and ``[1, seq, D]`` -> 1.
    """
    return 0 if len(tuple(shape)) == 2 else 1


def is_ambiguous_shape(shape) -> bool:
    """``[1, D]``: a vector, or a one-token sequence whose other stimuli have more tokens."""
    return len(tuple(shape)) == 2 and shape[0] == 1


def same_but_length(shape, ref) -> bool:
    """Whether ``shape`` equals the sequence shape ``ref`` except for the sequence length."""
    shape, ref = tuple(shape), tuple(ref)
    if len(shape) != len(ref) or len(ref) not in (2, 3):
        return False
    ax = sequence_axis(ref)
    return shape[:ax] + shape[ax + 1:] == ref[:ax] + ref[ax + 1:]


class FeatureShapeError(ValueError):
    """A layer whose shape in one stimulus differs from its shape in the reference stimulus.

    The message is the advice of a read without time axes (pool, or make the shapes agree); the
    attributes let a time-resolved read give its own advice for the same two files
    (:func:`rdm_widgets.features._time.clip_count_error`), whatever an earlier read left cached.

    Attributes
    ----------
    layer : str
    ref_name, ref_shape : str, tuple of int
        The reference stimulus (the first file) and its per-stimulus shape.
    name, shape : str, tuple of int
        The stimulus whose shape differs, and that shape.
    """

    def __init__(self, message, layer, ref_name, ref_shape, name, shape):
        super().__init__(message)
        self.layer, self.ref_name, self.ref_shape = layer, ref_name, tuple(ref_shape)
        self.name, self.shape = name, tuple(shape)


def shape_mismatch_error(layer, name, shape, ref_name, ref) -> FeatureShapeError:
    """The error for a stimulus whose feature shape differs from the first stimulus'."""
    hint = ""
    if same_but_length(shape, ref):
        hint = " If this is a token sequence, pass pooling='mean', 'max', 'first' or 'last'."
    return FeatureShapeError(
        f"Layer {layer!r} has shape {tuple(shape)} in {name!r} but {tuple(ref)} in {ref_name!r}. "
        "Every stimulus must have the same feature shape for a layer "
        f"(only the sequence length of [seq, D] / [1, seq, D] layers may vary).{hint}",
        layer, ref_name, ref, name, shape)


def varying_length_error(layer, varying) -> FeatureShapeError:
    """The error for variable-length sequences without pooling.

    ``varying`` is ``(name_a, shape_a, name_b, shape_b)``.
    """
    name_a, shape_a, name_b, shape_b = varying
    return FeatureShapeError(
        f"Layer {layer!r} has sequences of different lengths: shape {shape_b} in {name_b!r} "
        f"but {shape_a} in {name_a!r}. Pass pooling='mean', 'max', 'first' or 'last' to pool "
        "over the sequence axis.",
        layer, name_a, shape_a, name_b, shape_b)


def pool_features(x: np.ndarray, pooling: str, axis: int = 0, dtype=None) -> np.ndarray:
    """Pool features over their sequence axis.

    Parameters
    ----------
    x : np.ndarray, shape (..., seq, ..., D)
        Features; ``axis`` indexes the sequence axis (e.g. ``(seq, D)`` with
        ``axis=0`` or ``(N, seq, D)`` with ``axis=1``).
    pooling : {'mean', 'max', 'first', 'last'}
        How to reduce the sequence axis.
    axis : int
        The sequence axis.
    dtype : numpy dtype or None
        The precision wanted: a mean accumulates in it (and in at least float32). None: the
        features' own precision (at least float32).

    Returns
    -------
    np.ndarray
        ``x`` with ``axis`` removed (e.g. ``(D,)`` or ``(N, D)``).
    """
    name = check_option("pooling", pooling, POOLINGS)
    x = np.asarray(x)
    if x.ndim == 0:
        raise ValueError("Cannot pool a 0-d array: features need a sequence axis.")
    if x.shape[axis] == 0:
        raise ValueError(f"Cannot pool features of shape {x.shape}: the sequence axis {axis} is empty.")
    return POOLINGS[name](x, axis, dtype=dtype)
