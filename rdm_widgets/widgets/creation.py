"""RDM creation panel: choose a feature folder and options, run the creator in the background.

The RDMs are computed in memory (:meth:`RDMCreator.compute_rdms`) and handed to the viewer as
LayerRDMs; a separate, explicit step then saves them in the chosen format ("Save as") into a new
folder of the run, which the status line names.
"""
from __future__ import annotations

import time
from pathlib import Path

import ipywidgets as widgets
from traitlets import Bool, Dict, Float, TraitError, Unicode, observe, validate

from .._options import available_devices
from ..data_root import relative_text
from ._creation_files import save_rdms, time_resolved_zips
from ._display import css, error_message, refresh_choices, status_html
from ._paths import SaveTo, confine, list_feature_sources
from ._upload import MAX_DOWNLOAD_MB, download_button, rdms_csv_zip
from ._runner import RunnerMixin

__all__ = ["RDMCreationPanel", "default_compute", "save_rdms"]

POOLING_OPTIONS = ("none", "mean", "max", "first", "last")
#: Net2Brain's ``multi_timepoint_rdms`` choices ("none": one RDM per layer)
MULTI_TIMEPOINT_OPTIONS = ("none", "clip", "all_timepoints")
#: ``dim_reduction`` choices
REDUCTION_OPTIONS = ("none", "pca", "srp")


def default_compute(feature_path, *, distance, chunk_size, pooling, device, progress, **options) -> dict:
    """The panel's default compute function: :meth:`RDMCreator.compute_rdms` (in memory, no files).

    ``options`` are the time-resolved and reduction choices (``multi_timepoint_rdms``,
    ``dim_reduction``, ``n_components``, ``n_samples_estim``), passed only when chosen.

    Returns
    -------
    dict
        ``{layer: LayerRDM}`` with (N, N) matrices, in the source's layer order
        (``{layer: TimeResolvedRDM}`` with ``multi_timepoint_rdms``).
    """
    from ..creator import RDMCreator

    return RDMCreator(device=device).compute_rdms(
        feature_path, distance=distance, chunk_size=chunk_size, pooling=pooling, progress=progress, **options)


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
        ``compute(feature_path, *, distance, chunk_size, pooling, device, progress, **options)
        -> dict[layer, LayerRDM]`` (default :func:`default_compute`, in memory); ``options``
        holds ``multi_timepoint_rdms`` / ``dim_reduction`` / ``n_components`` /
        ``n_samples_estim`` only when they differ from the defaults. Tests inject a fake.
    save_root : str or Path or None
        Where each run's output folder is created (default None: nothing is written; the RDMs
        stay in memory for the viewer, the Download buttons and "Save to"). When given, after
        the compute function returns, the run's RDMs are saved there in the "Save as" format
        (:func:`save_rdms`); the status line names the folder (relative to the data root, else
        by its name only).
    folder : str or Path or None
        Initially selected feature source (must be under ``data_root`` or in ``sources``).
    sources : list or None
        ``[(label, path)]`` offered in the Features chooser (default: every feature folder and
        HDF5 file under ``data_root``, :func:`list_feature_sources`); see :meth:`set_sources`.
    save_to_root : str or Path or None
        Offer "Save to" a folder inside this folder (confined; never overwriting without a second
        click). None: no saving (e.g. the bundled data); the Download buttons always work.
    path_labels : dict or None
        ``{folder: name}`` of other folders (uploads) shown by name in messages.
    max_depth : int
        How deep below ``data_root`` feature folders are searched.
    estimate : callable, False or None
        ``estimate(feature_path, *, distance, pooling, device, chunk_size, **options) -> CostEstimate``
        (``options`` as for ``compute``, only when chosen)
        shown as "Estimated: ..." whenever a choice changes, and the seconds the run's ETA
        starts from (default :func:`rdm_widgets.estimate.estimate_features`, which reads only
        file headers). False: no estimate. Tests inject a fake.

    Attributes
    ----------
    folder : str or None
        The selected feature source (absolute path).
    rdms : dict
        ``{layer: LayerRDM}`` (or ``{layer: TimeResolvedRDM}``) of the last finished run.
    result_path : str
        Output folder of the last finished run (``""`` when nothing was written).
    result_label : str
        ``"<feature source> · <distance>"`` of the last finished run, taken when it started (the
        controls stay usable during a run, so they may show another choice when it ends).
    labels : dict
        ``{stimulus: category label}`` from the folder's ``stimuli.json``.
    running : bool
        A run is in progress.
    progress : float
        Fraction of the run done, 0..1.
    status : str
        Status line (``"Error: ..."``, ``"Stopped ..."``, ``"Done ..."``).
    has_sequence : bool
        The chosen source has sequence (token) layers (the pooling choice applies).
    estimate_text : str
        ``"Estimated: ≈ ... · peak RAM ... · disk ..."`` for the current choices.
    """

    folder = Unicode(None, allow_none=True)
    rdms = Dict()
    result_path = Unicode("")
    result_label = Unicode("")
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
                 estimate=None, sources=None, save_to_root=None, path_labels=None, **kwargs):
        from ..demo import demo_root

        self.data_root = Path(data_root if data_root is not None else demo_root()).expanduser().resolve()
        if not self.data_root.is_dir():
            raise ValueError(f"data_root {str(self.data_root)!r} is not a folder.")
        self._compute = compute if compute is not None else default_compute
        if estimate is None:
            from ..estimate import estimate_features as estimate
        self._estimate = estimate or None
        self._save_root = Path(save_root) if save_root is not None else None
        self._run = None
        self._t0 = 0.0
        self.path_labels = dict(path_labels or {})

        if sources is None:
            sources = list_feature_sources(self.data_root, max_depth=max_depth)
        sources = list(sources)
        self.folder_dropdown = css(widgets.Dropdown(options=sources, value=None, description="Features",
                                                    layout=widgets.Layout(width="420px")), "rdmw-folder")
        distances = _distances()
        self.distance_dropdown = css(widgets.Dropdown(
            options=distances, value="correlation" if "correlation" in distances else distances[0],
            description="Distance"), "rdmw-distance")
        self.pooling_dropdown = css(widgets.Dropdown(options=POOLING_OPTIONS, value="none",
                                                     description="Pooling", disabled=True), "rdmw-pooling")
        self.device_dropdown = css(widgets.Dropdown(options=available_devices(), value="cpu",
                                                    description="Device"), "rdmw-device")
        self.chunk_input = css(widgets.BoundedIntText(value=0, min=0, max=10 ** 7, step=256,
                                                      description="Chunk rows",
                                                      tooltip="rows per distance block; 0 = whole matrix"),
                               "rdmw-chunk")
        self.format_dropdown = css(widgets.Dropdown(options=["npz", "pt"], value="npz", description="Save as"),
                                   "rdmw-format")
        self.timepoint_dropdown = css(widgets.Dropdown(
            options=MULTI_TIMEPOINT_OPTIONS, value="none", description="Time RDMs",
            tooltip="video / sequence layers: one RDM per clip ([1, clips, ...]) or per (clip, t) "
                    "([1, clips, T, ...])"), "rdmw-multi-timepoint")
        self.reduction_dropdown = css(widgets.Dropdown(options=REDUCTION_OPTIONS, value="none",
                                                       description="Reduce"), "rdmw-dim-reduction")
        self.components_input = css(widgets.BoundedIntText(value=0, min=0, max=10 ** 6, description="Components",
                                                           tooltip="0 = automatic (Johnson–Lindenstrauss)",
                                                           disabled=True), "rdmw-n-components")
        self.samples_input = css(widgets.BoundedIntText(value=100, min=2, max=10 ** 7, description="Samples",
                                                        tooltip="stimuli the reduction is fitted on",
                                                        disabled=True), "rdmw-n-samples")
        self._make_controls("rdmw")
        self.estimate_html = css(widgets.HTML(value=""), "rdmw-estimate")
        self.download_npz = download_button("RDMs (.zip of .npz)", "rdmw-download-rdms")
        self.download_csv = download_button("RDMs (.zip of .csv)", "rdmw-download-rdms-csv")
        self.save_to = css(SaveTo(save_to_root, "rdms", self._write_rdms), "rdmw-save-rdms")

        widgets.link((self, "folder"), (self.folder_dropdown, "value"))
        widgets.dlink((self, "progress"), (self.progress_bar, "value"), lambda p: int(round(100 * p)))
        widgets.dlink((self, "running"), (self.run_button, "disabled"))
        widgets.dlink((self, "running"), (self.stop_button, "disabled"), lambda r: not r)
        widgets.dlink((self, "has_sequence"), (self.pooling_dropdown, "disabled"), lambda s: not s)
        widgets.dlink((self, "estimate_text"), (self.estimate_html, "value"), lambda t: status_html(t, "muted"))
        for control in (self.distance_dropdown, self.pooling_dropdown, self.device_dropdown, self.chunk_input,
                        self.timepoint_dropdown, self.reduction_dropdown, self.components_input, self.samples_input):
            control.observe(self._update_estimate, "value")
        for control in (self.components_input, self.samples_input):
            widgets.dlink((self.reduction_dropdown, "value"), (control, "disabled"), lambda r: r == "none")
        self.run_button.on_click(lambda _: self.run())
        self.stop_button.on_click(lambda _: self.stop())

        rows = [
            self.folder_dropdown,
            widgets.HBox([self.distance_dropdown, self.pooling_dropdown]),
            widgets.HBox([self.device_dropdown, self.chunk_input, self.format_dropdown]),
            widgets.HBox([self.timepoint_dropdown, self.reduction_dropdown, self.components_input,
                          self.samples_input]),
            self.estimate_html,
            widgets.HBox([self.run_button, self.stop_button, self.progress_bar]),
            self.status_html,
            widgets.HBox([self.download_npz, self.download_csv]),
            self.save_to,
        ]
        super().__init__(rows, **kwargs)
        self.add_class("rdmw-creation-panel")
        if folder is not None:
            self.folder = str(folder)
        elif sources:
            self.folder = sources[0][1]
        if not sources:
            self.status = "No feature folders (.npz) or HDF5 files in the data folder."

    # ------------------------------------------------------------------ state
    def _relative(self, text: str) -> str:
        """``text`` without server paths: relative to the data root, uploads by name."""
        return relative_text(text, self.data_root, self.path_labels)

    @validate("status", "estimate_text")
    def _no_server_paths(self, proposal):
        return self._relative(proposal["value"])

    @validate("folder")
    def _check_folder(self, proposal):
        value = proposal["value"]
        if value is None:
            return None
        options = [p for _, p in self.folder_dropdown.options]
        resolved = str(Path(value).expanduser().resolve())
        if resolved in options:         # listed by the program: scanned under the root, or uploaded
            return resolved
        try:
            path = confine(value, self.data_root)
        except ValueError as exc:
            raise TraitError(self._relative(str(exc))) from None
        raise TraitError(self._relative(f"{str(path)!r} is not a feature folder or HDF5 file of the data "
                                        "folder; choose one of the listed sources."))

    def set_sources(self, sources, keep_uploads: bool = True):
        """Offer ``[(label, path)]`` in the Features chooser (e.g. the entries of another folder).

        Uploaded sources (labels ``uploads/...``) stay listed. The chosen source stays chosen
        when it is still listed, else the first one is chosen (None when there is none).
        """
        self.folder = refresh_choices(self.folder_dropdown, sources, self.folder, keep_uploads)
        if not self.folder_dropdown.options:
            self.status = "No feature folders (.npz) or HDF5 files in this folder."

    def add_source(self, path, label: str):
        """Add an uploaded feature set to the chooser and choose it."""
        path = str(Path(path).resolve())
        if path not in [p for _, p in self.folder_dropdown.options]:
            self.folder_dropdown.options = list(self.folder_dropdown.options) + [(label, path)]
        self.folder = path

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
        # the run's own keyword arguments: the time-resolved / reduction options only when chosen
        # (as the compute function gets them), so estimate functions without them keep working
        folder, opts = self.folder, self.options()
        self._refresh_estimate(lambda: self._estimate(folder, **opts))

    # ------------------------------------------------------------------ running
    def _save_path(self) -> Path | None:
        if self._save_root is None:
            return None                 # in memory only: Download / Save to take the results out
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
        timepoints = self.timepoint_dropdown.value
        if timepoints != "none":
            pooling = "none"            # the clip / time axis is not pooled away
        out = dict(distance=self.distance_dropdown.value,
                   chunk_size=self.chunk_input.value or None,
                   pooling=None if pooling == "none" else pooling, device=self.device_dropdown.value)
        # only what was chosen, so that compute functions without these options keep working
        if timepoints != "none":
            out["multi_timepoint_rdms"] = timepoints
        if self.reduction_dropdown.value != "none":
            out.update(dim_reduction=self.reduction_dropdown.value, n_components=self.components_input.value or None,
                       n_samples_estim=self.samples_input.value)
        return out

    def run(self, wait: bool = False):
        """Start a run in a background thread (what the Run button does)."""
        if self.running:
            return
        if self.folder is None:
            self.status = "Error: choose a feature folder first."
            return
        feature_path, kwargs = self.folder, self.options()
        save_path, save_format = self._save_path(), self.format_dropdown.value
        # named now: the controls may change while the run computes
        name, label = self._result_name(), f"{self.folder_dropdown.label or 'model'} · {kwargs['distance']}"

        def job(progress):
            rdms = self._compute(feature_path, progress=progress, **kwargs)
            if not isinstance(rdms, dict):
                raise TypeError(f"The compute function returned {type(rdms).__name__}; expected a dict "
                                "{layer: LayerRDM}.")
            # an explicit save step (the "Save as" choice) when a save_root was given; the viewer
            # gets the RDMs in memory
            where = str(save_rdms(rdms, save_path, save_format)) if rdms and save_path is not None else ""
            return rdms, where, self._payloads(rdms), kwargs["distance"], name, label

        self._start(job, f"Computing RDMs of {Path(feature_path).name} ({kwargs['distance']}) ...",
                    estimate=self.estimated_seconds)
        if wait:
            self.join()

    def _payloads(self, rdms: dict):
        """The Download buttons' bytes (None when too large to send to the browser)."""
        from ..rdm_files import rdms_to_zip

        size = sum(8 * r.n_stimuli ** 2 * len(getattr(r, "times", [0])) for r in rdms.values())
        if not rdms or size > MAX_DOWNLOAD_MB * 1024 ** 2:
            return None
        if any(hasattr(r, "times") for r in rdms.values()):
            return time_resolved_zips(rdms)
        return rdms_to_zip(rdms, csv_files=False), rdms_csv_zip(rdms)

    def _shown(self, path) -> str:
        """A path as a visitor may see it: relative to the data root, else only its name."""
        p = Path(path).resolve()
        return p.relative_to(self.data_root).as_posix() if p.is_relative_to(self.data_root) else p.name

    def _write_rdms(self, path):
        """"Save to": the last run's RDMs in the "Save as" format into the new folder ``path``."""
        if not self.rdms:
            raise ValueError("Nothing to save yet: run first.")
        save_rdms(self.rdms, path, self.format_dropdown.value)

    def _result_name(self) -> str:
        stem = Path(self.folder).stem if self.folder else "features"
        return f"rdms_{stem}_{self.distance_dropdown.value}"

    def _finish(self, result):
        rdms, where, payloads, distance, name, label = result
        self.result_path, self.result_label = where, label
        self.rdms = rdms
        self.save_to.name_text.value = name
        if payloads is not None:
            self.download_npz.set_payload(f"{name}.zip", payloads[0])
            self.download_csv.set_payload(f"{name}_csv.zip", payloads[1])
            note = ""
        else:
            note = " · too large to download here: use Save to"
        times = sum(len(getattr(r, "times", [])) for r in rdms.values())
        what = f"{len(rdms)} time-resolved layer RDM(s), {times} model time points" if times else \
            f"{len(rdms)} layer RDM(s)"
        return f"{what} ({distance})", (f" · saved to {self._shown(where)}" if where else "") + note
