"""Tests of feature reading (rdm_widgets.features) and pooling (rdm_widgets._pooling)."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import rdm_widgets.features as features_mod
from rdm_widgets._pooling import POOLINGS, is_sequence_shape, pool_features
from rdm_widgets._progress import ProgressReporter
from rdm_widgets.demo import demo_path
from rdm_widgets.features import FeatureSource, natural_key, open_features

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NUMPY_POOL = {
    "mean": lambda a: a.astype(np.float64).mean(0),
    "max": lambda a: a.max(0),
    "first": lambda a: a[0],
    "last": lambda a: a[-1],
}


def _open_quiet(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return open_features(path, **kw)


def _write_mixed(folder: Path, names, seed=0):
    """Per-stimulus files with a conv map, a vector and two variable-length sequence layers."""
    rng = np.random.default_rng(seed)
    truth = {k: [] for k in ("conv", "fc", "tok", "tok3")}
    folder.mkdir(parents=True, exist_ok=True)
    for j, name in enumerate(names):
        seq = 3 + j % 4
        arrays = {
            "conv": rng.normal(size=(1, 3, 4, 4)).astype(np.float32),
            "fc": rng.normal(size=(1, 7)).astype(np.float32),
            "tok": rng.normal(size=(seq, 5)).astype(np.float32),
            "tok3": rng.normal(size=(1, seq + 1, 6)).astype(np.float16),
        }
        for k, v in arrays.items():
            truth[k].append(v)
        np.savez(folder / f"{name}.npz", **arrays)
    return truth


@pytest.fixture
def mixed(tmp_path):
    names = ["img_10", "img_2", "img_1", "img_33", "img_3"]
    truth = _write_mixed(tmp_path / "feats", names)
    order = sorted(range(len(names)), key=lambda i: natural_key(names[i]))
    return tmp_path / "feats", [names[i] for i in order], {k: [v[i] for i in order] for k, v in truth.items()}


def test_natural_key_orders_numbers():
    names = ["img_10", "img_2", "img_1", "IMG_3", "a", "img_2b"]
    assert sorted(names, key=natural_key) == ["a", "img_1", "img_2", "img_2b", "IMG_3", "img_10"]


def test_sequence_shape_rule():
    assert is_sequence_shape((12, 384)) and is_sequence_shape((1, 12, 384)) and is_sequence_shape((1, 1, 8))
    assert not any(is_sequence_shape(s) for s in [(1, 384), (384,), (1, 3, 4, 4), (3, 4, 4)])


def test_per_stimulus_folder_natural_sort_and_values(mixed):
    folder, names, truth = mixed
    src = open_features(folder)
    assert src.kind == "npz_folder" and src.stimuli == names == ["img_1", "img_2", "img_3", "img_10", "img_33"]
    assert src.layers == ["conv", "fc", "tok", "tok3"]
    assert src.layer_shape("conv") == (1, 3, 4, 4) and src.layer_shape("tok") is None
    assert [src.has_sequence(l) for l in src.layers] == [False, False, True, True]
    assert src.feature_dim("conv") == 48 and src.feature_dim("tok", "mean") == 5
    for pooling, ref_fn in NUMPY_POOL.items():
        out = dict(src.iter_layers(pooling=pooling))
        # conv and vector layers are flattened whatever the pooling
        np.testing.assert_array_equal(out["conv"], np.stack([a.reshape(-1) for a in truth["conv"]]))
        np.testing.assert_array_equal(out["fc"], np.concatenate(truth["fc"]))
        for layer in ("tok", "tok3"):
            ref = np.stack([ref_fn(a.reshape(a.shape[-2:]).astype(np.float32)) for a in truth[layer]])
            assert out[layer].dtype == np.float32 and out[layer].shape == (5, ref.shape[1])
            np.testing.assert_allclose(out[layer], ref, rtol=1e-6, atol=1e-6)


def test_skips_non_npz_with_one_warning(mixed):
    folder, names, _ = mixed
    (folder / "info.json").write_text("{}")
    (folder / ".ipynb_checkpoints").mkdir()
    (folder / ".ipynb_checkpoints" / "img_1-checkpoint.npz").write_bytes(b"junk")
    (folder / "._img_1.npz").write_bytes(b"junk")  # macOS AppleDouble file
    with pytest.warns(UserWarning) as rec:
        src = open_features(folder)
    msgs = [str(w.message) for w in rec if "Skipped" in str(w.message)]
    assert len(msgs) == 1 and "info.json" in msgs[0] and ".ipynb_checkpoints/" in msgs[0] and "._img_1.npz" in msgs[0]
    assert src.stimuli == names


def test_folder_named_consolidated_with_per_stimulus_files(tmp_path):
    _write_mixed(tmp_path / "consolidated", ["a", "b", "c"])
    src = open_features(tmp_path / "consolidated")
    assert src.kind == "npz_folder" and src.stimuli == ["a", "b", "c"]


def test_list_of_paths_keeps_given_order(mixed):
    folder, names, truth = mixed
    paths = [folder / f"{n}.npz" for n in reversed(names)]
    src = open_features(paths)
    assert src.stimuli == names[::-1]
    np.testing.assert_array_equal(dict(src.iter_layers(["fc"]))["fc"], np.concatenate(truth["fc"][::-1]))


def test_per_layer_npz_folder(tmp_path):
    rng = np.random.default_rng(1)
    stim = np.array(["s_1", "s_2", "s_10"])
    a = rng.normal(size=(3, 2, 3, 3)).astype(np.float32)
    b = rng.normal(size=(3, 4, 8)).astype(np.float32)  # (N, seq, D)
    folder = tmp_path / "per_layer"
    folder.mkdir()
    np.savez(folder / "conv1.npz", features=a, stimuli=stim)
    perm = [2, 0, 1]  # stored in another order: must be aligned to the first file's order
    np.savez(folder / "z_blocks_0.npz", features=b[perm], stimuli=stim[perm], layer=np.array("blocks/0"))
    src = open_features(folder)
    # the order stored in the first file (natural order of file names) is kept
    assert src.kind == "npz_layers" and src.stimuli == list(stim)
    assert set(src.layers) == {"conv1", "blocks/0"} and src.has_sequence("blocks/0")
    out = dict(src.iter_layers(pooling="max"))
    np.testing.assert_array_equal(out["conv1"], a.reshape(3, -1))
    np.testing.assert_array_equal(out["blocks/0"], b.max(1))
    np.savez(folder / "zz_stim.npz", fc=np.zeros((1, 3)))
    with pytest.raises(ValueError, match="zz_stim.npz.*'features' and 'stimuli'"):
        open_features(folder)


def test_hdf5(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 2, 3, 3))
    y = rng.normal(size=(4, 5, 6)).astype(np.float32)
    path = tmp_path / "feats.h5"
    with h5py.File(path, "w") as fh:
        fh["conv"] = x
        fh["enc/layer1"] = y
        fh["stimuli"] = np.array([b"x1", b"x2", b"x3", b"x10"])
    src = open_features(path)
    assert src.kind == "hdf5" and src.stimuli == ["x1", "x2", "x3", "x10"]
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


def test_arrays_dict_tensor_and_single_array():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 10)).astype(np.float32)
    src = open_features({"a": x, "b": torch.from_numpy(x * 2)}, stimuli=list("uvwxyz"))
    assert src.kind == "arrays" and src.stimuli == list("uvwxyz")
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


def test_minilm_pooling_matches_numpy():
    folder = demo_path("minilm")
    src = _open_quiet(folder)
    files = sorted(Path(folder).glob("*.npz"), key=lambda p: natural_key(p.name))
    meta = json.loads((Path(folder) / "stimuli.json").read_text())
    assert src.n_stimuli == 20 and len(src.layers) == 7
    assert all(src.has_sequence(l) and src.layer_shape(l) is None for l in src.layers)
    raw = [np.load(f) for f in files]
    assert sorted({r["embeddings"].shape[0] for r in raw}) == sorted({s["seq_len"] for s in meta["stimuli"]})
    for pooling, ref_fn in NUMPY_POOL.items():
        out = dict(src.iter_layers(pooling=pooling))
        for layer in src.layers:
            ref = np.stack([ref_fn(r[layer]) for r in raw])
            np.testing.assert_allclose(out[layer], ref, rtol=1e-5, atol=1e-5)


def test_mobilenet_bundled_and_shared():
    src = _open_quiet(demo_path("mobilenetv2"))
    assert src.n_stimuli == 78 and src.stimuli[0] == "image_01" and src.stimuli[-1] == "image_78"
    assert src.layers == ["features.6", "features.13", "features.18", "avgpool", "logits"]
    out = dict(src.iter_layers(["avgpool"]))
    ref = np.stack([np.load(Path(demo_path("mobilenetv2")) / f"{s}.npz")["avgpool"].reshape(-1) for s in src.stimuli])
    np.testing.assert_array_equal(out["avgpool"], ref.astype(np.float32))
    shared = SHARED / "mobilenetv2_net2brain78"
    if shared.is_dir():
        full = _open_quiet(shared)
        assert full.n_stimuli == 78 and "features.2" in full.layers
        assert full.layer_shape("features.2") == (1, 24, 56, 56)


def test_each_file_read_once_and_passes(mixed, monkeypatch):
    folder, names, truth = mixed
    src = open_features(folder)
    calls = []
    real_load = np.load

    def counting_load(f, *a, **k):
        calls.append(Path(f).name)
        return real_load(f, *a, **k)

    monkeypatch.setattr(features_mod.np, "load", counting_load)
    seen = []
    out = dict(src.iter_layers(pooling="mean", progress=lambda d, t: seen.append((d, t))))
    assert len(calls) == len(names) and sorted(calls) == sorted(f"{n}.npz" for n in names)
    assert seen[0] == (0, 5) and seen[-1] == (5, 5) and len(seen) == 6
    # a small budget forces several passes, each reading only some keys
    calls.clear()
    budget = 5 * 48 * 4  # exactly the conv layer: passes [conv], [fc, tok, tok3]
    assert src.count_reads(pooling="mean", max_bytes=budget) == 5 * 2
    streamed = dict(src.iter_layers(pooling="mean", max_bytes=budget))
    assert len(calls) == 10
    for k in out:
        np.testing.assert_array_equal(out[k], streamed[k])
    reporter = ProgressReporter(src.count_reads(["fc"]))
    list(src.iter_layers(["fc"], progress=reporter))
    assert reporter.done == reporter.total == 5


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


def test_error_missing_layer_and_shape(mixed):
    folder, names, truth = mixed
    np.savez(folder / "img_4.npz", conv=truth["conv"][0], fc=truth["fc"][0], tok=truth["tok"][0])
    src = open_features(folder)  # opening reads one file's headers; reading checks every file
    with pytest.raises(ValueError, match=r"'img_4.npz' is missing layer 'tok3' \(present in 'img_1.npz'\)"):
        dict(src.iter_layers(["fc", "tok3"], pooling="mean"))
    np.savez(folder / "img_4.npz", conv=np.zeros((1, 3, 4, 5), np.float32), fc=truth["fc"][0],
             tok=truth["tok"][0], tok3=truth["tok3"][0])
    for check in (lambda s: dict(s.iter_layers(["conv"])), lambda s: s.layer_shape("conv")):
        with pytest.raises(ValueError) as err:
            check(open_features(folder))
        msg = str(err.value)
        assert "'conv'" in msg and "'img_4.npz'" in msg and "(1, 3, 4, 5)" in msg and "(1, 3, 4, 4)" in msg
    np.savez(folder / "img_4.npz", conv=truth["conv"][0], fc=truth["fc"][0],
             tok=np.zeros((3, 9), np.float32), tok3=truth["tok3"][0])
    with pytest.raises(ValueError, match=r"'tok' has shape \(3, 9\) in 'img_4.npz'"):
        dict(open_features(folder).iter_layers(["tok"], pooling="max"))


def test_vector_that_is_a_one_token_sequence(tmp_path):
    rng = np.random.default_rng(7)
    seqs = [rng.normal(size=(n, 4)).astype(np.float32) for n in (1, 3, 2)]  # first file: [1, 4]
    for i, a in enumerate(seqs):
        np.savez(tmp_path / f"t{i}.npz", h=a)
    src = open_features(tmp_path)
    with pytest.raises(ValueError, match=r"shape \(3, 4\) in 't1.npz' but \(1, 4\).*pass pooling="):
        dict(src.iter_layers())
    assert src.has_sequence("h") and src.layer_shape("h") is None
    np.testing.assert_allclose(dict(src.iter_layers(pooling="mean"))["h"], np.stack([a.mean(0) for a in seqs]))


def test_conv_folder_opens_one_header_and_reads_files_once(tmp_path, monkeypatch):
    _write_mixed(tmp_path / "f", [f"x{i}" for i in range(6)])
    headers = []
    real = features_mod._npz_headers
    monkeypatch.setattr(features_mod, "_npz_headers", lambda p: headers.append(p) or real(p))
    src = open_features(tmp_path / "f")
    dict(src.iter_layers(["conv", "fc"]))
    assert len(headers) == 1  # no separate pass over the files' headers
    assert src.layer_shape("conv") == (1, 3, 4, 4) and len(headers) == 1  # known from the read


def test_error_variable_length_without_pooling(mixed):
    folder, _, _ = mixed
    src = open_features(folder)
    with pytest.raises(ValueError) as err:
        src.iter_layers(["tok"])  # raised at the call, before any file is read
    msg = str(err.value)
    assert "'tok'" in msg and "pooling='mean'" in msg and "'img_1.npz'" in msg and "(5, 5)" in msg
    dict(src.iter_layers(["conv", "fc"]))  # fixed-size layers need no pooling
    with pytest.raises(ValueError, match="Did you mean 'max'"):
        src.iter_layers(pooling="mx")
    with pytest.raises(ValueError, match="Invalid value for 'layers'.*Did you mean 'conv'"):
        src.iter_layers(["cnv"])


def test_error_nan_names_file_and_layer(mixed):
    folder, _, truth = mixed
    bad = truth["fc"][0].copy()
    bad[0, 3] = np.nan
    np.savez(folder / "img_7.npz", conv=truth["conv"][0], fc=bad, tok=truth["tok"][0], tok3=truth["tok3"][0])
    src = open_features(folder)
    with pytest.raises(ValueError, match=r"layer 'fc' in 'img_7.npz' contain 1 NaN"):
        dict(src.iter_layers(["conv", "fc"]))


def test_pool_features_function():
    x = np.arange(24, dtype=np.float16).reshape(2, 3, 4)
    np.testing.assert_array_equal(pool_features(x, "mean", axis=1), x.astype(np.float32).mean(1))
    np.testing.assert_array_equal(pool_features(x, "FIRST", axis=1), x[:, 0])
    assert set(POOLINGS) == {"mean", "max", "first", "last"}
    with pytest.raises(ValueError, match="empty"):
        pool_features(np.zeros((0, 3)), "mean")
