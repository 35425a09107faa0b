"""Atomic writes and RDM file naming.

RDM files are the product of long computations, so a crash, a Ctrl-C or a widget's Stop
button must never leave a half-written file behind, and an existing file must never be
replaced by accident: everything is written to a temporary file beside the target and
moved into place in one ``os.replace`` (or ``os.link`` when nothing may be replaced).
A temporary file is named ``.<name>.rdmtmp-<pid>-<host tag>-<random>.tmp``, so a later write
of the same file removes the ones a killed process left (:func:`remove_stale`). Process
identity and the lock files built on it live in :mod:`rdm_widgets._owner`.
Loading lives in :mod:`rdm_widgets._safe_load`.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from ._owner import owner_tag, remove_stale

__all__ = ["atomic_write", "atomic_savez", "atomic_torch_save", "rdm_filename", "temp_prefix",
           "MAX_NAME_BYTES"]

_SAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]")
#: longest ``RDM_<layer>`` stem kept as is; longer ones are cut and get a hash (file systems allow 255 bytes)
MAX_NAME_BYTES = 200


def temp_prefix(path: Path) -> str:
    """Prefix of the temporary files :func:`atomic_write` makes for ``path`` (hidden, one per write)."""
    return f".{path.name}.rdmtmp-"


def _exists_error(path: Path) -> FileExistsError:
    return FileExistsError(
        f"File {str(path)!r} already exists. Pass overwrite=True to replace it, "
        "or choose another save_path."
    )


@contextlib.contextmanager
def atomic_write(path, *, overwrite: bool = False) -> Iterator[io.BufferedWriter]:
    """Open a temporary file next to ``path`` and move it into place on success.

    The data is written to a hidden temporary file in the same folder (so the
    final rename stays on one file system and is atomic), flushed and fsynced,
    then renamed to ``path``. On any exception -- including
    ``KeyboardInterrupt`` and :class:`rdm_widgets.Cancelled` -- the temporary
    file is removed and ``path`` is left untouched.

    Parameters
    ----------
    path : str or Path
        Destination file. Its folder must exist.
    overwrite : bool
        Replace an existing ``path``. When False an existing file raises
        ``FileExistsError`` (checked before writing and again, atomically, at
        the final rename).

    Yields
    ------
    file object
        Binary file object to write to.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"Cannot write to {str(path)!r}: it is a folder. Give a file name.")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"Folder {str(path.parent)!r} does not exist; create it first.")
    if path.exists() and not overwrite:
        raise _exists_error(path)
    remove_stale(path.parent, temp_prefix(path), suffix=".tmp")      # left by killed writers
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{temp_prefix(path)}{os.getpid()}-{owner_tag()}-",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            # os.link fails atomically if the destination appeared meanwhile.
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise _exists_error(path) from None
            except OSError:  # file systems without hard links
                if path.exists():
                    raise _exists_error(path) from None
                os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        os.unlink(tmp)  # after os.link the temp name is a second link


def atomic_savez(path, *, overwrite: bool = False, **arrays) -> Path:
    """Save arrays to an uncompressed ``.npz`` file atomically, without pickle.

    Parameters
    ----------
    path : str or Path
        Destination file (used as given; no suffix is added).
    overwrite : bool
        Replace an existing file.
    **arrays : array-like
        Arrays to store. Object arrays (which would need pickle) are rejected.

    Returns
    -------
    Path
        The written file.
    """
    converted = {}
    for key, value in arrays.items():
        arr = np.asarray(value)
        if arr.dtype.hasobject:
            raise TypeError(
                f"Cannot save key {key!r} to {str(path)!r}: it is an object array "
                f"(from {type(value).__name__}), which would need pickle. Convert it to a "
                "numeric or string array, or store it as a JSON string."
            )
        converted[key] = arr
    with atomic_write(path, overwrite=overwrite) as f:
        np.savez(f, **converted)
    return Path(path)


_TORCH_LEAVES = (str, int, float, bool, type(None))


def _check_torch_obj(obj, where: str) -> None:
    import torch

    if isinstance(obj, torch.Tensor) or isinstance(obj, _TORCH_LEAVES):
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"Cannot save {where}: dict key {k!r} is not a string.")
            _check_torch_obj(v, f"{where}[{k!r}]")
        return
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check_torch_obj(v, f"{where}[{i}]")
        return
    hint = " Convert numpy arrays with torch.from_numpy()." if isinstance(obj, np.ndarray) else ""
    raise TypeError(
        f"Cannot save {where}: {type(obj).__name__} is not loadable with "
        f"torch.load(weights_only=True). Allowed: tensors, str, numbers, None, dict, list.{hint}"
    )


def atomic_torch_save(path, obj, *, overwrite: bool = False) -> Path:
    """Save ``obj`` with :func:`torch.save` atomically.

    Only tensors, strings, numbers, None, and dicts (string keys) / lists of
    those are accepted, so that the file loads with ``weights_only=True``.
    """
    import torch

    _check_torch_obj(obj, "object")
    with atomic_write(path, overwrite=overwrite) as f:
        torch.save(obj, f)
    return Path(path)


def rdm_filename(layer: str, existing: set[str] | None = None, ext: str = "npz") -> str:
    """File name for a layer's RDM: ``RDM_<layer>.<ext>``.

    Characters outside ``[A-Za-z0-9._-]`` become ``_``; an empty layer name
    becomes ``unnamed``. If the name is already in ``existing`` (names used
    earlier in the same run, e.g. ``'a/b'`` and ``'a_b'`` both map to
    ``RDM_a_b.npz``) the suffix ``__2``, ``__3``, ... is added. The caller adds
    the returned name to ``existing``. A name longer than :data:`MAX_NAME_BYTES` is cut
    and ends in ``-<12 hex digits of the layer name's SHA-1>`` (stable across runs; the
    full name stays in the file's ``layer`` key), so any layer name gives a valid file name.

    Parameters
    ----------
    layer : str
        Layer name.
    existing : set of str or None
        File names already taken.
    ext : str
        Extension, with or without the dot (``'npz'`` or ``'pt'``).
    """
    existing = existing or set()
    ext = str(ext).lstrip(".")
    safe = _SAFE_CHARS.sub("_", str(layer)) or "unnamed"
    if len(safe) + 4 > MAX_NAME_BYTES:                          # 'RDM_' + safe, ASCII only
        digest = hashlib.sha1(str(layer).encode("utf-8", "surrogatepass")).hexdigest()[:12]
        safe = f"{safe[:MAX_NAME_BYTES - 4 - 13]}-{digest}"
    name = f"RDM_{safe}.{ext}"
    i = 2
    while name in existing:
        name = f"RDM_{safe}__{i}.{ext}"
        i += 1
    return name
