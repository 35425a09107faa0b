"""Time-resolved model RDMs of video / sequence features (issue 17): one RDM per clip or per
(clip, time point), against scipy float64 references; each file read once; Net2Brain's option
names and files; the model time x brain time RSA map against a loop of ``compare_rdms``."""
from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

from rdm_widgets.batch import create_rdms_many
from rdm_widgets.creator import RDMCreator
from rdm_widgets.eeg import TimeResolvedRDM
from rdm_widgets.features import open_features
from rdm_widgets.rdm import LayerRDM
from rdm_widgets.rdm_files import load_time_resolved_rdms
from rdm_widgets.rsa import compare_rdms, rsa_timecourse
from _feature_data import record_opens

N, CLIPS, T = 8, 4, 6


def _planted(rng, n_pos, signal):
    """(N, n_pos, D) features; category (stimulus parity) structure where ``signal[pos]``."""
    cats = np.arange(N) % 2
    proto = rng.normal(size=(2, 10))
    x = rng.normal(size=(N, n_pos, 10))
    x[:, signal] += 3 * proto[cats][:, None, :]
    return x


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """Per-stimulus npz files: clip structure only in clips 2-3, frame structure only at t > 3."""
    rng = np.random.default_rng(17)
    folder = tmp_path_factory.mktemp("video") / "feats"
    folder.mkdir()
    clips = _planted(rng, CLIPS, np.arange(CLIPS) >= 2)                        # (N, 4, 10)
    frames = _planted(rng, 3 * T, np.tile(np.arange(T) > 3, 3)).reshape(N, 3, T, 2, 5)
    seq = rng.normal(size=(N, T, 7))
    for i in range(N):
        np.savez(folder / f"video_{i}.npz", clips=clips[i][None].astype(np.float32),
                 frames=frames[i][None].astype(np.float32), seq=seq[i].astype(np.float32),
                 logits=rng.normal(size=(1, 5)).astype(np.float32))
    stims = [f"video_{i}" for i in range(N)]
    return folder, stims, {"clips": clips, "frames": frames, "seq": seq}


def _ref(x, metric="correlation"):
    return squareform(pdist(np.asarray(x, dtype=np.float32).astype(np.float64), metric))


def test_per_clip_rdms_equal_scipy(video):
    folder, stims, f = video
    out = RDMCreator(dtype="float64").compute_rdms(folder, multi_timepoint_rdms="clip", layers=["clips", "seq"])
    clips = out["clips"]
    assert isinstance(clips, TimeResolvedRDM) and clips.shape == (N, N, CLIPS)
    assert clips.stimuli == stims and clips.layer == "clips"
    assert clips.time_labels == [f"clip {c}" for c in range(CLIPS)]
    assert clips.meta["multi_timepoint_rdms"] == "clip" and clips.meta["time_shape"] == [CLIPS]
    for c in range(CLIPS):
        np.testing.assert_allclose(clips.data[:, :, c], _ref(f["clips"][:, c]), atol=1e-10)
    # [T, D] sequences per stimulus (no batch axis): one RDM per step
    assert out["seq"].shape == (N, N, T)
    for t in range(T):
        np.testing.assert_allclose(out["seq"].data[:, :, t], _ref(f["seq"][:, t]), atol=1e-10)
    # the planted structure: categories separate in clips 2-3 only
    same = (np.arange(N)[:, None] % 2) == (np.arange(N)[None] % 2)
    off = ~np.eye(N, dtype=bool)
    gap = [clips.data[~same, c].mean() - clips.data[same & off, c].mean() for c in range(CLIPS)]
    assert min(gap[2:]) > 0.5 > max(np.abs(gap[:2]))


def test_all_timepoints_rdms_equal_scipy(video):
    folder, _, f = video
    out = RDMCreator().compute_rdms(folder, multi_timepoint_rdms="all_timepoints", layers="frames",
                                    distance="euclidean")
    r = out["frames"]
    assert r.shape == (N, N, 3 * T) and r.time_labels[T + 2] == "clip 1 · t 2"
    for c in range(3):
        for t in range(T):
            ref = _ref(f["frames"][:, c, t].reshape(N, -1), "euclidean")
            np.testing.assert_allclose(r.data[:, :, c * T + t], ref, rtol=1e-5, atol=1e-5)


def test_each_file_opened_once(video, monkeypatch):
    folder, _, _ = video
    src = open_features(folder)                 # reads the first file's headers
    names = record_opens(monkeypatch, "open_file", key=lambda path: path.name)
    out = RDMCreator().compute_rdms(src, multi_timepoint_rdms="clip", layers=["clips", "frames", "seq"])
    opened = Counter(names)
    assert [r.n_times for r in out.values()] == [CLIPS, 3, T]
    assert sorted(opened) == sorted(p.name for p in folder.glob("*.npz"))
    assert set(opened.values()) == {1}          # all clips, time points and layers from one open


def test_net2brain_option_names_everywhere(video, tmp_path):
    folder, _, f = video
    done = create_rdms_many({"m": folder}, tmp_path / "many", multi_timepoint_rdms="clip", layers=["clips"])
    r = TimeResolvedRDM.from_file(Path(done["m"]) / "RDM_clips.npz")
    np.testing.assert_allclose(r.data[:, :, 3], _ref(f["clips"][:, 3]), atol=1e-5)
    with pytest.raises(ValueError, match=r"multi_timepoint_rdms.*Did you mean 'clip'"):
        RDMCreator().compute_rdms(folder, multi_timepoint_rdms="clips")
    with pytest.raises(ValueError, match="pooling='mean' cannot be combined"):
        RDMCreator().compute_rdms(folder, multi_timepoint_rdms="clip", pooling="mean")
    with pytest.raises(ValueError, match="'npz' only"):
        RDMCreator().create_rdms(folder, tmp_path / "pt", save_format="pt", multi_timepoint_rdms="clip")
    assert not (tmp_path / "pt").exists()


def test_clip_on_a_layer_without_clips_names_layer_and_shape(video):
    folder, _, _ = video
    with pytest.raises(ValueError, match=r"layer 'logits' has shape \(1, 5\)"):
        RDMCreator().compute_rdms(folder, multi_timepoint_rdms="clip")
    with pytest.raises(ValueError, match=r"needs clip and time axes.*layer 'clips' has shape \(1, 4, 10\)"):
        RDMCreator().compute_rdms(folder, multi_timepoint_rdms="all_timepoints", layers=["clips"])


def test_different_clip_counts_name_both_files(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        np.savez(folder / f"v_{i}.npz", clips=rng.normal(size=(1, 5 if i == 2 else 4, 6)).astype(np.float32))
    with pytest.raises(ValueError) as err:
        RDMCreator().compute_rdms(folder, multi_timepoint_rdms="clip")
    msg = str(err.value)
    assert "'v_2.npz'" in msg and "(1, 5, 6)" in msg and "'v_0.npz'" in msg and "(1, 4, 6)" in msg


def test_in_memory_arrays_and_caller_data_untouched():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 1, 1, 9))        # one clip: its (N, D) view is contiguous
    keep = x.copy()
    out = RDMCreator(dtype="float64").compute_rdms({"l": x}, multi_timepoint_rdms="clip")
    np.testing.assert_array_equal(x, keep)
    np.testing.assert_allclose(out["l"].data[:, :, 0], _ref(x[:, 0, 0]), atol=1e-10)
    # consolidated (N, clips, ...) arrays never slice across stimuli
    y = rng.normal(size=(5, 3, 4))
    r = RDMCreator(dtype="float64").compute_rdms({"y": y}, multi_timepoint_rdms="clip")["y"]
    for c in range(3):
        np.testing.assert_allclose(r.data[:, :, c], _ref(y[:, c]), atol=1e-10)


def test_save_load_round_trip_and_old_files(video, tmp_path):
    folder, _, _ = video
    out = RDMCreator().create_rdms(folder, tmp_path / "rdms", multi_timepoint_rdms="clip", layers=["clips", "seq"])
    loaded = load_time_resolved_rdms(out)
    mem = RDMCreator().compute_rdms(folder, multi_timepoint_rdms="clip", layers=["clips", "seq"])
    assert list(loaded) == ["clips", "seq"]
    for layer, r in loaded.items():
        np.testing.assert_array_equal(r.data, mem[layer].data)
        assert r.time_labels == mem[layer].time_labels and r.stimuli == mem[layer].stimuli
        assert r.meta["distance"] == "correlation" and r.layer == layer
    with np.load(Path(out) / "RDM_clips.npz", allow_pickle=False) as z:
        assert str(z["format"]) == "rdm_widgets.time_resolved/1"
    # a file written before time labels and layers existed loads as it was
    old = tmp_path / "old.npz"
    np.savez(old, data=np.zeros((3, 3, 2)), times=np.array([0.1, 0.2]), conditions=np.array(["a", "b", "c"]),
             meta_json=np.array('{"method": "lda"}'))
    r = TimeResolvedRDM.from_file(old)
    assert r.time_labels is None and r.layer == "" and r.meta == {"method": "lda"}
    assert r.at(1).layer == "t=0.2"


def test_net2brain_multitimepoint_file(tmp_path):
    rng = np.random.default_rng(3)
    stack = np.stack([pdist(rng.normal(size=(5, 4))) for _ in range(3)])        # (T, 10) condensed
    path = tmp_path / "RDM_layer_3.npz"
    # as Net2Brain saves it: pickled meta (object array), names and layer as arrays
    np.savez(path, rdm=stack, stimuli_name=np.array([f"s{i}" for i in range(5)]), layer_name=np.array("layer.3"),
             meta=np.array({"distance": "pearson", "time_labels": ["a", "b", "c"]}, dtype=object))
    r = TimeResolvedRDM.from_file(path)
    assert r.shape == (5, 5, 3) and r.layer == "layer.3" and r.stimuli == [f"s{i}" for i in range(5)]
    assert r.meta["distance"] == "pearson" and r.time_labels == ["a", "b", "c"]
    for t in range(3):
        np.testing.assert_array_equal(r.data[:, :, t], squareform(stack[t]))
    with pytest.raises(ValueError, match="one per model time point"):
        LayerRDM.from_file(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert list(load_time_resolved_rdms(tmp_path)) == ["layer.3"]


def test_model_time_by_brain_time_map_equals_compare_loop(video):
    folder, stims, _ = video
    model = RDMCreator(dtype="float64").compute_rdms(folder, multi_timepoint_rdms="clip", layers="clips")["clips"]
    rng = np.random.default_rng(5)
    order = rng.permutation(N)                            # the brain lists the stimuli in another order
    brain = rng.random((N, N, 7))
    brain = (brain + brain.transpose(1, 0, 2)) / 2
    brain[np.arange(N), np.arange(N)] = 0
    brain_rdm = TimeResolvedRDM(brain, times=np.linspace(-0.1, 0.5, 7), conditions=[stims[i] for i in order])
    for method in ("spearman", "pearson"):
        got = rsa_timecourse(model, brain_rdm, method=method)
        assert got.shape == (CLIPS, 7)
        for m in range(CLIPS):
            layer = model.at(m).subset([stims[i] for i in order])
            for b in range(7):
                assert got[m, b] == pytest.approx(compare_rdms(layer, brain_rdm.at(b), method=method).r, abs=1e-12)
    # a single model RDM keeps its (n_brain_times,) course, equal to the map's row
    single = rsa_timecourse(model.at(2), brain_rdm)
    assert single.shape == (7,)
    np.testing.assert_allclose(single, rsa_timecourse(model, brain_rdm)[2], atol=1e-12)
    with pytest.raises(ValueError, match="matched to conditions by name"):
        rsa_timecourse(model, TimeResolvedRDM(brain, conditions=[f"x{i}" for i in range(N)]))


def test_cluster_run_equals_local(video):
    distributed = pytest.importorskip("distributed")
    folder, _, _ = video
    local = RDMCreator().compute_rdms(folder, multi_timepoint_rdms="clip", layers=["clips", "seq"])
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        remote = RDMCreator().compute_rdms(folder, multi_timepoint_rdms="clip", layers=["clips", "seq"],
                                           client=client)
    for layer in local:
        np.testing.assert_array_equal(remote[layer].data, local[layer].data)
        assert remote[layer].time_labels == local[layer].time_labels


def test_net2brain_pt_file_and_rsatoolbox_round_trip(video, tmp_path):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    stack = np.stack([pdist(rng.normal(size=(4, 3))) for _ in range(2)])
    path = tmp_path / "RDM_x.pt"
    torch.save({"rdm": torch.from_numpy(stack), "stimuli_name": ["a", "b", "c", "d"], "layer_name": "x",
                "meta": {"distance": "pearson"}}, path)
    r = TimeResolvedRDM.from_file(path)
    assert r.shape == (4, 4, 2) and r.stimuli == ["a", "b", "c", "d"] and r.layer == "x"
    assert r.meta == {"distance": "pearson", "source_format": "net2brain"}
    np.testing.assert_array_equal(r.data[:, :, 1], squareform(stack[1]))
    pytest.importorskip("rsatoolbox")
    folder, _, _ = video
    model = RDMCreator().compute_rdms(folder, multi_timepoint_rdms="clip", layers="clips")["clips"]
    back = TimeResolvedRDM.from_rsatoolbox(model.to_rsatoolbox())
    np.testing.assert_allclose(back.data, model.data)
    assert back.time_labels == model.time_labels and back.stimuli == model.stimuli


def test_real_minilm_token_sequences():
    """Bundled MiniLM sentence features (real data): token sequences of different lengths are
    refused naming two files; their first 5 tokens, [T=5, 384] per sentence, give one RDM per token."""
    from rdm_widgets.demo import demo_path
    from rdm_widgets.features import natural_key

    folder = Path(demo_path("minilm"))
    with pytest.raises(ValueError, match=r"encoder.layer.5' has shape \(\d+, 384\) in 'sent_\d+\.npz' but"):
        RDMCreator().compute_rdms(folder, multi_timepoint_rdms="clip", layers=["encoder.layer.5"])
    files = sorted(folder.glob("*.npz"), key=lambda p: natural_key(p.name))
    tokens = []
    for f in files:
        with np.load(f) as z:
            tokens.append(z["encoder.layer.5"].reshape(-1, 384)[:5].astype(np.float64))
    x = np.stack(tokens)                                            # (20, 5, 384)
    r = RDMCreator(dtype="float64").compute_rdms({"l5": x}, multi_timepoint_rdms="clip")["l5"]
    assert r.shape == (20, 20, 5)
    for t in range(5):
        np.testing.assert_allclose(r.data[:, :, t], squareform(pdist(x[:, t], "correlation")), atol=1e-10)


@pytest.mark.parametrize("kw", [{}, dict(dim_reduction="srp", n_components=4)])
def test_a_file_with_another_clip_count_is_named(tmp_path, kw):
    """Whole layers and streamed (reduced) blocks report the two files and shapes, and a second
    read of the source names them again (the layer is not left marked as checked)."""
    from rdm_widgets.creator import RDMCreator
    from rdm_widgets.features import open_features

    rng = np.random.default_rng(0)
    for i in range(6):
        np.savez(tmp_path / f"v_{i}.npz", wide=rng.normal(size=(1, 5 if i == 3 else 4, 10)))
    src = open_features(tmp_path)
    with pytest.raises(ValueError, match=r"\(1, 5, 10\) in 'v_3.npz' but \(1, 4, 10\) in 'v_0.npz'.*clips"):
        RDMCreator().compute_rdms(src, layers="wide", multi_timepoint_rdms="clip", **kw)
    with pytest.raises(ValueError, match=r"\(1, 5, 10\) in 'v_3.npz' but \(1, 4, 10\) in 'v_0.npz'"):
        RDMCreator().compute_rdms(src, layers="wide", multi_timepoint_rdms="clip", **kw)
