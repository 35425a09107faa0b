"""What the browser tests check on a rendered Dashboard, shared by the Voila and JupyterLab tests.

Both checks read what the page really shows: the figure Plotly drew on its graph
div (title and z matrix, ``gd._fullData``; ``data[0].z`` may still be plotly's
base64 typed-array spec) and the DOM of the ipywidgets (progress bar width,
status text, slider position).
"""
from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_MS = 120_000
REDRAW_TIMEOUT_MS = 30_000

JS_FIGURE = """(sel) => {
    const gd = document.querySelector(sel + ' .js-plotly-plot');
    if (!gd || !gd._fullData || !gd._fullData.length) return null;
    const z = gd._fullData[0].z;
    const title = gd.layout && gd.layout.title ? (gd.layout.title.text || gd.layout.title) : '';
    return {title: String(title), z: z ? Array.from(z, row => Array.from(row)) : null,
            svg: !!gd.querySelector('.main-svg'),
            drawnTitle: (gd.querySelector('.gtitle') || {}).textContent || ''};
}"""
JS_PROGRESS = """(sel) => {
    const bar = document.querySelector(sel + ' .progress-bar');
    return bar ? parseFloat(bar.style.width) : null;
}"""
# records every width the progress bar takes from now on (a fast run passes quickly)
JS_WATCH_PROGRESS = """(sel) => {
    const bar = document.querySelector(sel + ' .progress-bar');
    window.__rdmwWidths = [parseFloat(bar.style.width)];
    new MutationObserver(() => window.__rdmwWidths.push(parseFloat(bar.style.width)))
        .observe(bar, {attributes: true, attributeFilter: ['style']});
}"""
_TIME = re.compile(r"t = (-?\d+\.\d{3}) s")


def figure(page, sel: str):
    """``{title, z, svg, drawnTitle}`` of the Plotly figure inside ``sel``, or None."""
    return page.evaluate(JS_FIGURE, sel)


def wait_for_figure(page, sel: str, predicate, timeout_ms: int, what: str):
    """Poll the figure in ``sel`` until ``predicate(fig)``; fail naming the last title seen."""
    deadline = time.monotonic() + timeout_ms / 1000
    fig = None
    while time.monotonic() < deadline:
        fig = figure(page, sel)
        if fig is not None and predicate(fig):
            return fig
        page.wait_for_timeout(250)
    title = None if fig is None else fig["title"]
    pytest.fail(f"{what}: not seen within {timeout_ms / 1000:.0f} s (last figure title: {title!r})")


def screenshot(page, artifacts: Path, name: str, height: int = 1900) -> Path:
    """Screenshot into test-artifacts/; the Voila ones also into docs/screenshots/ (for the
    README) when RDMW_UPDATE_SCREENSHOTS=1.

    The viewport is made ``height`` tall first: Voila and JupyterLab scroll inside their
    own containers, so a "full page" screenshot would stop at the window's height.
    """
    size = page.viewport_size
    path = artifacts / f"{name}.png"
    if size["height"] >= height:
        page.screenshot(path=str(path))
    else:
        page.set_viewport_size({"width": size["width"], "height": height})
        page.wait_for_timeout(500)
        try:
            page.screenshot(path=str(path))
        finally:
            page.set_viewport_size(size)
    if os.environ.get("RDMW_UPDATE_SCREENSHOTS") and name.startswith("voila_"):
        target = REPO / "docs" / "screenshots"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target / path.name)
    return path


def wait_for_initial_heatmap(page, timeout_ms: int = 60_000):
    """The dashboard opens with an RDM computed: wait until its heatmap is drawn."""
    return wait_for_figure(page, ".rdmw-heatmap", lambda f: f["svg"] and f["z"], timeout_ms,
                           "initial RDM heatmap")


def check_dnn_run(page, artifacts: Path, shot: str) -> None:
    """Choose 'euclidean', press Run: progress restarts and reaches 100 %, the heatmap shows the new RDM."""
    page.get_by_role("tab", name="DNN RDMs").click()
    before = wait_for_initial_heatmap(page)
    layer = page.eval_on_selector(".rdmw-layer select", "el => el.value")
    assert before["title"] == f"{layer} · correlation", before["title"]
    assert before["drawnTitle"] == before["title"]
    assert page.eval_on_selector(".rdmw-distance select", "el => el.value") == "correlation"

    page.select_option(".rdmw-distance select", "euclidean")
    page.evaluate(JS_WATCH_PROGRESS, ".rdmw-progress")
    page.click(".rdmw-run")

    # the status names the run's output folder, which contains the distance
    page.wait_for_function(
        """() => { const t = document.querySelector('.rdmw-status').innerText;
                   return t.startsWith('Error') || (t.startsWith('Done') && t.includes('euclidean')); }""",
        timeout=RUN_TIMEOUT_MS)
    status = page.inner_text(".rdmw-status").strip()
    assert status.startswith("Done"), status
    after = wait_for_figure(page, ".rdmw-heatmap", lambda f: f["title"] == f"{layer} · euclidean",
                            REDRAW_TIMEOUT_MS, f"heatmap titled '{layer} · euclidean'")

    assert page.evaluate(JS_PROGRESS, ".rdmw-progress") == pytest.approx(100)
    widths = page.evaluate("window.__rdmwWidths")
    assert min(widths) < 100, f"the progress bar never left 100 %: {widths}"
    assert after["svg"] and after["drawnTitle"] == after["title"]
    # new numbers too: 1 - r is at most 2, euclidean distances of the logits are far larger
    assert len(after["z"]) == len(before["z"]) == 78
    assert before["z"][0][1] <= 2 < after["z"][0][1]
    screenshot(page, artifacts, shot, height=1400)


def check_eeg_slider(page, artifacts: Path, shot: str) -> None:
    """On the EEG tab, keyboard moves of the time slider redraw the RDM at the new time."""
    page.get_by_role("tab", name="EEG").click()
    # opened with the bundled epochs decoded, shown at the peak of the mean timecourse
    start = wait_for_figure(page, ".rdmw-eeg-heatmap", lambda f: f["svg"] and "t = " in f["title"],
                            RUN_TIMEOUT_MS, "initial EEG RDM")
    assert _TIME.search(start["title"]), start["title"]
    assert page.locator(".rdmw-timecourse .js-plotly-plot").count() >= 1
    handle = page.locator(".rdmw-time-slider .noUi-handle")
    index = int(float(handle.get_attribute("aria-valuenow")))
    maximum = int(float(handle.get_attribute("aria-valuemax")))
    key = "ArrowRight" if index < maximum else "ArrowLeft"
    screenshot(page, artifacts, shot, height=1800)

    handle.focus()
    page.keyboard.press(key)
    moved = wait_for_figure(page, ".rdmw-eeg-heatmap", lambda f: f["title"] != start["title"],
                            REDRAW_TIMEOUT_MS, f"EEG heatmap after {key}")
    assert int(float(handle.get_attribute("aria-valuenow"))) == index + (1 if key == "ArrowRight" else -1)
    t_start, t_moved = (float(_TIME.search(f["title"]).group(1)) for f in (start, moved))
    assert (t_moved > t_start) == (key == "ArrowRight")

    # to the first sample, before the cue: decoding there is near chance, unlike at the peak
    page.keyboard.press("Home")
    first = wait_for_figure(page, ".rdmw-eeg-heatmap", lambda f: "t = -0.200 s" in f["title"],
                            REDRAW_TIMEOUT_MS, "EEG heatmap at t = -0.200 s")
    assert int(float(handle.get_attribute("aria-valuenow"))) == 0
    assert first["z"] != start["z"]
    assert first["drawnTitle"] == first["title"]


JS_HEIGHTS = """(sels) => sels.map(sel => [...document.querySelectorAll(sel + ' .js-plotly-plot')]
    .map(g => Math.round(g.getBoundingClientRect().height)))"""
#: the figures each tab shows, and the least height (px) a drawn figure of them has
_TAB_FIGURES = {"DNN RDMs": [".rdmw-heatmap"], "EEG": [".rdmw-eeg-heatmap", ".rdmw-timecourse"]}
_MIN_HEIGHT = 100


def check_figures_keep_size(page) -> None:
    """Switching tabs and resizing the window leaves every figure drawn (height > 0).

    JupyterLab's plotly renderer calls ``Plotly.Plots.resize`` when an output is
    shown again or resized; a figure whose layout does not fix both width and
    height is then re-measured from its container and can collapse to 0 px.
    """
    size = page.viewport_size
    problems = []
    try:
        for step, (tab, sels) in enumerate([*_TAB_FIGURES.items(), *_TAB_FIGURES.items()]):
            if step == 2:
                page.set_viewport_size({"width": size["width"] - 150, "height": size["height"] - 100})
            page.get_by_role("tab", name=tab).click()
            page.wait_for_timeout(1500)
            heights = page.evaluate(JS_HEIGHTS, sels)
            for sel, hs in zip(sels, heights):
                if not hs or min(hs) < _MIN_HEIGHT:
                    problems.append(f"{'after resize, ' if step >= 2 else ''}tab {tab!r}: {sel} figure heights {hs}")
    finally:
        page.set_viewport_size(size)
    assert not problems, "figures collapsed: " + "; ".join(problems)
