"""A served dashboard cleans up after its visitors: kernels of closed pages are culled, and
each page's upload folder goes with its kernel.

The server is the command ``make -n dashboard`` prints (so the culling flags are the
Makefile's), with short culling times passed as make variables. The kernels are counted as
the Voila process' child processes running ``ipykernel``; every kernel gets the server's
``TMPDIR``, a fresh folder here, so the pages' ``rdmw_upload_*`` folders can be counted too.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import free_port, stop_process, wait_for_port

psutil = pytest.importorskip("psutil")

REPO = Path(__file__).resolve().parents[2]
PAGES = 3
IDLE_S, INTERVAL_S = 8, 2


def _command(port: int) -> str:
    out = subprocess.run(["make", "-n", "dashboard", f"PORT={port}", f"CULL_IDLE_TIMEOUT={IDLE_S}",
                          f"CULL_INTERVAL={INTERVAL_S}"], cwd=REPO, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    line = next(x for x in out.replace("\\\n", " ").splitlines() if "voila notebooks/dashboard.ipynb" in x)
    assert f"cull_idle_timeout={IDLE_S}" in line and f"cull_interval={INTERVAL_S}" in line, line
    return line.replace(".venv/bin/voila", f"exec {sys.executable} -m voila", 1)


def _kernels(proc) -> list:
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    out = []
    for child in children:
        try:
            if "ipykernel" in " ".join(child.cmdline()):
                out.append(child)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return out


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.mark.timeout(900)
def test_closed_pages_lose_their_kernels_and_upload_folders(browser_context, artifacts, tmp_path):
    port = free_port()
    tmp = tmp_path / "server_tmp"
    tmp.mkdir()
    log = artifacts / "voila_culling.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1", TMPDIR=str(tmp))
    with open(log, "wb") as fh:
        proc = subprocess.Popen(["bash", "-c", _command(port)], cwd=REPO, stdout=fh,
                                stderr=subprocess.STDOUT, env=env)
    try:
        wait_for_port(port, proc, 120, log)
        kernels, uploads = set(), set()        # every kernel and upload folder seen (early ones may be culled already)
        for _ in range(PAGES):
            page = browser_context.new_page()
            page.goto(f"http://127.0.0.1:{port}/", wait_until="commit")
            page.wait_for_selector(".rdmw-run", timeout=240_000)    # the kernel ran the notebook
            kernels |= {k.pid for k in _kernels(proc)}
            uploads |= {p.name for p in tmp.iterdir() if p.name.startswith("rdmw_upload_")}
            page.close()
        assert len(kernels) >= PAGES, f"expected a kernel per visited page, saw {sorted(kernels)}"
        assert len(uploads) >= PAGES, sorted(uploads)
        # closed pages: culled after IDLE_S of inactivity, checked every INTERVAL_S
        _wait(lambda: not _kernels(proc), 6 * (IDLE_S + INTERVAL_S) + 60, "the kernels to be culled")
        _wait(lambda: not [p for p in tmp.iterdir() if p.name.startswith("rdmw_upload_")], 30,
              "the upload folders of the culled kernels to be removed")
        assert proc.poll() is None, "the server itself must keep running"
    finally:
        stop_process(proc)
