"""Path confinement of the choosers (rdm_widgets.widgets._paths)."""
import numpy as np
import pytest

from _synthetic import epochs_file as _epochs_file
from _widget_helpers import _feature_folder
from rdm_widgets.widgets._paths import confine, list_feature_sources, list_files


def test_confine(tmp_path):
    # (the ETA format assertions of this former test are in test_widgets_runner.py)
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    assert confine("sub", root) == (root / "sub").resolve()
    with pytest.raises(ValueError, match="outside the data root"):
        confine(root / ".." / "elsewhere", root)
    with pytest.raises(ValueError, match="outside the data root"):
        confine("/etc", root)


def test_list_files_and_feature_sources_skip_epochs_and_rdms(tmp_path):
    root = tmp_path / "root"
    _feature_folder(root / "feats")
    _epochs_file(root / "eeg")
    (root / "rdms").mkdir()
    np.savez(root / "rdms" / "RDM_a.npz", rdm=np.zeros((2, 2)), stimuli=np.array(["a", "b"]))
    (root / "deep" / "er").mkdir(parents=True)
    (root / "deep" / "er" / "x.npz").write_bytes(b"")
    assert [label for label, _ in list_feature_sources(root)] == ["feats"]   # no epochs, no saved RDMs
    labels = [label for label, _ in list_files(root, (".npz",), max_depth=1)]
    assert "eeg/epochs.npz" in labels and "rdms/RDM_a.npz" in labels and "deep/er/x.npz" not in labels
    assert "deep/er/x.npz" in [label for label, _ in list_files(root, (".npz",), max_depth=2)]
    assert list_files(root, (".npz",), max_depth=0) == []


def test_symlinked_file_out_of_the_root_is_never_listed_or_opened(tmp_path):
    import os

    root = tmp_path / "root"
    outside = _epochs_file(tmp_path / "outside")
    _feature_folder(root / "feats")
    os.symlink(outside, root / "feats" / "zz_linked.npz")
    os.symlink(outside, root / "linked_epochs.npz")
    labels = [label for label, _ in list_files(root, (".npz",))]
    assert "linked_epochs.npz" not in labels and "feats/zz_linked.npz" not in labels
    with pytest.raises(ValueError, match="outside the data root"):
        confine("linked_epochs.npz", root)


def test_data_browser_opens_sub_folders_and_lists_skipped_entries(tmp_path):
    from rdm_widgets.widgets._paths import DataBrowser

    root = tmp_path / "root"
    _feature_folder(root / "models" / "feats")
    (root / "models" / "junk.docx").write_bytes(b"x")
    (root / "models" / "README.md").write_text("sidecar")
    browser = DataBrowser(root)
    assert "rdmw-data-folder" in browser.folder_dropdown._dom_classes
    assert "rdmw-skipped" in browser.skipped_html._dom_classes
    assert list(browser.folder_dropdown.options) == [".", "models", "models/feats"]
    assert browser.of_kind("features") == []
    browser.folder_dropdown.value = "models"
    assert [label for label, _ in browser.of_kind("features")] == ["models/feats"]
    text = browser.skipped_html.value
    assert "models/junk.docx" in text and "not a data file" in text and "README.md" not in text
    assert str(tmp_path) not in text


def test_save_to_is_confined_and_asks_before_overwriting(tmp_path):
    import os

    from rdm_widgets.widgets._paths import SaveTo, confine_new

    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", root / "link")
    for bad in ("../x.npz", "/tmp/x.npz", "", "a/../../x", "link/x.npz"):
        with pytest.raises(ValueError):
            confine_new(bad, root)
    payload = [b"first"]

    def write(path):
        path.write_bytes(payload[0])

    saver = SaveTo(root, "out/result.npz", write)
    saver.save_button.click()
    assert saver.status == "Saved to out/result.npz" and (root / "out" / "result.npz").read_bytes() == b"first"
    payload[0] = b"second"
    saver.save_button.click()                       # exists: ask first, write nothing
    assert "exists" in saver.status and saver.save_button.description == "Overwrite"
    assert (root / "out" / "result.npz").read_bytes() == b"first"
    saver.save_button.click()                       # the second click overwrites
    assert saver.status == "Saved to out/result.npz" and (root / "out" / "result.npz").read_bytes() == b"second"
    assert sorted(p.name for p in (root / "out").iterdir()) == ["result.npz"]   # no partial files left
    saver.name_text.value = "../escape.npz"
    saver.save_button.click()
    assert saver.status.startswith("Error") and str(tmp_path) not in saver.status
    assert not (tmp_path / "escape.npz").exists()

    def failing(path):
        path.write_bytes(b"partial")
        raise ValueError("Nothing to save yet: run first.")

    saver = SaveTo(root, "out/result.npz", failing)
    saver.save_button.click()
    saver.save_button.click()
    assert saver.status == "Error: Nothing to save yet: run first."
    assert (root / "out" / "result.npz").read_bytes() == b"second"          # kept as it was
    assert sorted(p.name for p in (root / "out").iterdir()) == ["result.npz"]
    disabled = SaveTo(None, "x", write)
    assert disabled.save_button.disabled and "DATA=" in disabled.status
