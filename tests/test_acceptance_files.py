"""Acceptance pass (new-user mistakes with files): a pickle or a single .npy saved under an .npz
name is named for what it is (not "damaged ... copy it again"), a pickled 'rdm' array is not
reported as missing, tiled_rdm names its own `layer` argument, and the CLI refuses an output whose
folder is missing before it computes. Seeded synthetic data and the bundled brain RDMs."""
import pickle

import numpy as np
import pytest

from rdm_widgets import LayerRDM, RDMCreator, tiled_rdm
from rdm_widgets.cli import main
from rdm_widgets.rdm_files import read_rdm_file


def _features(folder, n=8, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir()
    for i in range(n):
        np.savez(folder / f"img_{i}.npz", fc=rng.normal(size=(1, 10)).astype("f4"))
    return folder


def test_pickle_named_npz_is_called_a_pickle(tmp_path):
    feats = _features(tmp_path / "feats")
    with open(feats / "img_3.npz", "wb") as fh:
        pickle.dump({"fc": np.zeros((1, 10))}, fh)
    for call in (lambda: RDMCreator().compute_rdms(feats),
                 lambda: tiled_rdm(feats, tmp_path / "store", layer="fc", tile_size=8)):
        with pytest.raises(ValueError, match=r"img_3\.npz'?: it is a Python pickle, not an \.npz archive") as err:
            call()
        assert "damaged" not in str(err.value)
    rdm = tmp_path / "rdm.npz"
    with open(rdm, "wb") as fh:
        pickle.dump({"rdm": np.zeros((3, 3))}, fh)
    for read in (LayerRDM.from_file, read_rdm_file):
        with pytest.raises(ValueError, match="it is a Python pickle"):
            read(rdm)


def test_npy_named_npz_and_truncated_npz(tmp_path):
    feats = _features(tmp_path / "feats")
    with open(feats / "img_2.npz", "wb") as fh:
        np.save(fh, np.zeros((1, 10)))
    with pytest.raises(ValueError, match=r"img_2\.npz'?: it is a single \.npy array, not an \.npz archive"):
        RDMCreator().compute_rdms(feats)
    # a truncated archive keeps its own advice
    np.savez(feats / "img_2.npz", fc=np.ones((1, 10), "f4"))
    data = (feats / "img_5.npz").read_bytes()
    (feats / "img_5.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"img_5\.npz'.*damaged or incomplete"):
        RDMCreator().compute_rdms(feats)


def test_pickled_rdm_array_is_not_reported_missing(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, rdm=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match="'rdm' array is a pickled object array") as err:
        LayerRDM.from_file(path)
    assert "holds no 'rdm'" not in str(err.value)
    with pytest.raises(ValueError, match=r"\['rdm'\] are pickled object arrays"):
        read_rdm_file(path)
    # a numeric RDM beside a pickled extra (Net2Brain's meta) still loads
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 3))
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    np.savez(tmp_path / "ok.npz", rdm=d, meta=np.array([{"a": 1}], dtype=object))
    np.testing.assert_array_equal(LayerRDM.from_file(tmp_path / "ok.npz").matrix, d)
    np.testing.assert_array_equal(read_rdm_file(tmp_path / "ok.npz").rdms[0], d)


def test_tiled_rdm_names_its_layer_argument(tmp_path):
    feats = _features(tmp_path / "feats")
    with pytest.raises(ValueError, match=r"Invalid value for 'layer': 'fcc'\. Allowed: 'fc'\. Did you mean 'fc'\?"):
        tiled_rdm(feats, tmp_path / "store", layer="fcc", tile_size=8)
    assert not (tmp_path / "store").exists()


def test_cli_compare_refuses_a_missing_out_folder_before_computing(tmp_path, capsys):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(78, 6))
    names = [f"image_{i:02d}" for i in range(1, 79)]
    model = tmp_path / "model"
    rdms = RDMCreator().compute_rdms({"fc": x})
    model.mkdir()
    LayerRDM(rdms["fc"].matrix, names, "fc").save(model / "RDM_fc.npz")
    from rdm_widgets.demo import demo_path
    rc = main(["compare", str(model), str(demo_path("fmri_evc")), "--out", str(tmp_path / "no" / "t.csv"),
               "--permutations", "10"])
    out = capsys.readouterr()
    assert rc == 1 and "Folder" in out.err and "does not exist" in out.err
    assert "RSA permutations" not in out.err           # refused before the first row was computed
    assert main(["compare", str(model), str(demo_path("fmri_evc")), "--out", str(tmp_path / "t.csv"),
                 "--permutations", "10", "-q"]) == 0
    assert (tmp_path / "t.csv").read_text().startswith("brain,")


def test_cli_eeg_rdm_refuses_a_missing_out_folder_before_computing(tmp_path, capsys):
    from rdm_widgets.demo import demo_path
    rc = main(["eeg-rdm", str(demo_path("eeg")), str(tmp_path / "no" / "e.npz"), "--decim", "16"])
    out = capsys.readouterr()
    assert rc == 1 and "Folder" in out.err and "does not exist" in out.err
    assert "EEG fits" not in out.err


def test_wrong_kind_of_rdm_file_says_what_to_use(tmp_path):
    from rdm_widgets import TimeResolvedRDM, eeg_rdm, load_rdms

    rng = np.random.default_rng(4)
    eeg = rng.normal(size=(20, 4, 3))
    eeg[10:, 0] += 1.5
    path = eeg_rdm(eeg, np.repeat(["a", "b"], 10)).save(tmp_path / "eeg_rdm.npz")
    with pytest.raises(ValueError, match=r"is a time-resolved RDM .*TimeResolvedRDM\.from_file"):
        LayerRDM.from_file(path)
    assert TimeResolvedRDM.from_file(path).shape == (2, 2, 3)
    # a file given to load_rdms (which reads folders) is not "a folder that does not exist"
    x = rng.normal(size=(6, 3))
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    LayerRDM(d, list("abcdef"), "fc").save(tmp_path / "RDM_fc.npz")
    with pytest.raises(ValueError, match=r"is a file; load_rdms reads a folder .*LayerRDM\.from_file"):
        load_rdms(tmp_path / "RDM_fc.npz")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_rdms(tmp_path / "nope")
    np.testing.assert_array_equal(load_rdms(tmp_path)["fc"].matrix, d)


def test_selecting_a_repeated_stimulus_name_is_refused_not_first_copy(tmp_path):
    from rdm_widgets import model_brain_table
    from rdm_widgets.rdm_files import RDMSet

    rng = np.random.default_rng(5)
    x = rng.normal(size=(6, 3))
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    # category labels given as stimulus names: a common mistake
    model = LayerRDM(d, ["cat", "cat", "dog", "car", "cup", "hat"], "fc")
    with pytest.raises(ValueError, match=r"\['cat'\] occur more than once in layer 'fc'"):
        model.subset(["cat", "dog"])
    np.testing.assert_array_equal(model.subset([0, 2]).matrix, d[np.ix_([0, 2], [0, 2])])   # by index: fine
    np.testing.assert_array_equal(model.subset(["dog", "car"]).matrix, d[np.ix_([2, 3], [2, 3])])
    y = rng.normal(size=(5, 3))
    b = np.sqrt(((y[:, None] - y[None]) ** 2).sum(-1))
    brain = RDMSet(np.stack([b, b.T.copy()]), ["cat", "dog", "car", "cup", "hat"], "brain")
    with pytest.raises(ValueError, match="occur more than once"):
        model_brain_table({"m": {"fc": model}}, brain, n_permutations=0)


def test_damaged_rdm_file_message_says_it_once(tmp_path):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(5, 3))
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    path = LayerRDM(d, list("abcde"), "fc").save(tmp_path / "RDM_fc.npz")
    data = path.read_bytes()
    path.write_bytes(data[:200])
    with pytest.raises(ValueError) as err:
        LayerRDM.from_file(path)
    assert str(err.value).count("Cannot read") == 1 and "damaged or incomplete" in str(err.value)
