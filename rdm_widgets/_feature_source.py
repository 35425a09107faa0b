"""The :class:`FeatureSource` base class shared by the feature readers (private).

A source knows its stimuli (natural order) and layers, checks shapes lazily, and streams
``(layer, (N, D))`` blocks whose total size fits ``max_bytes``; the readers for each input
format live in :mod:`rdm_widgets.features`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from math import prod
from typing import Iterator, Optional

import numpy as np

from ._pooling import (POOLINGS, check_pooling, is_ambiguous_shape, is_sequence_shape,
                       same_but_length, sequence_axis, shape_mismatch_error, varying_length_error)
from ._progress import ProgressReporter
from ._validate import check_option, check_positive_int


#: Output bytes one pass over per-stimulus files may fill (else several passes).
DEFAULT_MAX_BYTES = 2 * 1024 ** 3
_HDF5_SUFFIXES = (".h5", ".hdf5")
_NUMERIC_KINDS = "biuf"


def natural_key(name) -> tuple:
    """Sort key that orders embedded numbers numerically ("img_2" < "img_10")."""
    s = str(name)
    parts = re.split(r"(\d+)", s)
    # odd positions are always the digit runs, so ints are only compared to ints
    return tuple(int(p) if i % 2 else p.lower() for i, p in enumerate(parts)), s


@dataclass
class _LayerInfo:
    shape: tuple                # per-stimulus shape of the reference stimulus
    sequence: bool              # has a token axis that pooling reduces
    varying: Optional[tuple] = None  # (name_a, shape_a, name_b, shape_b) when lengths differ
    checked: bool = True        # False until every stimulus' shape has been seen


def _layer_info(layer: str, shapes: list, names: list) -> _LayerInfo:
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
    return _LayerInfo(ref, sequence, varying)


class FeatureSource:
    """Features of N stimuli for several layers, read lazily.

    Use :func:`open_features` to create one.

    Attributes
    ----------
    stimuli : list of str
        Stimulus names, length N.
    layers : list of str
        Layer names.
    kind : str
        ``'npz_folder'``, ``'npz_layers'``, ``'hdf5'`` or ``'arrays'``.
    source : str
        Where the features come from (path or ``'<arrays>'``).
    """

    kind = "base"

    def __init__(self, stimuli, info: dict, source: str):
        self.stimuli = [str(s) for s in stimuli]
        if len(set(self.stimuli)) != len(self.stimuli):
            dup = sorted({s for s in self.stimuli if self.stimuli.count(s) > 1})
            raise ValueError(f"Duplicate stimulus names in {source}: {dup[:5]}. Stimulus names must be unique.")
        self._info = info
        self.layers = list(info)
        self.source = source

    @property
    def n_stimuli(self) -> int:
        """Number of stimuli N."""
        return len(self.stimuli)

    def __repr__(self):
        return (f"<FeatureSource {self.kind}: {self.n_stimuli} stimuli, {len(self.layers)} layers "
                f"from {self.source}>")

    def _layer(self, layer: str) -> _LayerInfo:
        return self._info[self._layer_name(layer, "layer")]

    def _layer_name(self, layer, what="layers") -> str:
        # exact match first: check_option is case-insensitive, and 'A_B' and 'a_b' may both exist
        return layer if isinstance(layer, str) and layer in self._info else check_option(what, layer, self.layers)

    def select_layers(self, layers=None) -> list:
        """Validated, de-duplicated layer names (None: all layers, a str: that one)."""
        if layers is None:
            return list(self.layers)
        if isinstance(layers, str):
            layers = [layers]
        layers = list(dict.fromkeys(self._layer_name(l) for l in layers))
        if not layers:
            raise ValueError("Invalid value for 'layers': an empty list. Pass None for all layers.")
        return layers

    def _scan(self) -> None:
        """Learn every stimulus' shapes (sources that open lazily override this)."""

    def layer_shape(self, layer: str):
        """Per-stimulus shape of ``layer`` as stored, or None when sequence lengths vary."""
        if not self._layer(layer).checked:
            self._scan()
        info = self._layer(layer)
        return None if info.varying else info.shape

    def has_sequence(self, layer: str) -> bool:
        """Whether ``layer`` has a token axis (``[seq, D]`` / ``[1, seq, D]``) that pooling reduces."""
        info = self._layer(layer)
        if not info.checked and is_ambiguous_shape(info.shape):
            self._scan()
        return self._layer(layer).sequence

    def feature_dim(self, layer: str, pooling: Optional[str] = None):
        """Length D of one stimulus' vector after pooling/flattening (None if it varies)."""
        info, pooling = self._layer(layer), check_pooling(pooling)
        if not info.checked and info.sequence and not pooling:
            self._scan()
            info = self._layer(layer)
        if info.sequence and pooling:
            ax = sequence_axis(info.shape)
            return prod(info.shape[ax + 1:])
        return None if info.varying else prod(info.shape)

    # -- streaming ---------------------------------------------------------------------
    def _check_request(self, layers, pooling, dtype, max_bytes):
        layers = self.select_layers(layers)
        pooling = check_pooling(pooling)
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"Invalid value for 'dtype': {dtype}. Expected a float dtype such as np.float32.")
        # Per-stimulus files are opened lazily (shapes are checked while reading). Look at
        # every file's shapes first only where the first file cannot tell: whether a
        # sequence layer's length varies (without pooling) or whether [1, D] is a sequence.
        infos = [self._info[l] for l in layers]
        if any(not i.checked and (i.sequence if pooling is None else is_ambiguous_shape(i.shape)) for i in infos):
            self._scan()
        for layer in layers:
            v = self._info[layer].varying
            if v and pooling is None:
                raise varying_length_error(layer, v)
        max_bytes = check_positive_int("max_bytes", max_bytes, allow_none=True) or DEFAULT_MAX_BYTES
        return layers, pooling, dtype, max_bytes

    def _plan(self, layers, pooling, dtype, max_bytes) -> list:
        """Group layers into passes; by default one layer per read."""
        return [[layer] for layer in layers]

    def count_reads(self, layers=None, pooling=None, dtype=np.float32, max_bytes=None) -> int:
        """Number of progress units (file reads) :meth:`iter_layers` will report."""
        req = self._check_request(layers, pooling, dtype, max_bytes)
        return self._count(self._plan(*req))

    def _count(self, plan) -> int:
        return len(plan)

    def iter_layers(self, layers=None, pooling=None, dtype=np.float32, progress=None,
                    max_bytes=None) -> Iterator[tuple]:
        """Stream ``(layer, features)`` with features of shape (N, D).

        Parameters
        ----------
        layers : list of str or None
            Layers to read (None: all), yielded in this order.
        pooling : {'mean', 'max', 'first', 'last'} or None
            Reduction over the sequence axis of ``[seq, D]`` / ``[1, seq, D]``
            layers; other layers are flattened. Required when lengths vary.
        dtype : numpy float dtype
            Dtype of the yielded arrays.
        progress : callable, ProgressReporter or None
            ``progress(done, total)`` called after every file read, or a
            :class:`ProgressReporter` advanced by one per file read.
        max_bytes : int or None
            Memory allowed for the arrays filled in one pass over
            per-stimulus files (default 2 GiB).

        Returns
        -------
        iterator of (str, np.ndarray of shape (N, D))
            Arguments are validated when this is called, before anything is read.
        """
        req = self._check_request(layers, pooling, dtype, max_bytes)
        plan = self._plan(*req)
        if isinstance(progress, ProgressReporter):
            reporter, own = progress, False
        else:
            reporter, own = ProgressReporter(self._count(plan), progress), True
        return self._stream(plan, req[1], req[2], reporter, own)

    def _stream(self, plan, pooling, dtype, reporter, own):
        try:
            for block in plan:
                for layer, arr in self._read_block(block, pooling, dtype, reporter):
                    yield layer, arr
                    del arr  # let the consumer free each layer before the next one is read
        finally:
            if own:
                reporter.close()

    def _read_block(self, block, pooling, dtype, reporter):
        raise NotImplementedError

    # -- helpers for sources whose arrays are (N, ...) -------------------------------------
    def _batch_rows(self, layer, a, pooling, dtype, where, names) -> np.ndarray:
        """(n, ...) stored features -> (n, D) rows of ``dtype`` (pooled or flattened)."""
        if a.dtype.kind not in _NUMERIC_KINDS:
            raise TypeError(f"Layer {layer!r} in {where} has dtype {a.dtype}; features must be numeric.")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            bad = ~np.isfinite(a.reshape(len(a), -1)).all(axis=1)
            stims = [names[i] for i in np.flatnonzero(bad)]
            raise ValueError(
                f"Features of layer {layer!r} in {where} contain NaN or inf for {len(stims)} "
                f"stimulus/stimuli: {stims[:10]}. Remove or impute them before computing RDMs."
            )
        info = self._info[layer]
        if info.sequence and pooling:
            a = POOLINGS[pooling](a, 1 + sequence_axis(info.shape))
        return np.ascontiguousarray(a.reshape(len(a), -1), dtype=dtype)


