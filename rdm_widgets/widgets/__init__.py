"""ipywidgets panels and viewers for rdm_widgets (JupyterLab and Voila).

Panels take their compute function as a parameter (the real core by default),
run it in a background thread with a live progress bar and a Stop button, and
keep their state in traitlets. Figures are plain Plotly figures shown through
``ipywidgets.Output`` mime bundles, which work from threads and in Voila.

The compute core installs without these packages; the panels need the ``widgets``
extra (``pip install "rdm_widgets[widgets]"``) and the served dashboard the
``dashboard`` extra.
"""
import importlib.util as _util

_missing = [m for m in ("ipywidgets", "anywidget") if _util.find_spec(m) is None]
if _missing:
    raise ImportError(
        f"rdm_widgets.widgets needs {', '.join(_missing)}, which the compute core does not install. "
        'Install the widgets extra: pip install "rdm_widgets[widgets]" (or "rdm_widgets[dashboard]" '
        "for the Voila dashboard)."
    )
del _util, _missing
from .creation import RDMCreationPanel
from .dashboard import Dashboard
from .eeg_panel import EEGPanel, load_epochs
from .generalization import GeneralizationViewer
from .model_time import ModelTimeViewer
from .ondisk_viewer import OnDiskRDMViewer
from .rdm_viewer import RDMViewer
from .rsa_panel import RSAPanel
from ._download import DownloadButton
from .timecourse import TimecourseViewer
from ._clickgrid import ClickGrid

__all__ = ["RDMCreationPanel", "EEGPanel", "RSAPanel", "RDMViewer", "OnDiskRDMViewer", "TimecourseViewer", "Dashboard",
           "ClickGrid", "DownloadButton", "load_epochs", "GeneralizationViewer", "ModelTimeViewer"]
