"""``client=`` runs on a dask ``LocalCluster`` give exactly the local results.

The local run is the reference: RDM files (names, matrices, stimuli, meta), EEG RDMs
(bit-identical data for accuracy and for the float-valued scores and distances), and
the all-or-nothing behaviour of ``create_rdms`` on cancel and on errors.
"""
from pathlib import Path

import warnings

import numpy as np
import pytest
import torch

distributed = pytest.importorskip("distributed")

from _rdm_folders import assert_same_rdm_folder  # noqa: E402
from rdm_widgets import Cancelled, RDMCreator, create_rdms_many, eeg_rdm, eeg_rdms  # noqa: E402
from rdm_widgets.demo import demo_path  # noqa: E402
from rdm_widgets.distances import DegenerateRowsWarning  # noqa: E402
from rdm_widgets.eeg import _loop  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture
def one_blas_thread():
    """The local reference with one intra-op thread, as a dask worker runs (dask's nanny sets
    OMP/MKL/OpenBLAS threads to 1): a float32 GEMM's rounding can depend on how many
    threads split it (here up to 3e-7 on the 62,720-wide layer)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _features(seed=0, n=9):
    rng = np.random.default_rng(seed)
    return {"conv1": rng.standard_normal((n, 3, 4)), "fc": rng.standard_normal((n, 7)),
            "head": rng.standard_normal((n, 5))}


def _eeg(seed=0, n_cond=4, k=7, C=5, T=9):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_cond), k)
    X = rng.standard_normal((n_cond * k, C, T)) + 0.7 * rng.standard_normal((n_cond, C, 1))[labels]
    return X, labels


# ----------------------------------------------------------------------- RDMCreator
def test_create_rdms_with_client_equals_local_on_real_features(client, tmp_path, one_blas_thread):
    feats = demo_path("mobilenetv2")
    creator = RDMCreator()
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # the bundled folder's info.json is a sidecar: no warning
        local = creator.create_rdms(feats, tmp_path / "local")
    calls = []
    remote = creator.create_rdms(feats, tmp_path / "remote", client=client,
                                 progress=lambda d, t: calls.append((d, t)))
    assert_same_rdm_folder(local, remote)
    n_layers = len(list(Path(local).iterdir()))
    assert calls[0] == (0, n_layers) and calls[-1] == (n_layers, n_layers)  # one unit per layer


def test_create_and_compute_rdms_with_scheduler_address(client, tmp_path):
    address = client.scheduler.address
    assert isinstance(address, str)
    creator = RDMCreator(dtype="float64")
    feats = _features()
    assert_same_rdm_folder(creator.create_rdms(feats, tmp_path / "local", distance="euclidean", chunk_size=4),
                        creator.create_rdms(feats, tmp_path / "remote", distance="euclidean", chunk_size=4,
                                            client=address))
    local = creator.compute_rdms(feats, layers=["head", "conv1"])
    remote = creator.compute_rdms(feats, layers=["head", "conv1"], client=address)
    assert list(remote) == ["head", "conv1"]
    for layer in local:
        np.testing.assert_array_equal(local[layer].matrix, remote[layer].matrix)
        assert local[layer].stimuli == remote[layer].stimuli


def test_worker_warnings_reach_the_caller(client):
    x = np.random.default_rng(0).standard_normal((5, 4))
    x[2] = 1.0   # a constant row: correlation undefined
    with pytest.warns(DegenerateRowsWarning, match="stimulus_2") as rec:
        remote = RDMCreator().compute_rdms({"layer": x}, client=client)
    assert rec[0].filename == __file__       # attributed to the caller, as in a local run
    with pytest.warns(DegenerateRowsWarning):
        local = RDMCreator().compute_rdms({"layer": x})
    np.testing.assert_array_equal(local["layer"].matrix, remote["layer"].matrix)


def test_cancel_with_client_leaves_nothing(client, tmp_path):
    existing = tmp_path / "out"
    existing.mkdir()
    (existing / "RDM_fc.npz").write_bytes(b"keep me")

    def stop(done, total):
        if done >= 1:
            raise Cancelled()

    with pytest.raises(Cancelled):
        RDMCreator().create_rdms(_features(), tmp_path / "new" / "nested", client=client, progress=stop)
    with pytest.raises(Cancelled):
        RDMCreator().create_rdms(_features(), existing, client=client, progress=stop, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert [p.name for p in existing.iterdir()] == ["RDM_fc.npz"]
    assert (existing / "RDM_fc.npz").read_bytes() == b"keep me"


def test_error_in_one_layer_names_the_layer_and_leaves_nothing(client, tmp_path):
    def picky(x):  # a local function: dask sends it to the workers by value
        if x.shape[1] == 7:
            raise ValueError("this distance cannot handle 7 features")
        return torch.cdist(x, x)

    with pytest.raises(ValueError, match="7 features") as info:
        RDMCreator().create_rdms(_features(), tmp_path / "out", distance=picky, client=client)
    text = str(info.value) + " ".join(getattr(info.value, "__notes__", []))
    assert "'fc'" in text
    assert list(tmp_path.iterdir()) == []


def test_create_rdms_many_equals_per_model_runs(client, tmp_path):
    models = {"net_a": _features(1), "net_b": {"only": np.random.default_rng(2).standard_normal((6, 4))}}
    out = create_rdms_many(models, tmp_path / "remote", client=client, layers={"net_a": ["fc", "conv1"]})
    assert out == {m: str(tmp_path / "remote" / m) for m in models}
    creator = RDMCreator()
    assert_same_rdm_folder(out["net_a"], creator.create_rdms(models["net_a"], tmp_path / "a", layers=["fc", "conv1"]))
    assert_same_rdm_folder(out["net_b"], creator.create_rdms(models["net_b"], tmp_path / "b"))
    local = create_rdms_many(models, tmp_path / "local", layers={"net_a": ["fc", "conv1"]})
    for m in models:
        assert_same_rdm_folder(local[m], out[m])
    with pytest.raises(FileExistsError):  # refused before anything is computed
        create_rdms_many(models, tmp_path / "remote", client=client)
    with pytest.raises(ValueError, match="model name"):
        create_rdms_many({"../x": models["net_b"]}, tmp_path / "bad")


def test_create_rdms_many_cancel_leaves_no_model(client, tmp_path):
    def stop(done, total):
        if done >= 2:
            raise Cancelled()

    with pytest.raises(Cancelled):
        create_rdms_many({"a": _features(1), "b": _features(2)}, tmp_path / "root", client=client, progress=stop)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- EEG
def _assert_same_eeg(local, remote):
    np.testing.assert_array_equal(local.data, remote.data)   # bit-identical, also for float scores
    np.testing.assert_array_equal(local.times, remote.times)
    assert local.conditions == remote.conditions
    assert local.meta == remote.meta


@pytest.mark.parametrize("options", [
    {},                                                                     # lda, exact LOO path
    {"method": "lda_shrinkage", "pseudo_trials": 4, "n_permutations": 3, "random_state": 7},
    {"method": "lda_shrinkage", "pseudo_trials": 3, "n_permutations": 2, "random_state": 1, "score": "decision"},
    {"method": "crossnobis", "noise_normalization": "epoch"},
    {"method": "crossnobis", "noise_normalization": "time", "window": 2, "decim": 2},
    {"method": "lda", "noise_normalization": "epoch", "cv": 3, "score": "decision"},
])
def test_eeg_rdm_with_client_equals_local(client, monkeypatch, options):
    # small blocks, so that the tiny data still make several tasks per permutation
    monkeypatch.setattr(_loop, "TIME_BLOCK_PAIR_TIMES", 12)
    X, labels = _eeg()
    local = eeg_rdm(X, labels, **options)
    calls = []
    remote = eeg_rdm(X, labels, client=client, progress=lambda d, t: calls.append((d, t)), **options)
    _assert_same_eeg(local, remote)
    total = calls[0][1]
    assert calls[0] == (0, total) and calls[-1] == (total, total) and len(calls) > 2   # several tasks


def test_eeg_rdm_with_client_default_blocks(client):
    X, labels = _eeg(3, n_cond=5, T=12)
    options = dict(method="lda_shrinkage", pseudo_trials=4, n_permutations=2, random_state=0, score="decision")
    _assert_same_eeg(eeg_rdm(X, labels, **options), eeg_rdm(X, labels, client=client, **options))


def test_time_blocks_are_contiguous_and_never_single_samples():
    for n_times in (1, 2, 3, 9, 50, 1000):
        for n_pairs in (1, 6, 300, 5000, 40_000):
            blocks = _loop.time_blocks(n_times, n_pairs)
            assert blocks[0].start == 0 and blocks[-1].stop == n_times
            assert all(a.stop == b.start for a, b in zip(blocks, blocks[1:]))
            assert all(b.stop - b.start >= 2 for b in blocks) or blocks == [slice(0, n_times)]
            size = max(2, -(-_loop.TIME_BLOCK_PAIR_TIMES // n_pairs))   # about that many pair-times a block
            assert max(b.stop - b.start for b in blocks) <= max(size, 3)


def test_eeg_rdm_cancel_on_cluster(client):
    X, labels = _eeg()

    def stop(done, total):
        if done:
            raise Cancelled()

    with pytest.raises(Cancelled):
        eeg_rdm(X, labels, method="cv_euclidean", client=client, progress=stop)


def test_eeg_rdms_with_client_equals_loop(client):
    X1, y1 = _eeg(1)
    X2, y2 = _eeg(2, n_cond=3, C=4, T=6)
    times2 = np.linspace(-0.1, 0.4, 6)
    subjects = {"S01": (X1, y1), "S02": (X2, y2, times2)}
    options = dict(method="lda_shrinkage", pseudo_trials=3, random_state=0)
    remote = eeg_rdms(subjects, client=client.scheduler.address, **options)
    local = eeg_rdms(subjects, **options)
    assert list(remote) == ["S01", "S02"]
    for name in subjects:
        _assert_same_eeg(local[name], remote[name])
    _assert_same_eeg(eeg_rdm(X2, y2, times=times2, **options), remote["S02"])
    with pytest.raises(TypeError, match="n_perms"):
        eeg_rdms(subjects, client=client, n_perms=3)
    with pytest.raises(ValueError, match="'S03'"):
        eeg_rdms({"S03": (X1,)}, client=client)
    with pytest.raises(ValueError) as info:   # a worker-side error names its subject
        eeg_rdms({"S01": (X1, y1), "bad": (X2, y2[:-1])}, client=client)
    assert "'bad'" in str(info.value) + " ".join(getattr(info.value, "__notes__", []))
