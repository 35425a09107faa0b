"""Tests of rdm_widgets._safe_load: loading never executes code."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from rdm_widgets._safe_load import load_npz_safe, load_pt_safe

from _pickle_guard import FIRED, Payload


def test_load_pt_safe_refuses_code(tmp_path):
    p = tmp_path / "evil.pt"
    torch.save({"x": Payload()}, p)  # written with plain torch.save on purpose
    FIRED.clear()
    with pytest.raises(ValueError, match="weights_only=True"):
        load_pt_safe(p)
    assert FIRED == []


def test_load_npz_safe_skips_and_reads_pickled_literals(tmp_path, no_pickle):
    p = tmp_path / "n2b.npz"
    meta = {"distance": "pearson", "values": [1, 2.5, None, True], "nested": {"k": "v"}}
    np.savez(p, rdm=np.arange(3.0), meta=np.array(meta, dtype=object),
             evil=np.array(Payload(), dtype=object),
             mixed=np.array([{"a": 1}, Payload()], dtype=object))
    d = load_npz_safe(p)
    assert set(d) == {"rdm"}
    assert set(d.skipped) == {"meta", "evil", "mixed"}
    assert d.skipped["meta"] == meta  # recovered from opcodes, not unpickled
    assert d.skipped["evil"] is None and d.skipped["mixed"] is None


def test_load_npz_safe_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        load_npz_safe(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz"):
        load_npz_safe(bad)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_literal_reader_all_protocols(protocol):
    from rdm_widgets._safe_load import _FAIL, _literal_from_pickle, _plain

    obj = {"a": [1, 2.5, None, True, (1, 2), (1,), (1, 2, 3, 4), 10**30], "b": {"c": "é"}, "l": [0] * 1500}
    assert _literal_from_pickle(pickle.dumps(obj, protocol=protocol)) == obj
    FIRED.clear()
    evil = _literal_from_pickle(pickle.dumps({"x": Payload()}, protocol=protocol))
    assert evil is _FAIL or not _plain(evil)  # a placeholder, never a call
    assert FIRED == []
    assert _literal_from_pickle(b"\x80\x05garbage") is _FAIL
