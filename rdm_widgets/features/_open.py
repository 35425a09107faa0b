"""``open_features``: pick the reader for what the caller passed (by type, then by content).

Folders are told apart by content, never by name: the first ``.npz`` file's keys say
whether it holds one stimulus (per-stimulus folder) or one layer (per-layer folder).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from .. import _npy
from ._arrays import ArraySource
from ._base import FeatureSource
from ._hdf5 import HDF5_SUFFIXES, HDF5Source
from ._names import natural_key
from ._npz_folder import NpzFolderSource
from ._npz_layers import NpzLayersSource, is_layer_file

__all__ = ["open_features", "SIDECAR_SUFFIXES"]

#: Files beside the features that describe them (``stimuli.json`` categories, ``info.json``
#: model outputs, a README): read by whoever needs them, never reported as skipped.
SIDECAR_SUFFIXES = (".json", ".md", ".txt")


def _open_folder(folder: Path) -> FeatureSource:
    entries = sorted(folder.iterdir(), key=lambda p: natural_key(p.name))
    # hidden files are skipped too: macOS writes "._name.npz" AppleDouble files that are not npz
    files = [p for p in entries if p.is_file() and p.suffix.lower() == ".npz" and not p.name.startswith(".")]
    chosen = set(files)                       # a set: 50,000 files would make a list lookup quadratic
    others = [p for p in entries if p not in chosen]
    skipped = [p.name + ("/" if p.is_dir() else "") for p in others
               if not (p.is_file() and p.suffix.lower() in SIDECAR_SUFFIXES)]
    if not files:
        found = [p.name + ("/" if p.is_dir() else "") for p in others]
        raise ValueError(
            f"No .npz feature files in folder {str(folder)!r}"
            + (f" (found only: {found[:10]})" if found else " (it is empty)")
            + ". Expected one .npz per stimulus (Net2Brain layout) or one <layer>.npz per layer."
        )
    if skipped:
        warnings.warn(f"Skipped {len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'} in {str(folder)!r} that are not .npz feature "
                      f"files: {skipped}", UserWarning, stacklevel=3)
    first = _npy.npz_headers(files[0])
    if is_layer_file(first):
        return NpzLayersSource(files, str(folder))
    return NpzFolderSource(files, str(folder), first, folder=folder)


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

    Examples
    --------
    >>> from rdm_widgets import open_features
    >>> from rdm_widgets.demo import demo_path
    >>> source = open_features(demo_path("minilm"))
    >>> source.n_stimuli, source.has_sequence("encoder.layer.5")
    (20, True)
    """
    if isinstance(source, FeatureSource):
        return source
    if isinstance(source, dict) or isinstance(source, np.ndarray) or hasattr(source, "detach"):
        arrays = source if isinstance(source, dict) else {"features": source}
        return ArraySource(arrays, stimuli)
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
        return NpzFolderSource(paths, f"{len(paths)} files")
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
    if path.suffix.lower() in HDF5_SUFFIXES:
        return HDF5Source(path)
    raise ValueError(
        f"Unsupported feature file {str(path)!r}. Pass a folder of .npz files, a list of per-stimulus "
        ".npz files or an .h5/.hdf5 file."
    )
