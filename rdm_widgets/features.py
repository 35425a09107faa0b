"""Reading DNN features: per-stimulus npz folders, per-layer npz, HDF5, arrays.

Supported inputs (detected by content, never by folder name):

- a folder of **per-stimulus** ``.npz`` files as Net2Brain's extractor writes
  them: one file per stimulus, one key per layer (``[1, C, H, W]``,
  ``[1, D]``, ``[seq, D]`` or ``[1, seq, D]``); the stimulus name is the file
  stem; a list of such file paths works too (kept in the given order);
- a folder of **per-layer** ("consolidated") ``.npz`` files: one
  ``<layer>.npz`` per layer with keys ``features`` ``(N, ...)`` and
  ``stimuli`` ``(N,)`` str, optionally ``layer`` (the layer's name when the
  file name cannot hold it);
- an **HDF5** file (``.h5`` / ``.hdf5``): one dataset ``(N, ...)`` per layer
  (nested groups give ``group/name``) and an optional ``stimuli`` dataset;
- **arrays**: ``dict[layer -> (N, ...)]`` (numpy or torch) or one array
  (layer ``'features'``).

File-derived stimulus names are in natural sort order (``img_2`` before
``img_10``); sources that store their stimuli keep the stored order.

:meth:`FeatureSource.iter_layers` streams ``(layer, (N, D))`` arrays. For
per-stimulus folders every file is opened once per pass and all layers of the
pass are filled from it (Net2Brain opens every file once per layer); layers are
grouped into passes whose output fits ``max_bytes``. Opening a per-stimulus folder
reads only the first file's array headers; every other file's layers and shapes
are checked while its data is read (errors name the file, the layer and both
shapes). Only when the first file cannot tell -- whether a sequence layer's
length varies (without pooling), or whether a ``[1, D]`` layer is a one-token
sequence (with pooling) -- are all headers read first.

Sequence rule (per stimulus, batch axis of 1 included): ``[seq, D]`` with
``seq != 1`` and ``[1, seq, D]`` have a token axis that ``pooling`` reduces;
``[1, C, H, W]``, ``[1, D]`` and ``[C, H, W]`` are flattened.
"""
from __future__ import annotations

import warnings
import zipfile
from math import prod
from pathlib import Path
from typing import Optional

import numpy as np

from ._feature_source import _HDF5_SUFFIXES, _NUMERIC_KINDS, FeatureSource, _LayerInfo, _layer_info, natural_key
from ._pooling import (POOLINGS, is_sequence_shape, pool_features, same_but_length, shape_mismatch_error,
                       varying_length_error)

__all__ = ["open_features", "FeatureSource", "POOLINGS", "pool_features", "natural_key"]


class _NpzFolderSource(FeatureSource):
    """One ``.npz`` per stimulus, one key per layer.

    Opening reads only the first file's array headers; every file's shapes are checked
    while its data is read (so each file is opened once per pass), or by :meth:`_scan`
    when a question needs all of them first (see :meth:`FeatureSource._check_request`).
    """

    kind = "npz_folder"

    def __init__(self, files, source: str, first: Optional[dict] = None):
        self.files = [Path(f) for f in files]
        first = _npz_headers(self.files[0]) if first is None else first
        if not first:
            raise ValueError(f"{self.files[0].name!r} holds no arrays.")
        for k, (shape, dt) in first.items():
            _check_dtype(k, dt, self.files[0].name)
        info = {k: _LayerInfo(shape, is_sequence_shape(shape), checked=False) for k, (shape, _) in first.items()}
        super().__init__([f.stem for f in self.files], info, source)

    def _scan(self) -> None:
        ref, names = self.files[0].name, [f.name for f in self.files]
        shapes = {k: [] for k in self.layers}
        for f in self.files:
            h = _npz_headers(f)
            for k in self.layers:
                if k not in h:
                    raise _missing_error(f.name, k, ref)
                _check_dtype(k, h[k][1], f.name)
                shapes[k].append(h[k][0])
        self._info = {k: _layer_info(k, shapes[k], names) for k in self.layers}

    def _plan(self, layers, pooling, dtype, max_bytes):
        # greedy: fill each pass up to max_bytes of output (at least one layer per pass)
        plan, size = [], 0
        for layer in layers:
            nbytes = self.n_stimuli * self.feature_dim(layer, pooling) * dtype.itemsize
            if plan and size + nbytes <= max_bytes:
                plan[-1].append(layer)
                size += nbytes
            else:
                plan.append([layer])
                size = nbytes
        return plan

    def _count(self, plan):
        return len(plan) * len(self.files)

    def _read_block(self, block, pooling, dtype, reporter):
        out = {layer: np.empty((self.n_stimuli, self.feature_dim(layer, pooling)), dtype) for layer in block}
        self._read_files(out, 0, self.n_stimuli, pooling, reporter)
        for layer in block:
            self._info[layer].checked = True  # every file's shape of this layer has been seen
        for layer in block:
            yield layer, out.pop(layer)

    def _read_files(self, out: dict, start: int, stop: int, pooling, reporter=None) -> None:
        """Fill ``out[layer][i - start]`` from stimulus files ``start..stop-1`` (each opened once)."""
        for i in range(start, stop):
            f = self.files[i]
            try:
                z = np.load(f, allow_pickle=False)
            except (OSError, ValueError, zipfile.BadZipFile) as err:
                raise ValueError(f"Could not read stimulus file {str(f)!r}: {err}") from err
            with z:
                for layer, rows in out.items():
                    if layer not in z.files:
                        raise _missing_error(f.name, layer, self.files[0].name)
                    try:
                        a = z[layer]
                    except ValueError as err:  # e.g. an object array (would need pickle)
                        raise ValueError(f"Could not read layer {layer!r} of {f.name!r}: {err}") from err
                    self._fill(rows, i - start, layer, a, f, pooling)
            if reporter is not None:
                reporter.update(1)

    def _fill(self, out, i, layer, a, f, pooling):
        info = self._info[layer]
        _check_dtype(layer, a.dtype, f.name)
        if a.shape != info.shape:
            ref = self.files[0].name
            if not (info.sequence and same_but_length(a.shape, info.shape)):
                raise shape_mismatch_error(layer, f.name, a.shape, ref, info.shape)
            info.varying = info.varying or (ref, info.shape, f.name, a.shape)
            if pooling is None:
                raise varying_length_error(layer, info.varying)
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            n_nan = int(np.isnan(a).sum())
            raise ValueError(
                f"Features of layer {layer!r} in {f.name!r} contain {n_nan} NaN and "
                f"{int((~np.isfinite(a)).sum()) - n_nan} inf value(s). Remove or impute them "
                "before computing RDMs."
            )
        if info.sequence and pooling:
            out[i] = POOLINGS[pooling](a.reshape(a.shape[-2:]), 0)  # [1, seq, D] -> [seq, D]
        else:
            out[i] = a.reshape(-1)


def _missing_error(name, layer, ref) -> ValueError:
    return ValueError(f"Stimulus file {name!r} is missing layer {layer!r} (present in {ref!r}). "
                      "Every stimulus file must hold the same layers.")


def _check_dtype(layer, dt, where) -> None:
    if dt.kind not in _NUMERIC_KINDS:
        raise TypeError(f"Layer {layer!r} in {where!r} has dtype {dt}; features must be numeric.")


class _NpzLayersSource(FeatureSource):
    """One ``<layer>.npz`` per layer with keys ``features`` (N, ...) and ``stimuli`` (N,)."""

    kind = "npz_layers"

    def __init__(self, files, source: str):
        self._files, self._order, info, stimuli = {}, {}, {}, None
        for f in files:
            with np.load(f, allow_pickle=False) as z:
                if "features" not in z.files or "stimuli" not in z.files:
                    raise ValueError(
                        f"{f.name!r} lacks the keys 'features' and 'stimuli' although "
                        f"{files[0].name!r} in the same folder has them. A folder holds either one "
                        "file per stimulus or one file per layer, not both."
                    )
                names = [str(s) for s in np.atleast_1d(z["stimuli"])]
                layer = str(z["layer"]) if "layer" in z.files else f.stem
            shape = _npz_headers(f)["features"][0]
            if len(shape) < 1 or shape[0] != len(names):
                raise ValueError(f"{f.name!r}: 'features' has shape {shape} but 'stimuli' has "
                                 f"{len(names)} names; the first axis must be the stimuli.")
            if stimuli is None:
                stimuli = names
            elif sorted(names) != sorted(stimuli):
                diff = sorted(set(names) ^ set(stimuli))[:5]
                raise ValueError(f"{f.name!r} holds other stimuli than {files[0].name!r} (differing: {diff}).")
            if layer in self._files:
                raise ValueError(f"Layer {layer!r} is stored twice: {self._files[layer].name!r} and {f.name!r}.")
            pos = {n: j for j, n in enumerate(names)}
            order = np.array([pos[s] for s in stimuli])
            self._order[layer] = None if (order == np.arange(len(order))).all() else order
            self._files[layer] = f
            info[layer] = _LayerInfo(tuple(shape[1:]), is_sequence_shape(shape[1:]))
        super().__init__(stimuli, info, source)

    def _read_block(self, block, pooling, dtype, reporter):
        for layer in block:
            f = self._files[layer]
            with np.load(f, allow_pickle=False) as z:
                a = z["features"]
            if self._order[layer] is not None:
                a = a[self._order[layer]]
            rows = self._batch_rows(layer, a, pooling, dtype, repr(f.name), self.stimuli)
            del a
            reporter.update(1)
            yield layer, rows


class _HDF5Source(FeatureSource):
    """An HDF5 file with one dataset (N, ...) per layer and an optional ``stimuli`` dataset."""

    kind = "hdf5"
    _ROWS_BYTES = 256 * 1024 ** 2  # bound the temporaries of one read

    def __init__(self, path: Path):
        import h5py

        self.path = path
        shapes, stimuli = {}, None
        try:
            fh = h5py.File(path, "r")
        except OSError as err:
            raise ValueError(f"Could not open {str(path)!r} as HDF5: {err}") from err
        with fh:
            def visit(name, obj):
                if isinstance(obj, h5py.Dataset) and name != "stimuli":
                    if obj.dtype.kind not in _NUMERIC_KINDS:
                        raise TypeError(f"Dataset {name!r} in {path.name!r} has dtype {obj.dtype}; "
                                        "features must be numeric.")
                    shapes[name] = obj.shape
            fh.visititems(visit)
            if "stimuli" in fh:
                ds = fh["stimuli"]
                raw = ds.asstr()[()] if h5py.check_string_dtype(ds.dtype) else ds[()]
                stimuli = [str(s) for s in np.atleast_1d(raw)]
        if not shapes:
            raise ValueError(f"{str(path)!r} holds no feature datasets.")
        n = {s[0] if s else 0 for s in shapes.values()}
        if len(n) != 1 or (stimuli is not None and len(stimuli) not in n):
            detail = {k: v for k, v in shapes.items()}
            raise ValueError(f"Datasets in {path.name!r} disagree on the number of stimuli (first axis): "
                             f"{detail}" + (f", stimuli: {len(stimuli)}" if stimuli is not None else "") + ".")
        n = n.pop()
        stimuli = stimuli or _default_names(n)
        info = {k: _LayerInfo(tuple(s[1:]), is_sequence_shape(s[1:])) for k, s in shapes.items()}
        super().__init__(stimuli, info, str(path))

    def _read_block(self, block, pooling, dtype, reporter):
        import h5py

        with h5py.File(self.path, "r") as fh:
            for layer in block:
                ds, n = fh[layer], self.n_stimuli
                out = np.empty((n, self.feature_dim(layer, pooling)), dtype)
                step = max(1, self._ROWS_BYTES // max(1, ds.dtype.itemsize * prod(ds.shape[1:])))
                for start in range(0, n, step):
                    stop = min(n, start + step)
                    out[start:stop] = self._batch_rows(layer, ds[start:stop], pooling, dtype,
                                                       repr(self.path.name), self.stimuli[start:stop])
                reporter.update(1)
                yield layer, out


class _ArraySource(FeatureSource):
    """In-memory ``dict[layer -> (N, ...)]``."""

    kind = "arrays"

    def __init__(self, arrays: dict, stimuli=None):
        self._arrays = {}
        for k, v in arrays.items():
            if hasattr(v, "detach"):
                v = v.detach().cpu().numpy()
            v = np.asarray(v)
            if v.ndim < 1:
                raise ValueError(f"Features of layer {k!r} must have a stimulus axis; got a 0-d array.")
            self._arrays[str(k)] = v
        if not self._arrays:
            raise ValueError("Invalid value for 'features': an empty dict. Expected dict[layer -> (N, ...)].")
        counts = {k: len(v) for k, v in self._arrays.items()}
        if len(set(counts.values())) != 1:
            raise ValueError(f"Layers disagree on the number of stimuli (first axis): {counts}.")
        n = next(iter(counts.values()))
        if stimuli is None:
            stimuli = _default_names(n)
        elif len(stimuli) != n:
            raise ValueError(f"'stimuli' has {len(stimuli)} names but the features have {n} rows.")
        info = {k: _LayerInfo(v.shape[1:], is_sequence_shape(v.shape[1:])) for k, v in self._arrays.items()}
        super().__init__(stimuli, info, "<arrays>")

    def _read_block(self, block, pooling, dtype, reporter):
        for layer in block:
            rows = self._batch_rows(layer, self._arrays[layer], pooling, dtype, "the given arrays", self.stimuli)
            reporter.update(1)
            yield layer, rows


def _default_names(n: int) -> list:
    width = len(str(max(n - 1, 0)))
    return [f"stimulus_{i:0{width}d}" for i in range(n)]


def _npz_headers(path: Path) -> dict:
    """``{key: (shape, dtype)}`` of an npz file, read from the .npy headers only (no data)."""
    fmt = np.lib.format
    out = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for member in zf.infolist():
                if not member.filename.endswith(".npy"):
                    continue
                with zf.open(member) as fh:
                    version = fmt.read_magic(fh)
                    if version == (1, 0):
                        shape, _, dt = fmt.read_array_header_1_0(fh)
                    elif version == (2, 0):
                        shape, _, dt = fmt.read_array_header_2_0(fh)
                    else:
                        shape, _, dt = fmt._read_array_header(fh, version)
                out[member.filename[:-4]] = (tuple(shape), dt)
    except (zipfile.BadZipFile, ValueError, OSError) as err:
        raise ValueError(f"{str(path)!r} is not a readable .npz file: {err}") from err
    return out


def _is_layer_file(keys: dict) -> bool:
    return "features" in keys and "stimuli" in keys and keys["stimuli"][1].kind in "US"


def _open_folder(folder: Path) -> FeatureSource:
    entries = sorted(folder.iterdir(), key=lambda p: natural_key(p.name))
    # hidden files are skipped too: macOS writes "._name.npz" AppleDouble files that are not npz
    files = [p for p in entries if p.is_file() and p.suffix.lower() == ".npz" and not p.name.startswith(".")]
    chosen = set(files)                       # a set: 50,000 files would make a list lookup quadratic
    skipped = [p.name + ("/" if p.is_dir() else "") for p in entries if p not in chosen]
    if not files:
        raise ValueError(
            f"No .npz feature files in folder {str(folder)!r}"
            + (f" (found only: {skipped[:10]})" if skipped else " (it is empty)")
            + ". Expected one .npz per stimulus (Net2Brain layout) or one <layer>.npz per layer."
        )
    if skipped:
        warnings.warn(f"Skipped {len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'} in {str(folder)!r} that are not .npz feature "
                      f"files: {skipped}", UserWarning, stacklevel=3)
    first = _npz_headers(files[0])
    if _is_layer_file(first):
        return _NpzLayersSource(files, str(folder))
    return _NpzFolderSource(files, str(folder), first)


def open_features(source, *, stimuli=None) -> FeatureSource:
    """Open features for RDM computation.

    Parameters
    ----------
    source : str, Path, list of paths, dict, np.ndarray, torch.Tensor or FeatureSource
        A folder of per-stimulus npz files (Net2Brain layout) or of per-layer
        ``<layer>.npz`` files (keys ``features`` (N, ...) and ``stimuli``), an
        ``.h5`` / ``.hdf5`` file, a list of per-stimulus ``.npz`` paths,
        ``dict[layer -> (N, ...)]`` or one (N, ...) array (layer ``'features'``).
    stimuli : list of str or None
        Stimulus names for in-memory arrays (default ``stimulus_0 ...``).

    Returns
    -------
    FeatureSource

    Raises
    ------
    FileNotFoundError
        If the path does not exist.
    ValueError
        Empty folder, inconsistent layers or shapes across files, unreadable files.
    """
    if isinstance(source, FeatureSource):
        return source
    if isinstance(source, dict) or isinstance(source, np.ndarray) or hasattr(source, "detach"):
        arrays = source if isinstance(source, dict) else {"features": source}
        return _ArraySource(arrays, stimuli)
    if stimuli is not None:
        raise ValueError("'stimuli' can only be given for in-memory arrays; files carry their own names.")
    if isinstance(source, (list, tuple)):
        if not source or not all(isinstance(p, (str, Path)) for p in source):
            raise TypeError("Invalid value for 'source': expected a non-empty list of .npz file paths.")
        paths = [Path(p) for p in source]
        for p in paths:
            if not p.is_file():
                raise FileNotFoundError(f"Feature file not found: {str(p)!r}.")
            if p.suffix.lower() != ".npz":
                raise ValueError(f"{str(p)!r} is not an .npz file; a list must hold per-stimulus .npz files.")
        return _NpzFolderSource(paths, f"{len(paths)} files")
    if not isinstance(source, (str, Path)):
        raise TypeError(
            f"Invalid type for 'source': {type(source).__name__}. Expected a folder or file path, a list "
            "of .npz paths, a dict[layer -> array] or an array."
        )
    path = Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"Feature path not found: {str(path)!r}.")
    if path.is_dir():
        return _open_folder(path)
    if path.suffix.lower() in _HDF5_SUFFIXES:
        return _HDF5Source(path)
    raise ValueError(
        f"Unsupported feature file {str(path)!r}. Pass a folder of .npz files, a list of per-stimulus "
        ".npz files or an .h5/.hdf5 file."
    )
