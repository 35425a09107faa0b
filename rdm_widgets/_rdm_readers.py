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

__all__ = ["RDM_FILE_SUFFIXES", "read_time_resolved"]

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
                         "it is not a brain RDM: load it with TimeResolvedRDM.from_file(path) (or "
                         "GeneralizationRDM.from_file), e.g. for rsa_timecourse.")
    pickled = sorted(k for k in data.skipped if k not in _NAME_KEYS and k not in data)
    if pickled and (variable in pickled or not any(isinstance(v, np.ndarray) and v.dtype.kind in "biuf"
                                                   and k not in _NAME_KEYS for k, v in data.items())):
        raise ValueError(f"{where}: {pickled} are pickled object arrays, which are never unpickled "
                         "(loading would run code); save the RDMs as a numeric array.")
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


# ----------------------------------------------------------------------------- time-resolved files
def _text(value):
    arr = np.asarray(value)
    v = arr.item() if arr.size == 1 else arr.tolist()
    return v.decode() if isinstance(v, bytes) else str(v)


def _net2brain_time_resolved(data, path: Path) -> dict:
    """Fields of a Net2Brain multi-timepoint RDM file: ``rdm`` holds one RDM per model time point.

    Net2Brain's ``LayerRDM.save`` stores every RDM condensed; a multi-timepoint layer's ``rdm`` is
    the stack of its time points' condensed RDMs, (T, N*(N-1)/2) (squares (T, N, N) are read too).
    Its own loader takes that 2-D array for one square matrix; here the rows are time points.
    """
    where = repr(path.name)
    arr = np.asarray(data["rdm"])
    if arr.ndim == 3 and arr.shape[1] == arr.shape[2]:
        stack = arr.astype(np.float64)
    elif arr.ndim == 2 and arr.shape[0] != arr.shape[1] and _n_from_pairs(arr.shape[1]) is not None:
        stack = _squareform_stack(arr.astype(np.float64), _n_from_pairs(arr.shape[1]))
    elif arr.ndim == 1 and _n_from_pairs(arr.shape[0]) is not None:
        stack = _squareform_stack(arr.reshape(1, -1).astype(np.float64), _n_from_pairs(arr.shape[0]))
    else:
        raise ValueError(f"{where} holds 'rdm' of shape {arr.shape}: not one RDM per time point "
                         "((T, N*(N-1)/2) condensed or (T, N, N)).")
    skipped = getattr(data, "skipped", {})
    names = data.get("stimuli_name", data.get("stimuli"))
    names = _names(names) if names is not None else (
        [str(s) for s in skipped["stimuli_name"]] if isinstance(skipped.get("stimuli_name"), list) else None)
    layer = data.get("layer_name", data.get("layer"))
    layer = _text(layer) if layer is not None else (skipped.get("layer_name") or "")
    meta = dict(skipped["meta"]) if isinstance(skipped.get("meta"), dict) else {}
    meta.setdefault("source_format", "net2brain")
    n_t, n = stack.shape[0], stack.shape[1]
    labels = meta.get("time_labels") if isinstance(meta.get("time_labels"), list) else None
    if labels is not None and len(labels) != n_t:
        labels = None
    return {"data": np.moveaxis(stack, 0, 2), "times": np.arange(n_t, dtype=np.float64),
            "conditions": names if names is not None and len(names) == n else None, "meta": meta,
            "time_labels": labels, "layer": "" if layer in (None, "None") else str(layer)}


def read_time_resolved(path) -> dict:
    """The fields of a time-resolved RDM file, never unpickling anything.

    Parameters
    ----------
    path : Path
        A file written by :meth:`rdm_widgets.eeg.TimeResolvedRDM.save` (keys ``data``,
        ``times``, ``conditions``, ``meta_json``; newer files also ``time_labels``, ``layer``,
        ``format``), or a Net2Brain multi-timepoint RDM file (``.npz``: ``rdm`` (T, N*(N-1)/2),
        ``stimuli_name``, ``layer_name``, pickled ``meta`` read as literals only; ``.pt``: the
        same keys, loaded with ``weights_only=True``).

    Returns
    -------
    dict
        ``data`` (n, n, T) and the keyword arguments of ``TimeResolvedRDM``: ``times``,
        ``conditions``, ``meta``, ``time_labels``, ``layer``.
    """
    import json

    path = Path(path)
    if path.suffix.lower() in (".pt", ".pth"):           # Net2Brain's torch format (weights_only load)
        from ._layer_rdm_files import to_numpy
        from ._safe_load import load_pt_safe

        data = load_pt_safe(path)
        if not isinstance(data, dict) or "rdm" not in data:
            raise ValueError(f"{str(path)!r} holds no 'rdm' entry; it is not a Net2Brain RDM file.")
        data = {k: to_numpy(v) if hasattr(v, "detach") else v for k, v in data.items()}
        meta = data.pop("meta", None)
        out = _net2brain_time_resolved({k: v for k, v in data.items() if v is not None}, path)
        out["meta"] = dict(meta, source_format="net2brain") if isinstance(meta, dict) else out["meta"]
        return out
    data = load_npz_safe(path)
    if "rdm" in data and "data" not in data:
        return _net2brain_time_resolved(data, path)
    missing = {"data", "times", "conditions", "meta_json"} - set(data)
    if missing:
        raise ValueError(f"{str(path)!r} is not a TimeResolvedRDM file: missing key(s) {sorted(missing)}.")
    labels = data.get("time_labels")
    return {"data": data["data"], "times": data["times"], "conditions": np.asarray(data["conditions"]).tolist(),
            "meta": json.loads(_text(data["meta_json"])),
            "time_labels": None if labels is None else [str(x) for x in np.asarray(labels).tolist()],
            "layer": _text(data["layer"]) if "layer" in data else ""}
