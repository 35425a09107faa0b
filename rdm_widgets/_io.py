"""Atomic writes, pickle-free loading and RDM file naming.

Why this module exists: RDM files are the product of long computations, so a
crash, a Ctrl-C or a widget's Stop button must never leave a half-written file
behind, and an existing file must never be replaced by accident. Loading must
never execute code, so numpy files are read with ``allow_pickle=False`` and
torch files with ``weights_only=True``. Net2Brain stores a pickled ``meta``
dict in its npz files; :func:`load_npz_safe` never unpickles it but can
recover plain literals (dict/list/str/numbers) by *reading* the pickle opcodes
with :mod:`pickletools`, which executes nothing.
"""
from __future__ import annotations

import contextlib
import io
import os
import pickletools
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np

__all__ = [
    "atomic_write",
    "atomic_savez",
    "atomic_torch_save",
    "load_npz_safe",
    "load_pt_safe",
    "rdm_filename",
    "SafeNpz",
]

_SAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]")


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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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


class SafeNpz(dict):
    """Dict of the arrays of an npz file plus what was *not* loaded.

    Attributes
    ----------
    skipped : dict
        Keys whose arrays are pickled objects. The value is the content
        recovered by reading the pickle opcodes (only plain literals), or
        None when it could not be recovered. Nothing is ever unpickled.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.skipped: dict = {}


class _Opaque:
    """Inert stand-in for anything a pickle would build by calling code."""

    def __init__(self, what):
        self.what = what
        self.state = None


class _Reader:
    """Stack machine that *reads* pickle opcodes and builds plain literals only.

    Global references, REDUCE/NEWOBJ and BUILD become :class:`_Opaque`
    placeholders: no import and no call ever happens. Opcodes missing from
    ``_OPS`` make the whole read fail.
    """

    def __init__(self):
        self.stack: list = []
        self.marks: list = []
        self.memo: dict = {}

    def push(self, value):
        self.stack.append(value)

    def pop_mark(self) -> list:
        start = self.marks.pop()
        items = self.stack[start:]
        del self.stack[start:]
        return items

    def pop_n(self, n: int) -> list:
        items = self.stack[-n:]
        del self.stack[-n:]
        return items

    def build(self, _):
        state = self.stack.pop()
        if not isinstance(self.stack[-1], _Opaque):
            raise ValueError("BUILD on a literal")
        self.stack[-1].state = state

    def set_items(self, items):
        self.stack[-1].update(_pairs_dict(items))


def _pairs_dict(items: list) -> dict:
    return dict(zip(items[::2], items[1::2]))


_LITERALS = ("INT BININT BININT1 BININT2 LONG LONG1 LONG4 FLOAT BINFLOAT UNICODE BINUNICODE "
             "SHORT_BINUNICODE BINUNICODE8 STRING BINSTRING SHORT_BINSTRING BINBYTES "
             "SHORT_BINBYTES BINBYTES8 BYTEARRAY8").split()
_OPS = {
    "PROTO": lambda r, a: None,
    "FRAME": lambda r, a: None,
    "MARK": lambda r, a: r.marks.append(len(r.stack)),
    "NONE": lambda r, a: r.push(None),
    "NEWTRUE": lambda r, a: r.push(True),
    "NEWFALSE": lambda r, a: r.push(False),
    **{name: (lambda r, a: r.push(a)) for name in _LITERALS},
    "EMPTY_LIST": lambda r, a: r.push([]),
    "EMPTY_DICT": lambda r, a: r.push({}),
    "EMPTY_TUPLE": lambda r, a: r.push(()),
    "LIST": lambda r, a: r.push(r.pop_mark()),
    "TUPLE": lambda r, a: r.push(tuple(r.pop_mark())),
    "TUPLE1": lambda r, a: r.push(tuple(r.pop_n(1))),
    "TUPLE2": lambda r, a: r.push(tuple(r.pop_n(2))),
    "TUPLE3": lambda r, a: r.push(tuple(r.pop_n(3))),
    "DICT": lambda r, a: r.push(_pairs_dict(r.pop_mark())),
    "APPEND": lambda r, a: r.stack[-2].append(r.stack.pop()),
    "APPENDS": lambda r, a: (lambda items: r.stack[-1].extend(items))(r.pop_mark()),
    "SETITEM": lambda r, a: r.set_items(r.pop_n(2)),
    "SETITEMS": lambda r, a: r.set_items(r.pop_mark()),
    "PUT": lambda r, a: r.memo.__setitem__(a, r.stack[-1]),
    "BINPUT": lambda r, a: r.memo.__setitem__(a, r.stack[-1]),
    "LONG_BINPUT": lambda r, a: r.memo.__setitem__(a, r.stack[-1]),
    "MEMOIZE": lambda r, a: r.memo.__setitem__(len(r.memo), r.stack[-1]),
    "GET": lambda r, a: r.push(r.memo[a]),
    "BINGET": lambda r, a: r.push(r.memo[a]),
    "LONG_BINGET": lambda r, a: r.push(r.memo[a]),
    "GLOBAL": lambda r, a: r.push(_Opaque(("global", a))),
    "STACK_GLOBAL": lambda r, a: r.push(_Opaque(("global", *r.pop_n(2)))),
    "REDUCE": lambda r, a: r.push(_Opaque(("call", *r.pop_n(2)))),
    "NEWOBJ": lambda r, a: r.push(_Opaque(("call", *r.pop_n(2)))),
    "BUILD": _Reader.build,
    "POP": lambda r, a: r.stack.pop(),
}

_FAIL = object()


def _literal_from_pickle(data: bytes):
    """Value of a pickle made of plain literals, read opcode by opcode (never executed).

    Returns ``_FAIL`` for unknown opcodes or malformed data.
    """
    reader = _Reader()
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name == "STOP":
                return reader.stack[-1]
            _OPS[op.name](reader, arg)
    except Exception:  # unknown opcode (KeyError) or malformed pickle
        return _FAIL
    return _FAIL


def _plain(value):
    """True when ``value`` is made only of plain literals (no placeholders)."""
    if isinstance(value, _Opaque):
        return False
    if isinstance(value, dict):
        return all(_plain(k) and _plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return True


def _object_array_content(npy_bytes: bytes):
    """Recover the objects of a pickled numpy object array without unpickling.

    numpy pickles an object array as ``_reconstruct(ndarray, ...)`` followed by
    ``BUILD`` with state ``(version, shape, dtype, fortran, list_of_items)``.
    Returns the single item of a 0-d array, the list of items otherwise, or
    None when the content is not plain literals.
    """
    fp = io.BytesIO(npy_bytes)
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        np.lib.format.read_array_header_1_0(fp)
    else:
        np.lib.format.read_array_header_2_0(fp)
    top = _literal_from_pickle(fp.read())
    if not isinstance(top, _Opaque) or not isinstance(top.state, tuple) or len(top.state) != 5:
        return None
    shape, items = top.state[1], top.state[4]
    if not isinstance(items, list) or not _plain(items):
        return None
    if shape == ():
        return items[0] if len(items) == 1 else None
    return items


def load_npz_safe(path) -> SafeNpz:
    """Load every array of an npz file without ever unpickling.

    Parameters
    ----------
    path : str or Path
        The ``.npz`` file.

    Returns
    -------
    SafeNpz
        ``{key: ndarray}`` for every non-object array. Object arrays (pickled)
        are not loaded; their names are in ``result.skipped`` together with
        the plain-literal content recovered from the pickle opcodes (or None).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"File {str(path)!r} does not exist.")
    out = SafeNpz()
    try:
        npz = np.load(path, allow_pickle=False)
    except Exception as err:
        raise ValueError(f"Cannot read {str(path)!r} as an npz file: {err}") from err
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"{str(path)!r} is not an npz archive (it holds a single array).")
    with npz:
        for key in npz.files:
            try:
                out[key] = npz[key]
            except ValueError as err:
                if "allow_pickle" not in str(err):
                    raise
                out.skipped[key] = None
    if out.skipped:
        with zipfile.ZipFile(path) as zf:
            for key in out.skipped:
                with contextlib.suppress(Exception):
                    out.skipped[key] = _object_array_content(zf.read(f"{key}.npy"))
    return out


def load_pt_safe(path):
    """Load a torch file with ``weights_only=True`` on the CPU (never runs code)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"File {str(path)!r} does not exist.")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(
            f"Cannot load {str(path)!r} safely with torch.load(weights_only=True): {err}. "
            "Only tensors, numbers, strings, lists and dicts are accepted."
        ) from err


def rdm_filename(layer: str, existing: set[str] | None = None, ext: str = "npz") -> str:
    """File name for a layer's RDM: ``RDM_<layer>.<ext>``.

    Characters outside ``[A-Za-z0-9._-]`` become ``_``; an empty layer name
    becomes ``unnamed``. If the name is already in ``existing`` (names used
    earlier in the same run, e.g. ``'a/b'`` and ``'a_b'`` both map to
    ``RDM_a_b.npz``) the suffix ``__2``, ``__3``, ... is added. The caller adds
    the returned name to ``existing``.

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
    name = f"RDM_{safe}.{ext}"
    i = 2
    while name in existing:
        name = f"RDM_{safe}__{i}.{ext}"
        i += 1
    return name
