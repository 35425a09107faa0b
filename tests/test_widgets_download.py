"""Browserless tests of the download button: the synced bytes are the payload, and what the
builders put in it loads back (zip of RDM npz/csv, time-resolved npz, RSA table csv)."""
import io
import zipfile

import numpy as np
import pytest

from rdm_widgets.eeg import TimeResolvedRDM
from rdm_widgets.rdm import LayerRDM
from rdm_widgets.rdm_files import rdms_to_zip, time_resolved_to_npz
from rdm_widgets.widgets._download import MIME_TYPES, DownloadButton


def test_payload_is_the_bytes_and_mime_follows_the_suffix():
    btn = DownloadButton("Download RDMs (.zip)")
    assert btn.data == b"" and btn.size == 0 and btn.label == "Download RDMs (.zip)"
    assert "rdmw-download" in btn._dom_classes
    payload = bytes(range(256)) * 10
    btn.set_payload("some/dir/rdms.zip", payload)
    assert btn.data == payload and btn.filename == "rdms.zip" and btn.mime == "application/zip"
    btn.set_payload("t.csv", "a,b\n1,2\n")
    assert btn.data == b"a,b\n1,2\n" and btn.mime == MIME_TYPES[".csv"] == "text/csv"
    btn.set_payload("x.bin", memoryview(b"xyz"), mime="application/x-test")
    assert btn.data == b"xyz" and btn.mime == "application/x-test"
    with pytest.raises(TypeError, match="bytes or str"):
        btn.set_payload("x", 3)
    btn.clear()
    assert btn.size == 0
    # the trait is synced: its state goes to the browser as a binary buffer
    assert DownloadButton.data.metadata.get("sync") is True
    assert "new Blob" in DownloadButton._esm and "a.download" in DownloadButton._esm


def test_zip_of_rdms_through_the_button_loads_back(tmp_path):
    rng = np.random.default_rng(0)
    rdms = {}
    for layer in ("conv1", "fc"):
        a = rng.random((5, 5))
        rdms[layer] = LayerRDM((a + a.T) * (1 - np.eye(5)), [f"s{i}" for i in range(5)], layer)
    btn = DownloadButton("Download RDMs")
    btn.set_payload("rdms.zip", rdms_to_zip(rdms))
    with zipfile.ZipFile(io.BytesIO(btn.data)) as zf:
        zf.extractall(tmp_path)
    for layer, rdm in rdms.items():
        back = LayerRDM.from_file(tmp_path / f"RDM_{layer}.npz")
        np.testing.assert_array_equal(back.matrix, rdm.matrix)
        assert back.stimuli == rdm.stimuli


def test_time_resolved_npz_through_the_button_loads_back(tmp_path):
    res = TimeResolvedRDM(np.random.default_rng(1).random((3, 3, 4)), conditions=["a", "b", "c"],
                          meta={"method": "lda"})
    btn = DownloadButton("Download RDM (.npz)", "eeg_rdm.npz", time_resolved_to_npz(res))
    (tmp_path / btn.filename).write_bytes(btn.data)
    back = TimeResolvedRDM.from_file(tmp_path / "eeg_rdm.npz")
    np.testing.assert_array_equal(back.data, res.data)
    assert back.conditions == ["a", "b", "c"]
