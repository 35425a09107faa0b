"""A damaged file in a feature folder is reported as damaged, once (dashboard acceptance pass 4).

A folder of the 78 MobileNetV2 feature files (real data, bundled as the demo's ``mobilenetv2``,
from /work/shared/data/mobilenetv2_net2brain78) with one file cut in half was skipped with "the
folder mixes feature files with other .npz files; put the features in a folder of their own"
-- wrong advice -- and counted as two skipped entries (the folder and its file).
"""
import shutil
import zipfile

import numpy as np
import pytest

from rdm_widgets import data_root
from rdm_widgets.demo import demo_path


def _cut(path):
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


def _zip_cause(path) -> str:
    """What the zip reader itself says of ``path`` (the reference for the reason's cause)."""
    try:
        zipfile.ZipFile(path).close()
    except zipfile.BadZipFile as exc:
        return str(exc)
    raise AssertionError(f"{path} reads as a zip file")


@pytest.fixture(scope="module")
def damaged_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("acc4feat") / "root"
    feats = root / "mobilenet"
    shutil.copytree(demo_path("mobilenetv2"), feats)
    for p in feats.iterdir():
        p.chmod(0o644)
    _cut(feats / "image_40.npz")
    return root, feats


def test_the_damaged_file_is_named_with_its_cause_and_the_right_advice(damaged_root):
    root, feats = damaged_root
    expected = (f"image_40.npz is not a readable .npz ({_zip_cause(feats / 'image_40.npz')}): "
                "copy it again or remove it")
    # inside the folder: one skipped entry (the folder, naming its file), not the folder plus the file
    inner = [e for e in data_root.scan(feats, root) if e.kind == "skipped"]
    assert [(e.path, e.reason) for e in inner] == [("mobilenet", expected)]
    # from the data root: the same one entry
    outer = [e for e in data_root.scan(root) if e.kind == "skipped"]
    assert [(e.path, e.reason) for e in outer] == [("mobilenet", expected)]
    assert "folder of their own" not in expected


def test_the_data_browser_counts_one_skipped_entry(damaged_root):
    pytest.importorskip("ipywidgets")
    from rdm_widgets.widgets._paths import DataBrowser

    root, _ = damaged_root
    browser = DataBrowser(root)
    browser.folder_dropdown.value = "mobilenet"
    html = browser.skipped_html.value
    assert "Skipped 1 entry" in html and "image_40.npz is not a readable .npz" in html
    assert "folder of their own" not in html


def _feature_folder(folder, rng, n=6):
    folder.mkdir(parents=True)
    for i in range(n):
        np.savez(folder / f"s{i:02d}.npz", conv1=rng.standard_normal((1, 4, 3, 3)).astype(np.float32),
                 fc=rng.standard_normal((1, 10)).astype(np.float32))


def test_readable_files_of_another_kind_keep_the_mixes_advice(tmp_path):
    rng = np.random.default_rng(40)
    feats = tmp_path / "feats"
    _feature_folder(feats, rng)
    labels = np.repeat(np.array(["a", "b"]), 5)
    np.savez(feats / "epochs.npz", eeg=rng.standard_normal((10, 3, 8)), labels=labels)
    entries = {e.path: e for e in data_root.scan(feats)}
    assert entries["."].kind == "skipped"
    assert entries["."].reason == ("the folder mixes feature files with other .npz files (['epochs.npz']); "
                                   "put the features in a folder of their own")
    assert entries["epochs.npz"].kind == "epochs"           # still listed: it is usable on its own

    # two damaged files and the epochs file: both problems said, the damaged files not listed again
    _cut(feats / "s01.npz")
    (feats / "s03.npz").write_bytes(b"")
    entries = {e.path: e for e in data_root.scan(feats)}
    reason = entries["."].reason
    assert reason.startswith("s01.npz, s03.npz are not readable .npz files (")
    assert "copy them again or remove them" in reason and "(['epochs.npz'])" in reason
    assert "s01.npz" not in entries and "s03.npz" not in entries
    assert [p for p, e in entries.items() if e.kind == "skipped"] == ["."]
