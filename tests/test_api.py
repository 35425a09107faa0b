"""The documented interface (README) works exactly as written, from the top-level package."""
import os

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

import rdm_widgets
from rdm_widgets import LayerRDM, RDMCreator, eeg_rdm
from rdm_widgets.demo import demo_path


def custom_cosine(x: torch.Tensor) -> torch.Tensor:
    x = x / x.norm(dim=1, keepdim=True)
    return 1 - x @ x.T


def test_public_api_is_listed():
    for name in rdm_widgets.__all__:
        assert hasattr(rdm_widgets, name), name


def test_documented_dnn_interface(tmp_path):
    feat_path = demo_path("mobilenetv2")
    creator = RDMCreator(verbose=True, device="cpu")
    save_path = creator.create_rdms(feature_path=feat_path, save_path=tmp_path / "rdms", save_format="npz")
    assert os.path.isdir(save_path)
    names = creator.distance_functions()
    for n in ("correlation", "pearson", "euclidean", "l2", "cosine", "spearman", "mahalanobis"):
        assert n in names

    rdm = LayerRDM.from_file(f"{save_path}/RDM_features.18.npz")
    assert rdm.matrix.shape == (78, 78) and rdm.stimuli[:2] == ["image_01", "image_02"]
    assert rdm.layer == "features.18" and rdm.layer_name == "features.18"
    fig = rdm.plot(indices=[0, 1, 2, 3])
    z = np.asarray(fig.data[0].z, dtype=float)
    np.testing.assert_allclose(z, rdm.matrix[:4, :4], rtol=1e-6, atol=1e-7)

    # independent float64 reference for the default distance (correlation)
    x = np.stack([np.load(feat_path / f"image_{i:02d}.npz")["features.18"].astype(np.float64).ravel()
                  for i in range(1, 79)])
    np.testing.assert_allclose(rdm.matrix, cdist(x, x, "correlation"), atol=1e-4)

    custom = creator.create_rdms(feature_path=feat_path, save_path=tmp_path / "custom", save_format="npz",
                                 distance=custom_cosine, chunk_size=16)
    got = LayerRDM.from_file(f"{custom}/RDM_avgpool.npz").matrix
    xa = np.stack([np.load(feat_path / f"image_{i:02d}.npz")["avgpool"].astype(np.float64).ravel()
                   for i in range(1, 79)])
    np.testing.assert_allclose(got, cdist(xa, xa, "cosine"), atol=1e-4)


def test_synonyms_give_identical_rdms():
    x = np.random.default_rng(0).standard_normal((30, 50))
    creator = RDMCreator(device="cpu")
    a = creator.compute_rdms({"layer": x}, distance="l2")["layer"].matrix
    b = creator.compute_rdms({"layer": x}, distance="euclidean")["layer"].matrix
    c = creator.compute_rdms({"layer": x}, distance="pearson")["layer"].matrix
    d = creator.compute_rdms({"layer": x}, distance="correlation")["layer"].matrix
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(c, d)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present")
def test_cuda_unavailable_is_a_clear_error():
    with pytest.raises(ValueError, match="(?i)cuda"):
        RDMCreator(device="cuda")


def test_default_save_path_is_timestamped_folder_in_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    x = np.random.default_rng(1).standard_normal((5, 8))
    np.savez(tmp_path / "feats.npz", x=x)  # not a folder: a single file is rejected clearly
    folder = tmp_path / "feats"
    folder.mkdir()
    for i in range(5):
        np.savez(folder / f"stim_{i}.npz", conv=x[i][None])
    out = RDMCreator().create_rdms(feature_path=folder)
    assert os.path.dirname(os.path.abspath(out)) == str(tmp_path)
    assert os.path.basename(out).startswith("rdms_")


def test_documented_eeg_interface():
    rng = np.random.default_rng(0)
    eeg = rng.standard_normal((24, 6, 5))
    labels = np.repeat(["a", "b", "c"], 8)
    rdm = eeg_rdm(eeg, labels)
    assert rdm.shape == (3, 3, 5)
    arr = np.asarray(rdm)
    np.testing.assert_array_equal(arr, arr.transpose(1, 0, 2))
    assert np.all(arr[np.arange(3), np.arange(3)] == 0)
