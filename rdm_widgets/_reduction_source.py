"""Fitting reducers on a seeded sample of stimuli, and a :class:`FeatureSource` that yields reduced rows.

Reading a subset of stimuli: a per-stimulus folder opens only the sampled files (each once
for all layers being fitted); other formats stream their rows in blocks and keep the sampled
ones, stopping after the last. The reduced source reads the reduced layers in blocks of at
most :data:`BLOCK_BYTES` of original features, so memory holds one block plus the (N, k)
outputs, never the (N, D) layer.
"""
from __future__ import annotations

import contextlib
import dataclasses
from typing import Iterator

import numpy as np
import torch

from ._options import check_device
from ._progress import ProgressReporter
from ._reduction_fit import Reducer, fit_pca, srp_matrix
from ._reduction_options import LayerPlan, Reduction, plan_layer
from .features import FeatureSource, check_pooling, open_features

__all__ = ["ReducedSource", "fit_layers", "fit_sample", "fit_without_sample", "sample_indices", "iter_rows",
           "BLOCK_BYTES"]

#: original features read per block (a block is reduced before the next one is read)
BLOCK_BYTES = 64 * 1024 ** 2


def sample_indices(n_stimuli: int, reduction: Reduction) -> np.ndarray:
    """The stimuli PCA is fitted on: ``min(n_samples_estim, N)`` drawn without replacement
    from ``random_state`` (never "the first files"), sorted (files are then read in order)."""
    m = min(reduction.n_samples_estim, n_stimuli)
    rng = np.random.default_rng(reduction.random_state)
    return np.sort(rng.choice(n_stimuli, size=m, replace=False))


def _per_file_rows(source, layers, indices, pooling, dtype, dims) -> Iterator[list]:
    """Per-stimulus files: open only the files of ``indices``, each once for all ``layers``."""
    step = max(1, BLOCK_BYTES // (sum(dims.values()) * dtype.itemsize))
    for start in range(0, len(indices), step):
        pos = np.arange(start, min(len(indices), start + step))
        part = open_features([source.files[i] for i in indices[pos]])
        yield [(layer, pos, rows) for layer, rows in part.iter_layers(layers, pooling=pooling, dtype=dtype)]


#: formats that can read a subset of stimuli without streaming the others (by ``source.format``)
_SUBSET_READERS = {"npz_folder": _per_file_rows}


def _streamed_rows(source, layers, indices, pooling, dtype, dims) -> Iterator[list]:
    """Any source: stream each layer's row blocks, keep the rows of ``indices``."""
    where = np.full(source.n_stimuli, -1, np.int64)
    where[indices] = np.arange(len(indices))
    for layer in layers:
        rows = max(1, min(source.n_stimuli, BLOCK_BYTES // (dims[layer] * dtype.itemsize)))
        found = 0
        blocks = source.iter_row_blocks(layer, pooling=pooling, dtype=dtype, rows=rows)
        with contextlib.closing(blocks):
            for idx, x in blocks:
                pos = where[idx]
                keep = pos >= 0
                if keep.any():
                    found += int(keep.sum())
                    yield [(layer, pos[keep], x[keep] if not keep.all() else x)]
                if found == len(indices):         # the rest of the layer is not needed
                    break


def iter_rows(source, layers, indices, pooling, dtype) -> Iterator[list]:
    """Rows ``indices`` of ``layers``, in blocks: lists of ``(layer, positions, (b, D))``.

    ``positions`` index into ``indices``. One list per block of reads (the progress unit).
    """
    dtype = np.dtype(dtype)
    dims = {layer: source.feature_dim(layer, pooling) for layer in layers}
    reader = _SUBSET_READERS.get(source.format) if hasattr(source, "files") else None
    return (reader or _streamed_rows)(source, layers, np.asarray(indices, np.int64), pooling, dtype, dims)


def count_blocks(source, layers, n_rows: int, pooling, dtype) -> int:
    """Lists :func:`iter_rows` yields for ``n_rows`` rows (all stimuli: exact)."""
    dtype = np.dtype(dtype)
    dims = [source.feature_dim(layer, pooling) for layer in layers]
    if source.format in _SUBSET_READERS and hasattr(source, "files"):
        return -(-n_rows // max(1, BLOCK_BYTES // (sum(dims) * dtype.itemsize)))
    return sum(-(-n_rows // max(1, min(source.n_stimuli, BLOCK_BYTES // (d * dtype.itemsize)))) for d in dims)


def _info(reduction: Reduction, plan: LayerPlan) -> dict:
    return {"method": reduction.method if plan.reduces else None, "requested_method": reduction.method,
            "n_samples": plan.n_fit, "random_state": reduction.random_state, "eps": reduction.eps,
            "n_components_requested": reduction.n_components, "srp_before_pca": reduction.srp_before_pca,
            "max_dim_allowed": reduction.max_dim_allowed, "reason": plan.reason}


def _unfitted(reduction: Reduction, plan: LayerPlan, layer: str) -> Reducer:
    """The reducer before PCA: identity, or the SRP step (all of ``'srp'``; the first step of
    ``srp_before_pca``)."""
    info = _info(reduction, plan)
    srp = None
    if plan.srp_dim:
        srp = srp_matrix(plan.srp_dim, plan.dim, reduction.random_state)
        info.update(srp_components=plan.srp_dim, density=srp["density"])
    return Reducer(layer, plan.dim, plan.srp_dim or plan.dim, info, srp=srp)


def _with_pca(first: Reducer, plan: LayerPlan, sample: torch.Tensor, reduction: Reduction) -> Reducer:
    """``first`` followed by PCA fitted on ``sample`` (m, width of ``first``'s output)."""
    fit = fit_pca(sample, plan.n_components, reduction.n_components != "auto", first.layer, plan.dim)
    info = {k: v for k, v in first.meta().items() if k not in ("n_components", "original_dim")}
    info.update(explained_variance_ratio=[float(v) for v in fit["explained_variance_ratio"]],
                explained_variance_ratio_total=float(fit["explained_variance_ratio"].sum()),
                sample_rank=fit["rank"])
    return Reducer(first.layer, plan.dim, len(fit["components"]), info, srp=first._srp,
                   pca={"mean": fit["mean"], "components": fit["components"]})


def fit_layers(source, layers, reduction: Reduction, pooling, dtype, device) -> dict:
    """Fit one :class:`Reducer` per layer (PCA layers from one read of the shared sample).

    Every layer gets its own size from its own width (nothing is carried from one layer to
    the next). SRP reads no data; PCA reads only the sampled stimuli.
    """
    dtype = np.dtype(dtype)
    req = source.check_read(layers, pooling, dtype)
    n = source.n_stimuli
    plans = {layer: plan_layer(reduction, layer, source.feature_dim(layer, req.pooling), n) for layer in req.layers}
    out = {layer: _unfitted(reduction, p, layer) for layer, p in plans.items()}
    pca = [layer for layer, p in plans.items() if p.pca]
    if not pca:
        return out
    idx = sample_indices(n, reduction)
    tdtype = torch.from_numpy(np.empty(0, dtype)).dtype
    samples = {layer: torch.empty(len(idx), out[layer].n_components, dtype=tdtype, device=device) for layer in pca}
    for block in iter_rows(source, pca, idx, req.pooling, dtype):
        for layer, pos, rows in block:
            # the SRP step (srp_before_pca) is applied as the sample is read: m x JL values held
            samples[layer][torch.from_numpy(pos).to(device)] = out[layer].transform(torch.from_numpy(rows).to(device))
    for layer in pca:
        out[layer] = _with_pca(out[layer], plans[layer], samples.pop(layer), reduction)
    return out


def fit_without_sample(reduction: Reduction, n_stimuli: int, layer: str, dim: int):
    """The reducer of a layer of width ``dim`` among ``n_stimuli`` rows if it needs no data (SRP,
    or a layer left as it is), else None (PCA: read the sample, then :func:`fit_sample`).

    The plan is the one :func:`fit_sample` makes from the whole seeded sample
    (``min(n_samples_estim, n_stimuli)`` rows): a PCA plan can be left as is only because of
    that sample's size, so the decision is taken with it.
    """
    plan = plan_layer(reduction, layer, dim, n_stimuli)
    return None if plan.pca else _unfitted(reduction, plan, layer)


def fit_sample(sample, reduction: Reduction, n_stimuli: int, layer: str, device) -> Reducer:
    """Fit one layer's reducer on rows already read: ``sample`` (m, D), the whole sample."""
    x = torch.as_tensor(sample).to(check_device(device))
    if x.ndim != 2 or not x.is_floating_point():
        raise ValueError(f"Layer {layer!r}: expected the sample as a 2-D float (m, D) array; got "
                         f"{tuple(x.shape)} {x.dtype}.")
    plan = plan_layer(dataclasses.replace(reduction, n_samples_estim=max(2, len(x))), layer, x.shape[1], n_stimuli)
    if plan.pca and len(x) < 2:
        raise ValueError(f"Layer {layer!r}: PCA needs a sample of at least 2 rows; got {len(x)}.")
    first = _unfitted(reduction, plan, layer)
    return _with_pca(first, plan, first.transform(x), reduction) if plan.pca else first


class ReducedSource(FeatureSource):
    """A :class:`FeatureSource` whose layers are reduced as they are read.

    Made by :func:`rdm_widgets.reduction.reduced_source`. Reducers are fitted lazily, per
    (layer, pooling), the first time a layer's width or rows are asked for. Layers that are
    not reduced are read by the wrapped source as they are.

    Attributes
    ----------
    inner : FeatureSource
        The wrapped source.
    reduction : Reduction
    """

    def __init__(self, source: FeatureSource, reduction: Reduction, pooling=None, dtype=np.float32,
                 device="cpu", reducers=None):
        self.inner, self.reduction = source, reduction
        self.pooling = check_pooling(pooling)
        self.dtype, self.device = np.dtype(dtype), check_device(device)
        self.format, self.in_memory = source.format, source.in_memory
        super().__init__(source.stimuli, {layer: None for layer in source.layers}, source.source)
        self._reducers = {(layer, self.pooling): r for layer, r in (reducers or {}).items()}

    def __repr__(self):
        return f"<ReducedSource {self.reduction.method} of {self.inner!r}>"

    # -- reducers ----------------------------------------------------------------------------
    def reducers(self, layers=None, pooling=None) -> dict:
        """``{layer: Reducer}``, fitting the missing ones together (one read of the sample)."""
        layers = self.select_layers(layers)
        pooling = check_pooling(pooling)
        missing = [layer for layer in layers if (layer, pooling) not in self._reducers]
        if missing:
            fitted = fit_layers(self.inner, missing, self.reduction, pooling, self.dtype, self.device)
            self._reducers.update({(layer, pooling): r for layer, r in fitted.items()})
        return {layer: self._reducers[(layer, pooling)] for layer in layers}

    def reducer(self, layer: str, pooling=None) -> Reducer:
        """The fitted :class:`Reducer` of ``layer`` (default: this source's pooling)."""
        return self.reducers([layer], self.pooling if pooling is None else pooling)[self._layer_name(layer)]

    def _plan(self, layer, pooling) -> LayerPlan:
        return plan_layer(self.reduction, layer, self.inner.feature_dim(layer, pooling), self.n_stimuli)

    # -- shapes ------------------------------------------------------------------------------
    def layer_shape(self, layer: str):
        """``(k,)`` for a reduced layer, the stored shape otherwise."""
        r = self.reducer(layer)
        return (r.n_components,) if r.reduces else self.inner.layer_shape(layer)

    def has_sequence(self, layer: str) -> bool:
        return self.inner.has_sequence(layer)

    def feature_dim(self, layer: str, pooling=None):
        """k for a reduced layer (fits PCA ``'auto'``, whose size the sample's rank may lower)."""
        pooling = check_pooling(pooling)
        layer = self._layer_name(layer, "layer")
        if (layer, pooling) in self._reducers:
            return self._reducers[(layer, pooling)].n_components
        plan = self._plan(layer, pooling)
        if not plan.pca or self.reduction.n_components != "auto":
            return plan.n_components
        return self.reducers([layer], pooling)[layer].n_components

    # -- reads -------------------------------------------------------------------------------
    def check_read(self, layers=None, pooling=None, dtype=np.float32):
        return self.inner.check_read(layers, pooling, dtype)

    def _split(self, layers, pooling) -> tuple:
        reduced = [layer for layer in layers if self._plan(layer, pooling).reduces]
        return reduced, [layer for layer in layers if layer not in reduced]

    def count_reads(self, layers=None, pooling=None, dtype=np.float32, max_bytes=None) -> int:
        req = self.inner.check_read(layers, pooling, dtype)
        reduced, plain = self._split(req.layers, req.pooling)
        count = count_blocks(self.inner, reduced, self.n_stimuli, req.pooling, req.dtype) if reduced else 0
        return count + (self.inner.count_reads(plain, req.pooling, req.dtype, max_bytes) if plain else 0)

    def iter_layers(self, layers=None, pooling=None, dtype=np.float32, progress=None,
                    max_bytes=None) -> Iterator[tuple]:
        """As :meth:`FeatureSource.iter_layers`, reduced layers (N, k) read in blocks; progress
        counts blocks of reduced layers and the wrapped source's reads of the others."""
        req = self.inner.check_read(layers, pooling, dtype)
        total = self.count_reads(req.layers, req.pooling, req.dtype, max_bytes)
        if isinstance(progress, ProgressReporter):
            reporter, own = progress, False
        else:
            reporter, own = ProgressReporter(total, progress), True
        return self._iter_layers(req, reporter, own, max_bytes)

    def _iter_layers(self, req, reporter, own, max_bytes):
        try:
            reduced, plain = self._split(req.layers, req.pooling)
            outs = self._reduce_all(reduced, req.pooling, req.dtype, reporter) if reduced else {}
            rest = (self.inner.iter_layers(plain, req.pooling, req.dtype, reporter, max_bytes) if plain
                    else (item for item in ()))
            with contextlib.closing(rest):
                for layer in req.layers:
                    yield (layer, outs.pop(layer)) if layer in outs else next(rest)
        finally:
            if own:
                reporter.close()

    def _reduce_all(self, layers, pooling, dtype, reporter) -> dict:
        """Every stimulus' reduced rows of ``layers``: one read of each file for all of them."""
        reducers = self.reducers(layers, pooling)
        outs = {layer: np.empty((self.n_stimuli, reducers[layer].n_components), dtype) for layer in layers}
        for block in iter_rows(self.inner, layers, np.arange(self.n_stimuli), pooling, dtype):
            for layer, pos, rows in block:
                outs[layer][pos] = self._apply(reducers[layer], rows, dtype)
            reporter.update(1)
        return outs

    def _apply(self, reducer: Reducer, rows: np.ndarray, dtype) -> np.ndarray:
        x = reducer.transform(torch.from_numpy(np.ascontiguousarray(rows, dtype)).to(self.device))
        return x.cpu().numpy()

    def iter_row_blocks(self, layer: str, *, pooling=None, dtype=np.float32, rows: int = 1024) -> Iterator[tuple]:
        """As :meth:`FeatureSource.iter_row_blocks`, rows reduced: blocks of up to ``rows``
        stimuli, each assembled from reads of at most :data:`BLOCK_BYTES` of original features."""
        req = self.inner.check_read([layer], pooling, dtype)
        layer, reducer = req.layers[0], self.reducers(req.layers, req.pooling)[req.layers[0]]
        if not reducer.reduces:
            return self.inner.iter_row_blocks(layer, pooling=req.pooling, dtype=req.dtype, rows=rows)
        return self._row_blocks_reduced(layer, reducer, req.pooling, req.dtype, int(rows))

    def _row_blocks_reduced(self, layer, reducer, pooling, dtype, rows):
        step = max(1, min(rows, BLOCK_BYTES // (reducer.original_dim * dtype.itemsize)))
        idx, parts, held = [], [], 0
        blocks = self.inner.iter_row_blocks(layer, pooling=pooling, dtype=dtype, rows=step)
        with contextlib.closing(blocks):
            for i, x in blocks:
                idx.append(i)
                parts.append(self._apply(reducer, x, dtype))
                held += len(i)
                if held >= rows:
                    yield np.concatenate(idx), np.concatenate(parts)
                    idx, parts, held = [], [], 0
        if held:
            yield np.concatenate(idx), np.concatenate(parts)

    def read_cost(self, layers=None, pooling=None, dtype=np.float32):
        """The wrapped source's cost; memory: the reduced outputs plus one block of reads."""
        cost = self.inner.read_cost(layers, pooling, dtype)
        req = self.inner.check_read(layers, pooling, dtype)
        reduced, _ = self._split(req.layers, req.pooling)
        if not reduced:
            return cost
        outs = sum(self.n_stimuli * self._plan(layer, req.pooling).n_components for layer in reduced)
        block = max(cost.block_bytes if len(reduced) < len(req.layers) else 0,
                    outs * req.dtype.itemsize + BLOCK_BYTES)
        return dataclasses.replace(cost, block_bytes=int(block))

    # -- time-resolved reads -------------------------------------------------------------------
    def time_axes(self, layers, mode) -> tuple:
        """Refused: every time-resolved read starts here (see the message)."""
        raise TypeError("A reduced source reduces each stimulus' whole layer. Time-resolved RDMs "
                        "(multi_timepoint_rdms) reduce their (stimulus, time point) rows with one reducer "
                        "per layer: pass the unreduced features and dim_reduction=... to "
                        "RDMCreator.compute_rdms / create_rdms instead.")

    def trusted_shapes(self, layers):
        """The wrapped source's (its shapes are the ones read)."""
        return self.inner.trusted_shapes(layers)

    def worker_sources(self, layers, scatter) -> list:
        """This source, its reducers fitted first (workers never fit again)."""
        self.reducers(layers, self.pooling)
        return super().worker_sources(layers, scatter)
