"""EEG panel: load epochs, choose the decoding method and options, run eeg_rdm in the background."""
from __future__ import annotations

from pathlib import Path

import ipywidgets as widgets
import numpy as np
from traitlets import Any, Bool, Float, TraitError, Unicode, observe, validate

from .._options import available_devices
from ..data_root import epoch_arrays, read_epochs_keys, relative_text
from ..eeg import (METHODS, SCORES, Epochs, GeneralizationRDM, eeg_rdm, find_epoch_arrays, is_epochs_file,
                   mne_available)
from ..eeg import read_epochs as load_epochs  # re-exported: rdm_widgets.widgets.load_epochs
from ._display import css, error_message, refresh_choices, status_html
from .generalization import GeneralizationViewer
from ._paths import SaveTo, confine, list_files
from ._runner import RunnerMixin
from ._upload import download_button

__all__ = ["EEGPanel", "Epochs", "load_epochs", "default_eeg_compute", "score_options"]

#: what the Score control shows for methods that return distances (they take no score)
_NO_SCORE = ("— (distances)", "accuracy")


def score_options(method: str) -> list:
    """Score choices of ``method`` from the core registry: the LDA scores, or none for distances.

    Methods that return distances (crossnobis, cv_euclidean) take only the default score, which
    the core names ``'accuracy'`` but which means nothing there, so it is not offered by name.
    """
    return list(SCORES) if METHODS[method].is_lda else [_NO_SCORE]


_NO_FILES = ("No epoch files in this folder (an .npz with a trials × channels × times array and a label "
             "array, or an MNE -epo.fif).")


def default_eeg_compute(eeg, labels, **options):
    """The panel's default compute function: :func:`rdm_widgets.eeg.eeg_rdm`."""
    return eeg_rdm(eeg, labels, **options)


class EEGPanel(RunnerMixin, widgets.VBox):
    """Panel that computes a time-resolved decoding RDM from epochs.

    Parameters
    ----------
    eeg_path : str or Path or None
        Epochs file to open first (default: the first one found under data_root).
    data_root : str or Path or None
        Only epoch files under this folder are offered (default: the bundled demo data).
    compute : callable or None
        ``compute(eeg, labels, *, method, score, times, cv, pseudo_trials, n_permutations,
        random_state, noise_normalization, window, decim, device, progress) -> TimeResolvedRDM``
        (default :func:`default_eeg_compute`). Tests inject a fake.
    conditions : list or None
        Conditions selected initially (default all).
    files : list or None
        ``[(label, path)]`` of epoch files offered (default: every epochs file under data_root).
    save_to_root : str or Path or None
        Offer "Save to" an ``.npz`` inside this folder (None: not offered; Download always is).
    path_labels : dict or None
        ``{folder: name}`` of other folders (uploads) shown by name in messages.
    estimate : callable, False or None
        ``estimate(eeg, labels, **options) -> CostEstimate`` with the compute function's
        options, shown as "Estimated: ..." whenever a choice changes, and the seconds the run's
        ETA starts from (default :func:`rdm_widgets.estimate.estimate_eeg_rdm`; it times a tiny
        decoding problem once per regime). False: no estimate. Tests inject a fake.

    Attributes
    ----------
    file : str or None
        The chosen epochs file.
    data_key : str or None
        The epochs array of an ``.npz`` file.
    label_key : str or None
        The condition labels decoded (one of the epochs' label keys).
    epochs : Epochs or None
        The opened epochs.
    result : TimeResolvedRDM or None
        The last decoding RDM (with "Temporal generalisation": the diagonal of
        ``generalization_result``).
    generalization_result : GeneralizationRDM or None
        The last temporal generalisation result (shown in ``generalization_viewer``), else None.
    running : bool
        A run is in progress.
    progress : float
        Fraction of the run done, 0..1.
    status : str
        Status line (``"Error: ..."``, ``"Stopped ..."``, ``"Done ..."``).
    estimate_text : str
        ``"Estimated: ≈ ... · peak RAM ..."`` for the current choices.
    """

    file = Unicode(None, allow_none=True)
    data_key = Unicode(None, allow_none=True)
    label_key = Unicode(None, allow_none=True)
    epochs = Any(None)
    result = Any(None)
    generalization_result = Any(None)
    _progress_label = "Decoding"
    _progress_unit = "fits (pairs × folds × time points)"
    _stopped_text = "Stopped: the run was cancelled; the previous result is kept."

    running = Bool(False)
    progress = Float(0.0)
    status = Unicode("")
    estimate_text = Unicode("")

    def __init__(self, eeg_path=None, data_root=None, compute=None, conditions=None, max_depth: int = 3,
                 estimate=None, files=None, save_to_root=None, path_labels=None, **kwargs):
        from ..demo import demo_root

        self.data_root = Path(data_root if data_root is not None else demo_root()).expanduser().resolve()
        self._compute = compute if compute is not None else default_eeg_compute
        if estimate is None:
            from ..estimate import estimate_eeg_rdm as estimate
        self._estimate = estimate or None
        self._run = None
        self._t0 = 0.0
        self.path_labels = dict(path_labels or {})
        self._loading = False
        suffixes = (".npz", ".fif") if mne_available() else (".npz",)
        if files is None:
            files = [(rel, p) for rel, p in list_files(self.data_root, suffixes, max_depth) if is_epochs_file(p)]
        files = list(files)
        if eeg_path is not None:
            eeg_path = str(Path(eeg_path).expanduser().resolve())
            if eeg_path not in [p for _, p in files]:
                # a path the program (not the browser user) chose explicitly
                files.append((Path(eeg_path).name, eeg_path))

        self.file_dropdown = css(widgets.Dropdown(options=files, value=None, description="Epochs",
                                                  layout=widgets.Layout(width="420px")), "rdmw-eeg-file")
        self.data_key_dropdown = css(widgets.Dropdown(options=[], description="Data array"),
                                     "rdmw-eeg-data-key")
        self.label_dropdown = css(css(widgets.Dropdown(options=[], description="Labels"), "rdmw-eeg-labels"),
                                  "rdmw-eeg-label-key")
        self.conditions_select = css(widgets.SelectMultiple(options=[], description="Conditions",
                                                            rows=4, layout=widgets.Layout(width="420px")),
                                     "rdmw-eeg-conditions")
        methods = list(METHODS)          # the core's registry, in its order (default first)
        self.method_dropdown = css(widgets.Dropdown(options=methods, value=methods[0], description="Method"),
                                   "rdmw-eeg-method")
        self.cv_dropdown = css(widgets.Dropdown(options=[("leave-one-out", "loo"), ("5-fold", 5), ("10-fold", 10)],
                                                value="loo", description="CV"), "rdmw-eeg-cv")
        self.noise_dropdown = css(widgets.Dropdown(options=["none", "epoch", "time"],
                                                   value="none", description="Whitening"), "rdmw-eeg-noise")
        self.score_dropdown = css(widgets.Dropdown(options=score_options(methods[0]), description="Score"),
                                  "rdmw-eeg-score")
        self.window_input = css(widgets.BoundedIntText(value=0, min=0, max=1000, description="Smooth",
                                                       tooltip="moving average over this many samples; 0 = off"),
                                "rdmw-eeg-window")
        self.pseudo_input = css(widgets.BoundedIntText(value=0, min=0, max=1000, description="Pseudo-trials",
                                                       tooltip="trials averaged per pseudo-trial bin; 0 = off"),
                                "rdmw-eeg-pseudo")
        self.perm_input = css(widgets.BoundedIntText(value=1, min=1, max=1000, description="Repeats"),
                              "rdmw-eeg-permutations")
        self.decim_input = css(widgets.BoundedIntText(value=1, min=1, max=1000, description="Decimate"),
                               "rdmw-eeg-decim")
        self.seed_input = css(widgets.IntText(value=0, description="Seed"), "rdmw-eeg-seed")
        self.device_dropdown = css(widgets.Dropdown(options=available_devices(), value="cpu",
                                                    description="Device"), "rdmw-eeg-device")
        self.generalization_checkbox = css(widgets.Checkbox(
            value=False, description="Temporal generalisation", indent=False,
            tooltip="train at every time, test at every time (train x test maps; ~n_times x the work)"),
            "rdmw-eeg-generalization")
        self.generalization_viewer = GeneralizationViewer(layout=widgets.Layout(display="none"))
        self.download_generalization = download_button("Temporal generalisation (.npz)", "rdmw-download-eeg-gen")
        self.download_generalization.layout.display = "none"
        self._make_controls("rdmw-eeg")
        self.estimate_html = css(widgets.HTML(""), "rdmw-eeg-estimate")
        self.download_npz = download_button("Time-resolved RDM (.npz)", "rdmw-download-eeg")
        self.save_to = css(SaveTo(save_to_root, "eeg_rdm.npz", self._write_result), "rdmw-save-eeg")

        widgets.link((self, "file"), (self.file_dropdown, "value"))
        widgets.link((self, "data_key"), (self.data_key_dropdown, "value"))
        widgets.link((self, "label_key"), (self.label_dropdown, "value"))
        self.method_dropdown.observe(self._on_method, "value")
        widgets.dlink((self, "progress"), (self.progress_bar, "value"), lambda p: int(round(100 * p)))
        widgets.dlink((self, "running"), (self.run_button, "disabled"))
        widgets.dlink((self, "running"), (self.stop_button, "disabled"), lambda r: not r)
        widgets.dlink((self, "estimate_text"), (self.estimate_html, "value"), lambda t: status_html(t, "muted"))
        for control in (self.conditions_select, self.method_dropdown, self.cv_dropdown, self.noise_dropdown,
                        self.score_dropdown, self.window_input, self.pseudo_input, self.perm_input,
                        self.decim_input, self.device_dropdown, self.generalization_checkbox):
            control.observe(self._update_estimate, "value")
        self.run_button.on_click(lambda _: self.run())
        self.stop_button.on_click(lambda _: self.stop())

        for control in (self.pseudo_input, self.perm_input, self.decim_input, self.window_input,
                        self.noise_dropdown, self.seed_input):
            control.style.description_width = "100px"
        super().__init__([
            self.file_dropdown,
            widgets.HBox([self.data_key_dropdown, self.label_dropdown]),
            self.conditions_select,
            widgets.HBox([self.method_dropdown, self.score_dropdown, self.cv_dropdown]),
            widgets.HBox([self.noise_dropdown, self.pseudo_input, self.perm_input]),
            widgets.HBox([self.window_input, self.decim_input]),
            widgets.HBox([self.seed_input, self.device_dropdown, self.generalization_checkbox]),
            self.estimate_html,
            widgets.HBox([self.run_button, self.stop_button, self.progress_bar]),
            self.status_html,
            self.download_npz,
            self.download_generalization,
            self.save_to,
            self.generalization_viewer,
        ], **kwargs)
        self.add_class("rdmw-eeg-panel")
        self._initial_conditions = conditions
        if eeg_path is not None:
            self.file = eeg_path
        elif files:
            self.file = files[0][1]
        else:
            self.status = _NO_FILES

    # ------------------------------------------------------------------ state
    def _relative(self, text: str) -> str:
        """``text`` without server paths: relative to the data root, uploads by name."""
        return relative_text(text, self.data_root, self.path_labels)

    @validate("status", "estimate_text")
    def _no_server_paths(self, proposal):
        return self._relative(proposal["value"])

    @validate("file")
    def _check_file(self, proposal):
        value = proposal["value"]
        if value is None:
            return None
        options = [p for _, p in self.file_dropdown.options]
        resolved = str(Path(value).expanduser().resolve())
        if resolved not in options:
            try:
                confine(value, self.data_root)
            except ValueError as exc:
                raise TraitError(self._relative(str(exc))) from None
            raise TraitError(self._relative(f"{str(value)!r} is not one of the epoch files offered."))
        return resolved

    def set_files(self, files, keep_uploads: bool = True):
        """Offer ``[(label, path)]`` epoch files (uploads stay listed); keep the choice when listed."""
        self.file = refresh_choices(self.file_dropdown, files, self.file, keep_uploads)
        if not self.file_dropdown.options:
            self.status = _NO_FILES

    def add_file(self, path, label: str):
        """Add an uploaded epochs file to the chooser and choose it."""
        path = str(Path(path).resolve())
        if path not in [p for _, p in self.file_dropdown.options]:
            self.file_dropdown.options = list(self.file_dropdown.options) + [(label, path)]
        self.file = path

    def _on_method(self, change):
        """Score choices follow the method (no 'accuracy' for distance methods)."""
        options = score_options(change["new"])
        keep = self.score_dropdown.value
        self.score_dropdown.options = options
        values = [o[1] if isinstance(o, tuple) else o for o in options]
        self.score_dropdown.value = keep if keep in values else values[0]
        self.score_dropdown.disabled = not METHODS[change["new"]].is_lda

    @observe("file")
    def _on_file(self, change):
        try:
            self._read_file(change)
        finally:
            self._update_estimate()

    def _read_file(self, change):
        """A new file: offer its epochs arrays (an .npz may hold several), then load the default one."""
        path = change["new"]
        self._loading = True
        try:
            keys, default = [], None
            if path is not None and path.lower().endswith(".npz"):
                try:
                    keys = list(epoch_arrays(path))
                    default = find_epoch_arrays(Path(path))[0]
                except ValueError:
                    keys = []
            self.data_key_dropdown.options = keys
            self.data_key = default
        finally:
            self._loading = False
        self._load(path, self.data_key)

    @observe("data_key")
    def _on_data_key(self, change):
        if not self._loading and change["new"] is not None:
            self._load(self.file, change["new"])
            self._update_estimate()

    def _load(self, path, data_key):
        self.epochs = None
        self.label_dropdown.options = []
        self.label_key = None
        if path is None:
            return
        try:
            epochs = read_epochs_keys(path, data_key)
        except Exception as exc:  # noqa: BLE001 - shown in the panel
            self.status = f"Error: {error_message(exc)}"
            return
        self.epochs = epochs
        self.label_dropdown.options = epochs.label_keys
        self.label_key = epochs.label_keys[0]
        n_trials, n_ch, n_t = epochs.eeg.shape
        self.status = f"{Path(epochs.source).name}: {n_trials} trials × {n_ch} channels × {n_t} times"

    @observe("label_key")
    def _on_label_key(self, change):
        if self.epochs is None or change["new"] is None:
            self.conditions_select.options = []
            return
        conds = sorted({str(v) for v in self.epochs.labels[change["new"]]})
        self.conditions_select.options = conds
        wanted = self._initial_conditions
        self._initial_conditions = None
        self.conditions_select.value = tuple(c for c in conds if wanted is None or c in set(map(str, wanted)))

    def _update_estimate(self, _change=None):
        """Recompute the "Estimated: ..." line for the selected data and options."""
        if self._estimate is None or self.epochs is None or self.label_key is None:
            self._refresh_estimate(None)
            return
        try:
            eeg, labels, times = self.selected_data()
        except ValueError:          # e.g. fewer than 2 conditions: Run says so
            self._refresh_estimate(None)
            return
        opts, partial = dict(self.options(), times=times), []

        def estimate():     # an estimate that does not know generalisation: the diagonal's, said so
            try:
                return self._estimate(eeg, labels, **opts)
            except TypeError as exc:
                if "generalization" not in str(exc):
                    raise
                partial.append(opts.pop("generalization"))
                return self._estimate(eeg, labels, **opts)
        self._refresh_estimate(estimate)
        if partial and self._cost is not None:
            self.estimate_text += " · without the train × test work of temporal generalisation (not estimated)"

    # ------------------------------------------------------------------ running
    def options(self) -> dict:
        """Keyword arguments for the compute function from the controls (without progress)."""
        return dict(method=self.method_dropdown.value, cv=self.cv_dropdown.value,
                    pseudo_trials=self.pseudo_input.value or None, n_permutations=self.perm_input.value,
                    random_state=self.seed_input.value,
                    noise_normalization=None if self.noise_dropdown.value == "none" else self.noise_dropdown.value,
                    decim=self.decim_input.value, window=self.window_input.value or None,
                    score=self.score_dropdown.value, device=self.device_dropdown.value,
                    **({"generalization": True} if self.generalization_checkbox.value else {}))

    def selected_data(self):
        """(eeg, labels, times) of the selected conditions."""
        if self.epochs is None or self.label_key is None:
            raise ValueError("Load an epochs file first.")
        labels = np.asarray([str(v) for v in self.epochs.labels[self.label_key]])
        chosen = list(self.conditions_select.value)
        if len(chosen) < 2:
            raise ValueError(f"Select at least 2 conditions (selected: {chosen}).")
        keep = np.isin(labels, chosen)
        return self.epochs.eeg[keep], labels[keep], self.epochs.times

    def run(self, wait: bool = False):
        """Start the computation in a background thread (what Run does)."""
        if self.running:
            return
        try:
            eeg, labels, times = self.selected_data()
        except ValueError as exc:
            self.status = f"Error: {error_message(exc)}"
            return
        kwargs = self.options()
        kwargs["times"] = times
        # named now: the controls may change while the run computes
        stem = f"{Path(self.file).stem if self.file else 'epochs'}_{kwargs['method']}"
        self._start(lambda progress: (self._compute(eeg, labels, progress=progress, **kwargs), stem),
                    f"Decoding {len(set(labels))} conditions ({kwargs['method']}) over "
                    f"{eeg.shape[2]} time points ...", estimate=self.estimated_seconds)
        if wait:
            self.join()

    def _write_result(self, path):
        """"Save to": the time-resolved RDM as an ``.npz`` (:meth:`TimeResolvedRDM.save`'s layout)."""
        from ..rdm_files import time_resolved_to_npz

        if self.result is None:
            raise ValueError("Nothing to save yet: run first.")
        if not str(path).lower().endswith(".npz"):
            raise ValueError("Save the time-resolved RDM as a file ending in .npz.")
        Path(path).write_bytes(time_resolved_to_npz(self.result))

    def _finish(self, result):
        from ..rdm_files import time_resolved_to_npz

        result, stem = result
        self.generalization_result = gen = result if isinstance(result, GeneralizationRDM) else None
        for shown in (self.generalization_viewer, self.download_generalization):
            shown.layout.display = "none" if gen is None else None
        if gen is not None:
            self.generalization_viewer.result = gen
            self.download_generalization.set_payload(f"eeg_generalization_{stem}.npz", gen.to_npz_bytes())
            result = gen.diagonal()
        name = f"eeg_rdm_{stem}.npz"
        self.download_npz.set_payload(name, time_resolved_to_npz(result))
        self.save_to.name_text.value = name
        self.result = result
        n_cond = len(getattr(result, "conditions", []) or [])
        more = "" if gen is None else f" and at {gen.shape[2]} × {gen.shape[3]} train × test times"
        return f"{n_cond} × {n_cond} RDMs at {len(result.times)} time points{more}", ""
