"""RDM creation panel: choose a feature folder and options, run the creator in the background."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import ipywidgets as widgets
from traitlets import Bool, Dict, Float, TraitError, Unicode, observe, validate

from ._common import RunnerMixin, confine, css, error_message, list_feature_sources, status_html

__all__ = ["RDMCreationPanel", "default_create"]

POOLING_OPTIONS = ("none", "mean", "max", "first", "last")


def default_create(feature_path, *, save_path, save_format, distance, chunk_size, pooling, device,
                   progress):
    """The panel's default compute function: :meth:`RDMCreator.create_rdms`; returns the output folder."""
    from ..creator import RDMCreator

    return RDMCreator(device=device).create_rdms(
        feature_path, save_path=save_path, save_format=save_format, distance=distance,
        chunk_size=chunk_size, pooling=pooling, progress=progress)


def _devices() -> list[str]:
    try:
        import torch

        return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    except ImportError:  # pragma: no cover - torch is a dependency
        return ["cpu"]


def _distances() -> list[str]:
    from ..distances import available_distances

    return list(available_distances())


class RDMCreationPanel(RunnerMixin, widgets.VBox):
    """Panel that computes one RDM per layer of a feature folder.

    Parameters
    ----------
    data_root : str or Path or None
        Only feature folders / HDF5 files under this folder can be chosen
        (default: the bundled demo data, :func:`rdm_widgets.demo.demo_root`).
    compute : callable or None
        ``compute(feature_path, *, save_path, save_format, distance, chunk_size,
        pooling, device, progress) -> folder or dict[layer, LayerRDM]``
        (default :func:`default_create`). Tests inject a fake.
    save_root : str or Path or None
        Where each run's output folder is created (default: a new temporary folder).
    folder : str or Path or None
        Initially selected feature source (must be under ``data_root``).
    max_depth : int
        How deep below ``data_root`` feature folders are searched.
    estimate : callable, False or None
        ``estimate(feature_path, *, distance, pooling, device, chunk_size) -> CostEstimate``
        shown as "Estimated: ..." whenever a choice changes, and the seconds the run's ETA
        starts from (default :func:`rdm_widgets.estimate.estimate_features`, which reads only
        file headers). False: no estimate. Tests inject a fake.

    Attributes (traitlets)
    ----------------------
    folder : str            selected feature source (absolute path)
    rdms : dict             ``{layer: LayerRDM}`` of the last finished run
    result_path : str       output folder of the last finished run
    labels : dict           category labels from the folder's ``stimuli.json``
    running : bool          a run is in progress
    progress : float        0..1
    status : str            status line (``"Error: ..."``, ``"Stopped ..."``, ``"Done ..."``)
    has_sequence : bool     the chosen folder has sequence (token) layers
    estimate_text : str     "Estimated: ≈ ... · peak RAM ... · disk ..." for the current choices
    """

    folder = Unicode(None, allow_none=True)
    rdms = Dict()
    result_path = Unicode("")
    labels = Dict()
    _progress_label = "Computing"
    _progress_unit = "steps (feature reads and distance blocks)"
    _stopped_text = "Stopped: the run was cancelled and no files were written."

    running = Bool(False)
    progress = Float(0.0)
    status = Unicode("")
    has_sequence = Bool(False)
    estimate_text = Unicode("")

    def __init__(self, data_root=None, compute=None, save_root=None, folder=None, max_depth: int = 3,
                 estimate=None, **kwargs):
        from ..demo import demo_root

        self.data_root = Path(data_root if data_root is not None else demo_root()).expanduser().resolve()
        if not self.data_root.is_dir():
            raise ValueError(f"data_root {str(self.data_root)!r} is not a folder.")
        self._compute = compute if compute is not None else default_create
        if estimate is None:
            from ..estimate import estimate_features as estimate
        self._estimate = estimate or None
        self._save_root = Path(save_root) if save_root is not None else None
        self._run = None
        self._t0 = 0.0
        self._source_layers: list[str] = []

        sources = list_feature_sources(self.data_root, max_depth=max_depth)
        self.folder_dropdown = css(widgets.Dropdown(options=sources, value=None, description="Features",
                                                    layout=widgets.Layout(width="420px")), "rdmw-folder")
        distances = _distances()
        self.distance_dropdown = css(widgets.Dropdown(
            options=distances, value="correlation" if "correlation" in distances else distances[0],
            description="Distance"), "rdmw-distance")
        self.pooling_dropdown = css(widgets.Dropdown(options=POOLING_OPTIONS, value="none",
                                                     description="Pooling", disabled=True), "rdmw-pooling")
        self.device_dropdown = css(widgets.Dropdown(options=_devices(), value="cpu", description="Device"),
                                   "rdmw-device")
        self.chunk_input = css(widgets.BoundedIntText(value=0, min=0, max=10 ** 7, step=256,
                                                      description="Chunk rows",
                                                      tooltip="rows per distance block; 0 = whole matrix"),
                               "rdmw-chunk")
        self.format_dropdown = css(widgets.Dropdown(options=["npz", "pt"], value="npz", description="Save as"),
                                   "rdmw-format")
        self.run_button = css(widgets.Button(description="Run", button_style="primary", icon="play"), "rdmw-run")
        self.stop_button = css(widgets.Button(description="Stop", button_style="warning", icon="stop",
                                              disabled=True), "rdmw-stop")
        self.progress_bar = css(widgets.IntProgress(value=0, min=0, max=100, description="Progress"),
                                "rdmw-progress")
        self.status_html = css(widgets.HTML(value=""), "rdmw-status")
        self.estimate_html = css(widgets.HTML(value=""), "rdmw-estimate")

        widgets.link((self, "folder"), (self.folder_dropdown, "value"))
        widgets.dlink((self, "progress"), (self.progress_bar, "value"), lambda p: int(round(100 * p)))
        widgets.dlink((self, "running"), (self.run_button, "disabled"))
        widgets.dlink((self, "running"), (self.stop_button, "disabled"), lambda r: not r)
        widgets.dlink((self, "has_sequence"), (self.pooling_dropdown, "disabled"), lambda s: not s)
        widgets.dlink((self, "estimate_text"), (self.estimate_html, "value"), lambda t: status_html(t, "muted"))
        for control in (self.distance_dropdown, self.pooling_dropdown, self.device_dropdown, self.chunk_input):
            control.observe(self._update_estimate, "value")
        self.run_button.on_click(lambda _: self.run())
        self.stop_button.on_click(lambda _: self.stop())

        rows = [
            self.folder_dropdown,
            widgets.HBox([self.distance_dropdown, self.pooling_dropdown]),
            widgets.HBox([self.device_dropdown, self.chunk_input, self.format_dropdown]),
            self.estimate_html,
            widgets.HBox([self.run_button, self.stop_button, self.progress_bar]),
            self.status_html,
        ]
        super().__init__(rows, **kwargs)
        self.add_class("rdmw-creation-panel")
        if folder is not None:
            self.folder = str(folder)
        elif sources:
            self.folder = sources[0][1]
        if not sources:
            self.status = f"No feature folders (.npz) or HDF5 files under {self.data_root}."

    # ------------------------------------------------------------------ state
    @validate("folder")
    def _check_folder(self, proposal):
        value = proposal["value"]
        if value is None:
            return None
        try:
            path = confine(value, self.data_root)
        except ValueError as exc:
            raise TraitError(str(exc)) from None
        options = [p for _, p in self.folder_dropdown.options]
        if str(path) not in options:
            raise TraitError(f"{str(value)!r} is not a feature folder or HDF5 file under the data root "
                             f"{str(self.data_root)!r}; choose one of the listed sources.")
        return str(path)

    @observe("folder")
    def _on_folder(self, change):
        try:
            self._read_folder(change["new"])
        finally:
            self._update_estimate()

    def _read_folder(self, path):
        from ..ordering import read_category_labels

        self.has_sequence = False
        self.labels = {}
        if path is None:
            return
        try:
            import warnings

            from ..features import open_features

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. "skipped info.json": not worth a status line
                src = open_features(path)
            self.has_sequence = any(src.has_sequence(layer) for layer in src.layers)
            self._source_layers = list(src.layers)
            self.status = (f"{Path(path).name}: {src.n_stimuli} stimuli, {len(src.layers)} layers"
                           + (" (sequence layers: choose a pooling)" if self.has_sequence else ""))
        except Exception as exc:  # noqa: BLE001 - any reading problem is shown, not raised
            self.status = f"Error: {error_message(exc)}"
            return
        # variable-length sequences need pooling; 'mean' is the usual choice
        self.pooling_dropdown.value = "mean" if self.has_sequence else "none"
        if Path(path).is_dir():
            self.labels = read_category_labels(path)

    def _update_estimate(self, _change=None):
        """Recompute the "Estimated: ..." line for the chosen folder and options (headers only)."""
        if self._estimate is None or self.folder is None:
            self._refresh_estimate(None)
            return
        folder, opts = self.folder, self.options()
        self._refresh_estimate(lambda: self._estimate(
            folder, distance=opts["distance"], pooling=opts["pooling"], device=opts["device"],
            chunk_size=opts["chunk_size"]))

    # ------------------------------------------------------------------ running
    def _save_path(self) -> Path:
        if self._save_root is None:
            self._save_root = Path(tempfile.mkdtemp(prefix="rdm_widgets_"))
        stem = Path(self.folder).stem or "features"
        base = self._save_root / f"rdms_{stem}_{self.distance_dropdown.value}_{time.strftime('%Y%m%d_%H%M%S')}"
        path, i = base, 1
        while path.exists():
            i += 1
            path = base.with_name(f"{base.name}_{i}")
        return path

    def options(self) -> dict:
        """Keyword arguments the compute function gets from the controls (without progress)."""
        pooling = self.pooling_dropdown.value if self.has_sequence else "none"
        return dict(save_format=self.format_dropdown.value, distance=self.distance_dropdown.value,
                    chunk_size=self.chunk_input.value or None,
                    pooling=None if pooling == "none" else pooling, device=self.device_dropdown.value)

    def run(self, wait: bool = False):
        """Start a run in a background thread (what the Run button does)."""
        if self.running:
            return
        if self.folder is None:
            self.status = "Error: choose a feature folder first."
            return
        feature_path = self.folder
        kwargs = self.options()
        kwargs["save_path"] = str(self._save_path())
        self._start(lambda progress: self._compute(feature_path, progress=progress, **kwargs),
                    f"Computing RDMs of {Path(feature_path).name} ({kwargs['distance']}) ...",
                    estimate=self.estimated_seconds)
        if wait:
            self.join()

    def _finish(self, result):
        if isinstance(result, dict):
            rdms, where = dict(result), ""
        else:
            from ..rdm import load_rdms

            rdms, where = load_rdms(result), str(result)
            # files load in name order; show layers in the network's order (as the source lists them)
            rank = {layer: i for i, layer in enumerate(self._source_layers)}
            rdms = dict(sorted(rdms.items(), key=lambda kv: rank.get(kv[0], len(rank))))
        self.result_path = where
        self.rdms = rdms
        return f"{len(rdms)} layer RDM(s)", (f" · saved to {where}" if where else "")
