"""Tests of the HDF5 and array readers, ``open_features`` dispatch, natural sort and pooling."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from _feature_data import write_hdf5
from rdm_widgets.features import POOLINGS, FeatureSource, check_pooling, natural_key, open_features, pool_features
from rdm_widgets.features._pooling import is_sequence_shape


def test_natural_key_orders_numbers():
    names = ["img_10", "img_2", "img_1", "IMG_3", "a", "img_2b"]
    assert sorted(names, key=natural_key) == ["a", "img_1", "img_2", "img_2b", "IMG_3", "img_10"]


def test_sequence_shape_rule():
    assert is_sequence_shape((12, 384)) and is_sequence_shape((1, 12, 384)) and is_sequence_shape((1, 1, 8))
    assert not any(is_sequence_shape(s) for s in [(1, 384), (384,), (1, 3, 4, 4), (3, 4, 4)])


def test_hdf5(tmp_path):
    path = tmp_path / "feats.h5"
    x, y = write_hdf5(path)
    src = open_features(path)
    assert src.format == "hdf5" and src.stimuli == ["x1", "x2", "x3", "x10"]
    assert src.layers == ["conv", "enc/layer1"] and src.has_sequence("enc/layer1")
    out = dict(src.iter_layers(pooling="last", dtype=np.float64))
    np.testing.assert_array_equal(out["conv"], x.reshape(4, -1))
    np.testing.assert_array_equal(out["enc/layer1"], y[:, -1].astype(np.float64))
    path2 = tmp_path / "nostim.hdf5"
    with h5py.File(path2, "w") as fh:
        fh["f"] = x
        fh["g"] = x[:3]
    with pytest.raises(ValueError, match="disagree on the number of stimuli"):
        open_features(path2)


def test_hdf5_reads_in_row_chunks_and_rejects_strings(tmp_path, monkeypatch):
    path = tmp_path / "feats.h5"
    x, y = write_hdf5(path, stimuli=False)
    src = open_features(path)
    assert src.stimuli == ["stimulus_0", "stimulus_1", "stimulus_2", "stimulus_3"]
    monkeypatch.setattr(type(src), "_ROWS_BYTES", 1)       # one row per read: the chunks must tile
    np.testing.assert_array_equal(dict(src.iter_layers(["conv"]))["conv"], x.reshape(4, -1).astype(np.float32))
    with h5py.File(tmp_path / "str.h5", "w") as fh:
        fh["names"] = np.array([b"a", b"b"])
    with pytest.raises(TypeError, match="Dataset 'names' in 'str.h5' has dtype .*must be numeric"):
        open_features(tmp_path / "str.h5")


def test_arrays_dict_tensor_and_single_array():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 10)).astype(np.float32)
    src = open_features({"a": x, "b": torch.from_numpy(x * 2)}, stimuli=list("uvwxyz"))
    assert src.format == "arrays" and src.stimuli == list("uvwxyz")
    out = dict(src.iter_layers())
    np.testing.assert_array_equal(out["b"], 2 * x)
    cased = open_features({"conv": x, "Conv": 2 * x})  # names differing only in case stay distinct
    np.testing.assert_array_equal(dict(cased.iter_layers(["Conv"]))["Conv"], 2 * x)
    assert cased.select_layers(["Conv", "conv", "Conv"]) == ["Conv", "conv"]
    single = open_features(x)
    assert single.layers == ["features"] and single.stimuli[0] == "stimulus_0" and single.n_stimuli == 6
    assert open_features(single) is single and isinstance(single, FeatureSource)
    with pytest.raises(ValueError, match="3 names but the features have 6 rows"):
        open_features(x, stimuli=["a", "b", "c"])
    with pytest.raises(ValueError, match="disagree on the number of stimuli"):
        open_features({"a": x, "b": x[:4]})
    bad = x.copy()
    bad[4, 2] = np.inf
    with pytest.raises(ValueError, match=r"layer 'features'.*\['y'\]"):
        list(open_features(bad, stimuli=list("uvwxyz")).iter_layers())
    with pytest.raises(TypeError, match="Layer 'features' in the given arrays has dtype <U1"):
        list(open_features(np.array([["a"], ["b"]])).iter_layers())


def test_error_missing_and_empty(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        open_features(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="No .npz feature files.*empty"):
        open_features(tmp_path / "empty")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "info.json").write_text("{}")
    with pytest.raises(ValueError, match=r"No .npz.*info.json"):
        open_features(tmp_path / "other")
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(ValueError, match="Unsupported feature file"):
        open_features(tmp_path / "x.txt")
    with pytest.raises(TypeError, match="Invalid type for 'source'"):
        open_features(3)


def test_pool_features_function():
    x = np.arange(24, dtype=np.float16).reshape(2, 3, 4)
    np.testing.assert_array_equal(pool_features(x, "mean", axis=1), x.astype(np.float32).mean(1))
    np.testing.assert_array_equal(pool_features(x, "FIRST", axis=1), x[:, 0])
    assert set(POOLINGS) == {"mean", "max", "first", "last"}
    with pytest.raises(ValueError, match="empty"):
        pool_features(np.zeros((0, 3)), "mean")


def test_pooling_names_are_canonical():
    # any spelling of a registered name gives the registered (lower-case) key
    assert [check_pooling(p) for p in ("MEAN", "Max", "first", "LaSt")] == ["mean", "max", "first", "last"]
    assert check_pooling(None) is None
    with pytest.raises(ValueError, match="Invalid value for 'pooling'.*Did you mean 'mean'"):
        check_pooling("maen")
    src = open_features({"tok": np.zeros((3, 4, 5), np.float32)})
    assert src.check_read(pooling="MEAN").pooling == "mean"
