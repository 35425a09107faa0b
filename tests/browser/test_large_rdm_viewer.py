"""notebooks/05_large_rdms.ipynb in Voila + headless Chromium: the on-disk RDM viewer is browsable.

The page opens on the overview (block means of the whole RDM); a click on the small navigator
canvas must bring the heatmap to full resolution around the clicked cell (title without "block
means", the info line says so, and the drawn matrix is the 400 x 400 window); "Whole RDM" goes back.
"""
from __future__ import annotations


import pytest

from conftest import REPO, opened_page, voila_server
from dashboard_checks import screenshot, wait_for_figure

NOTEBOOK = REPO / "notebooks" / "05_large_rdms.ipynb"
FIRST_WIDGET_TIMEOUT_S = 240


@pytest.fixture(scope="module")
def large_page(browser_context, artifacts, chromium_path):
    with voila_server(NOTEBOOK, artifacts / "voila_large.log") as url, \
            opened_page(browser_context, url, artifacts, "voila_large", ".rdmw-ondisk-viewer canvas",
                        FIRST_WIDGET_TIMEOUT_S) as page:
        yield page


def test_overview_click_zooms_to_full_resolution(large_page, artifacts):
    page = large_page
    sel = ".rdmw-ondisk-viewer .rdmw-heatmap"
    over = wait_for_figure(page, sel, lambda f: f["svg"] and f["z"] and "block means" in f["title"], 60_000,
                           "overview heatmap")
    assert len(over["z"]) == 750                                   # 6000 stimuli as 8 x 8 block means
    canvas = page.locator(".rdmw-ondisk-navigator canvas")
    box = canvas.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.6)
    full = wait_for_figure(page, sel, lambda f: f["svg"] and f["z"] and "block means" not in f["title"],
                           30_000, "full-resolution heatmap after a click on the overview")
    assert len(full["z"]) == 400 and len(full["z"][0]) == 400
    info = page.locator(".rdmw-ondisk-info").inner_text()
    assert "full resolution" in info, info
    screenshot(page, artifacts, "voila_large_rdm", height=1400)
    page.locator(".rdmw-reset").click()
    wait_for_figure(page, sel, lambda f: f["z"] and len(f["z"]) == 750, 30_000, "overview after 'Whole RDM'")
