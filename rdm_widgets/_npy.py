"""Reading ``.npy`` headers without the data (the one reader of the package).

The ``.npy`` format (numpy's ``NEP 1``) starts with a magic string, a version, the header
length and a Python literal dict ``{'descr': ..., 'fortran_order': ..., 'shape': ...}``.
Versions differ only in how the header is stored:

======= ======================= ================
version header length field     header encoding
======= ======================= ================
1.0     2 bytes, little endian  latin1
2.0     4 bytes, little endian  latin1
3.0     4 bytes, little endian  utf8
======= ======================= ================

This module parses all three itself (``ast.literal_eval`` as numpy does, and the public
:func:`numpy.lib.format.descr_to_dtype`), so that no private numpy function is needed.

It is also the one place data files are *opened* (every reader of features, RDM files and
epochs goes through :func:`check_file` / :func:`open_file`): only regular files are read
(a FIFO, device or socket is refused without blocking), a file whose real path leaves the
confinement ``root`` is refused when a root is given, and an ``.npz`` member is checked
before it is decompressed (:func:`check_npz_members`: its declared size against
:data:`MAX_MEMBER_BYTES` and against its ``.npy`` header). Read errors name the file
(:data:`READ_ERRORS`, :func:`read_error`).
"""
from __future__ import annotations

import ast
import functools
import os
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

__all__ = ["MAGIC", "MAX_HEADER_SIZE", "MAX_MEMBER_BYTES", "READ_ERRORS", "read_npy_header", "npz_headers",
           "check_file", "open_file", "special_file", "check_npz_members", "open_npz", "load_npy", "read_error",
           "read_member", "PickledArrayError"]

#: the first six bytes of every ``.npy`` file
MAGIC = b"\x93NUMPY"
#: longest header parsed (numpy's default limit: ``literal_eval`` of a huge header is slow)
MAX_HEADER_SIZE = 10000
#: largest uncompressed size (bytes) of one ``.npz`` member; larger ones are refused before
#: decompression (a zip bomb). Raise it (``rdm_widgets._npy.MAX_MEMBER_BYTES = ...``) for larger arrays.
MAX_MEMBER_BYTES = 8 * 1024 ** 3
#: what reading a damaged file raises (0 bytes, truncated, bad CRC, bad deflate data)
READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)


class PickledArrayError(ValueError):
    """An array stored pickled (an object array): never loaded, since loading runs code.

    Its own class so that readers that may skip such arrays (``_safe_load``) need not match
    numpy's message, and the message need not mention ``allow_pickle`` (which invites turning it on).
    """
# file type -> what to call it in the error (anything but a regular file is refused)
_SPECIAL = {stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFCHR: "a character device",
            stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a folder"}
# version -> (struct format of the header length, encoding of the header)
_VERSIONS = {(1, 0): ("<H", "latin1"), (2, 0): ("<I", "latin1"), (3, 0): ("<I", "utf8")}


def _read_exact(fh, n: int, what: str) -> bytes:
    data = fh.read(n)
    if len(data) != n:
        raise ValueError(f"Invalid .npy data: the file ends inside the {what} ({len(data)} of {n} bytes).")
    return data


def read_npy_header(fh) -> tuple:
    """Read the header of the ``.npy`` stream ``fh`` (positioned at its start).

    Parameters
    ----------
    fh : binary file-like
        Positioned at the magic string; left at the first byte of the array data.

    Returns
    -------
    shape : tuple of int
    fortran_order : bool
    dtype : np.dtype

    Raises
    ------
    ValueError
        If the stream is not an ``.npy`` file of version 1.0, 2.0 or 3.0, or its header
        is malformed.
    """
    magic = _read_exact(fh, len(MAGIC) + 2, "magic string")
    if magic[:len(MAGIC)] != MAGIC:
        raise ValueError(f"Invalid .npy data: the magic string is {magic[:len(MAGIC)]!r}, not {MAGIC!r}.")
    version = (magic[-2], magic[-1])
    if version not in _VERSIONS:
        raise ValueError(f"Invalid .npy data: format version {version[0]}.{version[1]} is not supported "
                         f"(supported: {', '.join(f'{a}.{b}' for a, b in _VERSIONS)}).")
    length_format, encoding = _VERSIONS[version]
    (length,) = struct.unpack(length_format, _read_exact(fh, struct.calcsize(length_format), "header length"))
    if length > MAX_HEADER_SIZE:
        raise ValueError(f"Invalid .npy data: the header is {length} bytes long (at most {MAX_HEADER_SIZE} "
                         "are parsed).")
    return _parse_header(_read_exact(fh, length, "header").decode(encoding))


# The same few header texts recur in every file of a feature folder (one per layer): parsing one
# costs a Python compile, so each distinct text is parsed once (a parsed header is immutable).
@functools.lru_cache(maxsize=256)
def _parse_header(text: str) -> tuple:
    try:
        header = ast.literal_eval(text)
    except (SyntaxError, ValueError) as err:
        raise ValueError(f"Invalid .npy data: cannot parse the header {text!r}: {err}") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise ValueError(f"Invalid .npy data: the header {text!r} is not a dict with the keys "
                         "'descr', 'fortran_order' and 'shape'.")
    shape, fortran = header["shape"], header["fortran_order"]
    if not isinstance(shape, tuple) or not all(isinstance(x, int) and x >= 0 for x in shape):
        raise ValueError(f"Invalid .npy data: shape {shape!r} is not a tuple of non-negative ints.")
    if not isinstance(fortran, bool):
        raise ValueError(f"Invalid .npy data: fortran_order {fortran!r} is not a bool.")
    try:
        dtype = np.lib.format.descr_to_dtype(header["descr"])
    except (TypeError, ValueError) as err:
        raise ValueError(f"Invalid .npy data: descr {header['descr']!r} is not a dtype: {err}") from None
    return shape, fortran, dtype


def _outside(path, root) -> bool:
    real, top = os.path.realpath(path), os.path.realpath(root)
    return real != top and not real.startswith(top.rstrip(os.sep) + os.sep)


def special_file(path) -> str:
    """What ``path`` is when it is a FIFO, device or socket (links followed), e.g. ``"a FIFO (named
    pipe)"``; ``""`` for a regular file or a folder. Nothing is opened."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return f"unreadable ({type(exc).__name__})"
    return "" if stat.S_ISREG(mode) or stat.S_ISDIR(mode) else _SPECIAL.get(stat.S_IFMT(mode), "a special file")


def _check_mode(mode: int, path: Path, what: str) -> None:
    if not stat.S_ISREG(mode):
        kind = _SPECIAL.get(stat.S_IFMT(mode), "not a regular file")
        raise ValueError(f"{what} {str(path)!r} is {kind}, not a regular file; only regular files are read.")


def check_file(path, root=None, what: str = "File") -> Path:
    """``path`` when it is a regular file (links followed) inside ``root``; nothing is opened.

    Parameters
    ----------
    path : str or Path
    root : str, Path or None
        The confinement root: a file whose real path (symbolic links resolved) is not inside
        it is refused. None: no confinement.
    what : str
        What the file is, for messages (``"RDM file"``).

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        A FIFO, device, socket or folder, or a file outside ``root``.
    """
    path = Path(path)
    if root is not None and _outside(path, root):
        raise ValueError(f"{what} {path.name!r} leads outside the data root (a symbolic link?); only files "
                         "under the data root are read.")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist.") from None
    _check_mode(mode, path, what)
    return path


def open_file(path, root=None, what: str = "File"):
    """Open ``path`` for binary reading after :func:`check_file`'s checks, without ever blocking.

    The file is opened non-blocking and checked on the open descriptor (``fstat``), so a FIFO
    swapped in after a check is refused too, and never waits for a writer.

    Returns
    -------
    BufferedReader
    """
    path = Path(path)
    check_file(path, root, what)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        _check_mode(os.fstat(fd).st_mode, path, what)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def _foreign_file_error(path, what: str = "file"):
    """A ValueError saying what ``path`` is when it is a whole file of another kind under a zip name
    (a pickle, a single .npy): such a file is not "damaged", and copying it again would not help.
    None otherwise."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):      # never open a FIFO or device here
            return None
        with open(path, "rb") as fh:
            head = fh.read(6)
    except OSError:
        return None
    if head.startswith(b"\x93NUMPY"):
        return ValueError(f"Cannot read {what} {str(path)!r}: it is a single .npy array, not an .npz archive; "
                          "rename it to .npy or save it with np.savez.")
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return ValueError(f"Cannot read {what} {str(path)!r}: it is a Python pickle, not an .npz archive. Pickles "
                          "are never loaded (loading runs code); save the arrays with np.savez.")
    return None


def read_error(path, err: BaseException, what: str = "file") -> ValueError:
    """A ValueError naming ``path`` for an error raised while reading it (0 bytes, truncated, bad CRC)."""
    foreign = _foreign_file_error(path, what) if isinstance(err, zipfile.BadZipFile) else None
    if foreign is not None:
        return foreign
    size = ""
    try:
        n = os.stat(path).st_size
        size = " (it is empty: 0 bytes)" if n == 0 else ""
    except OSError:
        pass
    return ValueError(f"Cannot read {what} {str(path)!r}{size}: {type(err).__name__}: {err}. The file is damaged "
                      "or incomplete (e.g. an interrupted copy); copy or save it again.")


def check_npz_members(zf: zipfile.ZipFile, where: str, max_member_bytes=None, stored_headers: bool = True) -> dict:
    """``{key: (shape, dtype)}`` of an open ``.npz``, every member checked before decompression.

    Each member's uncompressed size declared in the zip directory must be at most
    ``max_member_bytes`` (default :data:`MAX_MEMBER_BYTES`) and, for a non-object array,
    equal the size its ``.npy`` header describes (header + shape x itemsize). Only the
    headers are decompressed. With ``stored_headers=False`` the headers of uncompressed
    (``ZIP_STORED``, as ``np.savez`` writes) members are not read: they cannot expand beyond
    the file's own size, and a wrong size is found when the array is read (the reading path
    opens every file of a folder, so this halves its header work); such members are then
    missing from the returned dict.

    Raises
    ------
    ValueError
        A member too large or whose sizes disagree (``where`` names the file).
    """
    limit = MAX_MEMBER_BYTES if max_member_bytes is None else int(max_member_bytes)
    out = {}
    for member in zf.infolist():
        if member.file_size > limit:
            raise ValueError(f"{where}: member {member.filename!r} would decompress to {member.file_size:,} bytes "
                             f"(from {member.compress_size:,}); at most {limit:,} are read per array (a zip bomb?). "
                             "Raise rdm_widgets._npy.MAX_MEMBER_BYTES for a genuine array that large.")
        if not member.filename.endswith(".npy"):
            continue
        if not stored_headers and member.compress_type == zipfile.ZIP_STORED:
            continue
        with zf.open(member) as fh:
            shape, _, dtype = read_npy_header(fh)
            header = fh.tell()
        if not dtype.hasobject:
            expected = header + int(np.prod(shape, dtype=object)) * dtype.itemsize
            if expected != member.file_size:
                raise ValueError(f"{where}: member {member.filename!r} declares {member.file_size:,} bytes in the zip "
                                 f"directory but its .npy header (shape {shape}, dtype {dtype}) describes "
                                 f"{expected:,}; the file is damaged or crafted.")
        out[member.filename[:-4]] = (shape, dtype)
    return out


def npz_headers(path, root=None, max_member_bytes=None) -> dict:
    """``{key: (shape, dtype)}`` of an ``.npz`` file, read from the ``.npy`` headers only (no data).

    Every member is checked as :func:`check_npz_members` does.

    Parameters
    ----------
    path : str or Path
    root : str, Path or None
        Confinement root (:func:`check_file`).
    max_member_bytes : int or None
        Default :data:`MAX_MEMBER_BYTES`.

    Raises
    ------
    ValueError
        If ``path`` is not a readable ``.npz`` file (not a regular file, outside ``root``,
        damaged, a member too large).
    """
    try:
        with open_file(path, root, "File") as fh, zipfile.ZipFile(fh) as zf:
            return check_npz_members(zf, repr(str(Path(path))), max_member_bytes)
    except READ_ERRORS as err:
        raise ((_foreign_file_error(path) if isinstance(err, zipfile.BadZipFile) else None) or
               ValueError(f"{str(Path(path))!r} is not a readable .npz file: {err}")) from err


def open_npz(path, root=None, max_member_bytes=None, what: str = "file"):
    """``np.load(path, allow_pickle=False)`` of an ``.npz``, checked first (:func:`check_npz_members`).

    Returns
    -------
    numpy.lib.npyio.NpzFile
        Owns its file; use it as a context manager. Read arrays with :func:`read_member`
        so that a damaged member's error names the file.

    Raises
    ------
    FileNotFoundError, ValueError
        The errors of :func:`check_file`; a damaged file or a member too large (the file named).
    """
    fh = open_file(path, root, what[:1].upper() + what[1:])
    try:
        with zipfile.ZipFile(fh) as zf:
            check_npz_members(zf, repr(str(Path(path))), max_member_bytes, stored_headers=False)
        fh.seek(0)
        return np.lib.npyio.NpzFile(fh, own_fid=True, allow_pickle=False)
    except BaseException as err:
        fh.close()
        if isinstance(err, READ_ERRORS) and not isinstance(err, ValueError):
            raise read_error(path, err, what) from err
        raise


def read_member(npz, key: str, path, what: str = "file"):
    """``npz[key]``; a damaged member (bad CRC, truncated) raises a ValueError naming the file and key."""
    try:
        return npz[key]
    except READ_ERRORS as err:
        if isinstance(err, ValueError) and "allow_pickle" in str(err):
            raise PickledArrayError(f"{str(path)!r}: array {key!r} is a pickled object array; it is never "
                                    "loaded (loading runs code): save numeric arrays (names as "
                                    "np.array(names, dtype=str)).") from None
        raise read_error(path, err, f"array {key!r} of {what}") from err


def load_npy(path, root=None, what: str = "file") -> np.ndarray:
    """``np.load(path, allow_pickle=False)`` of a ``.npy`` file, opened as :func:`open_file` does.

    Raises
    ------
    ValueError
        A damaged file (0 bytes, truncated) or a pickled (object) array, the file named.
    """
    with open_file(path, root, what[:1].upper() + what[1:]) as fh:
        try:
            return np.load(fh, allow_pickle=False)
        except READ_ERRORS as err:
            if isinstance(err, ValueError) and "allow_pickle" in str(err):
                raise ValueError(f"Cannot read {what} {str(path)!r} without unpickling ({err}); "
                                 "save a numeric array.") from err
            raise read_error(path, err, what) from err
