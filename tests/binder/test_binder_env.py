"""Build the Binder environment as repo2docker would (without Docker) and use it.

1. copy the repository (the files git would commit) to a temporary folder;
2. fresh ``python -m venv``; ``pip install -r binder/requirements.txt``; where PyTorch's CPU
   index cannot be reached (the build machines), its ``--extra-index-url`` line is removed and
   ``torch==2.13.0`` comes from the local CPU wheel pip is configured with;
3. run ``binder/postBuild`` from the copy's root with the venv first on PATH;
4. execute every notebook in ``notebooks/`` with that venv's kernel;
5. start that venv's ``jupyter server`` (Voila as a server extension, as on Binder) on a free
   port and fetch ``/voila/render/notebooks/dashboard.ipynb``.

Takes minutes (package installation); pip's cache makes reruns faster.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BINDER = REPO / "binder"
DASHBOARD_URL_PATH = "voila/render/notebooks/dashboard.ipynb"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"

pytestmark = [pytest.mark.binder, pytest.mark.slow, pytest.mark.timeout(3600)]

# What the copy leaves out when git cannot list the repository's files.
_IGNORE = shutil.ignore_patterns(".git", ".venv", ".dev", "__pycache__", "*.pyc", ".pytest_cache",
                                 "build", "dist", "*.egg-info", ".ipynb_checkpoints",
                                 "test-artifacts", "rdms_*", ".whl")

# Runs inside the Binder venv: executes notebooks with nbclient and that venv's kernel.
_RUNNER = r'''
import json, sys, time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

# The "python3" kernel must be this environment's Python, not one registered elsewhere.
probe = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys; print(sys.prefix)")])
NotebookClient(probe, timeout=120, kernel_name="python3").execute()
kernel_prefix = probe.cells[0].outputs[0]["text"].strip()
if Path(kernel_prefix).resolve() != Path(sys.prefix).resolve():
    sys.exit(f"kernel python3 runs in {kernel_prefix}, not in the Binder venv {sys.prefix}")

times, errors = {}, {}
for name in sys.argv[1:]:  # all of them, so that one report lists every failing notebook
    path = Path(name)
    nb = nbformat.read(path, as_version=4)
    t0 = time.perf_counter()
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    except Exception as err:  # CellExecutionError, timeouts, dead kernels
        errors[path.name] = f"{type(err).__name__}: {err}"[-3000:]
    times[path.name] = round(time.perf_counter() - t0, 1)
    print(f"{'FAILED' if path.name in errors else 'executed'} {path.name} in {times[path.name]} s",
          flush=True)
print("RESULT " + json.dumps({"times": times, "errors": errors}))
'''


def _listing(repo: Path) -> set:
    """Files directly in the repository root and in notebooks/ (what a careless notebook would litter)."""
    return {p.name for p in repo.iterdir()} | {f"notebooks/{p.name}" for p in (repo / "notebooks").iterdir()}


def _tail(path: Path, n: int = 4000) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return text[-n:]


def _run(cmd, log: Path, **kwargs) -> None:
    """Run a command, its output in ``log``; fail with the log's tail."""
    with open(log, "w") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, **kwargs)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} exited with {proc.returncode}:\n{_tail(log)}")


def _copy_repo(dest: Path) -> None:
    """Copy the files a commit would hold (tracked + untracked, not ignored), as Binder clones."""
    try:
        out = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], capture_output=True, check=True).stdout
        files = [f for f in out.decode().split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        files = None
    if not files:
        shutil.copytree(REPO, dest, ignore=_IGNORE, symlinks=True)
        return
    for rel in files:
        src = REPO / rel
        if not src.is_file():  # deleted in the working tree but still tracked
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)  # keeps the executable bit of postBuild


def _torch_index_reachable(url: str = TORCH_CPU_INDEX, timeout: float = 5.0) -> bool:
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/torch/", timeout=timeout) as resp:
            return resp.status == 200
    except (OSError, ValueError):
        return False


def _requirements_without_torch_index(src: Path, dest: Path) -> list[str]:
    """Write ``src`` without PyTorch's index lines; return the dropped lines.

    Only used where that index cannot be reached: pip then takes torch==2.13.0 from the local
    CPU wheel it is configured with (elsewhere PyPI would give the CUDA build instead).
    """
    kept, dropped = [], []
    for line in src.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith(("--extra-index-url", "--index-url", "-i ")) \
                and "download.pytorch.org" in stripped:
            dropped.append(stripped)
        else:
            kept.append(line)
    dest.write_text("\n".join(kept) + "\n")
    return dropped


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"jupyter server exited with {proc.returncode}:\n{_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                return
        except OSError:
            time.sleep(1)
    pytest.fail(f"jupyter server did not listen on port {port} within {timeout} s:\n{_tail(log)}")


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server we started (by its PID), then anything left in its process group."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
    try:  # kernels the server started; the group was created for this server only
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _remove_in_background(path: Path) -> None:
    """Delete the ~1.7 GB venv without making the test wait (tens of seconds on a busy disk)."""
    if not path.exists():
        return
    trash = path.with_name(path.name + ".deleting")
    try:
        path.rename(trash)
        subprocess.Popen(["rm", "-rf", str(trash)], start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        shutil.rmtree(path, ignore_errors=True)


def _python_for_runtime() -> str:
    """An interpreter with the version binder/runtime.txt asks for."""
    text = (BINDER / "runtime.txt").read_text().strip()
    m = re.fullmatch(r"python-(\d+)\.(\d+)", text)
    assert m, f"binder/runtime.txt must read like 'python-3.11'; got {text!r}"
    want = f"{m.group(1)}.{m.group(2)}"
    if f"{sys.version_info.major}.{sys.version_info.minor}" == want:
        return sys.executable
    found = shutil.which(f"python{want}")
    if found is None:
        pytest.skip(f"binder/runtime.txt asks for Python {want}; no python{want} on PATH")
    return found


def test_binder_spec_files():
    """The spec itself: Python 3.11, CPU-only torch pinned, postBuild executable and installing."""
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"
    req = (BINDER / "requirements.txt").read_text().splitlines()
    lines = [ln.strip() for ln in req if ln.strip() and not ln.strip().startswith("#")]
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    assert "torch==2.13.0" in lines
    names = {re.split(r"[=<>!~\[ ]", ln, maxsplit=1)[0].lower().replace("_", "-")
             for ln in lines if not ln.startswith("-")}
    # every runtime dependency of the package must be in the Binder environment
    import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    wanted = {re.split(r"[=<>!~\[ ;]", d, maxsplit=1)[0].lower().replace("_", "-") for d in deps}
    assert wanted <= names, f"binder/requirements.txt lacks {sorted(wanted - names)}"
    # and every pinned version must satisfy the package's own requirement
    from packaging.requirements import Requirement

    pins = {}
    for ln in lines:
        if not ln.startswith("-"):
            req = Requirement(ln)
            pins[req.name.lower().replace("_", "-")] = req
    for dep in map(Requirement, deps):
        pin = pins[dep.name.lower().replace("_", "-")]
        exact = [sp.version for sp in pin.specifier if sp.operator == "=="]
        assert exact, f"binder/requirements.txt should pin {pin.name} with '=='; got {str(pin)!r}"
        assert dep.specifier.contains(exact[0], prereleases=True), \
            f"binder/requirements.txt pins {pin}, but pyproject.toml requires {dep}"
    post = BINDER / "postBuild"
    assert os.access(post, os.X_OK), "binder/postBuild must be executable (chmod +x)"
    text = post.read_text()
    assert text.startswith("#!"), "binder/postBuild needs a shebang line"
    assert re.search(r"pip install .*(-e \.|\s\.$)", text, re.M), "postBuild must install the package"


@pytest.mark.executes_notebooks
def test_binder_environment(tmp_path):
    t_start = time.perf_counter()
    python = _python_for_runtime()
    repo = tmp_path / "repo"
    venv = tmp_path / "venv"
    logs = tmp_path / "logs"
    logs.mkdir()
    _copy_repo(repo)
    notebooks = sorted((repo / "notebooks").glob("*.ipynb"))
    assert (repo / "notebooks" / "dashboard.ipynb") in notebooks, "notebooks/dashboard.ipynb is missing"

    jupyter_home = tmp_path / "jupyter"  # keep user-level Jupyter config/kernels out, as on Binder
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "JUPYTER_PATH",
                        "JUPYTER_CONFIG_PATH")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv),
               JUPYTER_CONFIG_DIR=str(jupyter_home / "config"),
               JUPYTER_DATA_DIR=str(jupyter_home / "data"),
               JUPYTER_RUNTIME_DIR=str(jupyter_home / "runtime"),
               IPYTHONDIR=str(jupyter_home / "ipython"), PYTHONUNBUFFERED="1")
    try:
        # 2. fresh environment from binder/requirements.txt
        _run([python, "-m", "venv", str(venv)], logs / "venv.log")
        req = repo / "binder" / "requirements.txt"
        if not _torch_index_reachable():
            req = tmp_path / "requirements.txt"
            dropped = _requirements_without_torch_index(repo / "binder" / "requirements.txt", req)
            assert dropped == [f"--extra-index-url {TORCH_CPU_INDEX}"]
        vpy = str(venv / "bin" / "python")
        _run([vpy, "-m", "pip", "install", "-r", str(req)], logs / "pip.log", env=env, cwd=repo)
        t_install = time.perf_counter()

        # 3. postBuild, from the repository root as repo2docker runs it
        before = {p.name for p in repo.iterdir()}
        _run([str(repo / "binder" / "postBuild")], logs / "postBuild.log", env=env, cwd=repo)
        created = {p.name for p in repo.iterdir()} - before
        server_config = json.loads((jupyter_home / "config" / "jupyter_server_config.json").read_text())
        assert server_config["ServerApp"]["tornado_settings"]["websocket_max_message_size"] >= 100 * 2**20
        assert server_config["MappingKernelManager"]["cull_idle_timeout"] > 0
        assert not created, f"postBuild left build artefacts in the repository: {sorted(created)}"
        check = subprocess.run(
            [vpy, "-c", "import json, torch, rdm_widgets, voila; print(json.dumps("
             "[torch.__version__, torch.version.cuda, rdm_widgets.__file__]))"],
            capture_output=True, text=True, env=env, cwd=tmp_path)
        assert check.returncode == 0, check.stderr
        torch_version, cuda, pkg_file = json.loads(check.stdout)
        assert torch_version.startswith("2.13.0") and cuda is None, (torch_version, cuda)
        # installed from the repository copy (editable), so the bundled demo data is there
        assert Path(pkg_file).resolve().is_relative_to(repo.resolve()), pkg_file
        ext = subprocess.run([str(venv / "bin" / "jupyter"), "server", "extension", "list"],
                             capture_output=True, text=True, env=env, cwd=repo)
        ext_text = re.sub(r"\x1b\[[0-9;]*m", "", ext.stdout + ext.stderr)  # drop colours
        assert re.search(r"voila\.server_extension\s+enabled", ext_text), ext_text
        assert re.search(r"voila\.server_extension\s+OK", ext_text), ext_text

        # 4. every notebook, with the venv's kernel
        runner = tmp_path / "run_notebooks.py"
        runner.write_text(_RUNNER)
        listing = _listing(repo)
        _run([vpy, str(runner), *map(str, notebooks)], logs / "notebooks.log", env=env,
             cwd=repo / "notebooks")
        assert _listing(repo) == listing, f"notebooks wrote into the repository: {_listing(repo) ^ listing}"
        result_line = [ln for ln in (logs / "notebooks.log").read_text().splitlines()
                       if ln.startswith("RESULT ")]
        assert result_line, _tail(logs / "notebooks.log")
        result = json.loads(result_line[-1][len("RESULT "):])
        nb_times, nb_errors = result["times"], result["errors"]
        assert set(nb_times) == {p.name for p in notebooks}
        t_notebooks = time.perf_counter()

        # 5. the dashboard through jupyter server + Voila extension, as Binder's urlpath opens it
        port = _free_port()
        server_log = logs / "server.log"
        with open(server_log, "w") as fh:
            server = subprocess.Popen(
                [str(venv / "bin" / "jupyter"), "server", "--no-browser", "--allow-root",
                 "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.ip=127.0.0.1",
                 f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
                 f"--ServerApp.root_dir={repo}"],
                stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=repo, start_new_session=True)
        try:
            _wait_for_port(port, server, server_log)
            url = f"http://127.0.0.1:{port}/{DASHBOARD_URL_PATH}"
            try:
                # Voila executes the notebook while streaming the page: allow minutes under load
                with urllib.request.urlopen(url, timeout=600) as resp:
                    status, html = resp.status, resp.read().decode("utf-8", "replace")
            except urllib.error.HTTPError as err:
                pytest.fail(f"GET {url} -> HTTP {err.code}:\n{_tail(server_log)}")
        finally:
            _stop(server)
        assert status == 200
        assert "application/vnd.jupyter.widget-view+json" in html, \
            f"no widget output in the Voila page:\n{html[-3000:]}\n{_tail(server_log)}"
        assert re.search(r'"model_id"\s*:\s*"[0-9a-f]{32}"', html), "no widget model id in the page"
        for bad in ("Traceback (most recent call last)", "There was an error when executing cell"):
            assert bad not in html, f"the dashboard failed in Voila:\n{html[-3000:]}"
        t_end = time.perf_counter()
        print(f"binder env: install {t_install - t_start:.0f} s, notebooks "
              f"{t_notebooks - t_install:.0f} s ({nb_times}), voila {t_end - t_notebooks:.0f} s, "
              f"total {t_end - t_start:.0f} s")
        # checked after the dashboard so that one run reports both
        assert not nb_errors, "notebooks failed in the Binder environment:\n\n" + "\n\n".join(
            f"{name}: {msg}" for name, msg in nb_errors.items())
    finally:
        _remove_in_background(venv)
