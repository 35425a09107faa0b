"""End to end on a user's own folder: ``make dashboard DATA=<folder>`` served by Voila, driven in Chromium.

The folder holds features two levels down (opened through the folder chooser), epochs whose
array is called ``data`` (not ``eeg``), an fMRI-style RDM stack and a junk file. The test
opens a sub-folder, runs the DNN RDMs, uploads an RDM stack and an epochs file through the
browser's file chooser (``FileUpload`` keeps its ``<input type=file>`` out of the DOM),
runs the EEG decoding and the model-vs-brain RSA, downloads the RDMs and the EEG RDM (Playwright
download event) and checks they equal the Python API's numbers, uploads an 11 MB file (above
tornado's default 10 MiB websocket limit, so it arrives only with notebooks/voila.json), and
checks that the page shows no absolute server path. The Voila command is the one ``make -n dashboard DATA=...`` prints, so
the test serves exactly what ``make dashboard`` does (culling and notebooks/voila.json included).
"""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import free_port, stop_process, wait_for_port

REPO = Path(__file__).resolve().parents[2]
FIRST_WIDGET_TIMEOUT_S = 180
RUN_TIMEOUT_MS = 180_000
N = 10          # stimuli


def _features(folder: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    x = rng.normal(size=(N, 16))
    for i in range(N):
        np.savez(folder / f"stim_{i + 1:02d}.npz", conv=x[i][None].astype(np.float32),
                 fc=(x[i][None] ** 2).astype(np.float32))


def _rdm_stack(path: Path, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = rng.random((k, N, N))
    m = (m + np.swapaxes(m, 1, 2)) / 2
    for s in m:
        np.fill_diagonal(s, 0)
    np.savez(path, rdms=m, stimuli=np.array([f"stim_{i + 1:02d}" for i in range(N)]))
    return m


def _epochs(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    cond = np.repeat(["left", "right", "feet"], 8)
    data = rng.normal(size=(24, 4, 12)) + (np.arange(24) % 3 == 0)[:, None, None] * np.linspace(0, 2, 12)
    np.savez(path, data=data.astype(np.float64), cond=cond, times=np.linspace(-0.1, 0.45, 12))


@pytest.fixture(scope="module")
def own_data(tmp_path_factory):
    base = tmp_path_factory.mktemp("own")
    root = base / "labdata"
    _features(root / "lab" / "models" / "feats", 0)
    _features(root / "lab" / "other" / "feats2", 1)
    (root / "eeg").mkdir(parents=True)
    _epochs(root / "eeg" / "subj01.npz", 2)
    (root / "fmri").mkdir()
    _rdm_stack(root / "fmri" / "EVC_subjects.npz", 6, 3)
    (root / "notes.docx").write_bytes(b"not data")
    up = base / "to_upload"
    up.mkdir()
    _rdm_stack(up / "IT_stack.npz", 5, 4)
    _epochs(up / "subj02_epochs.npz", 5)
    # above tornado's default 10 MiB websocket message limit: arrives only with notebooks/voila.json
    rng = np.random.default_rng(6)
    big = rng.random((1200, 1200))
    big = (big + big.T) / 2
    np.fill_diagonal(big, 0)
    np.savez(up / "big_hypothesis.npz", rdm=big)
    assert (up / "big_hypothesis.npz").stat().st_size > 10.5 * 1024 ** 2
    return base, root, up


def _make_dashboard_command(data: Path, port: int) -> str:
    """The Voila command of ``make dashboard DATA=... PORT=...`` (dry run), run with this Python."""
    out = subprocess.run(["make", "-n", "dashboard", f"DATA={data}", f"PORT={port}"], cwd=REPO,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    line = next(x for x in out.replace("\\\n", " ").splitlines() if "voila notebooks/dashboard.ipynb" in x)
    return line.replace(".venv/bin/voila", f"exec {sys.executable} -m voila", 1)


@pytest.fixture(scope="module")
def served(own_data, artifacts, chromium_path):
    _, root, _ = own_data
    port = free_port()
    log = artifacts / "voila_own_data.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(["bash", "-c", _make_dashboard_command(root, port)], cwd=REPO, stdout=fh,
                                stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        wait_for_port(port, proc, 120, log)
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop_process(proc)


def _wait_text(page, sel: str, pattern: str, timeout_ms: int = RUN_TIMEOUT_MS) -> str:
    """Wait until the visible element ``sel`` has text matching ``pattern`` (or starting with 'Error')."""
    page.wait_for_function(
        """([sel, pat]) => [...document.querySelectorAll(sel)].some(e => e.offsetParent !== null &&
               (new RegExp(pat).test(e.innerText) || e.innerText.startsWith('Error')))""",
        arg=[sel, pattern], timeout=timeout_ms)
    texts = [t for t in page.locator(sel).all_inner_texts() if t.strip()]
    hit = next((t for t in texts if re.search(pattern, t)), None)
    assert hit is not None, f"{sel}: {texts}"
    return hit


def _select(page, sel: str, label: str) -> None:
    page.locator(f"{sel} select").filter(has=page.locator(f"option:text-is('{label}')")).first \
        .select_option(label=label)


def _upload(page, cls: str, path: Path) -> None:
    with page.expect_file_chooser() as chooser:
        page.locator(f"button.widget-upload.{cls}").click()
    chooser.value.set_files(str(path))


def _download(page, sel: str, tmp: Path) -> Path:
    with page.expect_download() as dl:
        page.locator(f"{sel} button").click()
    target = tmp / dl.value.suggested_filename
    dl.value.save_as(str(target))
    return target


@pytest.mark.timeout(900)
def test_own_data_end_to_end(served, own_data, browser_context, artifacts, tmp_path):
    from rdm_widgets import RDMCreator
    from rdm_widgets.eeg import eeg_rdm, read_epochs
    from rdm_widgets.eeg import TimeResolvedRDM
    from rdm_widgets.rdm import LayerRDM

    base, root, up = own_data
    page = browser_context.new_page()
    messages: list[str] = []
    page.on("console", lambda m: messages.append(f"[{m.type}] {m.text}"))
    try:
        page.goto(served, wait_until="commit")
        page.wait_for_selector(".rdmw-run", timeout=FIRST_WIDGET_TIMEOUT_S * 1000)
        # opened on the first valid features (two levels down), run in the background
        _wait_text(page, ".rdmw-status", r"^Done: 2 layer RDM\(s\) \(correlation\)")
        # the root: the junk file is listed as skipped with its reason
        _select(page, ".rdmw-data-folder", ".")
        _wait_text(page, ".rdmw-skipped", r"notes\.docx", 30_000)
        # open another sub-folder: its feature set is offered and runs
        _select(page, ".rdmw-data-folder", "lab/other")
        _select(page, ".rdmw-folder", "lab/other/feats2")
        page.select_option(".rdmw-distance select", "euclidean")
        page.click(".rdmw-run")
        _wait_text(page, ".rdmw-status", r"^Done: 2 layer RDM\(s\) \(euclidean\)")
        # downloads of the run's RDMs equal the Python API's numbers
        expected = RDMCreator().compute_rdms(root / "lab" / "other" / "feats2", distance="euclidean")
        zipped = _download(page, ".rdmw-download-rdms", tmp_path)
        with zipfile.ZipFile(zipped) as zf:
            for name in zf.namelist():
                (tmp_path / name).write_bytes(zf.read(name))
                got = LayerRDM.from_file(tmp_path / name)
                np.testing.assert_allclose(got.matrix, expected[got.layer].matrix, rtol=1e-12, atol=1e-12)
                assert got.stimuli == expected[got.layer].stimuli
            assert len(zf.namelist()) == 2
        csvs = _download(page, ".rdmw-download-rdms-csv", tmp_path)
        with zipfile.ZipFile(csvs) as zf:
            assert sorted(zf.namelist()) == ["RDM_conv.csv", "RDM_fc.csv"]
            text = zf.read("RDM_conv.csv").decode()
        values = np.loadtxt(io.StringIO(text), delimiter=",", skiprows=1, usecols=range(1, N + 1))
        np.testing.assert_allclose(values, expected["conv"].matrix, rtol=1e-12, atol=1e-12)

        # EEG: upload an epochs file (array 'data', labels 'cond') through the file chooser, run
        page.get_by_role("tab", name="EEG").click()
        _upload(page, "rdmw-upload-epochs", up / "subj02_epochs.npz")
        _wait_text(page, ".rdmw-upload-status", r"Loaded subj02_epochs\.npz", 60_000)
        _wait_text(page, ".rdmw-eeg-status", r"24 trials × 4 channels × 12 times", 60_000)
        assert page.locator(".rdmw-eeg-data-key select").first.input_value() == "data"
        page.click(".rdmw-eeg-run")
        _wait_text(page, ".rdmw-eeg-status", r"^Done: 3 × 3 RDMs")
        eeg_file = _download(page, ".rdmw-download-eeg", tmp_path)
        got = TimeResolvedRDM.from_file(eeg_file)
        ep = read_epochs(up / "subj02_epochs.npz")
        want = eeg_rdm(ep.eeg, ep.labels["cond"], times=ep.times, decim=2, random_state=0)
        np.testing.assert_allclose(got.data, want.data, atol=1e-12)

        # Model vs brain: upload a subject RDM stack; run the RSA on the folder's stack and the upload
        page.get_by_role("tab", name="Model vs brain").click()
        _upload(page, "rdmw-upload-rdm", up / "IT_stack.npz")
        _wait_text(page, ".rdmw-upload-status", r"Loaded IT_stack\.npz", 60_000)
        page.click(".rdmw-rsa-run")
        _wait_text(page, ".rdmw-rsa-status", r"^Done")
        page.wait_for_selector(".rdmw-rsa-figure .js-plotly-plot", timeout=60_000)

        # an upload larger than Voila's default websocket limit arrives (notebooks/voila.json)
        _upload(page, "rdmw-upload-rdm", up / "big_hypothesis.npz")
        _wait_text(page, ".rdmw-upload-status", r"Loaded big_hypothesis\.npz", 120_000)

        body = page.inner_text("body")
        assert str(base) not in body and "rdmw_upload_" not in body and "/tmp/" not in body, \
            [line for line in body.splitlines() if "/tmp" in line or str(base) in line][:5]
        page.screenshot(path=str(artifacts / "voila_own_data.png"), full_page=True)
    except BaseException:
        page.screenshot(path=str(artifacts / "voila_own_data_failure.png"))
        raise
    finally:
        (artifacts / "voila_own_data.console.log").write_text("\n".join(messages))
        page.close()
