"""Fixtures of the browser tests: real Voila and JupyterLab servers, headless Chromium via Playwright.

Every test in this folder gets the ``browser`` marker. The tests need Debian's
Chromium (``make chromium``; Playwright's own browser download does not work on
the development machines) and JupyterLab. Without them they are skipped locally
and FAIL in CI (env ``CI`` set), so a CI run can never pass by skipping them.

Screenshots and server logs go to ``test-artifacts/`` (gitignored).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
DASHBOARD = REPO / "notebooks" / "dashboard.ipynb"
CHROMIUM = os.environ.get("RDMW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)


def _missing(what: str):
    """Skip locally; fail in CI, where the browser tests must really run."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} (CI is set, so the browser tests must run: `make chromium`).")
    pytest.skip(what)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float, log: Path) -> None:
    """Wait until something accepts TCP connections on 127.0.0.1:port (Voila's /api/status is 403)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode}; log:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:.0f} s; log:\n{log.read_text()[-3000:]}")


def stop_process(proc: subprocess.Popen) -> None:
    """Stop a server started by these fixtures (by its PID): terminate, then kill."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _missing(f"Chromium not found at {CHROMIUM}")
    return CHROMIUM


@contextlib.contextmanager
def voila_server(notebook: Path, log: Path):
    """Serve ``notebook`` with Voila on a free 127.0.0.1 port; yields its URL."""
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "voila", str(notebook), "--no-browser", f"--port={port}",
             "--Voila.ip=127.0.0.1"],
            cwd=REPO, stdout=fh, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for_port(port, proc, 120, log)
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop_process(proc)


@contextlib.contextmanager
def opened_page(browser_context, url: str, artifacts: Path, name: str, ready: str, timeout_s: float = 180):
    """Open ``url`` in a new tab and wait for the CSS selector ``ready``; yields the page.

    Voila streams its page, so ``goto`` returns at "commit" (the default "load" would time
    out); the first widget appeared after 22-56 s on a loaded 2-core machine, hence the
    generous ``timeout_s``. Console messages go to ``test-artifacts/<name>.console.log``, and
    a failure while opening leaves ``<name>_failure.png``.
    """
    page = browser_context.new_page()
    messages: list[str] = []
    page.on("console", lambda m: messages.append(f"[{m.type}] {m.text}"))
    page.on("pageerror", lambda e: messages.append(f"[pageerror] {e}"))
    t0 = time.monotonic()
    try:
        try:
            page.goto(url, wait_until="commit")
            page.wait_for_selector(ready, timeout=timeout_s * 1000)
        except BaseException:
            page.screenshot(path=str(artifacts / f"{name}_failure.png"))
            raise
        messages.append(f"[test] {ready} after {time.monotonic() - t0:.1f} s")
        yield page
    finally:
        (artifacts / f"{name}.console.log").write_text("\n".join(messages))
        page.close()


@pytest.fixture(scope="session")
def voila_url(artifacts, chromium_path):
    """URL of a Voila server showing notebooks/dashboard.ipynb on a free 127.0.0.1 port."""
    with voila_server(DASHBOARD, artifacts / "voila.log") as url:
        yield url


@pytest.fixture(scope="session")
def browser_context(chromium_path):
    """A headless Chromium with a fresh user-data dir (Playwright sync API)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is a test dependency
        _missing("the playwright Python package is not installed")
    profile = tempfile.mkdtemp(prefix="rdmw-chromium-")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000})
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser_context, artifacts, request):
    """A new tab; its console errors are written to test-artifacts/<test>.console.log."""
    pg = browser_context.new_page()
    messages: list[str] = []
    pg.on("console", lambda m: messages.append(f"[{m.type}] {m.text}"))
    pg.on("pageerror", lambda e: messages.append(f"[pageerror] {e}"))
    try:
        yield pg
    finally:
        (artifacts / f"{request.node.name}.console.log").write_text("\n".join(messages))
        pg.close()


@pytest.fixture(scope="session")
def jupyterlab_url(artifacts, chromium_path, tmp_path_factory):
    """URL of a JupyterLab server whose root is a temp folder holding a copy of the dashboard notebook.

    JupyterLab autosaves notebooks, hence the copy; settings and workspaces are
    fresh temp folders too, so no saved layout or dialog of an earlier run interferes.
    """
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        _missing("JupyterLab is not installed (pip install jupyterlab)")
    root = tmp_path_factory.mktemp("lab")
    (root / "nb").mkdir()
    shutil.copy(DASHBOARD, root / "nb" / DASHBOARD.name)
    # no "get notified about Jupyter news?" popup over the notebook
    news = root / "settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    port = free_port()
    token = os.urandom(12).hex()
    log = artifacts / "jupyterlab.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1", JUPYTER_RUNTIME_DIR=str(root / "runtime"))
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root / 'nb'}",
           f"--LabApp.user_settings_dir={root / 'settings'}", f"--LabApp.workspaces_dir={root / 'workspaces'}",
           "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           # lets the test call JupyterLab commands (run all cells) through window.jupyterapp
           "--LabApp.expose_app_in_browser=True"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=root, stdout=fh, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for_port(port, proc, 120, log)
        yield f"http://127.0.0.1:{port}/lab/tree/{DASHBOARD.name}?token={token}"
    finally:
        stop_process(proc)
