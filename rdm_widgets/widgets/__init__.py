"""ipywidgets panels and viewers for rdm_widgets (JupyterLab and Voila).

Panels take their compute function as a parameter (the real core by default),
run it in a background thread with a live progress bar and a Stop button, and
keep their state in traitlets. Figures are plain Plotly figures shown through
``ipywidgets.Output`` mime bundles, which work from threads and in Voila.
"""
from .creation import RDMCreationPanel
from .dashboard import Dashboard
from .eeg_panel import EEGPanel, load_epochs
from .ondisk_viewer import OnDiskRDMViewer
from .rdm_viewer import RDMViewer
from .timecourse import TimecourseViewer
from ._clickgrid import ClickGrid

__all__ = ["RDMCreationPanel", "EEGPanel", "RDMViewer", "OnDiskRDMViewer", "TimecourseViewer", "Dashboard", "ClickGrid",
           "load_epochs"]
