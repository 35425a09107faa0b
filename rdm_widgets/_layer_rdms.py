"""One RDM per layer of a feature source: the options of a run and the layer loop.

The public entry points (:meth:`rdm_widgets.RDMCreator.compute_rdms` / ``create_rdms``,
:func:`rdm_widgets.create_rdms_many`) validate their arguments once into an
:class:`RDMOptions` and each feature set into a :class:`LayerJob`; the local loop
(:func:`layer_rdms`) and a dask worker's task (:mod:`rdm_widgets.batch`) then compute with
those resolved values, so a local and a cluster run write the same RDMs.
"""
from __future__ import annotations

import math
import os
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Iterator, Optional

import torch

from ._options import DType, check_device, check_dtype
from ._progress import ProgressReporter
from ._validate import check_positive_int
from ._version import __version__
from .distances import (DegenerateRowsWarning, Distance, check_distance, degenerate_rows_warning,
                        pairwise_distances)
from .features import FeatureSource, check_pooling, open_features
from .rdm import LayerRDM

__all__ = ["RDMOptions", "rdm_options", "LayerJob", "plan_job", "layer_rdms", "warn_at_caller"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


@dataclass(frozen=True)
class RDMOptions:
    """The resolved options of an RDM run, shared by every layer and model.

    Attributes
    ----------
    distance : Distance
    pooling : str or None
        Canonical pooling name (``'MEAN'`` is stored as ``'mean'``).
    dtype : DType
        Working precision (features, distances and the stored RDMs).
    device : torch.device
    chunk_size : int or None
        Rows per distance block (None: each RDM in one block).
    """

    distance: Distance
    pooling: Optional[str]
    dtype: DType
    device: torch.device
    chunk_size: Optional[int]


def rdm_options(distance, pooling, dtype, device, chunk_size) -> RDMOptions:
    """Validate the options of a run once (errors as the public functions document them).

    Parameters
    ----------
    distance : str, callable or Distance
    pooling : str or None
    dtype : str, numpy / torch dtype or DType
    device : str or torch.device
    chunk_size : int or None

    Returns
    -------
    RDMOptions
    """
    return RDMOptions(check_distance(distance), check_pooling(pooling), check_dtype(dtype),
                      check_device(device), check_positive_int("chunk_size", chunk_size, allow_none=True))


@dataclass(frozen=True)
class LayerJob:
    """One feature set of a run, validated before anything is computed.

    Attributes
    ----------
    features : object
        What the caller passed (a dask worker reopens it from :meth:`FeatureSource.worker_sources`).
    source : FeatureSource
        The opened features.
    layers : list of str
        Validated layer names, in computing order.
    units : int
        Progress units of a local run: file reads plus distance blocks.
    """

    features: object
    source: FeatureSource
    layers: list
    units: int


def plan_job(features, layers, options: RDMOptions) -> LayerJob:
    """Open ``features`` and validate ``layers`` and the pooling against them (no data read).

    Raises
    ------
    ValueError
        Fewer than 2 stimuli, unknown layers, or sequence lengths that vary without a pooling.
    """
    src = open_features(features)
    if src.n_stimuli < 2:
        raise ValueError(f"An RDM needs at least 2 stimuli; {src.source} holds {src.n_stimuli}.")
    req = src.check_read(layers, options.pooling, options.dtype.numpy)
    reads = src.count_reads(req.layers, req.pooling, req.dtype)
    blocks = 1 if options.chunk_size is None else math.ceil(src.n_stimuli / options.chunk_size)
    return LayerJob(features, src, req.layers, reads + blocks * len(req.layers))


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


class _Forward:
    """Turn a ``progress(done, total)`` stream of one sub-task into reporter updates."""

    def __init__(self, reporter: ProgressReporter):
        self.reporter, self.last = reporter, 0

    def __call__(self, done, total):
        if done > self.last:
            self.reporter.update(done - self.last)
            self.last = done


def _distances_named(x, stimuli, layer, options: RDMOptions, **kwargs) -> torch.Tensor:
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


def layer_rdms(src: FeatureSource, options: RDMOptions, layers: list,
               reporter: ProgressReporter) -> Iterator[LayerRDM]:
    """Yield one :class:`LayerRDM` per layer, advancing ``reporter`` by file reads and blocks.

    Parameters
    ----------
    src : FeatureSource
    options : RDMOptions
    layers : list of str
        Validated layer names (:func:`plan_job`).
    reporter : ProgressReporter

    Yields
    ------
    LayerRDM
        The (N, N) matrix in ``options.dtype``, with the run's settings in ``meta``.
    """
    stream = src.iter_layers(layers, pooling=options.pooling, dtype=options.dtype.numpy, progress=reporter)
    # Arrays read from files are ours: let the distance work in place on them, so that no
    # second copy of the features is made. In-memory inputs belong to the user: never touch.
    owned = not src.in_memory and not options.distance.is_custom
    for layer, x in stream:
        matrix = _distances_named(x, src.stimuli, layer, options, progress=_Forward(reporter), overwrite_x=owned)
        shape = src.layer_shape(layer)
        meta = {
            "distance": options.distance.name,
            "pooling": options.pooling if options.pooling and src.has_sequence(layer) else None,
            "dtype": options.dtype.name,
            "device": str(options.device),
            "chunk_size": options.chunk_size,
            "n_stimuli": src.n_stimuli,
            "feature_shape": list(shape) if shape else None,
            "feature_dim": int(x.shape[1]),
            "source": src.source,
            "source_kind": src.format,
            "rdm_widgets_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        del x
        yield LayerRDM(matrix.numpy(), src.stimuli, layer, meta)
