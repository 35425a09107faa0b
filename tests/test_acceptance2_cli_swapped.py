"""Acceptance, second pass: ``rdm-widgets compare`` with its two arguments swapped (a stack of
subject RDMs given as MODELS) says so, instead of advising a Python call (``load_rdm_stack``)."""
import numpy as np

from rdm_widgets import LayerRDM, read_rdm_file
from rdm_widgets.cli import main
from rdm_widgets.demo import demo_path


def test_swapped_arguments_are_named(tmp_path, capsys):
    brain = demo_path("fmri_evc")                         # 15 subjects x 78 images (real fMRI RDMs)
    stack = read_rdm_file(brain)
    rng = np.random.default_rng(0)
    x = rng.random((78, 5))
    model = LayerRDM(np.abs(x[:, None, :] - x[None]).sum(-1), stack.stimuli, layer="toy")
    model_file = model.save(tmp_path / "RDM_toy.npz")
    table = tmp_path / "t.csv"
    code = main(["compare", str(brain), str(model_file), "--out", str(table), "--permutations", "0"])
    err = capsys.readouterr().err
    assert code == 1 and not table.exists(), err
    assert "15 RDMs of 78 stimuli" in err and "swapped" in err, err
    # the right order works
    code = main(["compare", str(model_file), str(brain), "--out", str(table), "--permutations", "0"])
    assert code == 0, capsys.readouterr().err
    assert table.is_file()
