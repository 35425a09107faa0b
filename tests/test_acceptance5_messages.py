"""Acceptance, dashboard pass: the table says its Wilcoxon test is one-sided; epochs stored with
the trials on another axis (and no ``times`` array) are pointed to ``np.moveaxis``."""
import numpy as np
import pytest
from scipy.stats import spearmanr, wilcoxon

from rdm_widgets import LayerRDM, model_brain_table, read_rdm_file
from rdm_widgets.demo import demo_path
from rdm_widgets.eeg import read_epochs


def test_table_names_the_one_sided_wilcoxon_and_its_p_is_scipys():
    brain = read_rdm_file(demo_path("fmri_evc"))               # 15 subjects x 78 images (real)
    rng = np.random.default_rng(0)
    x = rng.random((brain.n_stimuli, 6))
    model = LayerRDM(np.abs(x[:, None] - x[None]).sum(-1), brain.stimuli, layer="toy")
    row = model_brain_table({"m": {"toy": model}}, brain, n_permutations=0).rows[0]
    assert row["test"] == "one-sided wilcoxon signed-rank over subjects (r > 0)"
    iu = np.triu_indices(brain.n_stimuli, 1)
    r = [spearmanr(model.matrix[iu], s[iu])[0] for s in brain.rdms]
    assert row["p"] == pytest.approx(wilcoxon(r, alternative="greater").pvalue, rel=1e-12)


def test_labels_matching_the_last_axis_point_to_moveaxis(tmp_path):
    with np.load(demo_path("eeg"), allow_pickle=False) as z:
        eeg, target = z["eeg"][:30, :, :20], z["target"][:30]     # real S001 epochs, trimmed
    path = tmp_path / "epochs.npz"
    np.savez(path, eeg=np.moveaxis(eeg, 0, 2), target=target)      # (channels, times, trials)
    with pytest.raises(ValueError, match=r"'target' has 30 entries = axis 2 of 'eeg' \(64, 20, 30\).*"
                                         r"np\.moveaxis\(eeg, 2, 0\)"):
        read_epochs(path)
    np.savez(path, eeg=np.moveaxis(np.moveaxis(eeg, 0, 2), 2, 0), target=target)   # the fix it names
    back = read_epochs(path)
    np.testing.assert_array_equal(back.eeg, eeg)
