"""The :class:`LayerRDM` container: one RDM with its stimuli, layer and metadata.

A representational dissimilarity matrix (RDM) is a square (N, N) matrix of
dissimilarities between N stimuli. ``LayerRDM`` keeps the matrix together with
the stimulus names, the layer it was computed from and a JSON-serialisable
``meta`` dict (distance, pooling, ...), converts between square and condensed
(upper triangle) form, and saves/loads files atomically and without pickle.

It reads Net2Brain RDM files (condensed ``rdm``, ``stimuli_name``,
``layer_name`` and a pickled ``meta`` that is never unpickled) and legacy
single-array files (``arr_0``). Default stimulus names are ``"0"``, ``"1"``,
..., ``"N-1"`` (the zero-based index as a string).
"""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np

from ._io import atomic_savez, atomic_torch_save, load_npz_safe, load_pt_safe, rdm_filename
from ._validate import check_finite, check_option

__all__ = ["LayerRDM", "load_rdms", "load_rdm_stack"]

_FORMATS = {".npz": "npz", ".pt": "pt", ".pth": "pt"}
_RDM_FILE = re.compile(r"^RDM_(.*)\.(npz|pt|pth)$")


def _natural_key(text: str):
    """Sort key so that 'layer2' < 'layer10'."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", str(text))]


def _to_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    elif hasattr(x, "data") and not isinstance(x, np.ndarray) and not isinstance(x, memoryview):
        x = x.data  # LayerRDM / TimeResolvedRDM-like objects
    return np.asarray(x)


def _float_matrix(x) -> np.ndarray:
    arr = _to_numpy(x)
    if arr.dtype.kind == "f" and arr.dtype.itemsize >= 4:
        return arr  # keep float32 for large RDMs, float64 otherwise
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"RDM values must be numeric; got dtype {arr.dtype}.")
    return arr.astype(np.float32 if arr.dtype == np.float16 else np.float64)


def _str_list(values) -> list[str]:
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    return [v.decode() if isinstance(v, bytes) else str(v) for v in arr.tolist()]


def _scalar_str(value) -> str:
    arr = np.asarray(value)
    v = arr.item() if arr.size == 1 else arr.tolist()
    return v.decode() if isinstance(v, bytes) else str(v)


def _n_from_condensed(m: int) -> int | None:
    n = int(round((1 + np.sqrt(1 + 8 * m)) / 2))
    return n if n * (n - 1) // 2 == m else None


class LayerRDM:
    """One RDM with its stimulus names, layer name and metadata.

    Parameters
    ----------
    matrix : array-like or torch.Tensor, shape (N, N)
        Square, finite dissimilarity matrix. float32/float64 are kept, other
        numeric types become float64.
    stimuli : sequence of str or None
        N stimulus names; default ``["0", "1", ..., "N-1"]``.
    layer : str
        Layer (or ROI / model) name.
    meta : dict or None
        Metadata; must be JSON-serialisable to be saved.

    Attributes
    ----------
    matrix : ndarray, shape (N, N)
    stimuli : list of str
    layer : str
    meta : dict
    n_stimuli : int
    data, stimuli_name, layer_name
        Net2Brain-compatible aliases of ``matrix``, ``stimuli``, ``layer``.
    """

    def __init__(self, matrix, stimuli=None, layer: str = "", meta: dict | None = None):
        mat = _float_matrix(matrix)
        if mat.ndim != 2 or mat.shape[0] != mat.shape[1]:
            hint = (" It looks like a condensed vector; use LayerRDM.from_condensed()."
                    if mat.ndim == 1 else "")
            hint += (" It looks like a stack of RDMs; index one (e.g. stack[0]) or use "
                     "load_rdm_stack()." if mat.ndim == 3 else "")
            raise ValueError(f"An RDM must be a square 2-D array (N, N); got shape {mat.shape}.{hint}")
        check_finite(f"RDM of layer {layer!r}", mat)
        n = mat.shape[0]
        if stimuli is None:
            stimuli = [str(i) for i in range(n)]
        else:
            stimuli = _str_list(stimuli)
            if len(stimuli) != n:
                raise ValueError(
                    f"Got {len(stimuli)} stimulus names for an RDM of {n} stimuli "
                    f"(shape {mat.shape}) in layer {layer!r}; give exactly {n} names."
                )
        if meta is None:
            meta = {}
        if not isinstance(meta, dict):
            raise TypeError(f"Invalid type for 'meta': {type(meta).__name__}. Expected a dict or None.")
        self._matrix = mat
        self._stimuli = list(stimuli)
        self.layer = str(layer) if layer is not None else ""
        self.meta = dict(meta)

    # ------------------------------------------------------------------ basics
    @property
    def matrix(self) -> np.ndarray:
        """(N, N) dissimilarity matrix."""
        return self._matrix

    @property
    def stimuli(self) -> list[str]:
        """N stimulus names."""
        return self._stimuli

    @property
    def n_stimuli(self) -> int:
        return self._matrix.shape[0]

    # Net2Brain aliases
    data = matrix
    stimuli_name = stimuli

    @property
    def layer_name(self) -> str:
        return self.layer

    def __len__(self) -> int:
        return self.n_stimuli

    def __array__(self, dtype=None, copy=None):
        return self._matrix if dtype is None else self._matrix.astype(dtype)

    def __repr__(self) -> str:
        keys = ", ".join(sorted(self.meta)) if self.meta else ""
        return (f"LayerRDM(layer={self.layer!r}, n_stimuli={self.n_stimuli}, "
                f"dtype={self._matrix.dtype}" + (f", meta keys: {keys})" if keys else ")"))

    def _new(self, matrix, stimuli, meta=None) -> "LayerRDM":
        return LayerRDM(matrix, stimuli, self.layer, dict(self.meta) if meta is None else meta)

    # ------------------------------------------------------- condensed / square
    def condensed(self) -> np.ndarray:
        """Upper triangle without diagonal, shape (N*(N-1)//2,), scipy ``squareform`` order."""
        iu = np.triu_indices(self.n_stimuli, 1)
        return self._matrix[iu]

    @classmethod
    def from_condensed(cls, vec, stimuli=None, layer: str = "", meta: dict | None = None) -> "LayerRDM":
        """Build a symmetric RDM with zero diagonal from a condensed vector.

        Parameters
        ----------
        vec : array-like, shape (N*(N-1)//2,)
            Upper triangle in scipy ``squareform`` order.
        """
        vec = _float_matrix(vec)
        if vec.ndim != 1:
            raise ValueError(f"A condensed RDM must be 1-D; got shape {vec.shape}.")
        m = vec.shape[0]
        n = _n_from_condensed(m)
        if n is None:
            lo = int(np.floor((1 + np.sqrt(1 + 8 * m)) / 2))
            raise ValueError(
                f"A condensed RDM has N*(N-1)/2 values; length {m} fits no N "
                f"(N={lo} needs {lo * (lo - 1) // 2}, N={lo + 1} needs {(lo + 1) * lo // 2})."
            )
        mat = np.zeros((n, n), dtype=vec.dtype)
        iu = np.triu_indices(n, 1)
        mat[iu] = vec
        mat.T[iu] = vec
        return cls(mat, stimuli, layer, meta)

    # ------------------------------------------------------------ subsetting
    def _indices(self, indices_or_names) -> np.ndarray:
        sel = indices_or_names
        if isinstance(sel, (str, int, np.integer)):
            sel = [sel]
        sel = list(sel.tolist() if isinstance(sel, np.ndarray) else sel)
        n = self.n_stimuli
        if sel and all(isinstance(s, (bool, np.bool_)) for s in sel):
            if len(sel) != n:
                raise ValueError(f"Boolean mask has {len(sel)} entries; the RDM has {n} stimuli.")
            return np.flatnonzero(sel)
        if all(isinstance(s, str) for s in sel):
            lookup = {}
            for i, s in enumerate(self._stimuli):
                lookup.setdefault(s, i)
            missing = [s for s in sel if s not in lookup]
            if missing:
                import difflib

                close = difflib.get_close_matches(missing[0], self._stimuli, n=3)
                hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
                raise ValueError(
                    f"Unknown stimulus name(s) {missing[:5]} in layer {self.layer!r}.{hint} "
                    f"Stimuli are e.g. {self._stimuli[:3]}."
                )
            return np.array([lookup[s] for s in sel], dtype=np.intp)
        if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in sel):
            raise TypeError("Select stimuli with integer indices, stimulus names or a boolean mask (not a mix).")
        idx = np.array(sel, dtype=np.intp)
        bad = idx[(idx < -n) | (idx >= n)]
        if bad.size:
            raise IndexError(f"Stimulus index {int(bad[0])} is out of range for {n} stimuli.")
        return idx % n if n else idx

    def subset(self, indices_or_names) -> "LayerRDM":
        """RDM restricted to some stimuli (integer indices, names or a boolean mask), in that order."""
        idx = self._indices(indices_or_names)
        return self._new(self._matrix[np.ix_(idx, idx)], [self._stimuli[i] for i in idx])

    def reorder(self, order) -> "LayerRDM":
        """Same RDM with the stimuli in a new order (a permutation of all of them)."""
        idx = self._indices(order)
        if idx.size != self.n_stimuli or np.unique(idx).size != self.n_stimuli:
            raise ValueError(
                f"'order' must be a permutation of all {self.n_stimuli} stimuli; got {idx.size} "
                f"entries ({np.unique(idx).size} distinct). Use subset() to select stimuli."
            )
        return self.subset(idx)

    def rank_transform(self) -> "LayerRDM":
        """Ranks of the upper triangle (ties averaged) rescaled to [0, 1].

        Returns a symmetric RDM with zero diagonal, in float64; a constant RDM
        becomes all zeros. ``meta['rank_transformed']`` is set to True.
        """
        from scipy.stats import rankdata

        ranks = rankdata(self.condensed().astype(np.float64))
        span = ranks.max() - ranks.min() if ranks.size else 0.0
        ranks = (ranks - ranks.min()) / span if span > 0 else np.zeros_like(ranks)
        out = LayerRDM.from_condensed(ranks, self._stimuli, self.layer, dict(self.meta))
        out.meta["rank_transformed"] = True
        return out

    def plot(self, indices=None, **kwargs):
        """Plotly heatmap (see :func:`rdm_widgets.plotting.rdm_heatmap`)."""
        from .plotting import rdm_heatmap

        return rdm_heatmap(self, indices=indices, **kwargs)

    # ----------------------------------------------------------------- files
    def _meta_json(self) -> str:
        try:
            return json.dumps(self.meta)
        except (TypeError, ValueError) as err:
            bad = []
            for k, v in self.meta.items():
                try:
                    json.dumps(v)
                except (TypeError, ValueError):
                    bad.append(f"{k!r} ({type(v).__name__})")
            raise TypeError(
                f"meta of layer {self.layer!r} is not JSON-serialisable: {err}. Offending keys: "
                f"{', '.join(bad) or 'keys'}. Convert values to str/int/float/list/dict (e.g. "
                "arr.tolist())."
            ) from err

    def save(self, path, format: str | None = None, overwrite: bool = False) -> Path:
        """Save atomically to ``.npz`` (default) or ``.pt``; never executes code on load.

        Parameters
        ----------
        path : str or Path
            File name (without a suffix, ``.npz``/``.pt`` is added from
            ``format``), or an existing folder: the file is then
            ``RDM_<layer>.<format>`` inside it.
        format : {'npz', 'pt'} or None
            Default: from the suffix of ``path``, else ``'npz'``.
        overwrite : bool
            Replace an existing file (default: raise ``FileExistsError``).

        Returns
        -------
        Path
            The written file. npz keys: ``rdm`` (N, N), ``stimuli`` (N,) str,
            ``layer`` str, ``meta_json`` str. pt: dict with the same keys
            (``rdm`` a tensor, ``stimuli`` a list).
        """
        path = Path(path)
        if path.is_dir():  # as Net2Brain: a folder gets RDM_<layer>.<format>
            fmt = check_option("format", format or "npz", ["npz", "pt"])
            path = path / rdm_filename(self.layer, set(), fmt)
        suffix_fmt = _FORMATS.get(path.suffix.lower())
        if format is not None:
            format = check_option("format", format, ["npz", "pt"])
            if suffix_fmt is None:
                path = path.with_name(path.name + f".{format}")
            elif suffix_fmt != format:
                raise ValueError(f"File name {path.name!r} does not match format={format!r}; "
                                 f"use a .{format} file name.")
        elif suffix_fmt is None:
            if path.suffix:
                raise ValueError(f"Cannot tell the format from {path.name!r}: use a .npz or .pt "
                                 "file name or pass format='npz' / 'pt'.")
            format, path = "npz", path.with_name(path.name + ".npz")
        else:
            format = suffix_fmt
        meta_json = self._meta_json()
        if format == "npz":
            return atomic_savez(path, overwrite=overwrite, rdm=self._matrix,
                                stimuli=np.array(self._stimuli, dtype=str), layer=np.array(self.layer),
                                meta_json=np.array(meta_json))
        import torch

        obj = {"rdm": torch.from_numpy(np.ascontiguousarray(self._matrix)), "stimuli": list(self._stimuli),
               "layer": self.layer, "meta_json": meta_json}
        return atomic_torch_save(path, obj, overwrite=overwrite)

    @classmethod
    def from_file(cls, path) -> "LayerRDM":
        """Load an RDM: our npz/pt, Net2Brain npz/pt, legacy ``arr_0`` npz or a 2-D ``.npy``.

        Nothing is ever unpickled: a Net2Brain pickled ``meta`` is recovered
        only when it consists of plain literals (read from the pickle opcodes),
        otherwise it is skipped and its name listed in
        ``meta['skipped_pickled_keys']``.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"RDM file {str(path)!r} does not exist.")
        m = _RDM_FILE.match(path.name)
        default_layer = m.group(1) if m else path.stem
        suffix = path.suffix.lower()
        skipped: dict = {}
        if suffix in (".pt", ".pth"):
            data = load_pt_safe(path)
            if not isinstance(data, dict):
                data = {"rdm": data}
        elif suffix == ".npz":
            data = load_npz_safe(path)
            skipped = data.skipped
        elif suffix == ".npy":
            data = {"arr_0": np.load(path, allow_pickle=False)}
        else:
            raise ValueError(f"Unsupported RDM file {str(path)!r}: use .npz, .pt or .npy.")
        keys = list(data) + list(skipped)
        if "rdm" in data:
            arr = _to_numpy(data["rdm"])
        elif len(data) == 1 and not skipped:
            arr = _to_numpy(next(iter(data.values())))
        else:
            raise ValueError(f"{str(path)!r} holds no 'rdm' array (keys: {keys}); it is not an RDM file.")
        if arr.ndim == 3:
            raise ValueError(
                f"{str(path)!r} holds a stack of {arr.shape[0]} RDMs, shape {arr.shape} "
                "(e.g. one per subject). Load it with rdm_widgets.rdm.load_rdm_stack(path)."
            )
        stimuli = layer = None
        meta: dict = {}
        for k in ("stimuli", "stimuli_name"):
            if data.get(k) is not None:
                stimuli = _str_list(_to_numpy(data[k]))
            elif isinstance(skipped.get(k), list):
                stimuli = [str(s) for s in skipped[k]]
        for k in ("layer", "layer_name"):
            if data.get(k) is not None:
                layer = _scalar_str(data[k])
            elif isinstance(skipped.get(k), str):
                layer = skipped[k]
        if "meta_json" in data:
            meta = json.loads(_scalar_str(data["meta_json"]))
        elif isinstance(data.get("meta"), dict):  # pt from Net2Brain
            meta = dict(data["meta"])
        elif isinstance(skipped.get("meta"), dict):  # npz from Net2Brain, recovered safely
            meta = dict(skipped["meta"])
        unread = [k for k, v in skipped.items() if not (k == "meta" and isinstance(v, dict))
                  and not (k in ("stimuli_name", "layer_name") and v is not None)]
        if unread:
            meta["skipped_pickled_keys"] = unread
        layer = default_layer if layer in (None, "", "None") else layer
        try:
            if arr.ndim == 1:
                return cls.from_condensed(arr, stimuli, layer, meta)
            return cls(arr, stimuli, layer, meta)
        except ValueError as err:
            raise ValueError(f"Invalid RDM in {str(path)!r}: {err}") from err


def load_rdm_stack(path) -> np.ndarray:
    """Load a stack of RDMs (e.g. one per subject) saved as one array.

    Parameters
    ----------
    path : str or Path
        ``.npz`` holding one array (e.g. Net2Brain's fMRI ``arr_0``) or ``.npy``.

    Returns
    -------
    ndarray, shape (S, N, N)
    """
    path = Path(path)
    if path.suffix.lower() == ".npy":
        if not path.is_file():
            raise FileNotFoundError(f"File {str(path)!r} does not exist.")
        arr = np.load(path, allow_pickle=False)
    else:
        data = load_npz_safe(path)
        if len(data) != 1:
            raise ValueError(f"{str(path)!r} must hold exactly one array to be an RDM stack; "
                             f"it holds {sorted(data)}.")
        arr = next(iter(data.values()))
    arr = _float_matrix(arr)
    if arr.ndim != 3 or arr.shape[1] != arr.shape[2]:
        raise ValueError(f"An RDM stack must have shape (S, N, N); {str(path)!r} holds shape {arr.shape}.")
    check_finite("RDM stack", arr, where=str(path))
    return arr


def load_rdms(folder) -> dict[str, LayerRDM]:
    """Load every ``RDM_*.npz`` / ``RDM_*.pt`` file of a folder.

    Files are read in natural order of their names; other files are skipped
    with a warning. Keys are the layer names stored in the files (the file
    name when two files hold the same layer).

    Returns
    -------
    dict
        ``{layer: LayerRDM}``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"RDM folder {str(folder)!r} does not exist.")
    out: dict[str, LayerRDM] = {}
    others = []
    for f in sorted((p for p in folder.iterdir() if p.is_file()), key=lambda p: _natural_key(p.name)):
        if not _RDM_FILE.match(f.name):
            others.append(f.name)
            continue
        try:
            rdm = LayerRDM.from_file(f)
        except (ValueError, TypeError, OSError) as err:
            warnings.warn(f"Skipping {f.name}: {err}", stacklevel=2)
            continue
        key = rdm.layer if rdm.layer not in out else f.stem
        out[key] = rdm
    if others:
        warnings.warn(f"Skipped {len(others)} file(s) in {str(folder)!r} that are not RDM_*.npz/.pt: "
                      f"{others[:5]}", stacklevel=2)
    if not out:
        raise ValueError(f"No RDM files (RDM_*.npz or RDM_*.pt) found in {str(folder)!r}.")
    return out
