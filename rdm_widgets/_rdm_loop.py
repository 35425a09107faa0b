"""What the layer loop and the time-resolved loop share: the progress forwarding, distances
whose warnings name stimuli, warnings attributed to the user's call, and an RDM's meta."""
from __future__ import annotations

import os
import sys
import time
import warnings

import torch

from ._progress import ProgressReporter
from ._version import __version__
from .distances import DegenerateRowsWarning, degenerate_rows_warning, pairwise_distances

__all__ = ["warn_at_caller", "Forward", "distances_named", "layer_meta"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn_at_caller(message) -> None:
    """``warnings.warn(message)`` attributed to the first frame outside this package.

    A warning raised deep in a run (a layer's degenerate rows, a dask worker's warning)
    then points at the user's call, however many package frames (generators, helpers)
    lie between, as a fixed ``stacklevel`` could not.
    """
    frame, level = sys._getframe(1), 2          # stacklevel 1 is this function
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, stacklevel=level)


class Forward:
    """Turn a ``progress(done, total)`` stream of one sub-task into reporter updates."""

    def __init__(self, reporter: ProgressReporter):
        self.reporter, self.last = reporter, 0

    def __call__(self, done, total):
        if done > self.last:
            self.reporter.update(done - self.last)
            self.last = done


def distances_named(x, stimuli, layer, options, **kwargs) -> torch.Tensor:
    """``pairwise_distances`` whose degenerate-row warning names stimuli instead of row indices."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = pairwise_distances(x, options.distance, chunk_size=options.chunk_size, device=options.device,
                                 dtype=options.dtype, **kwargs)
    for w in caught:
        if not isinstance(w.message, DegenerateRowsWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            continue
        warn_at_caller(degenerate_rows_warning(layer, stimuli, w.message.indices, options.distance.name))
    return out


def layer_meta(src, layer: str, options, dim: int) -> dict:
    """The settings of one RDM of ``layer`` (``options``: an RDMOptions)."""
    shape = src.layer_shape(layer)
    return {
        "distance": options.distance.name,
        "pooling": options.pooling if options.pooling and src.has_sequence(layer) else None,
        "dtype": options.dtype.name,
        "device": str(options.device),
        "chunk_size": options.chunk_size,
        "n_stimuli": src.n_stimuli,
        "feature_shape": list(shape) if shape else None,
        "feature_dim": int(dim),
        "source": src.source,
        "source_kind": src.format,
        "rdm_widgets_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
