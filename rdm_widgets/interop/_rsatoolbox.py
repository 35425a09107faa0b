"""rsatoolbox ``RDMs`` objects and rsatoolbox HDF5 files, as plain arrays and names.

Why this module exists: rsatoolbox (Schütt et al. 2023) is where many labs keep their RDMs.
Its ``rsatoolbox.rdm.RDMs`` holds ``dissimilarities`` (n_rdm, n_pairs) -- the upper triangle
row by row, the order of :meth:`rdm_widgets.rdm.LayerRDM.condensed` -- plus
``rdm_descriptors`` (one value per RDM: subject, time, ...), ``pattern_descriptors`` (one value
per stimulus: names) and a ``dissimilarity_measure``. Here they become :class:`RDMStackData`
(square (S, N, N) matrices and lists) and back, so the containers (``LayerRDM``, ``RDMSet``,
``TimeResolvedRDM``) convert without this module knowing them (no import cycle).

rsatoolbox is imported only by :func:`to_rsatoolbox`; recognising an ``RDMs`` object
(:func:`is_rsatoolbox_rdms`) and reading/writing its HDF5 layout (:func:`read_rsatoolbox_hdf5`,
:func:`write_rsatoolbox_hdf5`, with h5py) work without it. The file layout is that of
``RDMs.save(path, file_type='hdf5')`` (``rsatoolbox.io.hdf5.write_dict_hdf5``): a dataset
``dissimilarities``; groups ``descriptors``, ``rdm_descriptors``, ``pattern_descriptors`` (lists
as datasets, strings as byte strings; scalar strings as attributes); the attribute
``dissimilarity_measure``. ``rsatoolbox.rdm.load_rdm`` reads what is written here.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np

__all__ = ["RDMStackData", "is_rsatoolbox_rdms", "from_rsatoolbox", "to_rsatoolbox", "read_rsatoolbox_hdf5",
           "write_rsatoolbox_hdf5", "is_rsatoolbox_hdf5", "pattern_names", "NAME_DESCRIPTORS"]

#: pattern descriptors that hold stimulus names, in order of preference
NAME_DESCRIPTORS = ("stimuli", "stimulus", "names", "name", "conds", "conditions", "condition", "labels",
                    "images", "image", "stim")


class RDMStackData(NamedTuple):
    """RDMs as plain values: what an rsatoolbox ``RDMs`` object or HDF5 file holds.

    Attributes
    ----------
    matrices : ndarray, shape (S, N, N)
        Square, symmetric, zero diagonal (float64).
    rdm_descriptors : dict
        ``{name: list of S values}`` (rsatoolbox's ``index`` included).
    pattern_descriptors : dict
        ``{name: list of N values}`` (rsatoolbox's ``index`` included).
    descriptors : dict
        Descriptors of the whole set (``{name: value}``).
    measure : str or None
        ``dissimilarity_measure``.
    """

    matrices: np.ndarray
    rdm_descriptors: dict
    pattern_descriptors: dict
    descriptors: dict
    measure: Optional[str]

    @property
    def names(self) -> Optional[list]:
        """The stimulus names (:func:`pattern_names`)."""
        return pattern_names(self.pattern_descriptors, self.matrices.shape[1])


def is_rsatoolbox_rdms(obj) -> bool:
    """Whether ``obj`` is an ``rsatoolbox.rdm.RDMs`` (recognised without importing rsatoolbox)."""
    return type(obj).__module__.split(".")[0] == "rsatoolbox" and hasattr(obj, "get_matrices") \
        and hasattr(obj, "dissimilarities")


def pattern_names(pattern_descriptors: dict, n: int) -> Optional[list]:
    """Stimulus names from pattern descriptors: the first of :data:`NAME_DESCRIPTORS`, else the
    first other descriptor with ``n`` distinct values; None when only ``index`` is there."""
    keys = [k for k in NAME_DESCRIPTORS if k in pattern_descriptors]
    keys += [k for k in pattern_descriptors if k not in keys and k != "index"]
    for k in keys:
        values = [_text(v) for v in _as_list(pattern_descriptors[k])]
        if len(values) == n and len(set(values)) == n:
            return values
    return None


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v.item() if isinstance(v, np.generic) else v)


def _as_list(v) -> list:
    if isinstance(v, np.ndarray):
        return [x.decode() if isinstance(x, bytes) else x for x in v.tolist()]
    if isinstance(v, (list, tuple)):
        return list(v)
    return [v]


def _squares(vectors: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((vectors.shape[0], n, n), dtype=np.float64)
    iu, ju = np.triu_indices(n, 1)
    out[:, iu, ju] = vectors
    out[:, ju, iu] = vectors
    return out


def _n_from_pairs(m: int, where: str) -> int:
    n = int(round((1 + np.sqrt(1 + 8 * m)) / 2))
    if n * (n - 1) // 2 != m:
        raise ValueError(f"{where}: {m} dissimilarities per RDM are no upper triangle (N*(N-1)/2 values).")
    return n


def from_rsatoolbox(rdms) -> RDMStackData:
    """An ``rsatoolbox.rdm.RDMs`` as :class:`RDMStackData`.

    Parameters
    ----------
    rdms : rsatoolbox.rdm.RDMs
        n_rdm RDMs of n_cond patterns.

    Returns
    -------
    RDMStackData
        ``matrices`` (n_rdm, n_cond, n_cond).

    Raises
    ------
    TypeError
        ``rdms`` is not an rsatoolbox ``RDMs``.
    ValueError
        Masked (NaN) dissimilarities: subset the patterns first (``rdms.subset_pattern``).
    """
    if not is_rsatoolbox_rdms(rdms):
        raise TypeError(f"Invalid type for 'rdms': {type(rdms).__name__}. Expected an rsatoolbox.rdm.RDMs.")
    vectors = np.asarray(rdms.dissimilarities, dtype=np.float64).reshape(int(rdms.n_rdm), -1)
    return _checked(RDMStackData(_squares(vectors, int(rdms.n_cond)),
                                 {k: _as_list(v) for k, v in dict(rdms.rdm_descriptors).items()},
                                 {k: _as_list(v) for k, v in dict(rdms.pattern_descriptors).items()},
                                 dict(rdms.descriptors or {}),
                                 None if rdms.dissimilarity_measure is None else str(rdms.dissimilarity_measure)),
                    "the rsatoolbox RDMs")


def _checked(data: RDMStackData, where: str) -> RDMStackData:
    bad = ~np.isfinite(data.matrices)
    if bad.any():
        s, i, j = (int(v) for v in np.argwhere(bad)[0])
        raise ValueError(f"{where} hold {int(bad.sum()) // 2} missing (NaN) dissimilarities, the first in RDM "
                         f"{s} between patterns {i} and {j}; rdm_widgets needs complete RDMs. Keep the "
                         "measured patterns first, e.g. rdms.subset_pattern('index', measured).")
    return data


def to_rsatoolbox(matrices, names=None, *, name_descriptor: str = "stimuli", rdm_descriptors=None,
                  descriptors=None, measure=None):
    """Square RDMs as an ``rsatoolbox.rdm.RDMs`` (imports rsatoolbox).

    Parameters
    ----------
    matrices : array-like, shape (S, N, N)
    names : list of str or None
        Stimulus names: the pattern descriptor ``name_descriptor``.
    name_descriptor : str
    rdm_descriptors : dict or None
        ``{name: S values}``.
    descriptors : dict or None
    measure : str or None
        ``dissimilarity_measure``.

    Returns
    -------
    rsatoolbox.rdm.RDMs
    """
    try:
        from rsatoolbox.rdm import RDMs
    except ImportError as err:
        raise ImportError("Converting to rsatoolbox needs rsatoolbox: pip install rsatoolbox "
                          "(or rdm_widgets[interop]).") from err
    mats = np.asarray(matrices, dtype=np.float64)
    iu, ju = np.triu_indices(mats.shape[1], 1)
    pattern = {} if names is None else {name_descriptor: [str(s) for s in names]}
    return RDMs(mats[:, iu, ju], dissimilarity_measure=measure, descriptors=dict(descriptors or {}),
                rdm_descriptors={k: list(v) for k, v in (rdm_descriptors or {}).items()},
                pattern_descriptors=pattern)


# ------------------------------------------------------------------------------------ HDF5
def is_rsatoolbox_hdf5(path) -> bool:
    """Whether an HDF5 file has rsatoolbox's ``dissimilarities`` dataset (False if unreadable)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return isinstance(f.get("dissimilarities"), h5py.Dataset)
    except OSError:
        return False


def _read_value(item):
    import h5py

    if isinstance(item, h5py.Group):
        return _read_group(item)
    if item.shape is None:                               # h5py.Empty: rsatoolbox's None
        return None
    value = np.asarray(item[()])
    if value.dtype.kind in "SO":
        value = value.astype(str)
    return value


def _read_group(group) -> dict:
    out = {k: _read_value(v) for k, v in group.items()}
    for k, v in group.attrs.items():
        out[k] = v.decode() if isinstance(v, bytes) else (v.astype(str) if isinstance(v, np.ndarray)
                                                            and v.dtype.kind in "SO" else v)
    return out


def _desc_lists(d) -> dict:
    """rsatoolbox's ``dict_to_list``: every descriptor as a list (a dict of ``'0'``, ``'1'``... too)."""
    out = {}
    for k, v in (d or {}).items():
        if isinstance(v, dict):
            v = [v[i] for i in sorted(v, key=int)]
        elif isinstance(v, np.ndarray):
            v = _as_list(v) if v.ndim else [v.item()]
        elif not isinstance(v, list):
            v = [v]
        out[k] = v
    return out


def read_rsatoolbox_hdf5(path) -> RDMStackData:
    """Read an rsatoolbox HDF5 file (``RDMs.save(path, file_type='hdf5')``) without rsatoolbox.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    RDMStackData

    Raises
    ------
    ValueError
        No ``dissimilarities`` dataset, a shape that is no set of upper triangles, NaN values.
    """
    import h5py

    path = Path(path)
    with h5py.File(path, "r") as f:
        if not isinstance(f.get("dissimilarities"), h5py.Dataset):
            raise ValueError(f"{path.name!r} is no rsatoolbox RDM file: it has no 'dissimilarities' dataset "
                             f"(it holds {sorted(f)}).")
        d = _read_group(f)
    vectors = np.asarray(d["dissimilarities"], dtype=np.float64)
    if vectors.ndim == 1:
        vectors = vectors[None]
    if vectors.ndim != 2:
        raise ValueError(f"{path.name!r}: 'dissimilarities' has shape {vectors.shape}; rsatoolbox writes "
                         "(n_rdm, n_pairs).")
    measure = d.get("dissimilarity_measure")
    descriptors = d.get("descriptors") or {}
    descriptors = {k: (v.item() if isinstance(v, np.ndarray) and v.ndim == 0 else v) for k, v in descriptors.items()}
    return _checked(RDMStackData(_squares(vectors, _n_from_pairs(vectors.shape[1], repr(path.name))),
                                 _desc_lists(d.get("rdm_descriptors")), _desc_lists(d.get("pattern_descriptors")),
                                 descriptors, None if measure is None else _text(measure)), repr(path.name))


def _write_value(group, key: str, value) -> None:
    import h5py

    if isinstance(value, str):
        group.attrs[key] = value
    elif value is None:
        group[key] = h5py.Empty("f")
    elif isinstance(value, dict):
        sub = group.create_group(key)
        for k, v in value.items():
            _write_value(sub, str(k), v)
    elif isinstance(value, (bool, int, float, np.generic)):
        group[key] = value
    else:
        arr = np.asarray(value)
        if arr.dtype.kind == "O":
            arr = arr.astype(str)
        group[key] = arr.astype("S") if arr.dtype.kind == "U" else arr


def write_rsatoolbox_hdf5(path, data: RDMStackData, *, overwrite: bool = False) -> Path:
    """Write RDMs as rsatoolbox's HDF5 layout, atomically (``rsatoolbox.rdm.load_rdm`` reads it).

    Parameters
    ----------
    path : str or Path
        ``.hdf5`` / ``.h5`` file.
    data : RDMStackData
        Descriptors hold strings, numbers or lists of them (other values are written as JSON text).
    overwrite : bool
        Replace an existing file (else ``FileExistsError``).

    Returns
    -------
    Path
    """
    import h5py

    from .._atomic import atomic_write
    from .._version import __version__

    mats = np.asarray(data.matrices, dtype=np.float64)
    iu, ju = np.triu_indices(mats.shape[1], 1)
    rdm_desc = dict(data.rdm_descriptors)
    rdm_desc.setdefault("index", list(range(mats.shape[0])))
    pat_desc = dict(data.pattern_descriptors)
    pat_desc.setdefault("index", list(range(mats.shape[1])))
    descriptors = {k: (v if isinstance(v, (str, int, float, bool, np.generic)) or v is None else json.dumps(v))
                   for k, v in dict(data.descriptors).items()}
    with atomic_write(path, overwrite=overwrite) as fh:
        with h5py.File(fh, "w") as f:
            f.attrs["rdm_widgets_version"] = __version__
            f["dissimilarities"] = mats[:, iu, ju]
            _write_value(f, "descriptors", descriptors)
            _write_value(f, "rdm_descriptors", {k: list(v) for k, v in rdm_desc.items()})
            _write_value(f, "pattern_descriptors", {k: list(v) for k, v in pat_desc.items()})
            _write_value(f, "dissimilarity_measure", data.measure)
    return Path(path)
