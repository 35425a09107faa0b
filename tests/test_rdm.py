"""Tests of rdm_widgets.rdm: LayerRDM container, files, Net2Brain compatibility."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist, squareform
from scipy.stats import rankdata

from rdm_widgets.demo import demo_path
from rdm_widgets.rdm import LayerRDM, load_rdm_stack, load_rdms

from _pickle_guard import Payload

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _rdm(n=6, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, 4))
    return squareform(pdist(x))


def test_basic_properties_and_aliases():
    m = _rdm(5)
    r = LayerRDM(m, [f"s{i}" for i in range(5)], "conv1", {"distance": "euclidean"})
    assert r.n_stimuli == 5 and len(r) == 5
    assert r.data is r.matrix and r.stimuli_name == r.stimuli and r.layer_name == "conv1"
    np.testing.assert_array_equal(np.asarray(r), m)
    assert "conv1" in repr(r) and "n_stimuli=5" in repr(r)
    assert LayerRDM(m).stimuli == ["0", "1", "2", "3", "4"]
    assert LayerRDM(m.astype(np.float32)).matrix.dtype == np.float32
    assert LayerRDM(torch.from_numpy(m)).matrix.dtype == np.float64
    assert LayerRDM(np.eye(3, dtype=int)).matrix.dtype == np.float64


@pytest.mark.parametrize("bad, msg", [
    (np.zeros((3, 4)), r"square 2-D.*\(3, 4\)"),
    (np.zeros(6), r"\(6,\).*from_condensed"),
    (np.zeros((2, 3, 3)), r"\(2, 3, 3\).*load_rdm_stack"),
])
def test_shape_errors(bad, msg):
    with pytest.raises(ValueError, match=msg):
        LayerRDM(bad)


def test_nonfinite_and_stimuli_errors():
    m = _rdm(4)
    m[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        LayerRDM(m, layer="x")
    with pytest.raises(ValueError, match="3 stimulus names.*4 stimuli"):
        LayerRDM(_rdm(4), ["a", "b", "c"])
    with pytest.raises(TypeError, match="meta"):
        LayerRDM(_rdm(4), meta=[1])


def test_condensed_matches_scipy_and_roundtrip():
    m = _rdm(7)
    r = LayerRDM(m)
    np.testing.assert_array_equal(r.condensed(), squareform(m, checks=False))
    back = LayerRDM.from_condensed(r.condensed(), layer="l")
    np.testing.assert_array_equal(back.matrix, m)
    with pytest.raises(ValueError, match=r"length 7 fits no N \(N=4 needs 6, N=5 needs 10\)"):
        LayerRDM.from_condensed(np.ones(7))


def test_subset_reorder():
    m = _rdm(6)
    r = LayerRDM(m, list("abcdef"), "l", {"k": 1})
    s = r.subset([4, 1])
    np.testing.assert_array_equal(s.matrix, m[np.ix_([4, 1], [4, 1])])
    assert s.stimuli == ["e", "b"] and s.layer == "l" and s.meta == {"k": 1}
    assert r.subset(["e", "b"]).stimuli == ["e", "b"]
    mask = np.array([True, False, True, False, False, True])
    assert r.subset(mask).stimuli == ["a", "c", "f"]
    rr = r.reorder([5, 4, 3, 2, 1, 0])
    np.testing.assert_array_equal(rr.matrix, m[::-1, ::-1])
    with pytest.raises(ValueError, match="Unknown stimulus.*'zz'"):
        r.subset(["a", "zz"])
    with pytest.raises(IndexError, match="9 is out of range for 6"):
        r.subset([9])
    with pytest.raises(ValueError, match="permutation of all 6"):
        r.reorder([0, 1, 2])


def test_rank_transform():
    m = _rdm(6)
    m[0, 1] = m[1, 0] = m[2, 3] = m[3, 2]  # a tie
    r = LayerRDM(m).rank_transform()
    ranks = rankdata(squareform(m, checks=False))
    expected = (ranks - ranks.min()) / (ranks.max() - ranks.min())
    np.testing.assert_allclose(r.condensed(), expected)
    assert r.matrix.min() == 0 and r.matrix.max() == 1
    np.testing.assert_array_equal(r.matrix, r.matrix.T)
    np.testing.assert_array_equal(np.diag(r.matrix), 0)
    assert r.meta["rank_transformed"] is True


@pytest.mark.parametrize("fmt", ["npz", "pt"])
def test_save_load_roundtrip(tmp_path, fmt):
    r = LayerRDM(_rdm(5), list("abcde"), "features.18", {"distance": "correlation", "n": [1, 2]})
    p = r.save(tmp_path / f"RDM_x.{fmt}")
    assert p == tmp_path / f"RDM_x.{fmt}"
    back = LayerRDM.from_file(p)
    np.testing.assert_array_equal(back.matrix, r.matrix)
    assert back.stimuli == r.stimuli and back.layer == "features.18" and back.meta == r.meta
    with pytest.raises(FileExistsError, match="overwrite=True"):
        r.save(p)
    r.subset([0, 1, 2]).save(p, overwrite=True)
    assert LayerRDM.from_file(p).n_stimuli == 3
    assert os.listdir(tmp_path) == [p.name]


def test_saved_npz_keys_are_pickle_free(tmp_path):
    p = LayerRDM(_rdm(4), layer="l", meta={"a": 1}).save(tmp_path / "r", format="npz")
    assert p.name == "r.npz"
    with np.load(p, allow_pickle=False) as z:
        assert sorted(z.files) == ["layer", "meta_json", "rdm", "stimuli"]
        assert json.loads(str(z["meta_json"])) == {"a": 1} and str(z["layer"]) == "l"
    folder = tmp_path / "out"
    folder.mkdir()
    p3 = LayerRDM(_rdm(4), layer="features/18").save(folder)
    assert p3 == folder / "RDM_features_18.npz" and LayerRDM.from_file(p3).layer == "features/18"
    p2 = LayerRDM(_rdm(4)).save(tmp_path / "r2", format="pt")
    assert p2.suffix == ".pt"
    assert torch.load(p2, weights_only=True)["rdm"].shape == (4, 4)


def test_save_errors(tmp_path):
    r = LayerRDM(_rdm(3), layer="l", meta={"arr": np.ones(2)})
    with pytest.raises(TypeError, match="JSON.*'arr' \\(ndarray\\)"):
        r.save(tmp_path / "a.npz")
    r = LayerRDM(_rdm(3))
    with pytest.raises(ValueError, match="format='pt'"):
        r.save(tmp_path / "a.npz", format="pt")
    with pytest.raises(ValueError, match="Did you mean 'npz'"):
        r.save(tmp_path / "a", format="npy")
    with pytest.raises(ValueError, match="Cannot tell the format"):
        r.save(tmp_path / "a.txt")
    assert os.listdir(tmp_path) == []


def test_net2brain_npz_meta_never_unpickled(tmp_path, no_pickle):
    m = _rdm(5)
    names = [f"img_{i}.jpg" for i in range(5)]
    # Net2Brain's LayerRDM.save: np.savez(path, rdm=condensed, stimuli_name, layer_name, meta=dict)
    p = tmp_path / "RDM_features_18.npz"
    np.savez(p, rdm=squareform(m, checks=False), stimuli_name=names, layer_name="features.18",
             meta={"distance": "pearson", "evil": Payload()})
    r = LayerRDM.from_file(p)
    np.testing.assert_allclose(r.matrix, m)
    assert r.stimuli == names and r.layer == "features.18"
    assert r.meta == {"skipped_pickled_keys": ["meta"]}
    # a plain-literal meta is recovered by reading opcodes, still without unpickling
    p2 = tmp_path / "RDM_b.npz"
    np.savez(p2, rdm=squareform(m, checks=False), stimuli_name=names, layer_name="b",
             meta={"distance": "pearson", "chunk": 3})
    assert LayerRDM.from_file(p2).meta == {"distance": "pearson", "chunk": 3}


def test_net2brain_pt_and_legacy(tmp_path):
    m = _rdm(4)
    torch.save({"rdm": torch.from_numpy(squareform(m, checks=False)), "stimuli_name": list("wxyz"),
                "layer_name": "l4", "meta": {"distance": "pearson"}}, tmp_path / "RDM_l4.pt")
    r = LayerRDM.from_file(tmp_path / "RDM_l4.pt")
    np.testing.assert_allclose(r.matrix, m)
    assert r.stimuli == list("wxyz") and r.layer == "l4" and r.meta == {"distance": "pearson"}
    np.savez(tmp_path / "RDM_conv_2.npz", m)  # legacy: arr_0 only
    r = LayerRDM.from_file(tmp_path / "RDM_conv_2.npz")
    assert r.layer == "conv_2" and r.stimuli == ["0", "1", "2", "3"]
    np.savez(tmp_path / "stack.npz", np.stack([m, m]))
    with pytest.raises(ValueError, match=r"stack of 2 RDMs.*load_rdm_stack"):
        LayerRDM.from_file(tmp_path / "stack.npz")
    np.testing.assert_array_equal(load_rdm_stack(tmp_path / "stack.npz")[1], m)
    with pytest.raises(ValueError, match=r"\(S, N, N\).*\(4, 4\)"):
        load_rdm_stack(tmp_path / "RDM_conv_2.npz")
    np.savez(tmp_path / "other.npz", a=1, b=2)
    with pytest.raises(ValueError, match="no 'rdm' array"):
        LayerRDM.from_file(tmp_path / "other.npz")
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        LayerRDM.from_file(tmp_path / "nope.npz")


def test_load_rdms_folder(tmp_path):
    for layer in ["layer10", "layer2", "layer1"]:
        LayerRDM(_rdm(4), layer=layer).save(tmp_path / f"RDM_{layer}.npz")
    LayerRDM(_rdm(4), layer="pt_layer").save(tmp_path / "RDM_pt_layer.pt")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.warns(UserWarning, match="notes.txt"):
        rdms = load_rdms(tmp_path)
    assert list(rdms) == ["layer1", "layer2", "layer10", "pt_layer"]
    assert all(isinstance(v, LayerRDM) for v in rdms.values())
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="No RDM files"):
        load_rdms(empty)


def test_real_fmri_stack_bundled_and_shared():
    s = load_rdm_stack(demo_path("fmri_it"))
    assert s.shape == (15, 78, 78)
    np.testing.assert_allclose(s, np.transpose(s, (0, 2, 1)), atol=1e-12)
    r = LayerRDM(s.mean(0), [f"image_{i:02d}" for i in range(1, 79)], "IT")
    assert r.subset(["image_65", "image_01"]).matrix.shape == (2, 2)
    shared = SHARED / "net2brain_78images" / "brain_data" / "fmri_IT_RDMs.npz"
    if shared.exists():
        np.testing.assert_array_equal(load_rdm_stack(shared), s)


def test_plot_returns_figure():
    r = LayerRDM(_rdm(4), list("abcd"), "l")
    fig = r.plot(indices=[2, 0])
    np.testing.assert_array_equal(np.asarray(fig.data[0].z), r.matrix[np.ix_([2, 0], [2, 0])])
    assert list(fig.data[0].x) == ["c", "a"]


def test_hdf5_round_trip_without_rsatoolbox(tmp_path):
    """LayerRDM.save(.hdf5) writes rsatoolbox's layout with h5py alone; from_file and load_rdms read it."""
    import subprocess
    import sys

    rdm = LayerRDM(squareform(pdist(np.random.default_rng(0).normal(size=(5, 3)))), list("abcde"), "fc 1",
                   {"distance": "euclidean", "n": 3})
    path = rdm.save(tmp_path / "rdm.hdf5")
    back = LayerRDM.from_file(path)
    np.testing.assert_array_equal(back.matrix, rdm.matrix)
    assert (back.stimuli, back.layer, back.meta) == (rdm.stimuli, rdm.layer, rdm.meta)
    folder = tmp_path / "run"
    folder.mkdir()
    rdm.save(folder, format="hdf5")
    assert [p.name for p in folder.iterdir()] == ["RDM_fc_1.hdf5"]
    assert load_rdms(folder)["fc 1"].stimuli == list("abcde")
    code = ("import sys, numpy as np; from rdm_widgets import LayerRDM; "
            f"LayerRDM.from_file({str(path)!r}).save({str(tmp_path / 'again.h5')!r}); "
            "print('rsatoolbox' in sys.modules, 'pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    np.testing.assert_array_equal(LayerRDM.from_file(tmp_path / "again.h5").matrix, rdm.matrix)
