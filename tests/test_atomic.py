"""Tests of rdm_widgets._atomic: atomic writes and file names."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from rdm_widgets._atomic import atomic_savez, atomic_torch_save, atomic_write, rdm_filename
from rdm_widgets._progress import Cancelled
from rdm_widgets._safe_load import load_pt_safe

from _pickle_guard import Payload


def test_atomic_savez_roundtrip_and_no_overwrite(tmp_path):
    p = tmp_path / "a.npz"
    out = atomic_savez(p, x=np.arange(5.0), s=np.array(["a", "bb"]))
    assert out == p
    with np.load(p, allow_pickle=False) as z:
        np.testing.assert_array_equal(z["x"], np.arange(5.0))
        assert z["s"].tolist() == ["a", "bb"]
    with pytest.raises(FileExistsError, match="a.npz.*overwrite=True"):
        atomic_savez(p, x=np.zeros(2))
    with np.load(p) as z:  # untouched
        assert z["x"].shape == (5,)
    atomic_savez(p, overwrite=True, x=np.zeros(2))
    with np.load(p) as z:
        assert z["x"].shape == (2,)
    assert sorted(os.listdir(tmp_path)) == ["a.npz"]


def test_atomic_savez_rejects_object_arrays(tmp_path):
    with pytest.raises(TypeError, match="'meta'.*object array.*pickle"):
        atomic_savez(tmp_path / "b.npz", meta={"a": 1})
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("exc", [KeyboardInterrupt, Cancelled, RuntimeError])
def test_atomic_write_removes_temp_on_interrupt(tmp_path, exc):
    p = tmp_path / "c.bin"
    with pytest.raises(exc):
        with atomic_write(p) as f:
            f.write(b"partial")
            raise exc()
    assert os.listdir(tmp_path) == []
    # an existing file survives an interrupted overwrite
    p.write_bytes(b"old")
    with pytest.raises(exc):
        with atomic_write(p, overwrite=True) as f:
            f.write(b"new")
            raise exc()
    assert p.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["c.bin"]


def test_atomic_write_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        atomic_savez(tmp_path / "nope" / "x.npz", a=np.ones(1))


def test_torch_save_roundtrip_and_validation(tmp_path):
    obj = {"rdm": torch.arange(4.0), "stimuli": ["a", "b"], "layer": "l", "n": 3, "x": None}
    p = atomic_torch_save(tmp_path / "r.pt", obj)
    back = load_pt_safe(p)
    assert torch.equal(back["rdm"], obj["rdm"]) and back["stimuli"] == ["a", "b"] and back["n"] == 3
    with pytest.raises(FileExistsError):
        atomic_torch_save(p, obj)
    with pytest.raises(TypeError, match=r"object\['arr'\].*ndarray.*torch.from_numpy"):
        atomic_torch_save(tmp_path / "s.pt", {"arr": np.ones(2)})
    with pytest.raises(TypeError, match="Payload"):
        atomic_torch_save(tmp_path / "s.pt", {"x": [Payload()]})
    assert sorted(os.listdir(tmp_path)) == ["r.pt"]


def test_rdm_filename():
    assert rdm_filename("features.18", set(), "npz") == "RDM_features.18.npz"
    assert rdm_filename("encoder/layer 0:attn", set(), ".pt") == "RDM_encoder_layer_0_attn.pt"
    used = set()
    names = []
    for layer in ["a/b", "a_b", "a b", "c"]:
        n = rdm_filename(layer, used, "npz")
        used.add(n)
        names.append(n)
    assert names == ["RDM_a_b.npz", "RDM_a_b__2.npz", "RDM_a_b__3.npz", "RDM_c.npz"]
    assert rdm_filename("", None) == "RDM_unnamed.npz"


def test_rdm_filename_shortens_long_names_with_a_stable_hash():
    import hashlib
    long = "encoder.layers." * 20 + "attn"                          # 304 characters
    name = rdm_filename(long, set(), "npz")
    digest = hashlib.sha1(long.encode()).hexdigest()[:12]
    assert len(name.encode()) <= 204 and name.endswith(f"-{digest}.npz") and name.startswith("RDM_encoder.layers.")
    assert rdm_filename(long, set(), "npz") == name                 # stable
    assert rdm_filename(long[:-1] + "x", set(), "npz") != name      # same prefix, other hash
    assert rdm_filename("a" * 196, set()) == "RDM_" + "a" * 196 + ".npz"   # 200 bytes: kept as is
    assert rdm_filename(long, {name}, "npz") == name[:-4] + "__2.npz"
