"""The package's structure: no import cycle, core never imports the UI, no private name
crosses a module boundary it should not (the graph is built from the source by AST)."""
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from _import_graph import bad_private_imports, build, cycles

PKG = Path(__file__).resolve().parents[1] / "rdm_widgets"
UI = ("ipywidgets", "plotly", "anywidget", "IPython", "traitlets", "voila", "ipykernel")
# Core modules that may import plotly inside a function (LayerRDM.plot returns a plotly figure).
LAZY_PLOTLY = "rdm_widgets.plotting"  # the package and its modules


@pytest.fixture(scope="module")
def graph():
    return build(PKG)


def _is_core(name: str) -> bool:
    return not (name == "rdm_widgets.widgets" or name.startswith("rdm_widgets.widgets."))


def test_no_import_cycle(graph):
    assert cycles(graph) == []


def test_core_never_imports_widgets(graph):
    bad = [f"{m} -> {t}" for m, ts in graph.edges.items() if _is_core(m) for t in ts if not _is_core(t)]
    assert bad == []


def test_core_never_imports_ui_packages(graph):
    bad = []
    for m, ext in graph.external.items():
        if not _is_core(m):
            continue
        for pkg, uses in ext.items():
            if pkg not in UI:
                continue
            for line, lazy in uses:
                if not (pkg == "plotly" and lazy and (m == LAZY_PLOTLY or m.startswith(LAZY_PLOTLY + "."))):
                    bad.append(f"{m}:{line} imports {pkg}" + (" (lazily)" if lazy else ""))
    assert bad == []


def test_no_private_name_crosses_a_boundary(graph):
    assert bad_private_imports(graph) == []


def test_version_is_read_without_importing_the_package(graph):
    bad = [m for m, ts in graph.edges.items() if m != "rdm_widgets" and "rdm_widgets" in ts]
    assert bad == []


def test_widgets_are_built_on_the_core(graph):
    used = {t for m, ts in graph.edges.items() if not _is_core(m) for t in ts if _is_core(t)}
    assert "rdm_widgets.rdm" in used or any(t.startswith("rdm_widgets.") for t in used)
    assert "ipywidgets" in graph.external["rdm_widgets.widgets.dashboard"] or any(
        "ipywidgets" in graph.external[m] for m in graph.modules if not _is_core(m))


def test_importing_the_core_loads_no_ui_package():
    """One interpreter imports every core module; none of them may pull in a UI package."""
    g = build(PKG)
    core = sorted(m for m in g.modules if _is_core(m))
    code = textwrap.dedent(f"""
        import importlib, sys
        for m in {core!r}:
            importlib.import_module(m)
        print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split())
    assert "rdm_widgets" in loaded
    assert not loaded & set(UI), loaded & set(UI)


# ---------------------------------------------------------------- the checker can fail
def _write(root: Path, files: dict) -> Path:
    for rel, text in files.items():
        p = root / "pkg" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return root / "pkg"


def test_checker_finds_a_lazy_cycle_and_a_widgets_edge(tmp_path):
    pkg = _write(tmp_path, {
        "__init__.py": "",
        "a.py": "from .b import f\n",
        "b.py": "def f():\n    from .a import g\n",
        "core.py": "def h():\n    from .widgets.panel import P\n",
        "widgets/__init__.py": "",
        "widgets/panel.py": "import ipywidgets\nfrom ..core import h\n",
    })
    g = build(pkg)
    assert cycles(g) == [["pkg.a", "pkg.b"], ["pkg.core", "pkg.widgets.panel"]]
    assert "pkg.widgets.panel" in g.edges["pkg.core"]
    assert g.external["pkg.widgets.panel"]["ipywidgets"] == [(1, False)]


def test_checker_finds_private_names_across_boundaries(tmp_path):
    pkg = _write(tmp_path, {
        "__init__.py": "",
        "creator.py": "_staged = 1\n",
        "batch.py": "from .creator import _staged\nfrom ._io import _ok\n",
        "_io.py": "_ok = 1\n",
        "eeg/__init__.py": "",
        "eeg/_api.py": "_check = 1\n",
        "estimate.py": "from .eeg._api import _check\n",
    })
    bad = bad_private_imports(build(pkg))
    assert bad == ["pkg.batch:1 imports _staged from pkg.creator", "pkg.estimate:1 imports _check from pkg.eeg._api"]
