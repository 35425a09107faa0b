"""LayerRDM files: the npz / pt layout written by :meth:`LayerRDM.save` and every RDM file
:meth:`LayerRDM.from_file` reads (ours, Net2Brain's, legacy ``arr_0``, ``.npy`` and rsatoolbox's
HDF5, read and written by :mod:`rdm_widgets.interop._rsatoolbox`, the reader ``read_rdm_file``
shares).

A LayerRDM in rsatoolbox's layout (:func:`layer_to_stack` / :func:`layer_from_stack`): one RDM,
pattern descriptor ``stimuli`` (the names), rdm descriptor ``layer``, set descriptor
``meta_json`` (the metadata as JSON) and ``dissimilarity_measure`` = ``meta['distance']`` (or
``meta['dissimilarity_measure']``) when there is one.

Nothing is ever unpickled: a Net2Brain pickled ``meta`` is recovered only when it consists of
plain literals (read from the pickle opcodes by :mod:`rdm_widgets._safe_load`).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ._atomic import atomic_savez, atomic_torch_save, rdm_filename
from ._npy import check_file, load_npy
from ._safe_load import load_npz_safe, load_pt_safe
from ._validate import check_finite, check_option

__all__ = ["npz_arrays", "SAVE_FORMATS", "LAYER_FORMATS", "RDM_FILE", "to_numpy", "float_matrix", "n_from_condensed",
           "str_list", "write_layer_rdm", "read_layer_rdm", "load_rdm_stack", "layer_to_stack", "layer_from_stack",
           "HDF5_SUFFIXES"]

#: File formats a run's RDMs are saved in (both load without executing code).
SAVE_FORMATS = ("npz", "pt")
#: File formats of :meth:`LayerRDM.save`: also rsatoolbox's HDF5 (``rsatoolbox.rdm.load_rdm`` reads it).
LAYER_FORMATS = SAVE_FORMATS + ("hdf5",)
HDF5_SUFFIXES = (".hdf5", ".h5")
#: File names of saved RDMs: ``RDM_<layer>.<npz|pt|pth|hdf5|h5>`` (group 1: the layer).
RDM_FILE = re.compile(r"^RDM_(.*)\.(npz|pt|pth|hdf5|h5)$")
_SUFFIX_FORMATS = {".npz": "npz", ".pt": "pt", ".pth": "pt", ".hdf5": "hdf5", ".h5": "hdf5"}


def to_numpy(x) -> np.ndarray:
    """An array from a numpy array, a torch tensor or an RDM-like object (its ``.data``)."""
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    elif hasattr(x, "data") and not isinstance(x, np.ndarray) and not isinstance(x, memoryview):
        x = x.data  # LayerRDM / TimeResolvedRDM-like objects
    return np.asarray(x)


def float_matrix(x) -> np.ndarray:
    """``x`` as a float array: float32/float64 kept, other numeric types as float64 (float16: float32)."""
    arr = to_numpy(x)
    if arr.dtype.kind == "f" and arr.dtype.itemsize >= 4:
        return arr  # keep float32 for large RDMs, float64 otherwise
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"RDM values must be numeric; got dtype {arr.dtype}.")
    return arr.astype(np.float32 if arr.dtype == np.float16 else np.float64)


def str_list(values) -> list[str]:
    """Names from an array or sequence (bytes decoded, a scalar as one name)."""
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    return [v.decode() if isinstance(v, bytes) else str(v) for v in arr.tolist()]


def _scalar_str(value) -> str:
    arr = np.asarray(value)
    v = arr.item() if arr.size == 1 else arr.tolist()
    return v.decode() if isinstance(v, bytes) else str(v)


def n_from_condensed(m: int) -> int | None:
    """N such that ``N * (N - 1) / 2 == m``, or None."""
    n = int(round((1 + np.sqrt(1 + 8 * m)) / 2))
    return n if n * (n - 1) // 2 == m else None


# ----------------------------------------------------------------------------- writing
def _meta_json(meta: dict, layer: str) -> str:
    try:
        return json.dumps(meta)
    except (TypeError, ValueError) as err:
        bad = []
        for k, v in meta.items():
            try:
                json.dumps(v)
            except (TypeError, ValueError):
                bad.append(f"{k!r} ({type(v).__name__})")
        raise TypeError(
            f"meta of layer {layer!r} is not JSON-serialisable: {err}. Offending keys: "
            f"{', '.join(bad) or 'keys'}. Convert values to str/int/float/list/dict (e.g. "
            "arr.tolist())."
        ) from err


def npz_arrays(matrix: np.ndarray, stimuli: list, layer: str, meta: dict) -> dict:
    """The arrays of an RDM ``.npz`` file (keys ``rdm``, ``stimuli``, ``layer``, ``meta_json``):
    what :meth:`LayerRDM.save` writes and a download zips, so both load the same way."""
    return {"rdm": np.asarray(matrix), "stimuli": np.array([str(s) for s in stimuli], dtype=str),
            "layer": np.array(str(layer)), "meta_json": np.array(_meta_json(meta, layer))}


def write_layer_rdm(path, format, overwrite: bool, matrix: np.ndarray, stimuli: list, layer: str,
                    meta: dict) -> Path:
    """Write one RDM atomically (the body of :meth:`LayerRDM.save`, which documents the arguments).

    Returns
    -------
    Path
        The written file: npz keys ``rdm`` (N, N), ``stimuli`` (N,) str, ``layer`` str,
        ``meta_json`` str; pt a dict with the same keys (``rdm`` a tensor, ``stimuli`` a list).
    """
    path = Path(path)
    if path.is_dir():  # as Net2Brain: a folder gets RDM_<layer>.<format>
        fmt = check_option("format", format or "npz", LAYER_FORMATS)
        path = path / rdm_filename(layer, set(), fmt)
    suffix_fmt = _SUFFIX_FORMATS.get(path.suffix.lower())
    if format is not None:
        format = check_option("format", format, LAYER_FORMATS)
        if suffix_fmt is None:
            path = path.with_name(path.name + f".{format}")
        elif suffix_fmt != format:
            raise ValueError(f"File name {path.name!r} does not match format={format!r}; "
                             f"use a .{format} file name.")
    elif suffix_fmt is None:
        if path.suffix:
            raise ValueError(f"Cannot tell the format from {path.name!r}: use a .npz, .pt or .hdf5 "
                             "file name or pass format='npz' / 'pt' / 'hdf5'.")
        format, path = "npz", path.with_name(path.name + ".npz")
    else:
        format = suffix_fmt
    if format == "npz":
        return atomic_savez(path, overwrite=overwrite, **npz_arrays(matrix, stimuli, layer, meta))
    if format == "hdf5":
        from .interop._rsatoolbox import write_rsatoolbox_hdf5

        return write_rsatoolbox_hdf5(path, layer_to_stack(matrix, stimuli, layer, meta), overwrite=overwrite)
    meta_json = _meta_json(meta, layer)
    import torch

    obj = {"rdm": torch.from_numpy(np.ascontiguousarray(matrix)), "stimuli": list(stimuli),
           "layer": layer, "meta_json": meta_json}
    return atomic_torch_save(path, obj, overwrite=overwrite)


# ----------------------------------------------------------------------------- reading
def read_layer_rdm(path) -> tuple:
    """Read an RDM file without building a LayerRDM.

    Returns
    -------
    (np.ndarray, list of str or None, str, dict)
        The values ((N, N) or condensed (N*(N-1)/2,)), the stimulus names if stored, the layer
        (the file name's when none is stored) and the metadata.

    Raises
    ------
    FileNotFoundError, ValueError
        A missing file, an unsupported suffix, no RDM array, or a stack of RDMs.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"RDM file {str(path)!r} does not exist.")
    check_file(path, what="RDM file")       # a FIFO, device or socket is refused, never waited on
    m = RDM_FILE.match(path.name)
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
        data = {"arr_0": load_npy(path, what="RDM file")}
    elif suffix in HDF5_SUFFIXES:
        return _read_hdf5_layer(check_file(path, what="RDM file"), default_layer)
    else:
        raise ValueError(f"Unsupported RDM file {str(path)!r}: use .npz, .pt, .npy or an rsatoolbox .hdf5.")
    keys = list(data) + list(skipped)
    if "rdm" in data:
        arr = to_numpy(data["rdm"])
    elif len(data) == 1 and not skipped:
        arr = to_numpy(next(iter(data.values())))
    elif {"data", "times", "conditions"} <= set(data):   # one RDM per time point, not one RDM
        raise ValueError(f"{str(path)!r} is a time-resolved RDM (keys data, times, conditions): load it with "
                         "TimeResolvedRDM.from_file(path) (or GeneralizationRDM.from_file); .at(t) gives the "
                         "RDM of one time point.")
    elif "rdm" in skipped:                           # present, but pickled: never loaded
        raise ValueError(f"{str(path)!r}: its 'rdm' array is a pickled object array, which is never "
                         "unpickled (loading would run code); save the RDM as a numeric array.")
    else:
        raise ValueError(f"{str(path)!r} holds no 'rdm' array (keys: {keys}); it is not an RDM file.")
    if arr.ndim == 3:
        raise ValueError(
            f"{str(path)!r} holds a stack of {arr.shape[0]} RDMs, shape {arr.shape} "
            "(e.g. one per subject or time point). Load it with rdm_widgets.rdm.load_rdm_stack(path), "
            "or a model's time points with TimeResolvedRDM.from_file(path)."
        )
    if arr.ndim == 2 and arr.shape[0] != arr.shape[1] and n_from_condensed(arr.shape[1]):
        raise ValueError(
            f"{str(path)!r} holds {arr.shape[0]} condensed RDMs, shape {arr.shape}: one per model time "
            "point (a Net2Brain multi-timepoint file). Load it with TimeResolvedRDM.from_file(path) or "
            "rdm_widgets.rdm.load_time_resolved_rdms(folder)."
        )
    stimuli = layer = None
    meta: dict = {}
    for k in ("stimuli", "stimuli_name"):
        if data.get(k) is not None:
            stimuli = str_list(to_numpy(data[k]))
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
    return arr, stimuli, layer, meta


def _read_hdf5_layer(path: Path, default_layer: str) -> tuple:
    from .interop._rsatoolbox import read_rsatoolbox_hdf5

    data = read_rsatoolbox_hdf5(path)
    if data.matrices.shape[0] != 1:
        raise ValueError(
            f"{str(path)!r} holds {data.matrices.shape[0]} RDMs (an rsatoolbox RDMs set); a LayerRDM is one. "
            "Load all with rdm_widgets.load_rdms(path) ({name: LayerRDM}), as subjects with "
            "read_rdm_file(path), or one with LayerRDM.from_rsatoolbox(rsatoolbox.rdm.load_rdm(path), index=i).")
    matrix, stimuli, layer, meta = layer_from_stack(data, 0, default_layer)
    return matrix, stimuli, layer, meta


def _plain(value):
    """A descriptor value as a JSON-friendly Python value."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value if isinstance(value, (str, int, float, bool, list, dict)) or value is None else str(value)


def layer_to_stack(matrix, stimuli, layer: str, meta: dict):
    """One RDM as :class:`rdm_widgets.interop.RDMStackData` (the layout in the module docstring)."""
    from .interop._rsatoolbox import RDMStackData

    measure = meta.get("distance", meta.get("dissimilarity_measure", meta.get("dissimilarity")))
    return RDMStackData(np.asarray(matrix, dtype=np.float64)[None], {"layer": [str(layer)]},
                        {"stimuli": [str(s) for s in stimuli]}, {"meta_json": _meta_json(meta, layer)},
                        None if measure is None else str(measure))


def layer_from_stack(data, index: int, default_layer: str = "") -> tuple:
    """``(matrix, stimuli, layer, meta)`` of RDM ``index`` of an :class:`rdm_widgets.interop.RDMStackData`.

    The layer is the rdm descriptor ``layer`` (or ``name``, ``roi``, ``model``), else
    ``default_layer``, else ``"rdm <index>"``; meta is the set's ``meta_json`` (or its other
    descriptors), the ``dissimilarity_measure`` and the other rdm descriptors of this RDM.
    """
    s = data.matrices.shape[0]
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not -s <= index < s:
        raise IndexError(f"RDM index {index!r} is out of range for {s} RDM(s); use 0..{s - 1}.")
    index = int(index) % s
    desc = {k: v[index] for k, v in data.rdm_descriptors.items() if k != "index" and len(v) == s}
    layer = next((str(desc.pop(k)) for k in ("layer", "name", "roi", "model") if k in desc),
                 default_layer or (f"rdm {index}" if s > 1 else ""))
    sets = dict(data.descriptors)
    if isinstance(sets.get("meta_json"), str):          # written by LayerRDM: the meta as it was
        meta = json.loads(sets.pop("meta_json"))
    else:
        meta = {k: _plain(v) for k, v in sets.items()}
        if data.measure is not None:
            meta["dissimilarity_measure"] = data.measure
    if desc:
        meta["rdm_descriptors"] = {k: _plain(v) for k, v in desc.items()}
    return data.matrices[index], data.names, layer, meta


def load_rdm_stack(path) -> np.ndarray:
    """Load a stack of RDMs (e.g. one per subject) saved as one array.

    Parameters
    ----------
    path : str or Path
        ``.npz`` holding one array (e.g. Net2Brain's fMRI ``arr_0``), ``.npy`` or an rsatoolbox
        ``.hdf5`` / ``.h5`` file.

    Returns
    -------
    ndarray, shape (S, N, N)
    """
    path = Path(path)
    if path.suffix.lower() in HDF5_SUFFIXES:
        from .interop._rsatoolbox import read_rsatoolbox_hdf5

        return read_rsatoolbox_hdf5(check_file(path)).matrices
    if path.suffix.lower() == ".npy":
        arr = load_npy(path, what="RDM stack file")
    else:
        data = load_npz_safe(path)
        if len(data) != 1:
            raise ValueError(f"{str(path)!r} must hold exactly one array to be an RDM stack; "
                             f"it holds {sorted(data)}.")
        arr = next(iter(data.values()))
    arr = float_matrix(arr)
    if arr.ndim != 3 or arr.shape[1] != arr.shape[2]:
        raise ValueError(f"An RDM stack must have shape (S, N, N); {str(path)!r} holds shape {arr.shape}.")
    check_finite("RDM stack", arr, where=str(path))
    return arr
