"""One RDM per layer of a feature source: the options of a run and the layer loop.

The public entry points (:meth:`rdm_widgets.RDMCreator.compute_rdms` / ``create_rdms``,
:func:`rdm_widgets.create_rdms_many`) validate their arguments once into an
:class:`RDMOptions` and each feature set into a :class:`LayerJob`; the local loop
(:func:`layer_rdms`) and a dask worker's task (:mod:`rdm_widgets.batch`) then compute with
those resolved values, so a local and a cluster run write the same RDMs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator, Optional

import torch

from ._options import DType, check_device, check_dtype
from ._progress import ProgressReporter
from ._validate import check_positive_int
from ._rdm_loop import Forward, distances_named, layer_meta, warn_at_caller
from .distances import Distance, check_distance
from .features import FeatureSource, check_multi_timepoint, check_pooling, open_features
from .rdm import LayerRDM

__all__ = ["RDMOptions", "rdm_options", "check_reduction_options", "LayerJob", "plan_job", "layer_rdms",
           "warn_at_caller"]

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
    multi_timepoint : {'clip', 'all_timepoints'} or None
        Net2Brain's ``multi_timepoint_rdms``: one RDM per clip / (clip, time point) of each
        layer (a :class:`~rdm_widgets.eeg.TimeResolvedRDM` per layer), or None (a LayerRDM).
    reduction : rdm_widgets.reduction.Reduction or None
        The validated dimensionality reduction (``check_reduction``), fitted per layer.
    """

    distance: Distance
    pooling: Optional[str]
    dtype: DType
    device: torch.device
    chunk_size: Optional[int]
    multi_timepoint: Optional[str] = None
    reduction: Any = None


def check_reduction_options(dim_reduction=None, n_components=None, n_samples_estim=100, srp_before_pca=False,
                            max_dim_allowed=None, random_state=0):
    """The validated :class:`rdm_widgets.reduction.Reduction` of the public parameters, or None.

    Net2Brain's names; the other parameters only apply when ``dim_reduction`` is given (as in
    Net2Brain), so that None needs no reduction module at all.
    """
    if dim_reduction is None:
        return None
    from .reduction import check_reduction     # only runs that reduce need it

    return check_reduction(dim_reduction, n_components=n_components, n_samples_estim=n_samples_estim,
                           srp_before_pca=srp_before_pca, max_dim_allowed=max_dim_allowed,
                           random_state=random_state)


def rdm_options(distance, pooling, dtype, device, chunk_size, *, multi_timepoint_rdms=None,
                reduction=None) -> RDMOptions:
    """Validate the options of a run once (errors as the public functions document them).

    Parameters
    ----------
    distance : str, callable or Distance
    pooling : str or None
    dtype : str, numpy / torch dtype or DType
    device : str or torch.device
    chunk_size : int or None
    multi_timepoint_rdms : {'clip', 'all_timepoints'} or None
    reduction : Reduction or None
        From :func:`check_reduction_options`.

    Returns
    -------
    RDMOptions
    """
    mode = check_multi_timepoint(multi_timepoint_rdms)
    pooling = check_pooling(pooling)
    if mode is not None and pooling is not None:
        raise ValueError(f"pooling={pooling!r} cannot be combined with multi_timepoint_rdms={mode!r}: the "
                         "clip / time axis would be pooled away. Pass pooling=None.")
    return RDMOptions(check_distance(distance), pooling, check_dtype(dtype),
                      check_device(device), check_positive_int("chunk_size", chunk_size, allow_none=True),
                      mode, reduction)


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
    blocks = 1 if options.chunk_size is None else math.ceil(src.n_stimuli / options.chunk_size)
    if options.multi_timepoint is not None:
        # every layer's clip / time axes are checked here, from the first file's header
        layers, axes = src.time_axes(layers, options.multi_timepoint)
        # with a reduction each layer is streamed in blocks of stimuli (progress: one per stimulus)
        reads = (src.n_stimuli * len(layers) if options.reduction is not None
                 else src.count_time_reads(layers, options.multi_timepoint, options.dtype.numpy))
        return LayerJob(features, src, layers, reads + blocks * sum(a.n_times for a in axes.values()))
    req = src.check_read(layers, options.pooling, options.dtype.numpy)
    read = src
    if options.reduction is not None:                  # reduced layers are read in blocks of stimuli
        from .reduction import reduced_source

        read = reduced_source(src, options.reduction, pooling=req.pooling, dtype=req.dtype, device=options.device)
    reads = read.count_reads(req.layers, req.pooling, req.dtype)
    return LayerJob(features, src, req.layers, reads + blocks * len(req.layers))


def layer_rdms(src: FeatureSource, options: RDMOptions, layers: list,
               reporter: ProgressReporter) -> Iterator:
    """Yield one :class:`LayerRDM` per layer, advancing ``reporter`` by file reads and blocks.

    With ``options.multi_timepoint`` one :class:`~rdm_widgets.eeg.TimeResolvedRDM` per layer
    instead (:func:`rdm_widgets._time_rdms.time_resolved_rdms`).

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
        The (N, N) matrix in ``options.dtype``, with the run's settings in ``meta`` (and the
        fitted reduction's under ``'dim_reduction'``).
    """
    if options.multi_timepoint is not None:
        from ._time_rdms import time_resolved_rdms

        yield from time_resolved_rdms(src, options, layers, reporter)
        return
    read = src
    if options.reduction is not None:
        from .reduction import reduced_source

        read = reduced_source(src, options.reduction, pooling=options.pooling, dtype=options.dtype.numpy,
                              device=str(options.device))
    stream = read.iter_layers(layers, pooling=options.pooling, dtype=options.dtype.numpy, progress=reporter)
    # Arrays read from files are ours: let the distance work in place on them, so that no
    # second copy of the features is made. In-memory inputs belong to the user: never touch.
    owned = not src.in_memory and not options.distance.is_custom
    for layer, x in stream:
        matrix = distances_named(x, src.stimuli, layer, options, progress=Forward(reporter), overwrite_x=owned)
        meta = layer_meta(src, layer, options, x.shape[1])
        if options.reduction is not None:
            meta["dim_reduction"] = read.reducer(layer).meta()
        del x
        yield LayerRDM(matrix.numpy(), src.stimuli, layer, meta)
