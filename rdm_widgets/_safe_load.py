"""Loading that never executes code.

Numpy files are read with ``allow_pickle=False`` and torch files with
``weights_only=True``. Net2Brain stores a pickled ``meta`` dict in its npz files;
:func:`load_npz_safe` never unpickles it but can recover plain literals
(dict/list/str/numbers) by *reading* the pickle opcodes with :mod:`pickletools`, which
executes nothing.

The opcode reader is bounded, so that a small crafted file cannot block a load: at most
:data:`MAX_PICKLE_BYTES` of pickle are read, :data:`MAX_OPCODES` opcodes processed, and the
value built must expand to at most :data:`MAX_OBJECTS` objects nested at most
:data:`MAX_DEPTH` deep. Shared references (a pickle's memo ``GET``) are measured once per
object (memoised), so a structure that would expand exponentially is measured in linear
time -- and refused, as is a cycle; the key is then reported as not recovered.
"""
from __future__ import annotations

import contextlib
import io
import pickletools
from pathlib import Path

import numpy as np

from ._npy import READ_ERRORS, PickledArrayError, open_file, open_npz, read_error, read_member

__all__ = ["load_npz_safe", "load_pt_safe", "SafeNpz", "MAX_PICKLE_BYTES", "MAX_OPCODES", "MAX_OBJECTS",
           "MAX_DEPTH", "PickleBudget"]

#: most bytes of one pickled array whose content is recovered (larger: not recovered)
MAX_PICKLE_BYTES = 16 * 1024 ** 2
#: most pickle opcodes processed for one array
MAX_OPCODES = 1_000_000
#: most objects the recovered value may expand to (shared references counted as often as they occur)
MAX_OBJECTS = 1_000_000
#: deepest nesting of lists, tuples and dicts in a recovered value
MAX_DEPTH = 64


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


_KEY_TYPES = (str, int, float, bool, bytes, type(None))


def _pairs_dict(items: list) -> dict:
    keys = items[::2]
    if not all(isinstance(k, _KEY_TYPES) for k in keys):  # hashing a nested tuple would walk it
        raise ValueError("only scalar dict keys are recovered")
    return dict(zip(keys, items[1::2]))


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


class PickleBudget:
    """The work one recovery may do, and the work it did (the limits of the module docstring).

    Attributes
    ----------
    opcodes : int
        Opcodes processed.
    visits : int
        Objects measured by :func:`_measure` (each container once, however often it is shared).
    """

    def __init__(self, max_opcodes=None, max_objects=None, max_depth=None):
        self.max_opcodes = MAX_OPCODES if max_opcodes is None else max_opcodes
        self.max_objects = MAX_OBJECTS if max_objects is None else max_objects
        self.max_depth = MAX_DEPTH if max_depth is None else max_depth
        self.opcodes = self.visits = 0


class _Refused(Exception):
    """A recovery limit was reached."""


def _literal_from_pickle(data: bytes, budget: PickleBudget | None = None):
    """Value of a pickle made of plain literals, read opcode by opcode (never executed).

    Returns ``_FAIL`` for unknown opcodes, malformed data or a value beyond the limits of
    ``budget`` (default: the module's).
    """
    budget = PickleBudget() if budget is None else budget
    reader = _Reader()
    try:
        for op, arg, _ in pickletools.genops(data):
            budget.opcodes += 1
            if budget.opcodes > budget.max_opcodes:
                return _FAIL
            if op.name == "STOP":
                value = reader.stack[-1]
                _measure(value, budget, {}, set(), 0)
                return value
            _OPS[op.name](reader, arg)
    except Exception:  # unknown opcode (KeyError), malformed pickle, a limit (_Refused)
        return _FAIL
    return _FAIL


def _measure(value, budget: PickleBudget, sizes: dict, active: set, depth: int) -> int:
    """How many objects ``value`` expands to; raises :class:`_Refused` beyond the limits or on a cycle.

    ``sizes`` memoises containers by ``id`` (they stay alive in ``value``), so a shared
    container is walked once; ``active`` holds the containers on the current path (cycles).
    """
    if not isinstance(value, (list, tuple, dict, _Opaque)):
        return 1
    key = id(value)
    if key in sizes:
        return sizes[key]
    if key in active:
        raise _Refused("a cycle")
    if depth >= budget.max_depth:
        raise _Refused("too deep")
    budget.visits += 1
    active.add(key)
    if isinstance(value, dict):
        children = [x for kv in value.items() for x in kv]
    elif isinstance(value, _Opaque):
        children = [value.state]
    else:
        children = value
    total = 1
    for child in children:
        total += _measure(child, budget, sizes, active, depth + 1)
        if total > budget.max_objects:
            raise _Refused("too many objects")
    active.discard(key)
    sizes[key] = total
    return total


def _plain(value, seen: dict | None = None) -> bool:
    """True when ``value`` is made only of plain literals (no placeholders); each container checked once."""
    seen = {} if seen is None else seen
    if isinstance(value, _Opaque):
        return False
    if not isinstance(value, (list, tuple, dict)):
        return True
    if id(value) not in seen:
        seen[id(value)] = True               # set first: a cycle was refused by _measure already
        items = [x for kv in value.items() for x in kv] if isinstance(value, dict) else value
        seen[id(value)] = all(_plain(v, seen) for v in items)
    return seen[id(value)]


def _object_array_content(npy_bytes: bytes, budget: PickleBudget | None = None):
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
    top = _literal_from_pickle(fp.read(), budget)
    if not isinstance(top, _Opaque) or not isinstance(top.state, tuple) or len(top.state) != 5:
        return None
    shape, items = top.state[1], top.state[4]
    if not isinstance(items, list) or not _plain(items):
        return None
    if shape == ():
        return items[0] if len(items) == 1 else None
    return items


def load_npz_safe(path, root=None) -> SafeNpz:
    """Load every array of an npz file without ever unpickling.

    Parameters
    ----------
    path : str or Path
        The ``.npz`` file (a regular file; members checked before decompression,
        :func:`rdm_widgets._npy.open_npz`).
    root : str, Path or None
        Confinement root: a file whose real path is outside it is refused.

    Returns
    -------
    SafeNpz
        ``{key: ndarray}`` for every non-object array. Object arrays (pickled) are not
        loaded; their names are in ``result.skipped`` together with the plain-literal content
        recovered from the pickle opcodes (or None: not plain, or beyond the limits).

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Not a regular file, outside ``root``, damaged (the file named) or a member too large.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"File {str(path)!r} does not exist.")
    out = SafeNpz()
    try:
        npz = open_npz(path, root)
    except FileNotFoundError:
        raise
    except ValueError as err:
        if str(err).startswith("Cannot read"):       # already names the file and the cause
            raise
        raise ValueError(f"Cannot read {str(path)!r} as an npz file: {err}") from err
    with npz:
        for key in npz.files:
            try:
                out[key] = read_member(npz, key, path)
            except PickledArrayError:
                out.skipped[key] = None
        for key in out.skipped:
            try:
                info = npz.zip.getinfo(f"{key}.npy")
            except KeyError:
                continue
            if info.file_size > MAX_PICKLE_BYTES:
                continue
            try:
                raw = npz.zip.read(info)
            except READ_ERRORS as err:
                raise read_error(path, err, f"array {key!r} of file") from err
            with contextlib.suppress(Exception):
                out.skipped[key] = _object_array_content(raw)
    return out


def load_pt_safe(path, root=None):
    """Load a torch file with ``weights_only=True`` on the CPU (never runs code).

    ``root``: confinement root, as for :func:`load_npz_safe`; only a regular file is read.
    """
    import torch

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"File {str(path)!r} does not exist.")
    with open_file(path, root) as fh:
        try:
            return torch.load(fh, map_location="cpu", weights_only=True)
        except Exception as err:
            raise ValueError(
                f"Cannot load {str(path)!r} safely with torch.load(weights_only=True): {err}. "
                "Only tensors, numbers, strings, lists and dicts are accepted."
            ) from err
