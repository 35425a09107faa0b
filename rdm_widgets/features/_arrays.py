"""In-memory features: ``dict[layer -> (N, ...)]`` of numpy arrays or torch tensors.

The arrays are the caller's: they are never modified (:attr:`FeatureSource.in_memory`),
and every read converts a copy.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from ._base import FeatureSource
from ._names import default_names
from ._pooling import is_sequence_shape
from ._shapes import LayerInfo

__all__ = ["ArraySource"]


class ArraySource(FeatureSource):
    """In-memory ``dict[layer -> (N, ...)]``.

    Parameters
    ----------
    arrays : dict
        ``{layer: (N, ...) array or tensor}`` (tensors are moved to the CPU as numpy).
    stimuli : list of str or None
        N names (default ``stimulus_0 ...``).
    """

    format = "arrays"
    in_memory = True

    def __init__(self, arrays: dict, stimuli=None):
        self._arrays = {}
        for k, v in arrays.items():
            if hasattr(v, "detach"):
                v = v.detach().cpu().numpy()
            v = np.asarray(v)
            if v.ndim < 1:
                raise ValueError(f"Features of layer {k!r} must have a stimulus axis; got a 0-d array.")
            if v.ndim == 1:     # 10 stimuli x 1 feature or 1 stimulus x 10 features: never guessed
                raise ValueError(
                    f"Features of layer {k!r} have shape {v.shape}; features must be (n_stimuli, n_features). "
                    f"For {len(v)} stimuli with one feature each pass x[:, None] (shape ({len(v)}, 1)); "
                    f"x[None] (shape (1, {len(v)})) would be one stimulus, and an RDM needs at least 2.")
            self._arrays[str(k)] = v
        if not self._arrays:
            raise ValueError("Invalid value for 'features': an empty dict. Expected dict[layer -> (N, ...)].")
        counts = {k: len(v) for k, v in self._arrays.items()}
        if len(set(counts.values())) != 1:
            raise ValueError(f"Layers disagree on the number of stimuli (first axis): {counts}.")
        n = next(iter(counts.values()))
        if stimuli is None:
            stimuli = default_names(n)
        elif len(stimuli) != n:
            raise ValueError(f"'stimuli' has {len(stimuli)} names but the features have {n} rows.")
        info = {k: LayerInfo(v.shape[1:], is_sequence_shape(v.shape[1:])) for k, v in self._arrays.items()}
        super().__init__(stimuli, info, "<arrays>")

    def _read_pass(self, block, pooling, dtype, reporter):
        for layer in block:
            rows = self._batch_rows(layer, self._arrays[layer], pooling, dtype, "the given arrays", self.stimuli)
            reporter.update(1)
            yield layer, rows

    def _row_blocks(self, layer, pooling, dtype, rows) -> Iterator[tuple]:
        return self._slice_blocks(layer, self._arrays[layer], pooling, dtype, rows, "the given arrays")

    # -- costs and workers ---------------------------------------------------------------
    def _stored_itemsize(self, layer) -> int:
        return self._arrays[layer].dtype.itemsize

    def _held(self, rows: int, stored: int, converts: bool) -> int:
        # the caller's arrays are only copied when their dtype or shape differ
        return rows if converts else 0

    def worker_sources(self, layers, scatter) -> list:
        """Each layer's array, sent once to the cluster, with the stimulus names."""
        layers = self.select_layers(layers)
        futures = scatter([self._arrays[layer] for layer in layers])
        return [({layer: f}, self.stimuli) for layer, f in zip(layers, futures)]
