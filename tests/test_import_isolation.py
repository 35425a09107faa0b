"""The compute core must stay UI-free: importing it never imports ipywidgets or plotly."""
import subprocess
import sys

CORE_MODULES = [
    "rdm_widgets",
    "rdm_widgets.distances",
    "rdm_widgets.features",
    "rdm_widgets.creator",
    "rdm_widgets.rdm",
    "rdm_widgets.rsa",
    "rdm_widgets.plotting",
    "rdm_widgets.eeg",
    "rdm_widgets.ordering",
]


def _imported_after(module: str) -> set:
    code = (
        "import sys, importlib; importlib.import_module(%r); "
        "print('\\n'.join(sorted(m.split('.')[0] for m in sys.modules)))" % module
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_core_does_not_import_ui_packages():
    for module in CORE_MODULES:
        loaded = _imported_after(module)
        # tqdm is not listed: torch itself imports it
        for ui in ("ipywidgets", "plotly", "anywidget", "IPython", "traitlets"):
            assert ui not in loaded, f"importing {module} imported {ui}"


def test_widgets_depend_on_core_not_the_reverse():
    loaded = _imported_after("rdm_widgets.widgets")
    assert "ipywidgets" in loaded and "rdm_widgets" in loaded
