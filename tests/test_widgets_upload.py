"""Uploads (rdm_widgets.widgets._upload): safe zip extraction, size limit, validation, per-page folder."""
import datetime
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from _synthetic import epochs_file as _epochs_file
from _widget_helpers import _feature_folder
from rdm_widgets.widgets._upload import (UploadArea, UploadButton, extract_zip, safe_name, store_upload)


def _zip(members: dict, symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


def _features_zip(tmp_path) -> bytes:
    folder = tmp_path / "src" / "feats"
    _feature_folder(folder)
    return _zip({f"feats/{p.name}": p.read_bytes() for p in sorted(folder.iterdir())}
                | {"__MACOSX/._x": b"junk", "feats/.DS_Store": b"junk"})


def test_safe_name():
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("C:\\Users\\me\\my data.npz") == "my_data.npz"
    assert safe_name(".hidden.npz") == "hidden.npz" and safe_name("") == "upload"


@pytest.mark.parametrize("members, symlink, match", [
    ({"/abs/x.npz": b"1"}, None, "absolute path or '..'"),
    ({"a/../../x.npz": b"1"}, None, "absolute path or '..'"),
    ({"C:/x.npz": b"1"}, None, "absolute path or '..'"),
    ({"ok.npz": b"1"}, "link.npz", "symbolic link"),
])
def test_extract_zip_refuses_unsafe_members_before_writing(tmp_path, members, symlink, match):
    with pytest.raises(ValueError, match=match):
        extract_zip(_zip(members, symlink), tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_extract_zip_refuses_a_zip_bomb_from_its_declared_sizes(tmp_path):
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.npz", b"\0" * 5_000_000)         # compresses to a few kB
        zf.writestr("b.npz", b"\0" * 5_000_000)
    assert len(bomb.getvalue()) < 100_000
    with pytest.raises(ValueError, match="more than"):
        extract_zip(bomb.getvalue(), tmp_path / "dest", max_bytes=8_000_000)
    assert not (tmp_path / "dest").exists()
    with pytest.raises(ValueError, match="entries"):
        extract_zip(_zip({f"{i}.npz": b"1" for i in range(5)}), tmp_path / "d2", max_members=4)


def test_store_upload_features_epochs_rdms_and_errors(tmp_path):
    area = UploadArea()
    try:
        path = store_upload("features", "my feats.zip", _features_zip(tmp_path), area, 10 ** 8)
        assert path.is_dir() and path.name == "feats" and len(list(path.glob("*.npz"))) == 8
        assert not list(path.rglob(".DS_Store")) and not list(area.root.rglob("__MACOSX"))
        layer = tmp_path / "conv1.npz"
        np.savez(layer, features=np.random.default_rng(0).normal(size=(5, 3)), stimuli=np.array(list("abcde")))
        folder = store_upload("features", "conv1.npz", layer.read_bytes(), area, 10 ** 8)
        assert folder.is_dir() and [p.name for p in folder.iterdir()] == ["conv1.npz"]
        ep = store_upload("epochs", "e.npz", _epochs_file(tmp_path / "eeg").read_bytes(), area, 10 ** 8)
        assert ep.parent == area.root / "epochs"
        with pytest.raises(ValueError, match="limit is 1 MB per file"):
            store_upload("epochs", "big.npz", b"\0" * (2 * 1024 ** 2), area, 1024 ** 2)
        with pytest.raises(ValueError, match="must be one of"):
            store_upload("epochs", "x.exe", b"MZ", area, 10 ** 8)
        bad = io.BytesIO()
        np.savez(bad, eeg=np.zeros((4, 2, 3)))                          # no label array
        with pytest.raises(ValueError, match="no label array"):
            store_upload("epochs", "nolabels.npz", bad.getvalue(), area, 10 ** 8)
        assert not (area.root / "epochs" / "nolabels.npz").exists()     # a bad upload is removed
    finally:
        area.cleanup()
    assert not area.root.exists()


def test_upload_button_hands_on_valid_files_and_shows_errors(tmp_path):
    area = UploadArea()
    got = []
    button = UploadButton("rdm", area, lambda p, label: got.append((p, label)), max_mb=100)
    assert "max 100 MB per file" in button.hint.value
    assert "rdmw-upload-rdm" in button.upload._dom_classes and "widget-upload" not in button.upload._dom_classes
    rng = np.random.default_rng(0)
    m = rng.random((4, 6, 6))
    m = (m + np.swapaxes(m, 1, 2)) / 2
    for s in m:
        np.fill_diagonal(s, 0)
    buf = io.BytesIO()
    np.savez(buf, arr_0=m)
    # what the browser sends: FileUpload.value, a tuple of dicts with a memoryview
    button.upload.value = ({"name": "fmri_IT.npz", "type": "", "size": len(buf.getvalue()),
                            "content": memoryview(buf.getvalue()),
                            "last_modified": datetime.datetime.now(datetime.timezone.utc)},)
    assert got and got[0][1] == "uploads/fmri_IT.npz" and button.status == "Loaded fmri_IT.npz"
    assert button.upload.value == ()
    button.handle([("asym.npz", _npz_bytes(arr_0=rng.random((5, 5))))])
    assert button.status.startswith("Error") and "symmetric" in button.status
    assert str(area.root) not in button.status and "/tmp" not in button.status
    area.cleanup()


def _npz_bytes(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_upload_folder_is_removed_when_the_kernel_process_ends(tmp_path):
    """The page's upload folder goes with its process (atexit + weakref.finalize), also for a Dashboard."""
    code = (
        "import sys\n"
        "from rdm_widgets.widgets._upload import UploadArea\n"
        "from rdm_widgets.widgets import Dashboard\n"
        "a = UploadArea(); (a.folder('epochs') / 'x.npz').write_bytes(b'1')\n"
        "d = Dashboard(sys.argv[1], initial_run=False)\n"
        "(d.uploads.folder('rdm') / 'y.npz').write_bytes(b'1')\n"
        "print(a.root); print(d.uploads.root)\n"
    )
    root = tmp_path / "data"
    _feature_folder(root / "feats")
    out = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).parent)
    assert out.returncode == 0, out.stderr[-2000:]
    folders = [Path(line) for line in out.stdout.split()[-2:]]
    assert all(p.name.startswith("rdmw_upload_") for p in folders)
    assert not any(p.exists() for p in folders)
