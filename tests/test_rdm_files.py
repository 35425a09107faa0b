"""Tests of rdm_widgets.rdm_files: brain/behaviour/hypothesis RDM files in every format, and the
byte builders of the downloads (zip of RDM files, CSV, time-resolved npz)."""
from __future__ import annotations

import io
import zipfile

import h5py
import numpy as np
import pytest
from scipy.io import savemat
from scipy.spatial.distance import pdist, squareform

from rdm_widgets.demo import demo_path
from rdm_widgets.eeg import TimeResolvedRDM
from rdm_widgets.rdm import LayerRDM
from rdm_widgets.rdm_files import (RDMSet, rdm_to_csv, rdms_to_zip, read_rdm_file,
                                   time_resolved_to_npz)


def _stack(s=3, n=6, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([squareform(pdist(rng.normal(size=(n, 4)))) for _ in range(s)])


NAMES = [f"img_{i}" for i in range(6)]


def test_bundled_net2brain_stack_has_15_subjects():
    evc = read_rdm_file(demo_path("fmri_evc"))
    assert isinstance(evc, RDMSet) and evc.rdms.shape == (15, 78, 78) and evc.rdms.dtype == np.float64
    assert evc.is_stack and evc.n_subjects == 15 and evc.stimuli is None and evc.name == "fmri_EVC_RDMs"
    raw = np.load(demo_path("fmri_evc"))["arr_0"]
    np.testing.assert_allclose(evc.rdms, raw)
    mean = evc.mean()
    assert isinstance(mean, LayerRDM) and mean.layer == "fmri_EVC_RDMs"
    np.testing.assert_allclose(mean.matrix, raw.mean(axis=0))
    np.testing.assert_allclose(evc.subject(3).matrix, raw[3])
    named = read_rdm_file(demo_path("fmri_it"), stimuli=[f"image_{i:02d}" for i in range(1, 79)], name="IT")
    assert named.stimuli[0] == "image_01" and named.name == "IT"
    assert not evc.rdms.flags.writeable          # immutable


@pytest.mark.parametrize("kind", ["layer_npz", "stack_npz", "rdms_key", "npy2", "npy3", "condensed",
                                  "condensed_stack"])
def test_npz_and_npy_round_trip(tmp_path, kind):
    S = _stack()
    iu = np.triu_indices(6, 1)
    names = None
    if kind == "layer_npz":
        path = LayerRDM(S[0], NAMES, "roi").save(tmp_path / "roi.npz")
        want, names = S[:1], NAMES
    elif kind == "stack_npz":
        path = tmp_path / "stack.npz"
        np.savez(path, arr_0=S)
        want = S
    elif kind == "rdms_key":
        path = tmp_path / "k.npz"
        np.savez(path, rdms=S, names=np.array(NAMES))
        want, names = S, NAMES
    elif kind == "npy2":
        path = tmp_path / "a.npy"
        np.save(path, S[1])
        want = S[1:2]
    elif kind == "npy3":
        path = tmp_path / "a.npy"
        np.save(path, S)
        want = S
    elif kind == "condensed":
        path = tmp_path / "c.npy"
        np.save(path, S[2][iu])
        want = S[2:3]
    else:
        path = tmp_path / "c.npy"
        np.save(path, S[:, iu[0], iu[1]])
        want = S
    got = read_rdm_file(path)
    np.testing.assert_allclose(got.rdms, want, rtol=1e-12)
    assert got.stimuli == names


@pytest.mark.parametrize("layout", ["plain", "header", "index", "both", "semicolon", "tab", "numeric_names"])
def test_csv_round_trip(tmp_path, layout):
    m = _stack(1)[0]
    rows = [",".join(format(v, ".17g") for v in row) for row in m]
    if layout == "plain":
        text, names = "\n".join(rows), None
    elif layout == "header":
        text, names = ",".join(NAMES) + "\n" + "\n".join(rows), NAMES
    elif layout == "index":
        text, names = "\n".join(f"{n},{r}" for n, r in zip(NAMES, rows)), NAMES
    elif layout == "both":
        text, names = ",".join([""] + NAMES) + "\n" + "\n".join(f"{n},{r}" for n, r in zip(NAMES, rows)), NAMES
    elif layout == "semicolon":
        text, names = "\n".join(r.replace(",", ";") for r in rows), None
    elif layout == "tab":
        text, names = "\t".join(["stim"] + NAMES) + "\n" + "\n".join(
            "\t".join([n] + r.split(",")) for n, r in zip(NAMES, rows)), NAMES
    else:
        text, names = ",".join(str(i + 1) for i in range(6)) + "\n" + "\n".join(rows), [str(i + 1) for i in range(6)]
    path = tmp_path / "m.csv"
    path.write_text(text)
    got = read_rdm_file(path)
    np.testing.assert_array_equal(got.rdms[0], m)
    assert got.stimuli == names


def test_csv_written_by_rdm_to_csv_reads_back_exactly(tmp_path):
    rdm = LayerRDM(_stack(1)[0], NAMES, "conv1")
    path = tmp_path / "conv1.csv"
    path.write_text(rdm_to_csv(rdm))
    got = read_rdm_file(path)
    np.testing.assert_array_equal(got.rdms[0], rdm.matrix)
    assert got.stimuli == NAMES


def test_mat_round_trip_matlab_stack_and_named_variable(tmp_path):
    S = _stack(4)
    path = tmp_path / "rdms.mat"
    savemat(path, {"RDMs": np.moveaxis(S, 0, 2), "stimuli": np.array(NAMES, dtype=object)})  # MATLAB (N, N, S)
    got = read_rdm_file(path)
    np.testing.assert_allclose(got.rdms, S)
    assert got.stimuli == NAMES
    two = tmp_path / "two.mat"
    savemat(two, {"evc": S[0], "it": S[1]})
    with pytest.raises(ValueError, match=r"several arrays \['evc', 'it'\]"):
        read_rdm_file(two)
    np.testing.assert_allclose(read_rdm_file(two, variable="it").rdms[0], S[1])


def test_rsatoolbox_hdf5_layout(tmp_path):
    """The layout rsatoolbox's RDMs.save(file_type='hdf5') writes (write_dict_hdf5 of RDMs.to_dict)."""
    S = _stack(3)
    iu = np.triu_indices(6, 1)
    path = tmp_path / "rsatb_rdm.hdf5"
    with h5py.File(path, "w") as f:
        f.attrs["rsatoolbox_version"] = "0.1"
        f.attrs["dissimilarity_measure"] = "crossnobis"
        f["dissimilarities"] = S[:, iu[0], iu[1]]
        f.create_group("descriptors")
        f.create_group("rdm_descriptors")["index"] = np.arange(3)
        pd = f.create_group("pattern_descriptors")
        pd["index"] = np.arange(6)
        pd["stim"] = np.array(NAMES).astype("S")
    got = read_rdm_file(path)
    np.testing.assert_allclose(got.rdms, S)
    assert got.stimuli == NAMES and got.meta["dissimilarity_measure"] == "crossnobis"


def test_validation_errors_name_the_file(tmp_path):
    m = _stack(1)[0]
    asym = m.copy()
    asym[0, 1] += 0.5
    np.save(tmp_path / "asym.npy", asym)
    with pytest.raises(ValueError, match=r"'asym.npy' are not symmetric: max \|d\[i,j\] - d\[j,i\]\| = 0.5"):
        read_rdm_file(tmp_path / "asym.npy")
    bad = m.copy()
    bad[2, 3] = bad[3, 2] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(ValueError, match="'nan.npy'.*NaN"):
        read_rdm_file(tmp_path / "nan.npy")
    np.save(tmp_path / "rect.npy", np.zeros((4, 7)))
    with pytest.raises(ValueError, match=r"'rect.npy' holds shape \(4, 7\)"):
        read_rdm_file(tmp_path / "rect.npy")
    np.savez(tmp_path / "names.npz", rdm=m, stimuli=np.array(["a", "b"]))
    with pytest.raises(ValueError, match="'names.npz' holds RDMs of 6 stimuli .* but 2 stimulus names"):
        read_rdm_file(tmp_path / "names.npz")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ValueError, match="Unsupported RDM file 'x.json'"):
        read_rdm_file(tmp_path / "x.json")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="without unpickling"):
        read_rdm_file(tmp_path / "obj.npy")
    res = TimeResolvedRDM(np.zeros((3, 3, 4)), conditions=["a", "b", "c"])
    res.save(tmp_path / "eeg.npz")
    with pytest.raises(ValueError, match="time-resolved"):
        read_rdm_file(tmp_path / "eeg.npz")
    sim = 1 - m / m.max()
    np.save(tmp_path / "sim.npy", sim)
    with pytest.warns(UserWarning, match="similarity matrix"):
        read_rdm_file(tmp_path / "sim.npy")


def test_rdms_to_zip_loads_back(tmp_path):
    S = _stack(2)
    rdms = {"conv/1": LayerRDM(S[0], NAMES, "conv/1", {"distance": "euclidean"}),
            "fc": LayerRDM(S[1], NAMES, "fc")}
    data = rdms_to_zip(rdms)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == ["RDM_conv_1.csv", "RDM_conv_1.npz", "RDM_fc.csv", "RDM_fc.npz"]
        zf.extractall(tmp_path)
    back = LayerRDM.from_file(tmp_path / "RDM_conv_1.npz")
    np.testing.assert_array_equal(back.matrix, S[0])
    assert back.stimuli == NAMES and back.layer == "conv/1" and back.meta == {"distance": "euclidean"}
    np.testing.assert_array_equal(read_rdm_file(tmp_path / "RDM_fc.csv").rdms[0], S[1])
    with pytest.raises(ValueError, match="No RDMs"):
        rdms_to_zip({})


def test_time_resolved_to_npz_loads_back(tmp_path):
    rng = np.random.default_rng(0)
    res = TimeResolvedRDM(rng.random((3, 3, 5)), np.linspace(0, 0.4, 5), ["a", "b", "c"],
                          {"method": "lda", "chance": 0.5, "n": np.int64(3)})
    path = tmp_path / "eeg.npz"
    path.write_bytes(time_resolved_to_npz(res))
    back = TimeResolvedRDM.from_file(path)
    np.testing.assert_array_equal(back.data, res.data)
    np.testing.assert_array_equal(back.times, res.times)
    assert back.conditions == ["a", "b", "c"] and back.meta == {"method": "lda", "chance": 0.5, "n": 3}
