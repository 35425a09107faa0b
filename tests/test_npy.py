"""Tests of the one ``.npy`` header reader (rdm_widgets._npy), used by the feature readers and the on-disk store."""
from __future__ import annotations

import io
import struct
import zipfile

import numpy as np
import pytest

from rdm_widgets._npy import MAGIC, npz_headers, read_npy_header
from rdm_widgets.tiled import _format as ondisk   # the store's file access


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
@pytest.mark.parametrize("array", [np.zeros((3, 4, 5), np.float16), np.arange(6, dtype=">i8").reshape(2, 3),
                                   np.asfortranarray(np.ones((2, 3))), np.zeros((0, 7), np.float32),
                                   np.array(2.5)])
def test_read_npy_header_versions(version, array):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, version=version)
    buf.seek(0)
    shape, fortran, dtype = read_npy_header(buf)
    assert shape == array.shape and dtype == array.dtype
    assert fortran == (array.flags.f_contiguous and not array.flags.c_contiguous)
    assert buf.read() == array.tobytes(order="F" if fortran else "C")    # left at the data


def test_version_3_utf8_field_names():
    array = np.zeros(2, dtype=[("é", "<f4"), ("b", "<i2")])    # utf8 names need format 3.0
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, version=(3, 0))
    assert buf.getvalue()[6:8] == b"\x03\x00"
    buf.seek(0)
    assert read_npy_header(buf) == ((2,), False, array.dtype)


def test_ondisk_uses_the_same_reader():
    assert ondisk.read_npy_header is read_npy_header


def _header(version: bytes, text: str, length_fmt="<H") -> io.BytesIO:
    raw = text.encode("latin1")
    return io.BytesIO(MAGIC + version + struct.pack(length_fmt, len(raw)) + raw)


def test_read_npy_header_errors():
    with pytest.raises(ValueError, match="magic string"):
        read_npy_header(io.BytesIO(b"PK\x03\x04" + b"\0" * 20))
    with pytest.raises(ValueError, match="version 4.0 is not supported"):
        read_npy_header(io.BytesIO(MAGIC + b"\x04\x00" + b"\0" * 8))
    with pytest.raises(ValueError, match="ends inside the header"):
        read_npy_header(io.BytesIO(MAGIC + b"\x01\x00" + struct.pack("<H", 50) + b"{'descr'"))
    with pytest.raises(ValueError, match="cannot parse"):
        read_npy_header(_header(b"\x01\x00", "{'descr': <f4}\n"))
    with pytest.raises(ValueError, match="keys"):
        read_npy_header(_header(b"\x01\x00", "{'descr': '<f4', 'shape': (2,)}\n"))
    with pytest.raises(ValueError, match="shape"):
        read_npy_header(_header(b"\x01\x00", "{'descr': '<f4', 'fortran_order': False, 'shape': (2.5,)}\n"))
    with pytest.raises(ValueError, match="fortran_order"):
        read_npy_header(_header(b"\x01\x00", "{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}\n"))
    with pytest.raises(ValueError, match="at most"):
        read_npy_header(_header(b"\x02\x00", " " * 20000, "<I"))
    with pytest.raises(ValueError, match="descr"):
        read_npy_header(_header(b"\x01\x00", "{'descr': 'nope', 'fortran_order': False, 'shape': (2,)}\n"))


def test_npz_headers_reads_no_data(tmp_path):
    path = tmp_path / "a.npz"
    np.savez_compressed(path, x=np.zeros((4, 3), np.float16), names=np.array(["a", "bb"]))
    assert npz_headers(path) == {"x": ((4, 3), np.dtype(np.float16)), "names": ((2,), np.dtype("<U2"))}
    with zipfile.ZipFile(tmp_path / "v3.npz", "w") as zf, zf.open("y.npy", "w") as fh:
        np.lib.format.write_array(fh, np.ones(5, np.int8), version=(3, 0))
    assert npz_headers(tmp_path / "v3.npz") == {"y": ((5,), np.dtype(np.int8))}
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz' is not a readable .npz file"):
        npz_headers(tmp_path / "bad.npz")
