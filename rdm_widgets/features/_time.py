"""Time-resolved features: one (N, D) matrix per clip or per (clip, time point) of a layer.

Video models give one stimulus several feature vectors: ``[1, clips, ...]`` (one per clip of
the video) or ``[1, clips, T, ...]`` (one per frame of each clip); sequence models give
``[T, ...]`` (one per time step, no batch axis). Net2Brain's ``multi_timepoint_rdms`` names the
two readings of such a layer:

- ``'clip'``: the first axis after the batch axis is time (``[1, clips, ...]`` gives ``clips``
  time points, ``[T, D]`` gives ``T``);
- ``'all_timepoints'``: the first two axes after the batch axis are (clip, time point), flattened
  clip-major (``[1, clips, T, ...]`` gives ``clips * T`` time points).

The batch axis is a leading axis of length 1 (``[1, clips, D]``, ``[1, D]``);
``[T, D]`` has none. The per-stimulus flattened row of such a layer is the time points' vectors
one after the other, so a layer read once as (N, T * D) is reshaped, not copied, into
(N, T, D): every file is read once for all layers and time points (by
:meth:`FeatureSource.iter_layers`), and the time points never mix stimuli (the stimulus axis is
never part of the per-stimulus shape, whatever the format).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from math import prod
from typing import Iterator

import numpy as np

from .._validate import check_option
from ._pooling import FeatureShapeError

__all__ = ["MULTI_TIMEPOINT_MODES", "check_multi_timepoint", "TimeAxes", "time_axes", "time_stream",
           "time_blocks", "clip_count_error", "time_read_errors", "TimeReads"]


@dataclass(frozen=True)
class TimeAxes:
    """How one layer's per-stimulus shape splits into time points and features.

    Attributes
    ----------
    shape : tuple of int
        The stored per-stimulus shape.
    time_shape : tuple of int
        ``(clips,)`` or ``(clips, T)``.
    feature_shape : tuple of int
        The shape of one time point's features.
    labels : list of str
        One label per time point: ``'clip 0'`` ... or ``'clip 0 · t 0'`` ...
    """

    shape: tuple
    time_shape: tuple
    feature_shape: tuple
    labels: list

    @property
    def n_times(self) -> int:
        return prod(self.time_shape)

    @property
    def dim(self) -> int:
        """Features per time point (D)."""
        return prod(self.feature_shape)


def _clip_labels(shape):
    return [f"clip {c}" for c in range(shape[0])]


def _timepoint_labels(shape):
    return [f"clip {c} · t {t}" for c in range(shape[0]) for t in range(shape[1])]


#: mode -> (number of time axes, labels(time_shape), what the axes are called in errors)
MULTI_TIMEPOINT_MODES = {
    "clip": (1, _clip_labels, "a clip (or time) axis: [1, clips, ...] or [T, D]"),
    "all_timepoints": (2, _timepoint_labels, "clip and time axes: [1, clips, T, ...]"),
}


def check_multi_timepoint(mode):
    """Validate Net2Brain's ``multi_timepoint_rdms`` option: None, ``'clip'`` or ``'all_timepoints'``."""
    if mode is None:
        return None
    return check_option("multi_timepoint_rdms", mode, MULTI_TIMEPOINT_MODES)


def time_axes(layer: str, shape, mode: str) -> TimeAxes:
    """Split the per-stimulus ``shape`` of ``layer`` into time axes and feature axes.

    Raises
    ------
    ValueError
        The layer has no such axes (e.g. ``[1, D]`` with ``'clip'``): the message names the
        layer, its shape and what the mode needs.
    """
    if shape is None:
        raise ValueError(f"Layer {layer!r} has sequences of different lengths; time-resolved RDMs "
                         "(multi_timepoint_rdms) need the same number of clips / time points in every file.")
    shape = tuple(int(s) for s in shape)
    n_axes, labels, needs = MULTI_TIMEPOINT_MODES[mode]
    body = _body(shape)
    if len(body) < n_axes + 1:
        raise ValueError(
            f"multi_timepoint_rdms={mode!r} needs {needs}, but layer {layer!r} has shape {shape} "
            "per stimulus. Choose the layers that have them (layers=[...]) or multi_timepoint_rdms="
            + ("'clip'." if mode == "all_timepoints" and len(body) >= 2 else "None."))
    time_shape, feature_shape = body[:n_axes], body[n_axes:]
    return TimeAxes(shape, time_shape, feature_shape, labels(time_shape))


def _body(shape) -> tuple:
    """The per-stimulus shape without its batch axis (a leading 1 of a shape with 2+ axes)."""
    shape = tuple(shape)
    return shape[1:] if len(shape) >= 2 and shape[0] == 1 else shape


def time_stream(info: dict, stream, axes: dict, fresh: list):
    """``(layer, (n_times, N, D) view, TimeAxes)`` from ``iter_layers``' ``(layer, (N, T * D))``.

    ``info`` is the source's ``{layer: LayerInfo}``; the layers in ``fresh`` were marked checked
    before the read and are unmarked again when it does not finish. A clip count that differs
    between files is reported with both files and shapes.
    """
    yield from _clip_checked(info, axes, fresh, (
        (layer, x.reshape(len(x), axes[layer].n_times, axes[layer].dim).transpose(1, 0, 2), axes[layer])
        for layer, x in stream))


def _clip_checked(info: dict, axes, fresh: list, items):
    """Yield from ``items``, reporting a clip count that differs between files
    (:func:`clip_count_error`) and unmarking the ``fresh`` layers when the read does not finish."""
    done = False
    try:
        with time_read_errors(axes):
            yield from items
        done = True
    finally:
        if not done:
            for name in fresh:
                info[name].checked = False


@contextlib.contextmanager
def time_read_errors(axes=None):
    """Within the block, a :class:`FeatureShapeError` whose two shapes differ only in their time
    axes is raised as :func:`clip_count_error`'s (the advice of a time-resolved read).

    The decision is taken from the error's own files and shapes, never from what an earlier read
    of the source cached: a read that is refused before any file is opened (a length already seen
    to vary, a header scan) gets the same message as the read that first found the difference.
    """
    try:
        yield
    except FeatureShapeError as err:
        better = clip_count_error(err, axes)
        if better is None:
            raise
        raise better from err


def clip_count_error(err: FeatureShapeError, axes=None):
    """The time-resolved error for ``err`` when its two shapes differ in the time axes only (else None).

    ``axes`` is ``{layer: TimeAxes}`` of the read (its mode says how many leading axes are time:
    1 for ``'clip'``, 2 for ``'all_timepoints'``); without it only the clip axis (the first axis
    after the batch axis, time in either mode) counts.
    """
    n = len(axes[err.layer].time_shape) if axes and err.layer in axes else 1
    a, b = _body(err.ref_shape), _body(err.shape)
    if len(a) != len(b) or len(a) <= n or a[n:] != b[n:] or a[:n] == b[:n]:
        return None
    return ValueError(
        f"Layer {err.layer!r} has shape {err.shape} in {err.name!r} but {err.ref_shape} in "
        f"{err.ref_name!r}: a different number of clips / time points. Time-resolved RDMs "
        "(multi_timepoint_rdms) need the same number in every stimulus file.")


def time_blocks(info: dict, blocks, layer: str, axes: TimeAxes, fresh: list):
    """``(indices (b,), (b, T, D))`` from ``iter_row_blocks``' ``(indices, (b, T * D))`` of one layer."""
    yield from _clip_checked(info, {layer: axes}, fresh,
                             ((idx, x.reshape(len(x), axes.n_times, axes.dim)) for idx, x in blocks))


class TimeReads:
    """The time-resolved reads of :class:`~rdm_widgets.features.FeatureSource` (a mixin: it uses
    the source's ``_info``, ``select_layers``, ``_layer``, ``iter_layers`` and ``iter_row_blocks``)."""

    # -- time-resolved layers ------------------------------------------------------------
    def iter_time_layers(self, layers=None, mode="clip", dtype=np.float32, progress=None,
                         max_bytes=None) -> Iterator[tuple]:
        """Stream ``(layer, features, axes)`` with features of shape (n_times, N, D) (a view).

        Each file is read once for all layers and time points of a pass (as
        :meth:`iter_layers` without pooling); the per-stimulus rows are split into time points
        (``rdm_widgets.features._time``).

        Parameters
        ----------
        layers : list of str or None
        mode : {'clip', 'all_timepoints'}
            Net2Brain's ``multi_timepoint_rdms``: one time point per clip of ``[1, clips, ...]``
            (or per step of ``[T, D]``), or per (clip, t) of ``[1, clips, T, ...]``.
        dtype, progress, max_bytes
            As in :meth:`iter_layers`.

        Returns
        -------
        iterator of (str, np.ndarray of shape (n_times, N, D), TimeAxes)
            Arguments and every layer's shape are checked when this is called, before
            anything is read (from the first file's header); a file whose clip count differs
            raises while it is read, naming both files and shapes.
        """
        layers, axes = self.time_axes(layers, mode)
        # Every file's shape is compared with the first one's while it is read (a differing clip
        # count raises there), so the header scan that only answers that question early is skipped.
        fresh = self._trust_shapes(layers)
        try:
            with time_read_errors(axes):     # e.g. a length an earlier read saw vary
                stream = self.iter_layers(layers, None, dtype, progress, max_bytes)
        except BaseException:
            self._distrust(fresh)
            raise
        return time_stream(self._info, stream, axes, fresh)

    def time_axes(self, layers, mode) -> tuple:
        """``(layers, {layer: TimeAxes})``: validated layers split into time and feature axes.

        Raises
        ------
        ValueError
            An unknown mode, or a layer without the axes the mode needs (names layer and shape).
        """
        mode = check_multi_timepoint(mode)
        if mode is None:
            raise ValueError("Invalid value for 'mode': None. Use iter_layers for one RDM per layer.")
        layers = self.select_layers(layers)
        return layers, {layer: time_axes(layer, self._layer(layer).shape, mode) for layer in layers}

    def iter_time_blocks(self, layer: str, mode, *, dtype=np.float32, rows: int = 1024) -> Iterator[tuple]:
        """One layer in blocks of stimuli, split into time points: ``(indices (b,), (b, T, D))``.

        As :meth:`iter_row_blocks` (bounded memory) and :meth:`iter_time_layers` (shapes
        checked while reading, a differing clip count names both files).
        """
        layers, axes = self.time_axes([layer], mode)
        fresh = self._trust_shapes(layers)
        try:
            with time_read_errors(axes):
                blocks = self.iter_row_blocks(layers[0], pooling=None, dtype=dtype, rows=rows)
        except BaseException:
            self._distrust(fresh)
            raise
        return time_blocks(self._info, blocks, layers[0], axes[layers[0]], fresh)

    def count_time_reads(self, layers, mode, dtype=np.float32, max_bytes=None) -> int:
        """Progress units (file reads) of :meth:`iter_time_layers`, without reading any data."""
        layers, axes = self.time_axes(layers, mode)
        with time_read_errors(axes), self.trusted_shapes(layers):
            return self.count_reads(layers, None, dtype, max_bytes)

    @contextlib.contextmanager
    def trusted_shapes(self, layers):
        """Within the block, take the first file's shapes of ``layers`` as every file's.

        A read without pooling compares every file's shape with the first one's anyway (and
        raises naming both), so the header scan of all files is skipped for time-resolved reads;
        a clip count that differs raises the time-resolved message (:func:`time_read_errors`).
        """
        fresh = self._trust_shapes(layers)
        try:
            with time_read_errors():
                # a length an earlier read saw vary: refused here, before a caller sizes a read
                # from feature_dim (None for such a layer)
                self.check_read(layers)
                yield
        finally:
            self._distrust(fresh)

    def _trust_shapes(self, layers) -> list:
        fresh = [layer for layer in layers if not self._info[layer].checked]
        for layer in fresh:
            self._info[layer].checked = True
        return fresh

    def _distrust(self, layers) -> None:
        for layer in layers:
            self._info[layer].checked = False
