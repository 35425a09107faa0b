"""The dashboard: DNN RDMs tab (creation panel + viewer) and EEG tab (EEG panel + timecourse viewer)."""
from __future__ import annotations

import tempfile
from pathlib import Path

import ipywidgets as widgets

from ._common import css
from .creation import RDMCreationPanel
from .eeg_panel import EEGPanel
from .rdm_viewer import RDMViewer
from .timecourse import TimecourseViewer

__all__ = ["Dashboard"]

#: the initial EEG run: the 4 'target' conditions, the default exact leave-one-trial-pair-out LDA
#: (identical to scikit-learn's loop) on every 2nd sample; well under a second on a laptop CPU
#: thanks to the average-reference fast path of the kernel
INITIAL_EEG_LABELS = "target"
INITIAL_EEG_OPTIONS = {"pseudo_input": 0, "decim_input": 2, "seed_input": 0}


class Dashboard(widgets.Tab):
    """Everything in one widget; also the Voila app (``notebooks/dashboard.ipynb``).

    Parameters
    ----------
    data_root : str or Path or None
        Folder the feature and epoch choosers are confined to (default: the
        bundled demo data).
    image_folder : str or Path or None
        Images named like the stimuli, for thumbnails (default: the bundled
        78 images when ``data_root`` is the demo root).
    eeg_path : str or Path or None
        Epochs opened first (default: the bundled EEG epochs when present).
    initial_run : bool
        Compute the first DNN RDMs and the first EEG RDM at construction, so
        that every view shows something on opening: synchronously for the
        bundled demo data (a few seconds), in the background (with progress
        and Stop) for a user's ``data_root``, whose data may be large.
    create_compute, eeg_compute : callable or None
        Injected compute functions (see the panels); default the real core.
    save_root : str or Path or None
        Where RDM files are written (default: a new temporary folder; never the package).

    Attributes
    ----------
    creation : RDMCreationPanel
    viewer : RDMViewer
    eeg : EEGPanel
    timecourse : TimecourseViewer
    """

    def __init__(self, data_root=None, image_folder=None, eeg_path=None, *, initial_run: bool = True,
                 create_compute=None, eeg_compute=None, save_root=None, **kwargs):
        from ..demo import demo_path, demo_root

        is_demo = data_root is None
        root = Path(demo_root() if data_root is None else data_root).expanduser().resolve()
        if image_folder is None and is_demo:
            image_folder = demo_path("images")
        if eeg_path is None and is_demo:
            eeg_path = demo_path("eeg")
        save_root = Path(save_root) if save_root is not None else Path(tempfile.mkdtemp(prefix="rdm_dashboard_"))

        initial_folder = None
        if is_demo:
            initial_folder = demo_path("mobilenetv2")
        self.creation = RDMCreationPanel(data_root=root, compute=create_compute, save_root=save_root,
                                         folder=initial_folder)
        self.viewer = RDMViewer(image_folder=image_folder)
        self.eeg = EEGPanel(eeg_path=eeg_path, data_root=root, compute=eeg_compute)
        self.timecourse = TimecourseViewer()

        # state flows one way: panels compute, viewers display
        widgets.dlink((self.creation, "rdms"), (self.viewer, "rdms"))
        widgets.dlink((self.creation, "labels"), (self.viewer, "labels"))
        widgets.dlink((self.creation, "rdms"), (self.timecourse, "model_rdms"))
        self.eeg.observe(self._on_eeg_result, "result")

        dnn = widgets.VBox([widgets.HTML("<h3>DNN RDMs</h3>"), self.creation, self.viewer])
        eeg = widgets.VBox([widgets.HTML("<h3>EEG decoding RDMs</h3>"), self.eeg, self.timecourse])
        super().__init__(children=[dnn, eeg], **kwargs)
        self.set_title(0, "DNN RDMs")
        self.set_title(1, "EEG")
        css(self, "rdmw-dashboard")

        if initial_run:
            self._initial_runs(wait=is_demo)

    def _on_eeg_result(self, change):
        if change["new"] is not None:
            self.timecourse.result = change["new"]

    def join(self, timeout=None) -> bool:
        """Wait for both panels' runs; True when neither is running."""
        return self.creation.join(timeout) and self.eeg.join(timeout)

    def _initial_runs(self, wait: bool):
        # the demo takes a few seconds, so the page opens complete; other data run in the background
        if self.creation.folder is not None:
            self.creation.run(wait=wait)
        if self.eeg.epochs is not None:
            if INITIAL_EEG_LABELS in self.eeg.epochs.label_keys:
                self.eeg.label_key = INITIAL_EEG_LABELS
            # the controls keep these values, so they describe the result on screen
            for control, value in INITIAL_EEG_OPTIONS.items():
                getattr(self.eeg, control).value = value
            self.eeg.run(wait=wait)
