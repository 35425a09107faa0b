"""The RSA panel and the download button in Voila + headless Chromium.

A small notebook shows :func:`bundled_rsa_panel` (MobileNetV2 vs EVC/IT) and a TimecourseViewer of a
small time-resolved RDM. The page must draw the bars with two noise-ceiling rectangles, and the
"Download table (.csv)" / "Download RDM (.npz)" buttons must make the browser save files whose
content equals the Python API's (Playwright download events).
"""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from conftest import opened_page, voila_server
from dashboard_checks import screenshot

FIRST_WIDGET_TIMEOUT_S = 240

_CELL = """
import numpy as np
from IPython.display import display
from rdm_widgets.eeg import TimeResolvedRDM
from rdm_widgets.widgets.rsa_panel import bundled_rsa_panel
from rdm_widgets.widgets.timecourse import TimecourseViewer

panel = bundled_rsa_panel(n_permutations=100)
rng = np.random.default_rng(0)
d = rng.random((4, 4, 6)); d = (d + d.transpose(1, 0, 2)) / 2
for k in range(6):
    np.fill_diagonal(d[:, :, k], 0)
viewer = TimecourseViewer(TimeResolvedRDM(d, np.linspace(0, 0.5, 6), ["a", "b", "c", "d"],
                                          {"method": "lda", "chance": 0.5}))
display(panel, viewer)
"""

JS_SHAPES = """(sel) => {
    const gd = document.querySelector(sel + ' .js-plotly-plot');
    if (!gd || !gd._fullLayout) return null;
    return {rects: (gd._fullLayout.shapes || []).filter(s => s.type === 'rect').length,
            bars: (gd._fullData || []).filter(t => t.type === 'bar').length,
            svg: !!gd.querySelector('.main-svg')};
}"""


def _notebook(path):
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                     "source": _CELL}],
          "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))
    return path


@pytest.fixture(scope="module")
def rsa_page(browser_context, artifacts, chromium_path, tmp_path_factory):
    nb = _notebook(tmp_path_factory.mktemp("rsa_nb") / "rsa_panel.ipynb")
    with voila_server(nb, artifacts / "voila_rsa.log") as url, \
            opened_page(browser_context, url, artifacts, "voila_rsa_panel", ".rdmw-rsa-figure .js-plotly-plot",
                        FIRST_WIDGET_TIMEOUT_S) as page:
        yield page


def test_rsa_bars_with_noise_ceiling_and_csv_download(rsa_page, tmp_path, artifacts):
    from rdm_widgets.creator import RDMCreator
    from rdm_widgets.demo import demo_path
    from rdm_widgets.model_rsa import model_brain_table
    from rdm_widgets.rdm_files import bundled_brain_rdms

    page = rsa_page
    deadline = time.monotonic() + 60
    shapes = None
    while time.monotonic() < deadline:
        shapes = page.evaluate(JS_SHAPES, ".rdmw-rsa-figure")
        if shapes and shapes["svg"]:
            break
        page.wait_for_timeout(250)
    assert shapes == {"rects": 2, "bars": 2, "svg": True}, shapes
    screenshot(page, artifacts, "voila_rsa_panel", height=1900)
    button = page.locator(".rdmw-rsa-download button")
    assert button.is_enabled()
    with page.expect_download() as dl:
        button.click()
    path = tmp_path / dl.value.suggested_filename
    dl.value.save_as(path)
    assert path.name == "rsa_table.csv"
    ref = model_brain_table({"MobileNetV2": RDMCreator().compute_rdms(demo_path("mobilenetv2"))},
                            bundled_brain_rdms(), n_permutations=100, random_state=0, on_error="skip")
    assert path.read_text() == ref.to_csv()


def test_time_resolved_rdm_download(rsa_page, tmp_path):
    from rdm_widgets.eeg import TimeResolvedRDM

    page = rsa_page
    with page.expect_download() as dl:
        page.locator(".rdmw-eeg-download button").click()
    path = tmp_path / dl.value.suggested_filename
    dl.value.save_as(path)
    assert path.name == "eeg_rdm_lda.npz"
    back = TimeResolvedRDM.from_file(path)
    assert back.conditions == ["a", "b", "c", "d"] and back.data.shape == (4, 4, 6)
    np.testing.assert_allclose(back.times, np.linspace(0, 0.5, 6))
