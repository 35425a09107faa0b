"""Dimensionality-reduction options, validated once, and the per-layer size rule.

:func:`check_reduction` turns the public arguments (Net2Brain's names: ``dim_reduction``,
``n_components``, ``n_samples_estim``, ``srp_before_pca``, ``max_dim_allowed``) into a frozen
:class:`Reduction`; :func:`plan_layer` decides, from one layer's width D and the number of
stimuli N alone, what a layer becomes (left as is, SRP, PCA, SRP then PCA) and its size --
before any data is read, so a tiled run and its estimate know the reduced width up front.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

from ._validate import check_option, check_positive_int, check_type

__all__ = ["Reduction", "LayerPlan", "METHODS", "check_reduction", "jl_min_dim", "plan_layer"]

#: the reduction methods and what each is
METHODS = {
    "pca": "principal components of a seeded random sample of stimuli",
    "srp": "sparse random projection (Li, Hastie & Church 2006), density 1/sqrt(D); reads no data to fit",
}


@dataclass(frozen=True)
class Reduction:
    """Validated dimensionality-reduction options (see :func:`check_reduction`).

    Attributes
    ----------
    method : {'pca', 'srp'}
    n_components : int or 'auto'
        Requested width; ``'auto'`` is the Johnson-Lindenstrauss minimum for the number of
        stimuli and ``eps``. A layer is never made wider: it stays as it is when the size
        is not smaller than its width D.
    n_samples_estim : int
        Stimuli (a seeded random sample) PCA is fitted on; all stimuli when there are fewer.
    srp_before_pca : bool
        PCA only: project to the JL size by SRP first (PCA's sample then holds
        ``n_samples_estim x JL`` values instead of ``n_samples_estim x D``).
    max_dim_allowed : int or None
        Only layers wider than this are reduced (None: every layer).
    eps : float
        JL distortion bound in (0, 1) for ``'auto'`` sizes.
    random_state : int
        Seed of the sample and of the projection (recorded in the RDM's meta).
    """

    method: str
    n_components: object
    n_samples_estim: int
    srp_before_pca: bool
    max_dim_allowed: Optional[int]
    eps: float
    random_state: int

    def key(self) -> dict:
        """The options as a JSON-able dict (resume keys, metadata)."""
        return asdict(self)


@dataclass(frozen=True)
class LayerPlan:
    """What one layer becomes, from its width and the number of stimuli alone.

    Attributes
    ----------
    dim : int
        Original width D (after pooling/flattening).
    n_components : int
        Width after the reduction (``dim`` when the layer is left as is; for PCA with
        ``'auto'`` an upper bound the sample's rank may lower).
    srp_dim : int or None
        Width of the SRP step (``'srp'``, or ``'pca'`` with ``srp_before_pca``), else None.
    pca : bool
        Whether PCA is fitted (needs the sample).
    n_fit : int
        Stimuli PCA is fitted on (0 when nothing is fitted on data).
    reason : str or None
        Why the layer is left as is (None when it is reduced).
    """

    dim: int
    n_components: int
    srp_dim: Optional[int]
    pca: bool
    n_fit: int
    reason: Optional[str] = None

    @property
    def reduces(self) -> bool:
        return self.reason is None


def jl_min_dim(n_samples: int, eps: float = 0.1) -> int:
    """Johnson-Lindenstrauss minimum width for ``n_samples`` points and distortion ``eps``.

    The formula of :func:`sklearn.random_projection.johnson_lindenstrauss_min_dim`:
    ``4 ln(n) / (eps^2/2 - eps^3/3)``, truncated to an integer (at least 1).

    Parameters
    ----------
    n_samples : int
        Number of points whose pairwise distances are to be kept.
    eps : float
        In (0, 1): squared distances are kept within a factor ``1 +- eps`` with high
        probability.

    Returns
    -------
    int
    """
    denominator = eps ** 2 / 2 - eps ** 3 / 3
    return max(1, int(np.int64(4 * np.log(n_samples) / denominator)))


def check_reduction(dim_reduction=None, *, n_components=None, n_samples_estim=100, srp_before_pca=False,
                    max_dim_allowed=None, eps=0.1, random_state=0) -> Optional[Reduction]:
    """Validate dimensionality-reduction options (Net2Brain's names) once.

    Parameters
    ----------
    dim_reduction : {'pca', 'srp'}, Reduction or None
        None: no reduction (the other options are then ignored, as in Net2Brain).
    n_components : int, 'auto' or None
        Width after the reduction; None and ``'auto'``: the Johnson-Lindenstrauss minimum
        for the number of stimuli and ``eps`` (for PCA also at most the sample size - 1).
        Never more than a layer's width: a layer that would not get narrower is left as is.
    n_samples_estim : int
        Stimuli PCA is fitted on (a seeded random sample; all stimuli when fewer), >= 2.
    srp_before_pca : bool
        With ``'pca'``: SRP to the JL size first, then PCA.
    max_dim_allowed : int or None
        Reduce only layers wider than this.
    eps : float
        JL distortion in (0, 1) of the ``'auto'`` size.
    random_state : int or None
        Seed of the sample and of the projection; None draws one (recorded in the result).

    Returns
    -------
    Reduction or None

    Raises
    ------
    ValueError, TypeError
        Unknown method (with a suggestion), a non-positive size, ``eps`` outside (0, 1),
        ``srp_before_pca`` with ``'srp'``.
    """
    if dim_reduction is None or isinstance(dim_reduction, Reduction):
        return dim_reduction
    method = check_option("dim_reduction", dim_reduction, METHODS).lower()
    if n_components is None or (isinstance(n_components, str) and n_components.lower() == "auto"):
        n_components = "auto"
    else:
        n_components = check_positive_int("n_components", n_components)
    n_samples_estim = check_positive_int("n_samples_estim", n_samples_estim, minimum=2)
    check_type("srp_before_pca", srp_before_pca, (bool, np.bool_))
    if srp_before_pca and method != "pca":
        raise ValueError("srp_before_pca=True applies to dim_reduction='pca' only (SRP then PCA); "
                         "with dim_reduction='srp' leave it False.")
    max_dim_allowed = check_positive_int("max_dim_allowed", max_dim_allowed, allow_none=True)
    check_type("eps", eps, (float, int, np.floating, np.integer))
    if isinstance(eps, (bool, np.bool_)) or not 0 < float(eps) < 1 or not math.isfinite(float(eps)):
        raise ValueError(f"Invalid value for 'eps': {eps!r}. Expected a number in (0, 1), e.g. 0.1.")
    if random_state is None:   # drawn once here and recorded, so the run can be repeated
        random_state = int(np.random.SeedSequence().entropy % (2 ** 32))
    random_state = check_positive_int("random_state", random_state, minimum=0)
    return Reduction(method, n_components, n_samples_estim, bool(srp_before_pca), max_dim_allowed,
                     float(eps), random_state)


def plan_layer(reduction: Reduction, layer: str, dim: int, n_stimuli: int) -> LayerPlan:
    """What ``layer`` (width ``dim``) becomes among ``n_stimuli`` stimuli.

    Raises
    ------
    ValueError
        An explicit ``n_components`` PCA cannot give (more than the sample size - 1); the
        message names the layer, D, the sample size and the fixes.
    """
    dim, n = int(dim), int(n_stimuli)
    n_fit = min(reduction.n_samples_estim, n)
    if reduction.max_dim_allowed is not None and dim <= reduction.max_dim_allowed:
        return LayerPlan(dim, dim, None, False, 0, f"D={dim} <= max_dim_allowed={reduction.max_dim_allowed}")
    jl = jl_min_dim(n, reduction.eps)
    auto = reduction.n_components == "auto"
    k = jl if auto else reduction.n_components
    if reduction.method == "srp":
        if k >= dim:
            return LayerPlan(dim, dim, None, False, 0, _keep_reason(k, dim, auto, jl, n, reduction.eps))
        return LayerPlan(dim, k, k, False, 0)
    srp_dim = jl if reduction.srp_before_pca and jl < dim else None
    width = srp_dim or dim
    # n centred samples span at most n - 1 directions: the n-th component carries no variance
    most = n_fit - 1
    if auto:
        k = min(k, most, width)
    elif min(k, width) > most:
        raise ValueError(
            f"dim_reduction='pca' cannot give n_components={k} for layer {layer!r} (D={dim} features"
            + (f", {width} after SRP" if srp_dim else "") + f"): PCA fitted on {n_fit} sampled stimuli "
            f"(n_samples_estim={reduction.n_samples_estim}, {n} stimuli in all) has at most {most} "
            f"components. Use n_components<={most}, n_components='auto', a larger n_samples_estim (at "
            f"most {n}), or dim_reduction='srp' (no sample needed).")
    k = min(k, width)
    if k >= dim:
        return LayerPlan(dim, dim, None, False, 0, _keep_reason(k, dim, auto, jl, n, reduction.eps))
    return LayerPlan(dim, k, srp_dim, True, n_fit)


def _keep_reason(k, dim, auto, jl, n, eps) -> str:
    size = f"'auto' = JL({n} stimuli, eps={eps}) = {jl}" if auto else str(k)
    return (f"n_components {size} >= D={dim}: left as is (a projection would not make the layer "
            "narrower)")
