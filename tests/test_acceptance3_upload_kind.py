"""Acceptance pass 3 (dashboard in a browser): a file given to the wrong upload button.

Found in Voila: an epochs file given to "Upload features" said only "Layer 'labels' ... has
dtype <U19; features must be numeric", an RDM stack given to "Upload epochs" said the labels
were missing; nothing told the user that the file is fine and which button takes it. The
error now names the kind the file validates as (with the same readers as the right button)
and that button. Files are built here (seeded), the "right" answer comes from the core
readers (read_epochs, read_rdm_file), not from the widget.
"""
from __future__ import annotations

import io

import numpy as np
import pytest

from rdm_widgets.eeg import read_epochs
from rdm_widgets.rdm_files import read_rdm_file
from rdm_widgets.widgets._upload import UploadArea, UploadButton


def _npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _epochs_bytes(tmp_path) -> bytes:
    rng = np.random.default_rng(0)
    data = rng.normal(size=(12, 3, 8))
    content = _npz_bytes(eeg=data, labels=np.repeat(["a", "b", "c"], 4), times=np.linspace(0, 0.7, 8))
    (tmp_path / "ref_epochs.npz").write_bytes(content)
    assert read_epochs(tmp_path / "ref_epochs.npz").eeg.shape == (12, 3, 8)      # a valid epochs file
    return content


def _rdm_stack_bytes(tmp_path) -> bytes:
    rng = np.random.default_rng(1)
    m = rng.random((4, 6, 6))
    m = (m + np.swapaxes(m, 1, 2)) / 2
    for s in m:
        np.fill_diagonal(s, 0)
    content = _npz_bytes(rdms=m)
    (tmp_path / "ref_rdms.npz").write_bytes(content)
    assert read_rdm_file(tmp_path / "ref_rdms.npz").n_subjects == 4               # a valid RDM stack
    return content


def _upload(kind: str, name: str, content: bytes):
    area = UploadArea()
    got = []
    try:
        button = UploadButton(kind, area, lambda p, label: got.append(label))
        button.handle([(name, content)])
        left = sorted(p.name for p in area.folder(kind).iterdir())
        return button.status, got, left
    finally:
        area.cleanup()


def test_epochs_given_to_the_features_button_names_the_epochs_button(tmp_path):
    status, got, left = _upload("features", "S001_epochs.npz", _epochs_bytes(tmp_path))
    assert status.startswith("Error: ") and not got and left == []        # refused and removed, as before
    assert "dtype" in status                                              # the reader's own reason stays
    assert "epochs" in status and "12 trials × 3 channels × 8 times" in status
    assert "Upload epochs" in status and "EEG" in status


def test_rdm_stack_given_to_the_epochs_button_names_the_rdm_button(tmp_path):
    status, got, left = _upload("epochs", "IT_subjects.npz", _rdm_stack_bytes(tmp_path))
    assert status.startswith("Error: ") and not got and left == []
    assert "4 RDMs of 6 stimuli" in status and "Upload RDMs" in status and "Model vs brain" in status


def test_a_file_of_no_kind_gets_no_hint(tmp_path):
    status, got, _ = _upload("epochs", "notes.npz", b"this is not a zip file")
    assert status.startswith("Error: ") and not got
    assert "looks like" not in status


@pytest.mark.parametrize("kind", ["epochs", "rdm"])
def test_wrong_suffix_message_reads_as_english(kind):
    status, got, _ = _upload(kind, "image_01.jpg", b"\xff\xd8\xff")
    assert not got and "must be one of" in status
    assert f"a {kind} upload" not in status                               # "a epochs upload", "a rdm upload"


def test_no_other_reader_opens_a_file_refused_before_validation(tmp_path, monkeypatch):
    """A file refused by the size check (declared arrays too large: a zip bomb) is never handed to
    the other kinds' readers for a hint: they would decompress it."""
    import rdm_widgets.widgets._upload as up

    calls = []

    def refuse(made, max_bytes=None):
        raise ValueError("its arrays would decompress to 9,999 MB")

    monkeypatch.setattr(up, "_check_npz_members", refuse)
    monkeypatch.setitem(up.VALIDATORS, "epochs", lambda p: calls.append(p) or "x")
    monkeypatch.setitem(up.VALIDATORS, "rdm", lambda p: calls.append(p) or "x")
    status, got, left = _upload("features", "bomb.npz", _epochs_bytes(tmp_path))
    assert status == "Error: its arrays would decompress to 9,999 MB" and not got and left == []
    assert calls == []
