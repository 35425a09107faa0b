"""Time-resolved model RDMs: one RDM per clip / (clip, time point) of each layer.

Why this module exists: video and sequence layers hold several feature vectors per stimulus
(``multi_timepoint_rdms``, :mod:`rdm_widgets.features._time`). The RDM of each time point is
:func:`~rdm_widgets.distances.pairwise_distances` of that time point's (N, D) features, so it
equals the RDM of those features computed on their own (the registry's safeguards -- scaling,
cancellation refinement, degenerate rows -- apply to every time point; a fused (T, N, D) batch
would bypass them for the cost of one call per time point, which is negligible beside the GEMMs).

Two ways of reading, chosen by the run's options:

- without a reduction, every file is read **once** for all layers and time points
  (:meth:`FeatureSource.iter_time_layers`); memory: the layers of a pass (N, T * D);
- with a reduction, each layer is fitted first (one reducer per layer, on a seeded sample of its
  (stimulus, time point) rows, read from the sampled stimuli only) and then streamed in blocks of
  stimuli that are reduced as they arrive (:meth:`FeatureSource.iter_time_blocks`); memory: the
  reduced (N, T, k) features and one block of ``BLOCK_BYTES``. A single reducer for all time
  points keeps their RDMs comparable: the same projection at every model time.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from ._progress import ProgressReporter
from ._rdm_loop import Forward, distances_named, layer_meta

__all__ = ["time_resolved_rdms", "BLOCK_BYTES"]

#: original features held per block while a layer is reduced
BLOCK_BYTES = 64 * 1024 ** 2

_FITTED_ON = "(stimulus, time point) rows; one reducer per layer, shared by all its time points"


def _whole_layers(src, options, layers, reporter) -> Iterator[tuple]:
    """``(layer, (T, N, D) array, axes, None)``: all layers and time points from one read of each file."""
    stream = src.iter_time_layers(layers, options.multi_timepoint, dtype=options.dtype.numpy, progress=reporter)
    for layer, x, axes in stream:
        yield layer, x, axes, None


def _sample_rows(src, layer, axes, options) -> np.ndarray:
    """The seeded sample of (stimulus, time point) rows of ``layer``, (m, D), read from the sampled stimuli."""
    from ._reduction_source import iter_rows
    from .reduction import sample_indices

    n, n_times, d = src.n_stimuli, axes.n_times, axes.dim
    picked = sample_indices(n * n_times, options.reduction)        # rows of the (N * T, D) stack
    stims, inverse = np.unique(picked // n_times, return_inverse=True)
    sample = np.empty((len(picked), d), options.dtype.numpy)
    with src.trusted_shapes([layer]):          # shapes are checked while the files are read
        for block in iter_rows(src, [layer], stims, None, options.dtype.numpy):
            for _, pos, rows in block:
                rows = rows.reshape(len(rows), n_times, d)
                slot = np.full(len(stims), -1)
                slot[pos] = np.arange(len(pos))
                here = slot[inverse] >= 0
                sample[here] = rows[slot[inverse[here]], picked[here] % n_times]
    return sample


def _reduced_layers(src, options, layers, reporter) -> Iterator[tuple]:
    """``(layer, (T, N, k) array, axes, reducer)``: each layer fitted, then streamed and reduced by blocks."""
    from ._reduction_source import fit_without_sample
    from .reduction import fit_reducer_on

    layers, all_axes = src.time_axes(layers, options.multi_timepoint)
    dtype, device = options.dtype.numpy, options.device
    for layer in layers:
        axes = all_axes[layer]
        n, n_times, d = src.n_stimuli, axes.n_times, axes.dim
        # the reducer serves N * T rows: PCA's components follow the sampled rows, the automatic
        # Johnson-Lindenstrauss size keeps all N * T rows' distances (each time point's N too);
        # SRP (and a layer left as is) needs no rows, so no sample is read for it
        reducer = fit_without_sample(options.reduction, n * n_times, layer, d)
        if reducer is None:
            sample = torch.from_numpy(_sample_rows(src, layer, axes, options))
            reducer = fit_reducer_on(sample, options.reduction, n_stimuli=n * n_times, layer=layer, device=device)
            del sample
        out = np.empty((n_times, n, reducer.n_components), dtype)
        rows = max(1, BLOCK_BYTES // (n_times * d * dtype.itemsize))
        for idx, x in src.iter_time_blocks(layer, options.multi_timepoint, dtype=dtype, rows=rows):
            z = reducer.transform(torch.from_numpy(x.reshape(len(x) * n_times, d)).to(device))
            out[:, idx, :] = z.cpu().numpy().reshape(len(x), n_times, -1).transpose(1, 0, 2)
            reporter.update(len(idx))
        yield layer, out, axes, reducer


def time_resolved_rdms(src, options, layers: list, reporter: ProgressReporter) -> Iterator:
    """Yield one :class:`~rdm_widgets.eeg.TimeResolvedRDM` per layer: an RDM per clip / time point.

    Parameters
    ----------
    src : FeatureSource
    options : RDMOptions
        With ``multi_timepoint`` set (and maybe ``reduction``).
    layers : list of str
        Validated (:func:`rdm_widgets._layer_rdms.plan_job`).
    reporter : ProgressReporter
        Advanced by file reads (or stimuli, with a reduction) and distance blocks.

    Yields
    ------
    TimeResolvedRDM
        ``data`` (N, N, T), ``times`` 0..T-1, ``time_labels`` (``'clip 0'`` / ``'clip 0 · t 0'``),
        ``layer``, the stimuli as conditions, the run's settings in ``meta`` (plus
        ``multi_timepoint_rdms``, ``time_shape``, ``time_feature_shape`` and the reducer's
        ``dim_reduction``).
    """
    from .eeg import TimeResolvedRDM

    read = _reduced_layers if options.reduction is not None else _whole_layers
    for layer, x, axes, reducer in read(src, options, layers, reporter):
        n_times, n, dim = x.shape
        data = np.empty((n, n, n_times))
        for t in range(n_times):
            xt = np.ascontiguousarray(x[t])
            # a copy, the file's data or reduced rows may be worked on in place; the caller's array never
            owned = not (src.in_memory and reducer is None and np.may_share_memory(xt, x))
            matrix = distances_named(xt, src.stimuli, f"{layer} ({axes.labels[t]})", options,
                                     progress=Forward(reporter), overwrite_x=owned and not options.distance.is_custom)
            data[:, :, t] = matrix.numpy()
        meta = layer_meta(src, layer, options, dim)
        meta.update(multi_timepoint_rdms=options.multi_timepoint, time_shape=list(axes.time_shape),
                    time_feature_shape=list(axes.feature_shape))
        if reducer is not None:
            meta["dim_reduction"] = dict(reducer.meta(), fitted_on=_FITTED_ON)
        del x
        yield TimeResolvedRDM(data, times=np.arange(n_times, dtype=np.float64), conditions=src.stimuli,
                              meta=meta, time_labels=axes.labels, layer=layer)
