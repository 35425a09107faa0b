"""The file formats of :func:`rdm_widgets.rdm_files.read_rdm_file`: one reader per suffix.

Why this module exists: brain, behaviour and hypothesis RDMs arrive as npz, npy, csv, mat or
HDF5 files with many layouts (the table in :mod:`rdm_widgets.rdm_files`). Each reader here
returns ``(array, names or None, meta)``; :func:`_to_stack` turns the array (square, stacked,
condensed, MATLAB's (N, N, S)) into (S, N, N). rsatoolbox's HDF5 layout is read by
:func:`rdm_widgets.interop.read_rsatoolbox_hdf5`, the reader ``LayerRDM.from_file`` uses too.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ._npy import check_file, load_npy, read_error
from ._rdm_bytes import read_csv_matrix
from ._safe_load import load_npz_safe

__all__ = ["RDM_FILE_SUFFIXES"]

_ARRAY_KEYS = ("rdm", "rdms", "arr_0", "dissimilarities", "data", "RDM", "RDMs")
_NAME_KEYS = ("stimuli", "names", "stimuli_name", "stimulus", "conditions", "labels", "stim",
              "conds", "images")


def _n_from_pairs(m: int) -> int | None:
    n = int(round((1 + np.sqrt(1 + 8 * m)) / 2))
    return n if n * (n - 1) // 2 == m and n >= 2 else None


def _squareform_stack(v: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((v.shape[0], n, n))
    iu, ju = np.triu_indices(n, 1)
    out[:, iu, ju] = v
    out[:, ju, iu] = v
    return out


def _names(values) -> list[str] | None:
    if values is None:
        return None
    arr = np.asarray(values, dtype=object).ravel()
    out = []
    for v in arr.tolist():
        if isinstance(v, np.ndarray):  # MATLAB cellstr entries arrive as arrays
            v = v.ravel().tolist()
            v = v[0] if len(v) == 1 else "".join(map(str, v))
        out.append(v.decode() if isinstance(v, bytes) else str(v))
    return out


def _to_stack(arr: np.ndarray, where: str, matlab: bool = False) -> np.ndarray:
    """(S, N, N) from a square matrix, a stack, a condensed vector or a stack of vectors."""
    arr = np.asarray(arr)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"The RDM array in {where} has dtype {arr.dtype}; RDMs must be numeric.")
    if arr.ndim == 1 or (arr.ndim == 2 and arr.shape[0] != arr.shape[1]):
        v = arr.reshape(1, -1) if arr.ndim == 1 else arr
        n = _n_from_pairs(v.shape[1])
        if n is None:
            raise ValueError(f"{where} holds shape {arr.shape}: not square, and {v.shape[1]} values "
                             "per row are no condensed RDM (N*(N-1)/2 values).")
        return _squareform_stack(v.astype(np.float64), n)
    if arr.ndim == 2:
        return arr[None]
    if arr.ndim == 3:
        if arr.shape[1] == arr.shape[2] and not (matlab and arr.shape[0] == arr.shape[1] != arr.shape[2]):
            return arr
        if arr.shape[0] == arr.shape[1]:  # MATLAB-style (N, N, S)
            return np.moveaxis(arr, 2, 0)
    raise ValueError(f"{where} holds shape {arr.shape}; expected (N, N), (S, N, N) or a condensed RDM.")


def _pick(arrays: dict, where: str, variable: str | None, what: str = "key"):
    """The RDM array and the stimulus names of a dict of arrays (npz, mat, hdf5)."""
    names = next((arrays[k] for k in _NAME_KEYS if k in arrays), None)
    if variable is not None:
        if variable not in arrays:
            raise ValueError(f"{where} has no {what} {variable!r}; it holds {sorted(arrays)}.")
        return arrays[variable], names
    for k in _ARRAY_KEYS:
        if k in arrays:
            return arrays[k], names
    numeric = {k: v for k, v in arrays.items() if isinstance(v, np.ndarray) and v.dtype.kind in "biuf"
               and v.ndim in (1, 2, 3) and v.size > 1 and k not in _NAME_KEYS}
    if len(numeric) == 1:
        return next(iter(numeric.values())), names
    if not numeric:
        raise ValueError(f"{where} holds no numeric RDM array ({what}s: {sorted(arrays)}).")
    raise ValueError(f"{where} holds several arrays {sorted(numeric)}; say which is the RDM "
                     f"(read_rdm_file(path, variable=...)).")


def _read_npz(path: Path, variable):
    data = load_npz_safe(path)
    where = repr(path.name)
    if {"data", "times", "conditions"} <= set(data):
        raise ValueError(f"{where} is a time-resolved (EEG) RDM (keys data, times, conditions); "
                         "open it in the EEG tab, not as a brain RDM.")
    arr, names = _pick(dict(data), where, variable)
    if names is None:  # Net2Brain keeps names in a pickled array: recovered literals only
        names = next((data.skipped[k] for k in _NAME_KEYS if isinstance(data.skipped.get(k), list)), None)
    return arr, names, {}


def _read_npy(path: Path, variable):
    return load_npy(path, what="RDM file"), None, {}


def _read_csv(path: Path, variable):
    check_file(path, what="RDM file")
    matrix, names = read_csv_matrix(path.read_text(encoding="utf-8-sig"), path.name)
    return matrix, names, {}


def _mat_v73(path: Path) -> dict:
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        for k, v in f.items():
            if isinstance(v, h5py.Dataset) and v.dtype.kind in "biuf":
                out[k] = np.asarray(v).T  # MATLAB is column-major: reverse the axes
    return out


def _read_mat(path: Path, variable):
    from scipy.io import loadmat

    check_file(path, what="RDM file")
    try:
        raw = loadmat(path)
    except NotImplementedError:  # v7.3 files are HDF5
        raw = _mat_v73(path)
    except (EOFError, OSError, ValueError) as err:    # 0 bytes, truncated: scipy does not name the file
        raise read_error(path, err, "RDM file") from err
    arrays = {k: v for k, v in raw.items() if not k.startswith("__")}
    where = repr(path.name)
    names = None
    for k in _NAME_KEYS:
        if k in arrays and arrays[k].dtype.kind in "OUS":
            names = _names(arrays.pop(k))
            break
    arrays = {k: v for k, v in arrays.items() if isinstance(v, np.ndarray) and v.dtype.kind in "biuf"}
    arr, _ = _pick(arrays, where, variable, "variable")
    return _to_stack(arr, where, matlab=True), names, {}


def _read_hdf5(path: Path, variable):
    import h5py

    from .interop._rsatoolbox import is_rsatoolbox_hdf5, read_rsatoolbox_hdf5

    where = repr(path.name)
    check_file(path, what="RDM file")
    if variable is None and is_rsatoolbox_hdf5(path):      # the one rsatoolbox reader (LayerRDM.from_file too)
        data = read_rsatoolbox_hdf5(path)
        meta = {} if data.measure is None else {"dissimilarity_measure": data.measure}
        return data.matrices, data.names, meta
    with h5py.File(path, "r") as f:
        arrays = {k: np.asarray(v) for k, v in f.items() if isinstance(v, h5py.Dataset)}
    arr, names = _pick(arrays, where, variable, "dataset")
    return arr, (None if names is None or np.asarray(names).dtype.kind not in "SUO" else names), {}


#: suffix -> reader(path, variable) -> (array, names or None, meta)
_READERS = {".npz": _read_npz, ".npy": _read_npy, ".csv": _read_csv, ".tsv": _read_csv, ".txt": _read_csv,
            ".mat": _read_mat, ".hdf5": _read_hdf5, ".h5": _read_hdf5}
RDM_FILE_SUFFIXES = tuple(_READERS)
