"""The :class:`FeatureSource` interface every feature format implements.

A source knows its stimuli (natural order) and layers, checks shapes lazily, and streams
features two ways: whole ``(layer, (N, D))`` arrays whose total size fits ``max_bytes``
(:meth:`FeatureSource.iter_layers`) or one layer in blocks of rows
(:meth:`FeatureSource.iter_row_blocks`). It also says what a read will cost
(:meth:`FeatureSource.read_cost`) and how a dask worker reopens it
(:meth:`FeatureSource.worker_sources`), so that no caller needs to know the format.

A format subclasses :class:`FeatureSource` in its own module and overrides
``_read_pass`` and ``_row_blocks`` (reading), and where its numbers differ from the
defaults ``_plan``/``_count`` (passes), ``_stored_itemsize``/``_key_reads``/``_held``
(costs) and :meth:`~FeatureSource.worker_sources`.
"""
from __future__ import annotations

from math import prod
from typing import Iterator, Optional

import numpy as np

from .._progress import ProgressReporter
from .._validate import check_option, check_positive_int
from ._plan import DEFAULT_MAX_BYTES, ReadCost, ReadRequest
from ._pooling import POOLINGS, check_pooling, is_ambiguous_shape, sequence_axis, varying_length_error
from ._shapes import LayerInfo, check_numeric
from ._time import TimeReads

__all__ = ["FeatureSource"]


class FeatureSource(TimeReads):
    """Features of N stimuli for several layers, read lazily.

    Use :func:`open_features` to create one.

    Attributes
    ----------
    stimuli : list of str
        Stimulus names, length N.
    layers : list of str
        Layer names.
    format : str
        ``'npz_folder'``, ``'npz_layers'``, ``'hdf5'`` or ``'arrays'`` (written into RDM
        metadata as ``source_kind``; ``kind`` is the same value).
    in_memory : bool
        True when the features are the caller's arrays (never modified in place); False
        when every array yielded is a fresh copy read from files.
    source : str
        Where the features come from (path or ``'<arrays>'``).
    """

    format = "base"
    in_memory = True     # the safe default for other subclasses: never let callers write into rows

    def __init__(self, stimuli, info: dict, source: str):
        self.stimuli = [str(s) for s in stimuli]
        if len(set(self.stimuli)) != len(self.stimuli):
            dup = sorted({s for s in self.stimuli if self.stimuli.count(s) > 1})
            raise ValueError(f"Duplicate stimulus names in {source}: {dup[:5]}. Stimulus names must be unique.")
        self._info = info
        self.layers = list(info)
        self.source = source

    @property
    def kind(self) -> str:
        """Same as :attr:`format` (the older name)."""
        return self.format

    @property
    def n_stimuli(self) -> int:
        """Number of stimuli N."""
        return len(self.stimuli)

    def __repr__(self):
        return (f"<FeatureSource {self.format}: {self.n_stimuli} stimuli, {len(self.layers)} layers "
                f"from {self.source}>")

    def _layer(self, layer: str) -> LayerInfo:
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

    # -- validation and plans ------------------------------------------------------------
    def check_read(self, layers=None, pooling=None, dtype=np.float32) -> ReadRequest:
        """Validate a read before any data is read.

        Parameters
        ----------
        layers, pooling, dtype
            As in :meth:`iter_layers`.

        Returns
        -------
        ReadRequest
            ``(layers, pooling, dtype)``: layer names, the canonical pooling name (``'MEAN'``
            gives ``'mean'``) and the numpy dtype.

        Raises
        ------
        ValueError
            Unknown layer or pooling, or a layer whose sequence lengths vary without a pooling.
        TypeError
            A dtype that is not a float dtype.
        """
        return ReadRequest(*self._check_request(layers, pooling, dtype, None)[:3])

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

    # -- whole layers --------------------------------------------------------------------
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
        """Read one pass: every data read of :meth:`iter_layers` goes through here."""
        return self._read_pass(block, pooling, dtype, reporter)

    def _read_pass(self, block, pooling, dtype, reporter):
        """Yield ``(layer, (N, D))`` for the layers of one pass, ``reporter.update`` per file read."""
        raise NotImplementedError

    # -- blocks of rows ------------------------------------------------------------------
    def iter_row_blocks(self, layer: str, *, pooling=None, dtype=np.float32,
                        rows: int = 1024) -> Iterator[tuple]:
        """Stream one layer in blocks of stimuli, never all N rows at once.

        Rows are pooled, flattened and validated as by :meth:`iter_layers`.

        Parameters
        ----------
        layer : str
        pooling : {'mean', 'max', 'first', 'last'} or None
            As in :meth:`iter_layers`.
        dtype : numpy float dtype
        rows : int
            Stimuli per block (the block is the only (b, D) array in memory).

        Returns
        -------
        iterator of (np.ndarray of shape (b,), np.ndarray of shape (b, D))
            ``(stimulus_indices, features)`` blocks covering every stimulus once, in storage
            order; ``stimulus_indices`` say where each row belongs in :attr:`stimuli` (a
            per-layer npz may list its stimuli in another order). Arguments are validated
            when this is called.
        """
        req = self._check_request([layer], pooling, dtype, None)
        rows = check_positive_int("rows", rows)
        return self._row_blocks(req[0][0], req[1], req[2], rows)

    def _row_blocks(self, layer, pooling, dtype, rows) -> Iterator[tuple]:
        raise TypeError(f"{type(self).__name__} cannot stream its features by rows.")

    def _slice_blocks(self, layer, a, pooling, dtype, rows, where) -> Iterator[tuple]:
        """Row blocks of ``a`` (an (N, ...) array or HDF5 dataset) sliced ``rows`` at a time."""
        n = self.n_stimuli
        for start in range(0, n, rows):
            stop = min(n, start + rows)
            yield np.arange(start, stop), self._batch_rows(layer, a[start:stop], pooling, dtype, where,
                                                           self.stimuli[start:stop])

    def _batch_rows(self, layer, a, pooling, dtype, where, names) -> np.ndarray:
        """(n, ...) stored features -> (n, D) rows of ``dtype`` (pooled or flattened)."""
        check_numeric(layer, a.dtype, where)
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            bad = ~np.isfinite(a.reshape(len(a), -1)).all(axis=1)
            stims = [names[i] for i in np.flatnonzero(bad)]
            raise ValueError(
                f"Features of layer {layer!r} in {where} contain NaN or inf for {len(stims)} "
                f"stimulus/stimuli: {stims[:10]}. Remove or impute them before computing RDMs."
            )
        info = self._info[layer]
        if info.sequence and pooling:
            a = POOLINGS[pooling](a, 1 + sequence_axis(info.shape), dtype=dtype)
        return np.ascontiguousarray(a.reshape(len(a), -1), dtype=dtype)

    # -- costs ---------------------------------------------------------------------------
    def read_cost(self, layers=None, pooling=None, dtype=np.float32) -> ReadCost:
        """What :meth:`iter_layers` will read and hold, from the headers only (no data).

        Parameters
        ----------
        layers, pooling, dtype
            As in :meth:`iter_layers` (default ``max_bytes``).

        Returns
        -------
        ReadCost

        Raises
        ------
        ValueError, TypeError
            As :meth:`check_read` (e.g. varying sequence lengths without a pooling).
        """
        req = self._check_request(layers, pooling, dtype, None)
        layers, pooling, dtype = req[:3]
        plan = self._plan(*req)
        n = self.n_stimuli
        read_bytes = key_reads = 0
        held = {}                     # bytes of each layer's features while it is read
        for layer in layers:
            size, itemsize = prod(self._info[layer].shape), self._stored_itemsize(layer)
            dim = self.feature_dim(layer, pooling)
            stored, rows = n * size * itemsize, n * dim * dtype.itemsize
            read_bytes += stored
            key_reads += self._key_reads(layer)
            converts = itemsize != dtype.itemsize or size != dim
            held[layer] = self._held(rows, stored, converts)
        block = max(sum(held[layer] for layer in part) for part in plan)
        if self.in_memory:
            return ReadCost(0, 0, None, int(block), False)
        return ReadCost(self._count(plan), key_reads, read_bytes, int(block), True)

    def _stored_itemsize(self, layer) -> int:
        """Bytes per stored value of ``layer`` (sources that cannot tell: float32)."""
        return 4

    def _key_reads(self, layer) -> int:
        """Arrays read per layer (one per file for per-stimulus files)."""
        return 1

    def _held(self, rows: int, stored: int, converts: bool) -> int:
        """Bytes held while one layer is read: its (N, D) output of ``rows`` bytes, by default."""
        return rows

    # -- dask workers --------------------------------------------------------------------
    def worker_sources(self, layers, scatter) -> list:
        """Per layer, ``(source, stimuli)`` that ``open_features(source, stimuli=stimuli)`` opens on a worker.

        Parameters
        ----------
        layers : list of str
            Layers the workers will read (one task each).
        scatter : callable
            ``scatter(list) -> list of futures`` sending data to the cluster once (e.g.
            ``lambda items: client.scatter(items, hash=False)``).

        Returns
        -------
        list of (object, list of str or None)
            One entry per layer. File sources give absolute paths (a worker's working directory
            may differ); this default sends the source object itself.
        """
        layers = self.select_layers(layers)
        future = scatter([self])[0]
        return [(future, None)] * len(layers)
