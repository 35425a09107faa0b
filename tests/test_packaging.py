"""Packaging: the compute core installs without Jupyter; the extras layer on top of it."""
import re
import sys
from pathlib import Path

import pytest

if sys.version_info < (3, 11):
    pytest.skip("tomllib needs Python 3.11", allow_module_level=True)
import tomllib

REPO = Path(__file__).resolve().parents[1]
JUPYTER = {"ipywidgets", "anywidget", "ipykernel", "voila", "jupyter-server", "jupyter_server",
           "jupyterlab", "notebook", "ipython", "jupyter-client", "jupyter_client"}


def _name(req: str) -> str:
    return re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0].strip().lower()


@pytest.fixture(scope="module")
def project():
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def test_core_dependencies_have_no_jupyter(project):
    core = {_name(r) for r in project["dependencies"]}
    assert {"numpy", "scipy", "torch", "scikit-learn", "h5py"} <= core
    assert not core & JUPYTER, core & JUPYTER


def test_extras_build_on_each_other(project):
    extras = project["optional-dependencies"]
    assert {_name(r) for r in extras["widgets"]} >= {"ipywidgets", "anywidget"}
    dash = extras["dashboard"]
    assert "rdm_widgets[widgets]" in dash and {"voila", "ipykernel"} <= {_name(r) for r in dash}
    assert any(r.startswith("rdm_widgets[") and "dashboard" in r for r in extras["test"])


def test_binder_installs_what_the_dashboard_extra_needs(project):
    pinned = {_name(line) for line in (REPO / "binder" / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith(("#", "-"))}
    # the dashboard, and the peers that notebooks/06_bring_your_own_data.ipynb uses
    needed = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["widgets"]
              + project["optional-dependencies"]["dashboard"] + project["optional-dependencies"]["interop"]
              if not r.startswith("rdm_widgets")}
    assert needed <= pinned, needed - pinned


def test_make_dashboard_installs_the_dashboard_extra_only():
    text = (REPO / "Makefile").read_text()
    assert "pip install -e '.[dashboard]'" in text and "pip install -e '.[test]'" in text
    dash = re.search(r"^dashboard: (.*)$", text, re.M).group(1)
    assert "venv-dashboard" in dash


def test_widgets_without_the_extra_say_how_to_install():
    import subprocess

    code = ("import sys; sys.modules['ipywidgets'] = None\n"
            "import rdm_widgets\n"                       # the core imports fine
            "try:\n    import rdm_widgets.widgets\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "ipywidgets" in out and 'pip install "rdm_widgets[widgets]"' in out
