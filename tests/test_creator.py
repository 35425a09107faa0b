"""Tests of RDMCreator (rdm_widgets.creator) against scipy float64 references."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from rdm_widgets._progress import Cancelled
from rdm_widgets.creator import RDMCreator
from rdm_widgets.demo import demo_path
from rdm_widgets.distances import DegenerateRowsWarning
from rdm_widgets.features import natural_key, open_features
from rdm_widgets.rdm import LayerRDM, load_rdms

MOBILENET_LAYERS = ["features.6", "features.13", "features.18", "avgpool", "logits"]


@pytest.fixture(scope="module")
def mobilenet():
    """Bundled MobileNetV2 features as float64 (78, D) arrays in natural stimulus order."""
    folder = Path(demo_path("mobilenetv2"))
    files = sorted(folder.glob("*.npz"), key=lambda p: natural_key(p.name))
    feats = {k: [] for k in MOBILENET_LAYERS}
    for f in files:
        with np.load(f) as z:
            for k in MOBILENET_LAYERS:
                feats[k].append(z[k].reshape(-1).astype(np.float64))
    return folder, [f.stem for f in files], {k: np.stack(v) for k, v in feats.items()}


@pytest.fixture
def small(tmp_path):
    """A tiny per-stimulus folder (12 stimuli, 3 layers) with planted category structure."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "feats"
    folder.mkdir()
    proto = rng.normal(size=(3, 40))
    for i in range(12):
        base = proto[i % 3] + 0.3 * rng.normal(size=40)
        np.savez(folder / f"s_{i}.npz", conv=base.reshape(1, 2, 4, 5).astype(np.float32),
                 fc=(base[:10] * 2).reshape(1, 10).astype(np.float32),
                 tok=np.tile(base[:8], (2 + i % 3, 1)).astype(np.float32))
    return folder


def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # info.json is skipped with a warning
        return fn(*a, **k)


def test_documented_interface_matches_scipy(mobilenet, tmp_path):
    folder, stimuli, feats = mobilenet
    creator = RDMCreator(verbose=True, device="cpu")
    save_path = _quiet(creator.create_rdms, feature_path=folder, save_path=tmp_path / "rdms", save_format="npz")
    assert isinstance(save_path, str) and Path(save_path) == tmp_path / "rdms"
    assert sorted(os.listdir(save_path)) == sorted(f"RDM_{k}.npz" for k in MOBILENET_LAYERS)
    for layer in MOBILENET_LAYERS:
        rdm = LayerRDM.from_file(Path(save_path) / f"RDM_{layer}.npz")
        ref = cdist(feats[layer], feats[layer], "correlation")
        assert rdm.layer == layer and rdm.stimuli == stimuli and rdm.matrix.shape == (78, 78)
        np.testing.assert_allclose(rdm.matrix, ref, atol=1e-4)
        meta = rdm.meta
        assert meta["distance"] == "correlation" and meta["n_stimuli"] == 78 and meta["dtype"] == "float32"
        assert meta["device"] == "cpu" and meta["chunk_size"] is None and meta["pooling"] is None
        assert meta["feature_dim"] == feats[layer].shape[1] and meta["source"] == str(folder)
        assert "rdm_widgets_version" in meta and meta["feature_shape"][0] == 1
    names = creator.distance_functions()
    assert "correlation" in names and "euclidean" in names and "cosine" in names


def test_pt_round_trip_equals_npz(mobilenet, tmp_path):
    folder, _, _ = mobilenet
    creator = RDMCreator()
    npz = _quiet(creator.create_rdms, folder, tmp_path / "a", layers=["avgpool", "logits"])
    pt = _quiet(creator.create_rdms, folder, tmp_path / "b", save_format="pt", layers=["avgpool", "logits"])
    assert sorted(os.listdir(pt)) == ["RDM_avgpool.pt", "RDM_logits.pt"]
    a, b = load_rdms(npz), load_rdms(pt)
    for k in ("avgpool", "logits"):
        np.testing.assert_array_equal(a[k].matrix, b[k].matrix)
        assert a[k].stimuli == b[k].stimuli and b[k].meta["distance"] == "correlation"


def test_custom_callable_with_and_without_chunks(mobilenet, tmp_path):
    _, stimuli, feats = mobilenet
    x = {"avgpool": feats["avgpool"]}

    def custom_cosine(t):
        t = t / t.norm(dim=1, keepdim=True)
        return 1 - t @ t.T

    ref = cdist(feats["avgpool"], feats["avgpool"], "cosine")
    creator = RDMCreator()
    for chunk in (None, 7):
        out = creator.compute_rdms(x, distance=custom_cosine, chunk_size=chunk)
        np.testing.assert_allclose(out["avgpool"].matrix, ref, atol=1e-5)
    saved = creator.create_rdms(feature_path=x, save_path=tmp_path / "c", save_format="npz", distance=custom_cosine)
    np.testing.assert_allclose(load_rdms(saved)["avgpool"].matrix, ref, atol=1e-5)


@pytest.mark.parametrize("distance", ["correlation", "euclidean", "cosine"])
def test_chunking_equals_whole_and_float64(mobilenet, distance):
    _, _, feats = mobilenet
    x = {"features.13": feats["features.13"], "logits": feats["logits"]}
    whole = RDMCreator().compute_rdms(x, distance=distance)
    chunked = RDMCreator().compute_rdms(x, distance=distance, chunk_size=10)
    exact = RDMCreator(dtype="float64").compute_rdms(x, distance=distance)
    for k in x:
        ref = cdist(x[k], x[k], distance)
        scale = max(1.0, float(ref.max()))
        np.testing.assert_allclose(chunked[k].matrix, whole[k].matrix, atol=1e-5 * scale)
        np.testing.assert_allclose(whole[k].matrix, ref, atol=1e-4 * scale)
        np.testing.assert_allclose(exact[k].matrix, ref, atol=1e-9 * scale)
        assert exact[k].matrix.dtype == np.float64 and chunked[k].meta["chunk_size"] == 10


def test_minilm_pooling_compute(tmp_path):
    creator = RDMCreator()
    with pytest.raises(ValueError, match="pooling='mean'"):
        _quiet(creator.create_rdms, demo_path("minilm"), tmp_path / "never")
    assert not (tmp_path / "never").exists()  # validated before any folder is created
    out = _quiet(creator.compute_rdms, demo_path("minilm"), pooling="mean", layers=["encoder.layer.5"])
    files = sorted(Path(demo_path("minilm")).glob("*.npz"), key=lambda p: natural_key(p.name))
    x = np.stack([np.load(f)["encoder.layer.5"].astype(np.float64).mean(0) for f in files])
    rdm = out["encoder.layer.5"]
    np.testing.assert_allclose(rdm.matrix, cdist(x, x, "correlation"), atol=1e-4)
    assert rdm.meta["pooling"] == "mean" and rdm.stimuli[0] == "sent_01"
    # the pooling is stored under its canonical name, whatever its spelling
    upper = _quiet(creator.compute_rdms, demo_path("minilm"), pooling="MEAN", layers=["encoder.layer.5"])
    assert upper["encoder.layer.5"].meta["pooling"] == "mean"
    np.testing.assert_array_equal(upper["encoder.layer.5"].matrix, rdm.matrix)


def test_hdf5_and_per_layer_npz_inputs(tmp_path):
    import h5py

    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(9, 2, 3, 5)), rng.normal(size=(9, 4, 3))  # x: (N, C, H, W), y: (N, seq, D)
    with h5py.File(tmp_path / "f.h5", "w") as fh:
        fh["x"], fh["y"] = x, y
        fh["stimuli"] = np.array([f"im{i}".encode() for i in range(9)])
    out = load_rdms(RDMCreator().create_rdms(tmp_path / "f.h5", tmp_path / "o1", pooling="mean", distance="euclidean"))
    np.testing.assert_allclose(out["x"].matrix, cdist(x.reshape(9, -1), x.reshape(9, -1)), atol=1e-4)
    np.testing.assert_allclose(out["y"].matrix, cdist(y.mean(1), y.mean(1)), atol=1e-4)
    assert out["y"].stimuli[-1] == "im8" and out["y"].meta["pooling"] == "mean" and out["x"].meta["pooling"] is None
    (tmp_path / "layers").mkdir()
    np.savez(tmp_path / "layers" / "x.npz", features=x, stimuli=np.array([f"im{i}" for i in range(9)]))
    rdm = RDMCreator().compute_rdms(tmp_path / "layers", distance="manhattan")["x"]
    np.testing.assert_allclose(rdm.matrix, cdist(x.reshape(9, -1), x.reshape(9, -1), "cityblock"), atol=1e-4)


def test_no_overwrite_then_overwrite(small, tmp_path):
    creator = RDMCreator()
    out = creator.create_rdms(small, tmp_path / "o", pooling="max")
    before = {f: (Path(out) / f).read_bytes() for f in os.listdir(out)}
    with pytest.raises(FileExistsError, match="overwrite=True"):
        creator.create_rdms(small, tmp_path / "o", pooling="max", distance="euclidean")
    assert {f: (Path(out) / f).read_bytes() for f in os.listdir(out)} == before
    creator.create_rdms(small, tmp_path / "o", pooling="max", distance="euclidean", overwrite=True)
    assert load_rdms(out)["fc"].meta["distance"] == "euclidean"
    assert sorted(os.listdir(out)) == sorted(before)  # no staging folder or temp files left


def test_file_name_collisions_do_not_overwrite(tmp_path):
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(5, 6)), rng.normal(size=(5, 6))
    out = RDMCreator().create_rdms({"a/b": a, "a_b": b, "A_B": a}, tmp_path / "col")
    # 'A_B' differs only in case: a different name still (case-insensitive file systems)
    assert sorted(os.listdir(out)) == ["RDM_A_B__3.npz", "RDM_a_b.npz", "RDM_a_b__2.npz"]
    rdms = load_rdms(out)
    np.testing.assert_allclose(rdms["a/b"].matrix, cdist(a, a, "correlation"), atol=1e-5)
    np.testing.assert_allclose(rdms["a_b"].matrix, cdist(b, b, "correlation"), atol=1e-5)


@pytest.mark.parametrize("stop_after", [1, 13, 14])
def test_cancel_leaves_nothing(small, tmp_path, stop_after):
    calls = []

    def progress(done, total):
        calls.append((done, total))
        if done >= stop_after:
            raise Cancelled()

    target = tmp_path / "new" / "nested"
    with pytest.raises(Cancelled):
        RDMCreator().create_rdms(small, target, pooling="mean", progress=progress)
    assert not (tmp_path / "new").exists()  # every folder this run created is removed
    assert calls[0] == (0, 12 + 3)  # 12 file reads + 3 layers x 1 block
    # a folder that existed keeps its other files and its old RDMs
    keep = tmp_path / "keep"
    RDMCreator().create_rdms(small, keep, pooling="mean", layers=["fc"])
    (keep / "notes.txt").write_text("mine")
    old = (keep / "RDM_fc.npz").read_bytes()
    with pytest.raises(Cancelled):
        RDMCreator().create_rdms(small, keep, pooling="first", overwrite=True, progress=progress)
    assert sorted(os.listdir(keep)) == ["RDM_fc.npz", "notes.txt"] and (keep / "RDM_fc.npz").read_bytes() == old


def test_failure_midway_leaves_nothing(small, tmp_path):
    bad = dict(np.load(small / "s_5.npz"))
    bad["tok"][0, 0] = np.inf
    np.savez(small / "s_5.npz", **bad)
    with pytest.raises(ValueError, match=r"layer 'tok' in 's_5.npz'"):
        RDMCreator().create_rdms(small, tmp_path / "f", pooling="mean")
    assert not (tmp_path / "f").exists()


def test_progress_total_and_chunks(small, tmp_path):
    seen = []
    RDMCreator().compute_rdms(small, pooling="last", chunk_size=5, progress=lambda d, t: seen.append((d, t)))
    total = 12 + 3 * 3  # file reads + 3 layers x ceil(12 / 5) blocks
    assert seen[0] == (0, total) and seen[-1] == (total, total)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_default_save_path_is_timestamped(small, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = Path(RDMCreator().create_rdms(small, pooling="mean", layers=["fc"]))
    second = Path(RDMCreator().create_rdms(small, pooling="mean", layers=["fc"]))
    assert first.parent == second.parent == tmp_path and first != second
    assert first.name.startswith("rdms_") and len(first.name) == len("rdms_YYYYmmdd_HHMMSS")
    assert os.listdir(first) == ["RDM_fc.npz"]


def test_degenerate_rows_warn_with_names():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(6, 8))
    x[2] = 3.0
    x[4] = 0.0
    names = ["cat", "dog", "blank", "car", "black", "sun"]
    with pytest.warns(DegenerateRowsWarning, match=r"\['blank', 'black'\]") as rec:
        out = RDMCreator().compute_rdms(open_features(x, stimuli=names))
    assert len(rec) == 1 and "row indices" not in str(rec[0].message)  # names, not indices
    assert rec[0].filename == __file__
    m = out["features"].matrix
    assert np.all(m[2, [0, 1, 3, 4, 5]] == 1) and m[2, 2] == 0
    good = [0, 1, 3, 5]
    np.testing.assert_allclose(m[np.ix_(good, good)], cdist(x[good], x[good], "correlation"), atol=1e-5)


def test_degenerate_rows_warning_points_at_the_caller_when_saving(tmp_path):
    x = np.random.default_rng(6).normal(size=(5, 4))
    x[1] = 0.0
    with pytest.warns(DegenerateRowsWarning, match=r"\['stimulus_1'\]") as rec:
        RDMCreator().create_rdms({"fc": x}, tmp_path / "out", distance="cosine")
    assert len(rec) == 1 and rec[0].filename == __file__


def test_resolved_options_in_attributes_and_meta():
    creator = RDMCreator(dtype=np.float64)
    assert creator.dtype == "float64" and RDMCreator(dtype=torch.float64).dtype == "float64"
    assert repr(creator) == "RDMCreator(device='cpu', verbose=False, dtype='float64')"
    x = np.random.default_rng(7).normal(size=(7, 5))
    rdm = creator.compute_rdms(x, distance="L2", chunk_size=3)["features"]
    assert rdm.matrix.dtype == np.float64
    meta = {k: rdm.meta[k] for k in ("distance", "pooling", "dtype", "device", "chunk_size", "source_kind")}
    assert meta == {"distance": "euclidean", "pooling": None, "dtype": "float64", "device": "cpu",
                    "chunk_size": 3, "source_kind": "arrays"}
    np.testing.assert_allclose(rdm.matrix, cdist(x, x), rtol=1e-9, atol=1e-12)


def test_constructor_and_argument_errors(small, tmp_path):
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            RDMCreator(device="cuda")
    with pytest.raises(ValueError, match="Did you mean 'float32'"):
        RDMCreator(dtype="float23")
    creator = RDMCreator()
    with pytest.raises(ValueError, match="Invalid value for 'save_format'.*Did you mean 'npz'"):
        creator.create_rdms(small, tmp_path / "x", save_format="npy")
    with pytest.raises(ValueError, match="correlation"):
        creator.create_rdms(small, tmp_path / "x", distance="corelation", pooling="mean")
    with pytest.raises(ValueError, match="Invalid value for 'chunk_size'"):
        creator.create_rdms(small, tmp_path / "x", chunk_size=0, pooling="mean")
    with pytest.raises(FileNotFoundError):
        creator.create_rdms(tmp_path / "missing", tmp_path / "x")
    assert not (tmp_path / "x").exists()
    with pytest.raises(ValueError, match="at least 2 stimuli"):
        creator.compute_rdms(np.ones((1, 4)))


@pytest.mark.parametrize("stored", [np.float32, np.float16])
def test_float64_pools_in_float64(tmp_path, stored):
    """RDMCreator(dtype='float64') with pooling pools in float64 (before: float32 whatever the
    dtype), from a per-stimulus folder (varying lengths) and from arrays, against numpy float64.

    Features sit on a large offset (as unnormalised activations do): a float32 mean of them
    loses ~1e-5 of the variation that the correlation RDM measures."""
    rng = np.random.default_rng(4)
    proto = rng.normal(size=(3, 64))
    folder = tmp_path / "tokens"
    folder.mkdir()
    stored_rows, arrays = [], []
    for i in range(12):
        seq = (1000 + proto[i % 3] + 0.5 * rng.normal(size=(5 + i % 4, 64))).astype(stored)
        np.savez(folder / f"s_{i}.npz", tok=seq)
        stored_rows.append(seq)
        arrays.append(seq[:5])
    ref = np.stack([s.astype(np.float64).mean(axis=0) for s in stored_rows])   # numpy float64
    ref_fixed = np.stack([s.astype(np.float64).mean(axis=0) for s in arrays])
    creator = RDMCreator(dtype="float64")
    for features, want in [(folder, ref), ({"tok": np.stack(arrays)}, ref_fixed)]:
        pooled = dict(open_features(features).iter_layers(pooling="mean", dtype=np.float64))["tok"]
        assert pooled.dtype == np.float64
        np.testing.assert_allclose(pooled, want, rtol=1e-14)
        for distance, metric in [("correlation", "correlation"), ("euclidean", "euclidean")]:
            rdm = creator.compute_rdms(features, distance=distance, pooling="mean")["tok"]
            np.testing.assert_allclose(rdm.matrix, cdist(want, want, metric), rtol=1e-9, atol=1e-12)
    # float32 (the default) still pools in (at least) float32: the stored precision is kept
    pooled32 = dict(open_features(folder).iter_layers(pooling="mean", dtype=np.float32))["tok"]
    assert pooled32.dtype == np.float32
    np.testing.assert_allclose(pooled32, ref, rtol=1e-6)
