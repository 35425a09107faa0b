"""The same dashboard in JupyterLab: open the notebook, run all cells, use both tabs.

JupyterLab renders the Outputs' Plotly mime bundles with plotly's own lab
extension, a different path than Voila's, so it is checked separately.
Screenshots: ``test-artifacts/lab_dnn.png`` and ``lab_eeg.png``.
"""
from __future__ import annotations

import time

import pytest

from dashboard_checks import check_dnn_run, check_eeg_slider, check_figures_keep_size, wait_for_initial_heatmap

LAB_READY_TIMEOUT_MS = 180_000

JS_KERNEL_IDLE = """() => {
    const app = window.jupyterapp;
    const w = app && app.shell.currentWidget;
    const ctx = w && w.sessionContext;
    return !!(ctx && ctx.session && ctx.session.kernel && ctx.kernelDisplayStatus === 'idle');
}"""


@pytest.fixture(scope="module")
def lab_dashboard(browser_context, jupyterlab_url, artifacts):
    page = browser_context.new_page()
    # tall from the start: resizing makes JupyterLab's plotly renderer re-measure the figures
    page.set_viewport_size({"width": 1400, "height": 1800})
    messages: list[str] = []
    page.on("console", lambda m: messages.append(f"[{m.type}] {m.text}"))
    page.on("pageerror", lambda e: messages.append(f"[pageerror] {e}"))
    t0 = time.monotonic()
    try:
        page.goto(jupyterlab_url, wait_until="commit")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=LAB_READY_TIMEOUT_MS)
        # the notebook names kernel python3, so no "Select Kernel" dialog is expected; accept one if shown
        deadline = time.monotonic() + LAB_READY_TIMEOUT_MS / 1000
        while not page.evaluate(JS_KERNEL_IDLE):
            dialog = page.locator(".jp-Dialog .jp-mod-accept")
            if dialog.count():
                dialog.first.click()
            if time.monotonic() > deadline:
                pytest.fail("the notebook's kernel did not become idle in JupyterLab")
            page.wait_for_timeout(500)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_selector(".rdmw-run", timeout=LAB_READY_TIMEOUT_MS)
        wait_for_initial_heatmap(page, LAB_READY_TIMEOUT_MS)
        messages.append(f"[test] dashboard ready after {time.monotonic() - t0:.1f} s")
        yield page
    except BaseException:
        page.screenshot(path=str(artifacts / "lab_failure.png"))
        raise
    finally:
        (artifacts / "jupyterlab.console.log").write_text("\n".join(messages))
        page.close()


@pytest.mark.timeout(600)
def test_lab_dnn_run_redraws_heatmap(lab_dashboard, artifacts):
    check_dnn_run(lab_dashboard, artifacts, "lab_dnn")


@pytest.mark.timeout(600)
def test_lab_eeg_time_slider_redraws_heatmap(lab_dashboard, artifacts):
    check_eeg_slider(lab_dashboard, artifacts, "lab_eeg")


# Figures keep their size when JupyterLab re-measures them (tab shown again, window resized).
@pytest.mark.timeout(300)
def test_lab_figures_survive_tab_switch_and_resize(lab_dashboard):
    check_figures_keep_size(lab_dashboard)
