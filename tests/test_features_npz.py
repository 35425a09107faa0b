"""Tests of the npz readers: per-stimulus folders (Net2Brain layout) and per-layer npz folders."""
from __future__ import annotations

import json
from pathlib import Path

import warnings

import numpy as np
import pytest

import rdm_widgets._npy as npy_mod
from _feature_data import NUMPY_POOL, make_mixed, open_quiet, write_mixed, write_per_layer
from rdm_widgets._progress import ProgressReporter
from rdm_widgets.demo import demo_path
from rdm_widgets.features import natural_key, open_features

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def mixed(tmp_path):
    return make_mixed(tmp_path)


def test_per_stimulus_folder_natural_sort_and_values(mixed):
    folder, names, truth = mixed
    src = open_features(folder)
    assert src.format == "npz_folder" and src.stimuli == names == ["img_1", "img_2", "img_3", "img_10", "img_33"]
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
    (folder / "notes.bin").write_bytes(b"junk")
    (folder / "info.json").write_text("{}")      # sidecars describe the features: not reported
    (folder / "stimuli.json").write_text("{}")
    (folder / ".ipynb_checkpoints").mkdir()
    (folder / ".ipynb_checkpoints" / "img_1-checkpoint.npz").write_bytes(b"junk")
    (folder / "._img_1.npz").write_bytes(b"junk")  # macOS AppleDouble file
    with pytest.warns(UserWarning) as rec:
        src = open_features(folder)
    msgs = [str(w.message) for w in rec if "Skipped" in str(w.message)]
    assert len(msgs) == 1 and "notes.bin" in msgs[0] and ".ipynb_checkpoints/" in msgs[0] and "._img_1.npz" in msgs[0]
    assert "info.json" not in msgs[0] and "stimuli.json" not in msgs[0]
    assert src.stimuli == names


def test_sidecar_files_alone_give_no_warning(mixed):
    folder, names, _ = mixed
    (folder / "info.json").write_text("{}")
    (folder / "README.md").write_text("about these features")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert open_features(folder).stimuli == names


def test_folder_named_consolidated_with_per_stimulus_files(tmp_path):
    write_mixed(tmp_path / "consolidated", ["a", "b", "c"])
    src = open_features(tmp_path / "consolidated")
    assert src.format == "npz_folder" and src.stimuli == ["a", "b", "c"]


def test_list_of_paths_keeps_given_order(mixed):
    folder, names, truth = mixed
    paths = [folder / f"{n}.npz" for n in reversed(names)]
    src = open_features(paths)
    assert src.stimuli == names[::-1]
    np.testing.assert_array_equal(dict(src.iter_layers(["fc"]))["fc"], np.concatenate(truth["fc"][::-1]))


def test_per_layer_npz_folder(tmp_path):
    folder = tmp_path / "per_layer"
    a, b = write_per_layer(folder)
    stim = np.array(["s_1", "s_2", "s_10"])
    src = open_features(folder)
    # the order stored in the first file (natural order of file names) is kept
    assert src.format == "npz_layers" and src.stimuli == list(stim)
    assert set(src.layers) == {"conv1", "blocks/0"} and src.has_sequence("blocks/0")
    out = dict(src.iter_layers(pooling="max"))
    np.testing.assert_array_equal(out["conv1"], a.reshape(3, -1))
    np.testing.assert_array_equal(out["blocks/0"], b.max(1))
    np.savez(folder / "zz_stim.npz", fc=np.zeros((1, 3)))
    with pytest.raises(ValueError, match="zz_stim.npz.*'features' and 'stimuli'"):
        open_features(folder)


def test_minilm_pooling_matches_numpy():
    folder = demo_path("minilm")
    src = open_quiet(folder)
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
    src = open_quiet(demo_path("mobilenetv2"))
    assert src.n_stimuli == 78 and src.stimuli[0] == "image_01" and src.stimuli[-1] == "image_78"
    assert src.layers == ["features.6", "features.13", "features.18", "avgpool", "logits"]
    out = dict(src.iter_layers(["avgpool"]))
    ref = np.stack([np.load(Path(demo_path("mobilenetv2")) / f"{s}.npz")["avgpool"].reshape(-1) for s in src.stimuli])
    np.testing.assert_array_equal(out["avgpool"], ref.astype(np.float32))
    shared = SHARED / "mobilenetv2_net2brain78"
    if shared.is_dir():
        full = open_quiet(shared)
        assert full.n_stimuli == 78 and "features.2" in full.layers
        assert full.layer_shape("features.2") == (1, 24, 56, 56)


def test_each_file_read_once_and_passes(mixed, monkeypatch):
    folder, names, truth = mixed
    src = open_features(folder)
    calls = []
    from rdm_widgets import _npy

    real_load = _npy.open_npz            # the one way a stimulus file is opened

    def counting_load(f, *a, **k):
        calls.append(Path(f).name)
        return real_load(f, *a, **k)

    monkeypatch.setattr(_npy, "open_npz", counting_load)
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
    write_mixed(tmp_path / "f", [f"x{i}" for i in range(6)])
    headers = []
    real = npy_mod.npz_headers
    monkeypatch.setattr(npy_mod, "npz_headers", lambda p: headers.append(p) or real(p))
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
