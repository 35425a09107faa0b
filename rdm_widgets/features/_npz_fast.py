"""Reading an uncompressed ``.npz`` member straight into its row of the output (private).

Why this module exists: ``np.savez`` stores every array uncompressed (``ZIP_STORED``), yet
``npz[key]`` reads such a member through three copies (the file into a bytes buffer, the buffer
into a new array, the array into the (N, D) output) and parses its ``.npy`` header with a Python
compile. Reading 1,000 AlexNet-sized stimulus files that way took as much CPU time as the
distances computed from them. Here the member's bytes are read once, by ``readinto``, into the
output row itself; the header is parsed by :func:`rdm_widgets._npy.read_npy_header` (cached per
text), the zip CRC-32 is checked as zipfile checks it, and the row is checked for NaN / inf while
it is in cache. Anything else (compressed members, another dtype or shape, a pooled sequence
layer) returns False and is read the ordinary way, so every error message stays what it was.
"""
from __future__ import annotations

import io
import struct
import zipfile
import zlib

import numpy as np

from .. import _npy

__all__ = ["read_stored_into", "LOCAL_HEADER"]

#: a zip local file header: signature, ..., name length, extra length (APPNOTE 4.3.7)
LOCAL_HEADER = struct.Struct("<4s22sHH")
_SIGNATURE = b"PK\x03\x04"
#: longest .npy preamble read at once (magic, version, length and the header text)
_PREAMBLE = 16 * 1024


def read_stored_into(npz, key: str, row: np.ndarray, shape: tuple, path) -> bool:
    """Fill ``row`` with member ``key`` of an open ``.npz`` when it is stored as ``row`` needs it.

    Parameters
    ----------
    npz : numpy.lib.npyio.NpzFile
        From :func:`rdm_widgets._npy.open_npz` (its members' sizes already checked).
    key : str
        The array's name (the member ``key + '.npy'``).
    row : np.ndarray, (D,)
        A contiguous row of the output, ``D = prod(shape)``.
    shape : tuple of int
        The shape the array must have (the layer's reference shape).
    path : Path
        The file, for error messages.

    Returns
    -------
    bool
        True when ``row`` was filled (uncompressed member, C order, ``row.dtype``, ``shape``,
        correct CRC); False when nothing was read (the caller reads the member as usual).

    Raises
    ------
    ValueError
        A bad CRC-32 or a truncated member (the file and key named).
    """
    try:
        info = npz.zip.getinfo(key + ".npy")
    except KeyError:
        return False
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:    # compressed or encrypted
        return False
    fh = npz.fid
    try:
        fh.seek(info.header_offset)
        local = fh.read(LOCAL_HEADER.size)
        if len(local) != LOCAL_HEADER.size:
            return False
        signature, _, name_len, extra_len = LOCAL_HEADER.unpack(local)
        if signature != _SIGNATURE:
            return False
        start = info.header_offset + LOCAL_HEADER.size + name_len + extra_len
        fh.seek(start)
        preamble = fh.read(min(_PREAMBLE, info.file_size))
        head = io.BytesIO(preamble)
        stored_shape, fortran, dtype = _npy.read_npy_header(head)
    except (OSError, ValueError):
        return False                     # not a plain .npy header: the ordinary path says why
    n_head = head.tell()
    if (fortran and len(stored_shape) > 1) or dtype != row.dtype or tuple(stored_shape) != tuple(shape):
        return False
    if info.file_size != n_head + row.nbytes:
        return False
    fh.seek(start + n_head)
    data = memoryview(row).cast("B")
    got = fh.readinto(data)
    crc = zlib.crc32(data, zlib.crc32(preamble[:n_head]))
    if got != row.nbytes or crc != info.CRC:
        what = "ends early" if got != row.nbytes else "has a bad CRC-32"
        raise _npy.read_error(path, zipfile.BadZipFile(f"member {info.filename!r} {what}"),
                              f"array {key!r} of stimulus file")
    return True
