"""rsatoolbox: LayerRDM / RDMSet / TimeResolvedRDM <-> rsatoolbox RDMs <-> HDF5 keep values, names and
descriptors; compare_rdms equals rsatoolbox.rdm.compare; the rsatoolbox-convention noise ceiling equals
boot_noise_ceiling; RSA functions take rsatoolbox RDMs."""
import warnings

import numpy as np
import pytest

rsatoolbox = pytest.importorskip("rsatoolbox")

from rsatoolbox.inference import boot_noise_ceiling  # noqa: E402
from rsatoolbox.rdm import RDMs, compare, load_rdm  # noqa: E402

from rdm_widgets import (LayerRDM, RDMSet, compare_rdms, load_rdm_stack, load_rdms, model_brain_table,  # noqa: E402
                         noise_ceiling, read_rdm_file, rsa_timecourse)
from rdm_widgets.eeg import TimeResolvedRDM  # noqa: E402
from rdm_widgets.model_rsa import rsa_timecourse_test  # noqa: E402
from rdm_widgets.rdm_files import bundled_brain_rdms  # noqa: E402
from rdm_widgets.rsa import leave_one_subject_out  # noqa: E402


@pytest.fixture(scope="module")
def evc():
    return bundled_brain_rdms()["EVC"]


def _rdm(n=6, seed=0, layer="conv1"):
    rng = np.random.default_rng(seed)
    x = rng.random((n, n))
    x = x + x.T
    np.fill_diagonal(x, 0)
    return LayerRDM(x, [f"img{i}" for i in range(n)], layer, {"distance": "correlation", "pooling": "mean"})


def test_layer_rdm_round_trip_in_memory_and_hdf5(tmp_path):
    rdm = _rdm()
    rs = rdm.to_rsatoolbox()
    assert rs.n_rdm == 1 and rs.n_cond == 6 and rs.dissimilarity_measure == "correlation"
    assert list(rs.pattern_descriptors["stimuli"]) == rdm.stimuli and list(rs.rdm_descriptors["layer"]) == ["conv1"]
    np.testing.assert_array_equal(rs.get_matrices()[0], rdm.matrix)
    back = LayerRDM.from_rsatoolbox(rs)
    np.testing.assert_array_equal(back.matrix, rdm.matrix)
    assert (back.stimuli, back.layer, back.meta) == (rdm.stimuli, rdm.layer, rdm.meta)
    # our writer -> rsatoolbox's reader
    path = rdm.save(tmp_path / "conv1.hdf5")
    loaded = load_rdm(str(path))
    np.testing.assert_array_equal(loaded.get_matrices()[0], rdm.matrix)
    assert list(loaded.pattern_descriptors["stimuli"]) == rdm.stimuli
    assert list(loaded.rdm_descriptors["layer"]) == ["conv1"] and loaded.dissimilarity_measure == "correlation"
    # rsatoolbox's writer -> our reader, and ours -> ours
    rs.save(str(tmp_path / "by_rsatoolbox.h5"))
    for p in (path, tmp_path / "by_rsatoolbox.h5"):
        got = LayerRDM.from_file(p)
        np.testing.assert_array_equal(got.matrix, rdm.matrix)
        assert (got.stimuli, got.layer, got.meta) == (rdm.stimuli, rdm.layer, rdm.meta)
    with pytest.raises(FileExistsError):
        rdm.save(path)
    rdm.save(tmp_path / "x", format="hdf5")
    assert (tmp_path / "x.hdf5").is_file()


def test_foreign_rdms_descriptors_and_several_rdms(tmp_path):
    vec = np.random.default_rng(1).random((3, 10))
    rs = RDMs(vec, dissimilarity_measure="euclidean", rdm_descriptors={"roi": ["V1", "V2", "IT"], "subj": [1, 1, 2]},
              pattern_descriptors={"conds": list("abcde")}, descriptors={"study": "demo"})
    one = LayerRDM.from_rsatoolbox(rs, index=2)
    assert one.layer == "IT" and one.stimuli == list("abcde")
    assert one.meta == {"study": "demo", "dissimilarity_measure": "euclidean", "rdm_descriptors": {"subj": 2}}
    np.testing.assert_array_equal(one.condensed(), vec[2])
    with pytest.raises(IndexError, match="out of range for 3"):
        LayerRDM.from_rsatoolbox(rs, index=3)
    rs.save(str(tmp_path / "rois.hdf5"))
    with pytest.raises(ValueError, match="holds 3 RDMs.*load_rdms"):
        LayerRDM.from_file(tmp_path / "rois.hdf5")
    layers = load_rdms(tmp_path / "rois.hdf5")
    assert list(layers) == ["V1", "V2", "IT"]
    np.testing.assert_array_equal(layers["V2"].condensed(), vec[1])
    assert list(load_rdms(rs)) == ["V1", "V2", "IT"]
    stack = load_rdm_stack(tmp_path / "rois.hdf5")
    assert stack.shape == (3, 5, 5)
    np.testing.assert_array_equal(stack[0], one.__class__.from_condensed(vec[0]).matrix)
    masked = RDMs(np.where(np.arange(10) == 3, np.nan, vec[0])[None])
    with pytest.raises(ValueError, match="missing \\(NaN\\) dissimilarities"):
        LayerRDM.from_rsatoolbox(masked)


def test_rdm_set_round_trip(tmp_path, evc):
    rs = evc.to_rsatoolbox()
    assert rs.n_rdm == 15 and list(rs.rdm_descriptors["subject"]) == list(range(15))
    assert list(rs.pattern_descriptors["stimuli"]) == evc.stimuli
    back = RDMSet.from_rsatoolbox(rs)
    np.testing.assert_array_equal(back.rdms, evc.rdms)
    assert back.stimuli == evc.stimuli and back.name == "EVC"
    rs.save(str(tmp_path / "evc.hdf5"))
    from_file = read_rdm_file(tmp_path / "evc.hdf5")                 # the shared reader
    np.testing.assert_array_equal(from_file.rdms, evc.rdms)
    assert from_file.stimuli == evc.stimuli


def test_time_resolved_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    d = rng.random((4, 4, 5))
    d = d + d.transpose(1, 0, 2)
    d[np.arange(4), np.arange(4)] = 0
    tr = TimeResolvedRDM(d, times=[-0.1, 0.0, 0.1, 0.2, 0.3], conditions=["a", "b", "c", "d"],
                         meta={"method": "lda", "dissimilarity": "decoding accuracy", "seed": 3})
    rs = tr.to_rsatoolbox()
    assert rs.n_rdm == 5 and list(rs.rdm_descriptors["time"]) == [-0.1, 0.0, 0.1, 0.2, 0.3]
    rs.save(str(tmp_path / "tr.hdf5"))
    for obj in (rs, load_rdm(str(tmp_path / "tr.hdf5"))):
        back = TimeResolvedRDM.from_rsatoolbox(obj)
        np.testing.assert_array_equal(back.data, d)
        np.testing.assert_array_equal(back.times, tr.times)
        assert back.conditions == tr.conditions and back.meta == tr.meta
    no_time = RDMs(rs.dissimilarities)
    with pytest.raises(ValueError, match="no rdm descriptor 'time'"):
        TimeResolvedRDM.from_rsatoolbox(no_time)
    np.testing.assert_array_equal(TimeResolvedRDM.from_rsatoolbox(no_time, time_descriptor=None).times, np.arange(5))
    model = LayerRDM(d[:, :, 0], ["a", "b", "c", "d"])
    np.testing.assert_array_equal(rsa_timecourse(model, rs), rsa_timecourse(model, tr))
    np.testing.assert_array_equal(rsa_timecourse(model.to_rsatoolbox(), tr), rsa_timecourse(model, tr))
    np.testing.assert_array_equal(rsa_timecourse_test(model, rs, n_permutations=20).p,
                                  rsa_timecourse_test(model, tr, n_permutations=20).p)


@pytest.mark.parametrize("method", ["spearman", "corr", "tau-a"])
def test_compare_rdms_equals_rsatoolbox_compare(evc, method):
    rs = evc.to_rsatoolbox()
    for i, j in ((0, 1), (3, 9)):
        ours = compare_rdms(rs[i], rs[j], method=method).r
        theirs = float(compare(rs[i], rs[j], method=method)[0, 0])
        assert ours == pytest.approx(theirs, abs=1e-12)
    model = LayerRDM(_rdm(n=78, seed=4).matrix, evc.stimuli)
    assert compare_rdms(model.to_rsatoolbox(), rs[2], method).r == pytest.approx(
        float(compare(model.to_rsatoolbox(), rs[2], method=method)[0, 0]), abs=1e-12)
    assert compare_rdms(rs[0], rs[1], method).method in ("spearman", "pearson", "kendall_tau_a")
    with pytest.raises(ValueError, match="pick one"):
        compare_rdms(rs, rs[0], method)


@pytest.mark.parametrize("method", ["spearman", "corr", "tau-a"])
def test_rsatoolbox_noise_ceiling_equals_boot_noise_ceiling(evc, method):
    rs = evc.to_rsatoolbox()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                       # rsatoolbox warns for tau
        lower, upper = boot_noise_ceiling(rs, method=method)
    nc = noise_ceiling(rs, method, convention="rsatoolbox")
    assert nc.lower == pytest.approx(float(lower), abs=1e-12) and nc.upper == pytest.approx(float(upper), abs=1e-12)
    assert noise_ceiling(evc, method, convention="rsatoolbox") == nc          # an RDMSet too


def test_noise_ceiling_conventions_on_evc(evc):
    ours = noise_ceiling(evc.rdms, "pearson")
    theirs = noise_ceiling(evc.rdms, "pearson", convention="rsatoolbox")
    assert round(ours.upper, 4) == 0.2385 and round(theirs.upper, 4) == 0.2662
    assert ours == noise_ceiling(evc.rdms, "pearson", convention="rdm_widgets")
    spearman = noise_ceiling(evc.rdms, "spearman")
    assert spearman == pytest.approx(noise_ceiling(evc.rdms, "spearman", convention="rsatoolbox"))
    with pytest.raises(ValueError, match="rank_before_average applies"):
        noise_ceiling(evc.rdms, "pearson", convention="rsatoolbox", rank_before_average=True)
    with pytest.raises(ValueError, match="Invalid value for 'convention'"):
        noise_ceiling(evc.rdms, "pearson", convention="nili")
    loso = leave_one_subject_out(evc.rdms[0], evc.rdms, "pearson", convention="rsatoolbox")
    assert loso.shape == (15,)


def test_model_brain_table_takes_rsatoolbox_rdms(evc):
    model = {"a": LayerRDM(evc.rdms[0] + evc.rdms[1], evc.stimuli, "a"),
             "b": LayerRDM(evc.rdms[2], evc.stimuli, "b")}
    ref = model_brain_table(model, {"EVC": evc}, n_permutations=10)
    got = model_brain_table(model, {"EVC": evc.to_rsatoolbox()}, n_permutations=10)
    assert got.rows == ref.rows
    models_rs = RDMs(np.stack([m.condensed() for m in model.values()]), rdm_descriptors={"layer": ["a", "b"]},
                     pattern_descriptors={"stimuli": evc.stimuli})
    again = model_brain_table({"net": models_rs}, {"EVC": evc}, n_permutations=10)
    assert [r["layer"] for r in again.rows] == ["a", "b"]
    assert [r["r"] for r in again.rows] == [r["r"] for r in ref.rows]
    rsa_conv = model_brain_table(model, {"EVC": evc}, n_permutations=0, method="corr", convention="rsatoolbox")
    assert rsa_conv.rows[0]["noise_upper"] == pytest.approx(0.26617389711853473)


def test_rsatoolbox_euclidean_is_squared_distance_per_feature():
    """The documented conversion: rsatoolbox's 'euclidean' RDM = our 'sqeuclidean' / D."""
    from rsatoolbox.data import Dataset
    from rsatoolbox.rdm import calc_rdm

    from rdm_widgets.distances import pairwise_distances

    x = np.random.default_rng(5).normal(size=(7, 11))
    theirs = calc_rdm(Dataset(x), method="euclidean").get_matrices()[0]
    ours = pairwise_distances(x, "sqeuclidean", dtype="float64").numpy() / x.shape[1]
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
