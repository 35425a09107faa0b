"""The reduction options wired into RDMCreator / create_rdms_many (issue 17): the reducer's meta in
each RDM, one reducer per layer shared by every time point, and RDMs that equal the full ones where
the reduction is exact (PCA keeping the sample's whole span preserves euclidean distances)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

from rdm_widgets.batch import create_rdms_many
from rdm_widgets.creator import RDMCreator
from rdm_widgets.eeg import TimeResolvedRDM
from rdm_widgets.rdm import LayerRDM
from _feature_data import record_opens

N, CLIPS, D = 8, 4, 40


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    rng = np.random.default_rng(7)
    folder = tmp_path_factory.mktemp("wide") / "feats"
    folder.mkdir()
    x = rng.normal(size=(N, CLIPS, D))
    for i in range(N):
        np.savez(folder / f"v_{i}.npz", wide=x[i][None], flat=x[i, 0][None])
    return folder, x


def _ref(x, metric="euclidean"):
    return squareform(pdist(np.asarray(x, dtype=np.float64), metric))


def test_pca_over_time_rows_is_exact_and_recorded(wide):
    folder, x = wide
    creator = RDMCreator(dtype="float64")
    # all 32 (stimulus, clip) rows sampled; 31 components span them: distances are kept exactly
    r = creator.compute_rdms(folder, layers="wide", distance="euclidean", multi_timepoint_rdms="clip",
                             dim_reduction="pca", n_samples_estim=1000, n_components=N * CLIPS - 1)["wide"]
    meta = r.meta["dim_reduction"]
    assert meta["method"] == "pca" and meta["n_components"] == N * CLIPS - 1 and meta["original_dim"] == D
    assert "shared by all its time points" in meta["fitted_on"] and r.meta["feature_dim"] == N * CLIPS - 1
    for c in range(CLIPS):
        np.testing.assert_allclose(r.data[:, :, c], _ref(x[:, c]), rtol=1e-9, atol=1e-9)


def test_one_reducer_shared_by_time_points(wide):
    folder, x = wide
    # PCA fitted on clip 0's rows alone would be exact for clip 0 only; the shared reducer of 3
    # components is the same projection at every clip: the reduced features of all clips lie in
    # one 3-D subspace, so every clip's RDM is that of its projection onto the same components.
    r = RDMCreator(dtype="float64").compute_rdms(folder, layers="wide", distance="euclidean",
                                                 multi_timepoint_rdms="clip", dim_reduction="pca",
                                                 n_samples_estim=1000, n_components=3)["wide"]
    rows = x.reshape(N * CLIPS, D)
    centred = rows - rows.mean(axis=0)
    comps = np.linalg.svd(centred, full_matrices=False)[2][:3]        # sklearn's PCA of all rows
    for c in range(CLIPS):
        np.testing.assert_allclose(r.data[:, :, c], _ref((x[:, c] - rows.mean(axis=0)) @ comps.T),
                                   rtol=1e-8, atol=1e-8)


def test_srp_seeded_and_per_layer_rdms(wide, tmp_path):
    folder, x = wide
    kw = dict(layers=["flat"], distance="euclidean", dim_reduction="srp", n_components=20)
    a = RDMCreator().compute_rdms(folder, random_state=1, **kw)["flat"]
    b = RDMCreator().compute_rdms(folder, random_state=1, **kw)["flat"]
    c = RDMCreator().compute_rdms(folder, random_state=2, **kw)["flat"]
    np.testing.assert_array_equal(a.matrix, b.matrix)
    assert not np.array_equal(a.matrix, c.matrix)
    assert a.meta["dim_reduction"]["method"] == "srp" and a.meta["dim_reduction"]["n_components"] == 20
    # saved by create_rdms_many with the reducer's meta, Net2Brain's parameter names
    out = create_rdms_many({"m": folder}, tmp_path / "many", layers=["flat"], dim_reduction="pca",
                           n_samples_estim=50, distance="euclidean", dtype="float64")
    saved = LayerRDM.from_file(Path(out["m"]) / "RDM_flat.npz")
    assert saved.meta["dim_reduction"]["method"] == "pca"
    np.testing.assert_allclose(saved.matrix, _ref(x[:, 0]), rtol=1e-8, atol=1e-8)   # 7 comps span 8 rows
    out = RDMCreator().create_rdms(folder, tmp_path / "t", layers=["wide"], multi_timepoint_rdms="clip",
                                   dim_reduction="srp", n_components=10)
    t = TimeResolvedRDM.from_file(Path(out) / "RDM_wide.npz")
    assert t.meta["dim_reduction"]["n_components"] == 10 and t.n_times == CLIPS


def test_bad_reduction_option_raises_before_reading(wide):
    folder, _ = wide
    with pytest.raises(ValueError, match="dim_reduction"):
        RDMCreator().compute_rdms(folder, dim_reduction="pcaa")


def test_reduced_layers_stream_in_blocks(wide, monkeypatch):
    from collections import Counter

    from rdm_widgets import _time_rdms
    from rdm_widgets.features import open_features

    folder, _ = wide
    kw = dict(layers="wide", multi_timepoint_rdms="clip", dim_reduction="pca", n_samples_estim=6,
              n_components=4, distance="euclidean", random_state=3)
    whole = RDMCreator().compute_rdms(folder, **kw)["wide"]
    src = open_features(folder)
    names = record_opens(monkeypatch, "open_file", key=lambda path: path.name)
    monkeypatch.setattr(_time_rdms, "BLOCK_BYTES", 1)           # one stimulus per block
    blocks = RDMCreator().compute_rdms(src, **kw)["wide"]
    opened = Counter(names)
    np.testing.assert_array_equal(blocks.data, whole.data)       # same seeded sample, same reducer
    # every file read once to apply the reducer; only the (at most 6) sampled stimuli once more to fit it
    assert len(opened) == N and min(opened.values()) == 1
    assert sum(v - 1 for v in opened.values()) <= 3 * 6


def test_time_resolved_srp_reads_each_file_once(wide, monkeypatch):
    """SRP needs no sample: the time-resolved run opens every file once (to apply it), and each
    clip's RDM is that of the seeded sparse projection of the clip's features (scipy reference)."""
    from collections import Counter

    from rdm_widgets._reduction_fit import srp_matrix

    folder, x = wide
    names = record_opens(monkeypatch, "open_file", key=lambda path: path.name)
    kw = dict(layers="wide", distance="euclidean", multi_timepoint_rdms="clip")
    RDMCreator(dtype="float64").compute_rdms(folder, **kw)
    plain = Counter(names)
    names.clear()
    r = RDMCreator(dtype="float64").compute_rdms(folder, dim_reduction="srp", n_components=12, random_state=5,
                                                 **kw)["wide"]
    # the same files as the run without a reduction (each once, and the layout probe's first)
    assert Counter(names) == plain and len(plain) == N and sum(plain.values()) <= N + 1
    m = srp_matrix(12, D, 5)
    proj = np.zeros((12, D))
    for row in range(12):
        cols = slice(m["indptr"][row], m["indptr"][row + 1])
        proj[row, m["indices"][cols]] = m["scale"] * m["signs"][cols]
    assert r.meta["dim_reduction"]["method"] == "srp" and r.meta["dim_reduction"]["n_components"] == 12
    for c in range(CLIPS):
        np.testing.assert_allclose(r.data[:, :, c], _ref(x[:, c] @ proj.T), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("kw", [dict(layers=["flat"], dim_reduction="pca"),
                                dict(layers=["wide"], dim_reduction="srp", multi_timepoint_rdms="clip"),
                                dict(layers=["wide"], multi_timepoint_rdms="clip")])
def test_progress_reaches_its_total(wide, kw):
    folder, _ = wide
    seen = []
    RDMCreator().compute_rdms(folder, progress=lambda done, total: seen.append((done, total)), **kw)
    assert seen[-1][0] == seen[-1][1] and all(d <= t for d, t in seen)
