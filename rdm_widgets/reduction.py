"""Dimensionality reduction of DNN features as they are read: PCA and sparse random projection.

Video and other huge layers (``[1, 16, 3, 112, 112]`` = 602,112 values per clip) make the
(N, D) features of a layer too large for memory. A reduction is fitted **per layer** and
applied to every block of rows as it streams, so the RDM loop and the out-of-core path
(:func:`rdm_widgets.tiled_rdm`) see (N, k) rows.

- ``'srp'``: a very sparse random projection (Li, Hastie & Church 2006; the distribution of
  scikit-learn's ``SparseRandomProjection``: density ``1/sqrt(D)``, entries
  ``+-sqrt(sqrt(D)/k)``), drawn from ``random_state``. It reads no data to fit.
  ``n_components='auto'`` is the Johnson-Lindenstrauss minimum for the N stimuli and ``eps``:
  every pairwise squared euclidean distance is kept within ``1 +- eps`` with high probability.
- ``'pca'``: principal components of a seeded random sample of ``n_samples_estim`` stimuli
  (all stimuli when there are fewer), as scikit-learn's PCA of that sample. At most
  ``sample size - 1`` components (the centred sample spans no more); ``'auto'`` is
  ``min(JL, sample size - 1)``. ``srp_before_pca`` projects to the JL size first.

A layer is never made wider: when the size is not smaller than its width D (or D is at most
``max_dim_allowed``) the layer is read as it is, and its reducer says why.

Examples
--------
>>> import numpy as np
>>> from rdm_widgets.reduction import check_reduction, reduced_source
>>> x = np.random.default_rng(0).normal(size=(60, 5000)).astype("float32")
>>> src = reduced_source({"fc": x, "small": x[:, :64]}, check_reduction("srp", eps=0.5))
>>> src.feature_dim("fc"), src.feature_dim("small")
(196, 64)
>>> print(src.reducer("small").meta()["reason"])
n_components 'auto' = JL(60 stimuli, eps=0.5) = 196 >= D=64: left as is (a projection would not
make the layer narrower)
"""
from __future__ import annotations

import numpy as np

from ._reduction_fit import Reducer
from ._reduction_options import Reduction, check_reduction, jl_min_dim
from ._reduction_source import ReducedSource, fit_layers, fit_sample, sample_indices
from ._validate import check_positive_int, check_type
from .features import FeatureSource, open_features

__all__ = ["Reduction", "Reducer", "ReducedSource", "check_reduction", "fit_reducer", "fit_reducer_on",
           "reduced_source",
           "jl_min_dim", "sample_indices"]


def _reduction(reduction) -> Reduction:
    return check_type("reduction", reduction, Reduction,
                      "Build it with rdm_widgets.reduction.check_reduction('pca' or 'srp', ...).")


def fit_reducer(source, layer: str, reduction: Reduction, *, pooling=None, dtype=np.float32,
                device="cpu") -> Reducer:
    """Fit the reduction of one layer.

    Parameters
    ----------
    source : FeatureSource or anything :func:`rdm_widgets.open_features` opens
    layer : str
    reduction : Reduction
        From :func:`check_reduction`.
    pooling : {'mean', 'max', 'first', 'last'} or None
        As for reading the layer.
    dtype : numpy float dtype
        The run's dtype (the sample is read in it; PCA is computed in float64).
    device : str or torch.device
        Where the sample is held and PCA computed.

    Returns
    -------
    Reducer
        ``transform`` (n, D) -> (n, k), ``meta()``.

    Raises
    ------
    ValueError
        An explicit ``n_components`` PCA cannot give (the message names the layer, D, the
        sample size and the fixes), an unknown layer or pooling.
    """
    src = open_features(source)
    return fit_layers(src, [layer], _reduction(reduction), pooling, dtype, device)[src.select_layers(layer)[0]]


def fit_reducer_on(sample, reduction, *, n_stimuli: int, layer: str = "features", device="cpu") -> Reducer:
    """Fit one layer's reduction on rows the caller has read (e.g. one model time point).

    Parameters
    ----------
    sample : np.ndarray or torch.Tensor, (m, D)
        The sampled stimuli's rows, in the run's dtype (draw them with
        :func:`sample_indices` to follow the same seeded sample as :func:`fit_reducer`).
    reduction : Reduction
    n_stimuli : int
        N, all stimuli the reduced rows will be compared across (the JL size depends on it).
    layer : str
        Name used in messages and meta.
    device : str or torch.device

    Returns
    -------
    Reducer
    """
    check_positive_int("n_stimuli", n_stimuli, minimum=2)
    return fit_sample(sample, _reduction(reduction), int(n_stimuli), str(layer), device)


def reduced_source(source, reduction, *, pooling=None, dtype=np.float32, device="cpu",
                   reducers=None) -> FeatureSource:
    """Wrap a feature source so that its layers are reduced as they are read.

    Parameters
    ----------
    source : FeatureSource or anything :func:`rdm_widgets.open_features` opens
    reduction : Reduction or None
        None returns the opened source unchanged.
    pooling : {'mean', 'max', 'first', 'last'} or None
        Pooling the reducers are fitted for by :meth:`~ReducedSource.layer_shape` (reads with
        another pooling fit their own).
    dtype : numpy float dtype
        The run's dtype.
    device : str or torch.device
        Where rows are reduced (``'cpu'`` or ``'cuda'``).
    reducers : dict or None
        ``{layer: Reducer}`` already fitted for ``pooling`` (e.g. reloaded from a tiled store).

    Returns
    -------
    FeatureSource
        A :class:`ReducedSource`: ``iter_layers`` / ``iter_row_blocks`` yield (N, k) rows,
        ``layer_shape`` / ``feature_dim`` report k; reducers are fitted lazily per layer.
    """
    src = open_features(source)
    if reduction is None:
        return src
    return ReducedSource(src, _reduction(reduction), pooling, dtype, device, reducers)
