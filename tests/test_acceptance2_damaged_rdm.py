"""Acceptance, second pass: a damaged ``RDM_*.npz`` in a model folder fails ``rdm-widgets compare``
(exit 1, the file named) instead of a table silently missing that layer (and p_fdr over fewer
layers); the Python ``load_rdms`` still loads what it can, with a warning, unless asked to raise."""
import warnings
from pathlib import Path

import pytest

from rdm_widgets import RDMCreator, load_rdms, model_brain_table, read_rdm_file
from rdm_widgets.cli import main
from rdm_widgets.demo import demo_path

LAYERS = ["features.6", "logits"]


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    """create-rdms' output on the bundled (real) MobileNetV2 features, one file truncated."""
    out = tmp_path_factory.mktemp("acc2") / "mobilenetv2"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                 # info.json beside the features is skipped
        RDMCreator().create_rdms(str(demo_path("mobilenetv2")), out, layers=LAYERS)
    bad = out / "RDM_logits.npz"
    assert bad.is_file()
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])             # a copy interrupted half-way
    return out, bad


def test_compare_fails_naming_the_damaged_file(damaged, tmp_path, capsys):
    out, bad = damaged
    table = tmp_path / "t.csv"
    code = main(["compare", str(out), str(demo_path("fmri_evc")), "--out", str(table), "--permutations", "0"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert not table.exists()                            # no partial table
    line = [s for s in err.splitlines() if s.startswith("rdm-widgets: error:")]
    assert line and bad.name in line[0] and "remove" in line[0], err


def test_compare_of_an_intact_folder_still_succeeds(damaged, tmp_path, capsys):
    out, bad = damaged
    good = tmp_path / "good"
    good.mkdir()
    ok = out / "RDM_features.6.npz"
    (good / ok.name).write_bytes(ok.read_bytes())
    table = tmp_path / "t.csv"
    code = main(["compare", str(good), str(demo_path("fmri_evc")), "--out", str(table), "--permutations", "0"])
    assert code == 0, capsys.readouterr().err
    assert table.is_file()


def test_load_rdms_warns_by_default_and_raises_on_request(damaged):
    out, bad = damaged
    with pytest.warns(UserWarning, match=f"Skipping {bad.name}"):
        rdms = load_rdms(out)
    assert list(rdms) == ["features.6"]
    with pytest.raises(ValueError, match=rf"Cannot load {bad.name}.*Fix or remove"):
        load_rdms(out, on_error="raise")
    with pytest.raises(ValueError, match="Invalid value for 'on_error'.*Did you mean 'raise'"):
        load_rdms(out, on_error="rais")


def test_model_brain_table_takes_no_folder_path(damaged):
    """A folder path is refused (not loaded), so it cannot drop a damaged layer silently."""
    out, _ = damaged
    brain = read_rdm_file(demo_path("fmri_evc"))
    for models in (str(out), out, {"m": str(out)}):
        with pytest.raises((ValueError, TypeError), match=r"load_rdms\(folder, on_error='raise'\)"):
            model_brain_table(models, brain, n_permutations=0)
