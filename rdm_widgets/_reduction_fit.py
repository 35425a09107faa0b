"""One fitted layer (:class:`Reducer`) and the fitting maths: the SRP matrix, PCA of a sample.

Parameters are kept as numpy arrays on the host (PCA components in the run's dtype: they are
the largest array) and converted once per (device, dtype) for :meth:`Reducer.transform`, which
runs in torch in the run's dtype on its device:
PCA ``(x - mean) @ components.T``, SRP a sparse (dense when small) matrix product.
:meth:`Reducer.to_arrays` / :meth:`Reducer.from_arrays` store the fitted parameters in the
run's dtype, so a reducer reloaded from a tiled store transforms bit for bit as the one fitted.
"""
from __future__ import annotations

import json
import warnings
from typing import Optional

import numpy as np
import torch

__all__ = ["Reducer", "srp_matrix", "fit_pca", "DENSE_SRP_MAX"]

#: an SRP matrix with at most this many entries is multiplied dense (faster for small layers)
DENSE_SRP_MAX = 2 ** 22
#: columns of the sample processed at once while fitting PCA (bounds the float64 temporaries)
_COLUMNS = 2 ** 15


def srp_matrix(k: int, dim: int, seed: int) -> dict:
    """A very sparse random projection (Li, Hastie & Church 2006), as scikit-learn's
    ``SparseRandomProjection`` with ``density='auto'``.

    Each of the ``k`` rows has ``Binomial(dim, 1/sqrt(dim))`` non-zero entries at distinct,
    uniformly drawn columns, each ``+-sqrt(sqrt(dim) / k)`` with equal probability, drawn
    from ``numpy.random.default_rng(seed)``. Drawn vectorised (about 1 s for 6,515 x 602,112;
    scikit-learn's row-by-row loop takes ~10 times longer).

    Returns
    -------
    dict
        ``indptr`` (k + 1,) int64, ``indices`` (nnz,) int64 columns (sorted in each row),
        ``signs`` (nnz,) int8, ``scale`` and ``density`` floats: row ``i`` of the (k, dim)
        matrix is ``scale * signs[indptr[i]:indptr[i+1]]`` at ``indices[indptr[i]:indptr[i+1]]``.
    """
    rng = np.random.default_rng(seed)
    density = 1 / np.sqrt(dim)
    counts = rng.binomial(dim, density, size=k)
    # (row, column) pairs as one int64 key: sorting groups the rows and exposes repeated columns,
    # which are drawn again (uniformly) until every row's columns are distinct
    key = np.repeat(np.arange(k, dtype=np.int64), counts) * dim + rng.integers(0, dim, size=int(counts.sum()))
    while True:
        key.sort()
        dup = np.flatnonzero(key[1:] == key[:-1]) + 1
        if not len(dup):
            break
        key[dup] = key[dup] // dim * dim + rng.integers(0, dim, size=len(dup))
    signs = np.where(rng.random(len(key)) < 0.5, -1, 1).astype(np.int8)
    return {"indptr": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), "indices": key % dim,
            "signs": signs, "scale": float(np.sqrt(1 / density) / np.sqrt(k)), "density": float(density)}


def fit_pca(x: torch.Tensor, k: int, explicit: bool, layer: str, dim: int) -> dict:
    """PCA of the sample ``x`` (m, d) keeping ``k`` components, as scikit-learn's full-SVD PCA.

    The (m, m) Gram matrix of the centred sample is accumulated in float64 a block of columns
    at a time (m is the sample size, small), then diagonalised: ``components = U.T Xc / s``.
    Component signs follow scikit-learn's ``svd_flip`` (largest-magnitude entry positive).

    Returns
    -------
    dict
        ``mean`` (d,) float64, ``components`` (k', d) numpy in the sample's dtype,
        ``explained_variance`` (k',),
        ``explained_variance_ratio`` (k',), ``rank``; k' = k, or the sample's rank when
        smaller and ``k`` was automatic.

    Raises
    ------
    ValueError
        An explicit ``k`` larger than the sample's rank (e.g. duplicated stimuli), or a
        sample with no variance.
    """
    m, d = x.shape
    f64 = torch.float64
    mean = torch.zeros(d, dtype=f64, device=x.device)
    for c in range(0, d, _COLUMNS):
        mean[c:c + _COLUMNS] = x[:, c:c + _COLUMNS].to(f64).mean(0)
    gram = torch.zeros(m, m, dtype=f64, device=x.device)
    for c in range(0, d, _COLUMNS):
        xb = x[:, c:c + _COLUMNS].to(f64) - mean[c:c + _COLUMNS]
        gram += xb @ xb.T
    evals, u = torch.linalg.eigh(gram)
    evals, u = evals.flip(0).clamp_min(0), u.flip(1)
    # rank at the precision of the stored features (singular values relative to the largest)
    tol = float(evals[0]) * (m * float(torch.finfo(x.dtype).eps)) ** 2
    rank = int((evals > tol).sum()) if float(evals[0]) > 0 else 0
    if rank == 0:
        raise ValueError(f"Layer {layer!r}: the {m} sampled stimuli have identical features; PCA has no "
                         "component to keep. Use dim_reduction='srp' or no reduction for this layer.")
    if k > rank:
        if explicit:
            raise ValueError(f"Layer {layer!r} (D={dim}): the {m} sampled stimuli span only {rank} "
                             f"directions (duplicated or collinear features), fewer than n_components={k}. "
                             f"Use n_components<={rank} or 'auto'.")
        k = rank
    s = evals[:k].sqrt()
    # computed in float64, kept in the sample's dtype (the run's): k x D is the largest array
    comps = torch.empty(k, d, dtype=x.dtype, device=x.device)
    uk = u[:, :k].T.contiguous()
    for c in range(0, d, _COLUMNS):
        comps[:, c:c + _COLUMNS] = (uk @ (x[:, c:c + _COLUMNS].to(f64) - mean[c:c + _COLUMNS])) / s[:, None]
    big = comps.abs().argmax(dim=1)
    comps *= torch.sign(comps[torch.arange(k, device=x.device), big])[:, None]
    ev = evals / (m - 1)
    return {"mean": mean.cpu().numpy(), "components": comps.cpu().numpy(),
            "explained_variance": ev[:k].cpu().numpy(),
            "explained_variance_ratio": (ev[:k] / ev.sum()).cpu().numpy(), "rank": rank}


class Reducer:
    """One layer's fitted reduction: ``transform`` maps (n, D) rows to (n, k).

    Built by :func:`rdm_widgets.reduction.fit_reducer`. A layer that is not reduced
    (``max_dim_allowed``, or a size not smaller than D) has an identity reducer
    (``method`` None, ``reason`` says why).

    Attributes
    ----------
    layer : str
    method : {'pca', 'srp'} or None
    original_dim : int
        D, the width read from the source.
    n_components : int
        k, the width after :meth:`transform` (D for an identity reducer).
    """

    def __init__(self, layer: str, original_dim: int, n_components: int, info: dict, *,
                 srp: Optional[dict] = None, pca: Optional[dict] = None):
        self.layer, self.original_dim, self.n_components = str(layer), int(original_dim), int(n_components)
        self.method = info.get("method")
        self._info, self._srp, self._pca = dict(info), srp, pca
        self._cache = {}

    def __getstate__(self):            # device copies are rebuilt where the reducer is unpickled
        state = dict(self.__dict__)
        state["_cache"] = {}
        return state

    @property
    def reduces(self) -> bool:
        """Whether :meth:`transform` changes the rows (False for an identity reducer)."""
        return self.method is not None

    def __repr__(self):
        what = self.method or "identity"
        return f"<Reducer {what} {self.layer!r}: {self.original_dim} -> {self.n_components}>"

    # -- applying ----------------------------------------------------------------------------
    def _params(self, device: torch.device, dtype: torch.dtype) -> tuple:
        key = (str(device), dtype)
        if key not in self._cache:
            srp = pca = None
            if self._srp is not None:
                p = self._srp
                k, d = len(p["indptr"]) - 1, self.original_dim
                values = torch.from_numpy(p["signs"].astype(np.float64) * p["scale"]).to(dtype)
                # torch warns once that CSR is "in beta" when the first one is built: not the user's
                # concern (a once-per-reducer construction; the products themselves warn nothing)
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta", UserWarning)
                    mat = torch.sparse_csr_tensor(torch.from_numpy(p["indptr"]), torch.from_numpy(p["indices"]),
                                                  values, size=(k, d), check_invariants=False)
                    srp = mat.to_dense() if k * d <= DENSE_SRP_MAX else mat
                srp = srp.to(device)
            if self._pca is not None:
                pca = (torch.from_numpy(self._pca["mean"]).to(device=device, dtype=dtype),
                       torch.from_numpy(self._pca["components"]).to(device=device, dtype=dtype))
            self._cache[key] = (srp, pca)
        return self._cache[key]

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """Reduce rows.

        Parameters
        ----------
        x : torch.Tensor, (n, D)
            Rows in the run's dtype, on the run's device.

        Returns
        -------
        torch.Tensor, (n, k)
            Same dtype and device (``x`` itself for an identity reducer).
        """
        if x.ndim != 2 or x.shape[1] != self.original_dim:
            raise ValueError(f"Layer {self.layer!r}: the reducer was fitted on rows of {self.original_dim} "
                             f"features; got an array of shape {tuple(x.shape)}.")
        if not self.reduces:
            return x
        srp, pca = self._params(x.device, x.dtype)
        if srp is not None:
            # CSR @ dense (4-7x faster than COO on the CPU; cuSPARSE on CUDA)
            x = x @ srp.T if srp.layout == torch.strided else (srp @ x.T.contiguous()).T
        if pca is not None:
            mean, comps = pca
            x = (x - mean) @ comps.T
        return x.contiguous()

    # -- describing and storing ---------------------------------------------------------------
    def meta(self) -> dict:
        """What was done, JSON-able (stored in the RDM's meta under ``'dim_reduction'``).

        Returns
        -------
        dict
            ``method``, ``n_components``, ``original_dim``, ``n_samples`` (stimuli PCA was
            fitted on; 0 for SRP, which reads no data), ``random_state``, ``eps``,
            ``n_components_requested``, ``srp_before_pca``, ``max_dim_allowed``, ``reason``
            (why an identity reducer left the layer as is), for PCA
            ``explained_variance_ratio`` (per component) and its ``_total``, for SRP
            ``srp_components`` and ``density``.
        """
        out = {"method": self.method, "n_components": self.n_components, "original_dim": self.original_dim}
        out.update(self._info)
        return out

    def to_arrays(self, dtype) -> dict:
        """The fitted parameters as npz-ready arrays, floats in ``dtype`` (the run's)."""
        out = {"meta_json": np.array(json.dumps({"layer": self.layer, "original_dim": self.original_dim,
                                                  "n_components": self.n_components, "info": self._info}))}
        if self._srp is not None:
            out.update({f"srp_{k}": np.asarray(v) for k, v in self._srp.items()})
        if self._pca is not None:
            out.update(pca_mean=self._pca["mean"].astype(dtype), pca_components=self._pca["components"].astype(dtype))
        return out

    @classmethod
    def from_arrays(cls, arrays) -> "Reducer":
        """Rebuild a reducer stored by :meth:`to_arrays` (a dict or an ``np.load`` result)."""
        head = json.loads(str(arrays["meta_json"]))
        srp = pca = None
        if "srp_indptr" in arrays:
            srp = {k: np.asarray(arrays[f"srp_{k}"]) for k in ("indptr", "indices", "signs")}
            srp.update(scale=float(arrays["srp_scale"]), density=float(arrays["srp_density"]))
        if "pca_mean" in arrays:
            pca = {"mean": np.asarray(arrays["pca_mean"], np.float64),
                   "components": np.asarray(arrays["pca_components"])}
        return cls(head["layer"], head["original_dim"], head["n_components"], head["info"], srp=srp, pca=pca)
