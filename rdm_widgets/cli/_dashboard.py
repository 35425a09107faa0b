"""``rdm-widgets dashboard [DATA]``: the Voila dashboard on a data folder.

Runs ``voila notebooks/dashboard.ipynb`` (the notebook of a source checkout or an editable
install; a wheel does not ship it) with ``RDMW_DATA_ROOT=DATA`` in the environment (the
dashboard reads it), on 127.0.0.1 without opening a browser -- as ``make dashboard DATA=...``.
Voila is started as a program (``voila`` on PATH, else beside this Python); it is never
imported here.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ._common import add_command, add_common

__all__ = ["add_dashboard", "notebook_path", "voila_command", "ENV_DATA_ROOT"]

#: the variable the dashboard reads its data folder from (rdm_widgets.widgets.dashboard)
ENV_DATA_ROOT = "RDMW_DATA_ROOT"
#: kernels of closed pages are culled after this many seconds idle (as `make dashboard`)
CULL_IDLE_TIMEOUT, CULL_INTERVAL = 300, 30

_EXAMPLES = """\
  rdm-widgets dashboard                      # the bundled data
  rdm-widgets dashboard /data/my_study --port 8866
  ssh -L 8866:127.0.0.1:8866 cluster         # then open http://127.0.0.1:8866 on your machine
"""


def notebook_path() -> Path:
    """``notebooks/dashboard.ipynb`` next to the package (a checkout or an editable install)."""
    path = Path(__file__).resolve().parents[2] / "notebooks" / "dashboard.ipynb"
    if not path.is_file():
        raise FileNotFoundError(
            f"The dashboard notebook is not installed ({path} does not exist; wheels do not ship "
            "notebooks/). Run it from a source checkout: git clone the repository, pip install -e "
            "'.[dashboard]', then rdm-widgets dashboard.")
    return path


def voila_command() -> str:
    """The ``voila`` executable: on PATH, else in this Python's scripts folder."""
    found = shutil.which("voila")
    if found is None:
        beside = Path(sys.executable).parent / ("voila.exe" if os.name == "nt" else "voila")
        found = str(beside) if beside.is_file() else None
    if found is None:
        raise ImportError("The dashboard needs Voila, which is not installed: pip install 'rdm_widgets[dashboard]'.")
    return found


def add_dashboard(subparsers) -> None:
    p = add_command(subparsers, "dashboard", "the Voila dashboard on a data folder", _EXAMPLES,
                    "Serve the dashboard (DNN RDMs, EEG, Model vs brain) on 127.0.0.1 with Voila; its file "
                    "choosers are confined to DATA (default: $RDMW_DATA_ROOT, else the bundled data). "
                    "Stop it with Ctrl+C.")
    p.add_argument("data", metavar="DATA", nargs="?", default=None, help="data folder the dashboard may read")
    p.add_argument("--port", type=int, default=8866, help="port (default: 8866)")
    add_common(p, progress=False)
    p.set_defaults(run=run_dashboard)


def run_dashboard(args) -> int:
    env = dict(os.environ)
    if args.data is not None:
        data = Path(args.data).expanduser().resolve()
        if not data.is_dir():
            raise NotADirectoryError(f"DATA must be a folder; {str(args.data)!r} is not one.")
        env[ENV_DATA_ROOT] = str(data)
    notebook = notebook_path()
    cmd = [voila_command(), str(notebook), "--no-browser", f"--port={args.port}", "--Voila.ip=127.0.0.1",
           f"--Voila.config_file_paths={notebook.parent}",
           f"--MappingKernelManager.cull_idle_timeout={CULL_IDLE_TIMEOUT}",
           f"--MappingKernelManager.cull_interval={CULL_INTERVAL}"]
    return subprocess.call(cmd, env=env)
