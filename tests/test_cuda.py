"""The DNN side of the compute core on CUDA: distances, RDMCreator and tiled RDMs against scipy
and against the CPU run. Skipped without a CUDA GPU (CI has none); run on a GPU machine with
``python -m pytest tests/test_cuda.py`` (``benchmarks/gpu_check.sh`` does)."""
import warnings

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist, squareform

from rdm_widgets import RDMCreator, tiled_rdm
from rdm_widgets.demo import demo_path
from rdm_widgets.distances import available_distances, pairwise_distances, resolve_distance
from rdm_widgets.rdm import LayerRDM
from test_distances import TOL, reference

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run on a GPU machine)")


@pytest.fixture(scope="module")
def planted():
    rng = np.random.default_rng(0)
    x = np.repeat(rng.normal(size=(4, 60)), 6, axis=0) + 0.5 * rng.normal(size=(24, 60))
    x[:, :8] = np.round(x[:, :8])                     # ties for spearman
    return x


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", available_distances())
def test_every_distance_on_cuda_matches_reference(planted, name, dtype):
    ours = pairwise_distances(planted, name, device="cuda", dtype=dtype)
    assert ours.device.type == "cpu" and ours.dtype == dtype           # results come back to the host
    np.testing.assert_allclose(ours.numpy(), reference(planted, resolve_distance(name)[0]), **TOL[dtype])
    chunked = pairwise_distances(planted, name, device="cuda", dtype=dtype, chunk_size=5)
    np.testing.assert_allclose(chunked.numpy(), ours.numpy(), **TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["correlation", "cosine", "euclidean", "sqeuclidean"])
def test_gram_path_on_a_cuda_tensor(planted, name, dtype):
    """Features already on the GPU in the working dtype: the RDM comes from their own Gram matrix
    (rdm_widgets._distance_gram, no working copy), as close to scipy as from numpy."""
    from rdm_widgets import _distance_gram, _distance_kernels
    from rdm_widgets.distances import check_distance

    x = torch.as_tensor(planted, dtype=dtype, device="cuda")
    block, state, _ = _distance_kernels.prepare_features(x, check_distance(name).spec, torch.device("cuda"), dtype)
    rows = state.x if block is _distance_gram.block_gram else state[0]
    assert rows.data_ptr() == x.data_ptr()                              # no working copy
    before = x.clone()
    for chunk_size in (None, 5):
        ours = pairwise_distances(x, name, device="cuda", dtype=dtype, chunk_size=chunk_size)
        assert ours.device.type == "cpu"
        np.testing.assert_allclose(ours.numpy(), reference(planted, name), **TOL[dtype])
    assert torch.equal(x, before)


def test_custom_callable_on_cuda(planted):
    seen = []

    def l1(x):
        seen.append(x.device.type)
        return torch.cdist(x, x, p=1)

    ours = pairwise_distances(planted, l1, device="cuda", dtype=torch.float64)
    assert seen and set(seen) == {"cuda"}
    np.testing.assert_allclose(ours.numpy(), squareform(pdist(planted, "cityblock")), rtol=1e-9)


def test_creator_on_cuda_equals_cpu_and_scipy(tmp_path):
    """The documented interface on real MobileNetV2 features, device='cuda'."""
    folder = demo_path("mobilenetv2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)                    # info.json is skipped
        gpu = RDMCreator(device="cuda").create_rdms(folder, tmp_path / "gpu", "npz", distance="pearson")
        cpu = RDMCreator(device="cpu").create_rdms(folder, tmp_path / "cpu", "npz", distance="pearson")
    files = sorted(f.name for f in (tmp_path / "gpu").iterdir())
    assert files == sorted(f.name for f in (tmp_path / "cpu").iterdir()) and len(files) == 5
    feats = {}
    for f in sorted(folder.glob("image_*.npz")):
        with np.load(f, allow_pickle=False) as z:
            feats.setdefault("features.18", []).append(z["features.18"].reshape(-1).astype(np.float64))
    for name in files:
        g, c = LayerRDM.from_file(tmp_path / "gpu" / name), LayerRDM.from_file(tmp_path / "cpu" / name)
        assert g.meta["device"].startswith("cuda") and g.stimuli == c.stimuli
        np.testing.assert_allclose(g.matrix, c.matrix, atol=2e-5)
    ref = squareform(pdist(np.stack(feats["features.18"]), "correlation"))
    np.testing.assert_allclose(LayerRDM.from_file(tmp_path / "gpu" / "RDM_features.18.npz").matrix, ref, atol=1e-4)
    assert gpu == str(tmp_path / "gpu") and cpu == str(tmp_path / "cpu")


@pytest.mark.parametrize("distance", ["correlation", "euclidean", "manhattan"])
def test_tiled_on_cuda_matches_scipy(tmp_path, distance):
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(5, 48))[rng.integers(0, 5, 1100)] + 0.7 * rng.normal(size=(1100, 48))).astype(np.float32)
    store = tiled_rdm(x, tmp_path / "s", distance=distance, tile_size=250, device="cuda")
    ref = pdist(x.astype(np.float64), {"manhattan": "cityblock"}.get(distance, distance))
    scale = 1.0 if distance == "correlation" else ref.max()
    assert store.complete
    assert np.abs(np.asarray(store.condensed) - ref).max() <= 2e-5 * scale
