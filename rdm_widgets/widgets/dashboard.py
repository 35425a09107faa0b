"""The dashboard: DNN RDMs tab (creation panel + viewer), EEG tab (EEG panel + timecourse viewer) and,
when the RSA panel is installed, a "Model vs brain" tab.

A creation run with time-resolved layers (``multi_timepoint_rdms``: ``{layer: TimeResolvedRDM}``)
goes to the model-time viewer (slider over model time; model time x brain time map against the
EEG result) instead of the RDM viewer, the EEG timecourse's model RSA and the RSA tab, which
expect one (N, N) RDM per layer. A temporal-generalisation EEG result reaches the dashboard's
views as its diagonal (a TimeResolvedRDM); its train x test map stays in the EEG panel.

Data come from a data folder (``Dashboard(data_root=...)``, or the environment variable
``RDMW_DATA_ROOT`` that ``make dashboard DATA=...`` sets for Voila; default the bundled data) and
from uploads into a per-page temporary folder. Each tab has a folder chooser confined to the data
folder that lists what it skipped and why; the dashboard opens on the first valid entry and never
runs one that fails. Results leave through Download buttons and an optional "Save to" inside the
data folder. No absolute server path is shown.
"""
from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import ipywidgets as widgets

from ..data_root import first_entry, relative_text
from ..eeg import GeneralizationRDM, TimeResolvedRDM
from ._display import css
from ._paths import DataBrowser
from ._upload import MAX_UPLOAD_MB, UploadArea, UploadButton
from .creation import RDMCreationPanel
from .eeg_panel import EEGPanel
from .model_time import ModelTimeViewer
from .rdm_viewer import RDMViewer
from .timecourse import TimecourseViewer

__all__ = ["Dashboard", "ENV_DATA_ROOT", "resolve_data_root", "split_time_resolved", "brain_time_rdm"]

#: the environment variable naming the data folder (``make dashboard DATA=...`` sets it for Voila)
ENV_DATA_ROOT = "RDMW_DATA_ROOT"

#: the initial EEG run: the 4 'target' conditions, the default exact leave-one-trial-pair-out LDA
#: (identical to scikit-learn's loop) on every 2nd sample; well under a second on a laptop CPU
#: thanks to the average-reference fast path of the kernel
INITIAL_EEG_LABELS = "target"
INITIAL_EEG_OPTIONS = {"pseudo_input": 0, "decim_input": 2, "seed_input": 0}


def resolve_data_root(data_root=None) -> tuple[Path, bool]:
    """``(folder, is_bundled)``: ``data_root``, else ``$RDMW_DATA_ROOT``, else the bundled data.

    Raises
    ------
    ValueError
        The folder does not exist (the message says where the name came from).
    """
    from ..demo import demo_root

    origin = "data_root"
    if data_root is None and os.environ.get(ENV_DATA_ROOT, "").strip():
        data_root, origin = os.environ[ENV_DATA_ROOT].strip(), f"${ENV_DATA_ROOT}"
    if data_root is None:
        return demo_root().resolve(), True
    root = Path(data_root).expanduser().resolve()
    if not root.is_dir():
        raise ValueError(f"The data folder {str(data_root)!r} ({origin}) is not a folder.")
    return root, root == demo_root().resolve()


def split_time_resolved(rdms) -> tuple[dict, dict]:
    """``(ordinary, time_resolved)``: a creation result split into ``{layer: LayerRDM}`` (one
    (N, N) RDM per layer) and ``{layer: TimeResolvedRDM}`` (one RDM per model time point), each
    in the result's layer order."""
    rdms = dict(rdms or {})
    timed = {k: v for k, v in rdms.items() if isinstance(v, TimeResolvedRDM)}
    return {k: v for k, v in rdms.items() if k not in timed}, timed


def brain_time_rdm(result):
    """The time-resolved brain RDM the dashboard's views show for an EEG result: the result
    itself, or a GeneralizationRDM's train = test diagonal (None when its train and test times
    differ, so there is no diagonal)."""
    if isinstance(result, GeneralizationRDM):
        try:
            return result.diagonal()
        except ValueError:
            return None
    return result


def _parent(rel: str) -> str:
    parent = PurePosixPath(rel).parent.as_posix()
    return "." if parent in ("", ".") else parent


class Dashboard(widgets.Tab):
    """Everything in one widget; also the Voila app (``notebooks/dashboard.ipynb``).

    Parameters
    ----------
    data_root : str or Path or None
        Folder the choosers are confined to (default: ``$RDMW_DATA_ROOT`` when set, else the
        bundled demo data). Sub-folders can be opened in each tab.
    image_folder : str or Path or None
        Images named like the stimuli, for thumbnails (default: the bundled
        78 images when ``data_root`` is the demo root).
    eeg_path : str or Path or None
        Epochs opened first (default: the bundled EEG epochs, or the first epochs file found).
    initial_run : bool
        Compute the first DNN RDMs and the first EEG RDM at construction, so that every view
        shows something on opening: synchronously for the bundled demo data (a few seconds), in
        the background (with progress and Stop) for a user's data, whose data may be large.
        Only entries that open without an error are run.
    create_compute, eeg_compute : callable or None
        Injected compute functions (see the panels); default the real core.
    save_root : str or Path or None
        Write every DNN run's RDM files into a new folder here (default: nothing is written; the
        Download buttons and "Save to" take results out).
    upload : bool
        Offer uploads (features, epochs, RDMs) into a per-page temporary folder, removed when
        the kernel ends.
    max_upload_mb : float
        Upload limit per file, shown in the UI (Voila's websocket limit must be above it:
        ``notebooks/voila.json``).

    Attributes
    ----------
    creation : RDMCreationPanel
        The "Create RDMs" tab's panel.
    viewer : RDMViewer
        Viewer of the creation panel's RDMs.
    model_time : ModelTimeViewer
        Viewer of time-resolved creation results (shown instead of ``viewer`` for them).
    eeg : EEGPanel
        The EEG tab's panel.
    timecourse : TimecourseViewer
        Viewer of the EEG panel's result.
    rsa : RSAPanel or None
        The "Model vs brain" tab's panel (None when its dependencies are not installed).
    dnn_browser : DataBrowser
        Chooser of the folder whose feature sources the creation panel offers.
    eeg_browser : DataBrowser
        Chooser of the folder whose epochs files the EEG panel offers.
    uploads : UploadArea or None
        The page's upload folder (None without ``upload``).
    """

    def __init__(self, data_root=None, image_folder=None, eeg_path=None, *, initial_run: bool = True,
                 create_compute=None, eeg_compute=None, save_root=None, upload: bool = True,
                 max_upload_mb: float = MAX_UPLOAD_MB, **kwargs):
        from ..demo import demo_path

        root, is_demo = resolve_data_root(data_root)
        self.data_root, self._is_demo = root, is_demo
        if image_folder is None and is_demo:
            image_folder = demo_path("images")
        if eeg_path is None and is_demo:
            eeg_path = demo_path("eeg")
        self.uploads = UploadArea() if upload else None
        labels = self.uploads.labels if self.uploads is not None else {}
        save_to = None if is_demo else root

        feature_entry = first_entry(root, "features")
        epochs_entry = first_entry(root, "epochs")
        self.dnn_browser = DataBrowser(root, _parent(feature_entry.path) if feature_entry else ".")
        self.eeg_browser = DataBrowser(root, _parent(epochs_entry.path) if epochs_entry else ".")
        initial_folder = demo_path("mobilenetv2") if is_demo else (feature_entry.full if feature_entry else None)

        self.creation = RDMCreationPanel(data_root=root, compute=create_compute, save_root=save_root,
                                         folder=initial_folder, sources=self.dnn_browser.of_kind("features"),
                                         save_to_root=save_to, path_labels=labels)
        if feature_entry is None and not is_demo:
            self.creation.status = ("No feature set in the data folder (a folder of .npz files or an .h5); "
                                    "open a sub-folder or upload one.")
        self.viewer = RDMViewer(image_folder=image_folder)
        self.eeg = EEGPanel(eeg_path=eeg_path, data_root=root, compute=eeg_compute,
                            files=self.eeg_browser.of_kind("epochs"), save_to_root=save_to, path_labels=labels)
        self.timecourse = TimecourseViewer()
        self.model_time = ModelTimeViewer(layout=widgets.Layout(display="none"))
        self.rsa = None
        self._rsa_panel(is_demo)

        # state flows one way: panels compute, viewers display
        # (creation.rdms is routed by _on_model_rdms: ordinary layers and time-resolved ones differ)
        widgets.dlink((self.creation, "labels"), (self.viewer, "labels"))
        self.eeg.observe(self._on_eeg_result, "result")
        self.creation.observe(self._on_model_rdms, "rdms")
        self.dnn_browser.observe(lambda _: self.creation.set_sources(self.dnn_browser.of_kind("features")),
                                 "entries")
        self.eeg_browser.observe(lambda _: self.eeg.set_files(self.eeg_browser.of_kind("epochs")), "entries")

        dnn_rows = [widgets.HTML("<h3>DNN RDMs</h3>"), self.dnn_browser]
        eeg_rows = [widgets.HTML("<h3>EEG decoding RDMs</h3>"), self.eeg_browser]
        self.upload_features = self.upload_epochs = self.upload_rdm = None
        if self.uploads is not None:
            self.upload_features = UploadButton("features", self.uploads,
                                                lambda p, label: self.creation.add_source(p, label), max_upload_mb)
            self.upload_epochs = UploadButton("epochs", self.uploads,
                                              lambda p, label: self.eeg.add_file(p, label), max_upload_mb)
            dnn_rows.append(self.upload_features)
            eeg_rows.append(self.upload_epochs)
        dnn = widgets.VBox(dnn_rows + [self.creation, self.viewer, self.model_time])
        eeg = widgets.VBox(eeg_rows + [self.eeg, self.timecourse])
        children, titles = [dnn, eeg], ["DNN RDMs", "EEG"]
        if self.rsa is not None:
            rsa_rows = [widgets.HTML("<h3>Model vs brain</h3>")]
            if self.uploads is not None:
                self.upload_rdm = UploadButton("rdm", self.uploads, self._add_brain_file, max_upload_mb)
                rsa_rows.append(self.upload_rdm)
            children.append(widgets.VBox(rsa_rows + [self.rsa]))
            titles.append("Model vs brain")
        super().__init__(children=children, **kwargs)
        for i, title in enumerate(titles):
            self.set_title(i, title)
        css(self, "rdmw-dashboard")

        if initial_run:
            self._initial_runs(wait=is_demo)

    # ------------------------------------------------------------------ model vs brain
    def _rsa_panel(self, is_demo: bool):
        """The "Model vs brain" panel (bundled fMRI RDMs for the demo), or None when not installed."""
        try:
            from .rsa_panel import RSAPanel, bundled_rsa_panel
        except ImportError:
            return None
        self.rsa = bundled_rsa_panel() if is_demo else RSAPanel()
        if not is_demo:
            brains, model_folders = self._split_rdm_entries(self._rdm_entries())
            for entry in brains:
                try:
                    self._add_brain_file(entry.full, entry.path)
                except (ValueError, TypeError) as exc:     # e.g. stimuli that no model has
                    self.rsa.status = f"Error: {self.relative(str(exc))}"
            for label, folder in model_folders.items():
                try:
                    self._add_model_folder(folder, label)
                except (ValueError, TypeError) as exc:
                    self.rsa.status = f"Error: {self.relative(str(exc))}"
        return self.rsa

    @staticmethod
    def _split_rdm_entries(entries):
        """Brain RDM files, and the folders of ``RDM_<layer>`` files (a model's saved layer RDMs,
        as :meth:`RDMCreator.create_rdms`, "Save to" and Net2Brain write them) by their label."""
        from .._layer_rdm_files import RDM_FILE

        brains, models = [], {}
        for entry in entries:
            rel = PurePosixPath(entry.path)
            if RDM_FILE.match(rel.name):
                models.setdefault(str(rel.parent), Path(entry.full).parent)
            else:
                brains.append(entry)
        return brains, models

    def _add_model_folder(self, folder, label: str):
        """Load a folder of saved layer RDMs as one model of the RSA panel (not selected)."""
        from ..rdm import load_rdms

        self.rsa.add_models(label if label != "." else "data folder", load_rdms(folder), select=False)

    def _rdm_entries(self, limit: int = 50):
        """RDM files of the data folder and its sub-folders (the first ``limit``)."""
        from ..data_root import list_folders, scan

        found = []
        for _, folder in list_folders(self.data_root):
            found += [e for e in scan(folder, self.data_root) if e.kind == "rdm" and e not in found]
            if len(found) >= limit:
                break
        return found[:limit]

    def _add_brain_file(self, path, label: str):
        """Read a brain / behaviour / hypothesis RDM file and hand it to the RSA panel."""
        from ..rdm_files import read_rdm_file

        name = PurePosixPath(label).stem
        self.rsa.add_brain(name, read_rdm_file(path, name=name))

    def _on_model_rdms(self, change):
        """Route a creation result: (N, N) layer RDMs to the RDM viewer, the EEG timecourse's model
        RSA and the RSA tab; time-resolved layers to the model-time viewer (those views are not
        time-aware). A run with only time-resolved layers hides the RDM viewer."""
        ordinary, timed = split_time_resolved(change["new"])
        self.model_time.layout.display = None if timed else "none"
        self.viewer.layout.display = "none" if timed and not ordinary else None
        if timed:
            self.model_time.set_results(timed)
        self.viewer.rdms = ordinary
        self.timecourse.model_rdms = ordinary
        if self.rsa is None or not ordinary:
            return
        # named as the run started (result_label); the controls may have changed since
        label = self.creation.result_label or \
            f"{self.creation.folder_dropdown.label or 'model'} · {self.creation.distance_dropdown.value}"
        # the bundled panel has the MobileNetV2 model already: later runs are added unselected there
        self.rsa.add_models(label, ordinary, select=not self._is_demo)

    # ------------------------------------------------------------------ running
    def _on_eeg_result(self, change):
        # the EEG panel already hands on a generalisation run's diagonal; a GeneralizationRDM set
        # on it directly is reduced here too, as the timecourse and model-time views need one
        # RDM per time point
        brain = brain_time_rdm(change["new"])
        if brain is not None:
            self.timecourse.result = brain
            self.model_time.brain = brain

    def relative(self, text: str) -> str:
        """``text`` with server paths made relative to the data folder (uploads by name)."""
        return relative_text(text, self.data_root, self.uploads.labels if self.uploads is not None else {})

    def join(self, timeout=None) -> bool:
        """Wait for both panels' runs; True when neither is running."""
        return self.creation.join(timeout) and self.eeg.join(timeout)

    def close(self):
        """Close the widgets and remove the page's upload folder."""
        uploads = getattr(self, "uploads", None)     # None too when __init__ raised (bad data_root)
        if uploads is not None:
            uploads.cleanup()
        super().close()

    def _initial_runs(self, wait: bool):
        # the demo takes a few seconds, so the page opens complete; other data run in the background;
        # an entry that fails to open (status "Error: ...") is never run
        if self.creation.folder is not None and not self.creation.status.startswith("Error"):
            self.creation.run(wait=wait)
        if self.eeg.epochs is not None:
            if INITIAL_EEG_LABELS in self.eeg.epochs.label_keys:
                self.eeg.label_key = INITIAL_EEG_LABELS
            # the controls keep these values, so they describe the result on screen
            for control, value in INITIAL_EEG_OPTIONS.items():
                getattr(self.eeg, control).value = value
            self.eeg.run(wait=wait)
