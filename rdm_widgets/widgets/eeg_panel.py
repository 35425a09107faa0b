"""EEG panel: load epochs, choose the decoding method and options, run eeg_rdm in the background."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import ipywidgets as widgets
import numpy as np
from traitlets import Any, Bool, Float, TraitError, Unicode, observe, validate

from ._common import RunnerMixin, confine, css, error_message, list_files, status_html

__all__ = ["EEGPanel", "Epochs", "load_epochs", "default_eeg_compute"]

_PREFERRED_LABEL_KEYS = ("labels", "label", "target", "targets", "y", "conditions", "condition", "events")
_FALLBACK_METHODS = ("lda", "lda_shrinkage", "cv_euclidean", "crossnobis")


@dataclass
class Epochs:
    """Epoched EEG/MEG: ``eeg`` (n_trials, n_channels, n_times), label arrays, times (s)."""

    eeg: np.ndarray
    labels: dict = field(default_factory=dict)   # key -> (n_trials,) array
    times: np.ndarray | None = None
    source: str = ""

    @property
    def label_keys(self) -> list[str]:
        return list(self.labels)


def _mne_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("mne") is not None


def load_epochs(path) -> Epochs:
    """Read epochs from an ``.npz`` (keys ``eeg``, label arrays, ``times``) or MNE ``-epo.fif`` file.

    Every 1-D array with one entry per trial is offered as a label array
    (``labels``/``target`` first). Loading never unpickles.

    Raises
    ------
    ValueError
        Missing ``eeg`` array, wrong dimensions, no label array, unsupported file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"EEG file not found: {str(path)!r}.")
    if path.suffix.lower() == ".fif":
        if not _mne_available():
            raise ValueError(f"Reading {path.name} needs MNE-Python: pip install mne.")
        import mne

        ep = mne.read_epochs(str(path), preload=True, verbose="error")
        inverse = {code: name for name, code in ep.event_id.items()}
        labels = np.array([inverse.get(code, str(code)) for code in ep.events[:, 2]])
        return Epochs(np.asarray(ep.get_data()), {"event": labels}, np.asarray(ep.times, dtype=np.float64), str(path))
    if path.suffix.lower() != ".npz":
        raise ValueError(f"Unsupported EEG file {path.name!r}: use an .npz with keys eeg, labels, times"
                         + (" or an MNE -epo.fif file." if _mne_available() else " (MNE .fif needs mne)."))
    with np.load(path, allow_pickle=False) as npz:
        keys = list(npz.files)
        data_key = next((k for k in ("eeg", "data", "X", "epochs") if k in keys), None)
        if data_key is None:
            raise ValueError(f"{path.name} has no 'eeg' array (keys: {keys}); expected eeg of shape "
                             "(n_trials, n_channels, n_times).")
        eeg = npz[data_key]
        if eeg.ndim != 3:
            raise ValueError(f"{path.name}: '{data_key}' has shape {eeg.shape}; expected "
                             "(n_trials, n_channels, n_times).")
        n = eeg.shape[0]
        candidates = [k for k in keys if k != data_key and npz[k].ndim == 1 and npz[k].shape[0] == n
                      and npz[k].dtype.kind in "USiub"]
        candidates.sort(key=lambda k: (_PREFERRED_LABEL_KEYS.index(k) if k in _PREFERRED_LABEL_KEYS
                                       else len(_PREFERRED_LABEL_KEYS), keys.index(k)))
        if not candidates:
            raise ValueError(f"{path.name} has no label array with one entry per trial ({n}); add e.g. "
                             "'labels' of shape (n_trials,).")
        labels = {k: npz[k] for k in candidates}
        times = None
        if "times" in keys and npz["times"].shape == (eeg.shape[2],):
            times = npz["times"].astype(np.float64)
        elif "sfreq" in keys:
            times = np.arange(eeg.shape[2]) / float(npz["sfreq"])
    return Epochs(eeg, labels, times, str(path))


def default_eeg_compute(eeg, labels, **options):
    """The panel's default compute function: :func:`rdm_widgets.eeg.eeg_rdm`."""
    from ..eeg import eeg_rdm

    return eeg_rdm(eeg, labels, **options)


def _methods() -> list[str]:
    try:
        from .. import eeg
    except ImportError:  # pragma: no cover
        return list(_FALLBACK_METHODS)
    found = getattr(eeg, "METHODS", None)
    if found is None:
        try:
            from ..eeg._api import METHODS as found
        except ImportError:  # pragma: no cover - older layout of the EEG core
            found = None
    return [str(m) for m in found] if found else list(_FALLBACK_METHODS)


def _devices() -> list[str]:
    import torch

    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


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
    estimate : callable, False or None
        ``estimate(eeg, labels, **options) -> CostEstimate`` with the compute function's
        options, shown as "Estimated: ..." whenever a choice changes, and the seconds the run's
        ETA starts from (default :func:`rdm_widgets.estimate.estimate_eeg_rdm`; it times a tiny
        decoding problem once per regime). False: no estimate. Tests inject a fake.

    Attributes (traitlets)
    ----------------------
    file : str, label_key : str, epochs : Epochs, result : TimeResolvedRDM or None,
    running : bool, progress : float (0..1), status : str,
    estimate_text : str ("Estimated: ≈ ... · peak RAM ..." for the current choices)
    """

    file = Unicode(None, allow_none=True)
    label_key = Unicode(None, allow_none=True)
    epochs = Any(None)
    result = Any(None)
    _progress_label = "Decoding"
    _progress_unit = "fits (pairs × folds × time points)"
    _stopped_text = "Stopped: the run was cancelled; the previous result is kept."

    running = Bool(False)
    progress = Float(0.0)
    status = Unicode("")
    estimate_text = Unicode("")

    def __init__(self, eeg_path=None, data_root=None, compute=None, conditions=None, max_depth: int = 3,
                 estimate=None, **kwargs):
        from ..demo import demo_root

        self.data_root = Path(data_root if data_root is not None else demo_root()).expanduser().resolve()
        self._compute = compute if compute is not None else default_eeg_compute
        if estimate is None:
            from ..estimate import estimate_eeg_rdm as estimate
        self._estimate = estimate or None
        self._run = None
        self._t0 = 0.0
        suffixes = (".npz", ".fif") if _mne_available() else (".npz",)
        files = [(rel, p) for rel, p in list_files(self.data_root, suffixes, max_depth) if _is_epochs(p)]
        if eeg_path is not None:
            eeg_path = str(Path(eeg_path).expanduser().resolve())
            if eeg_path not in [p for _, p in files]:
                # a path the program (not the browser user) chose explicitly
                files.append((Path(eeg_path).name, eeg_path))

        self.file_dropdown = css(widgets.Dropdown(options=files, value=None, description="Epochs",
                                                  layout=widgets.Layout(width="420px")), "rdmw-eeg-file")
        self.label_dropdown = css(widgets.Dropdown(options=[], description="Labels"), "rdmw-eeg-labels")
        self.conditions_select = css(widgets.SelectMultiple(options=[], description="Conditions",
                                                            rows=4, layout=widgets.Layout(width="420px")),
                                     "rdmw-eeg-conditions")
        methods = _methods()
        self.method_dropdown = css(widgets.Dropdown(options=methods, value=methods[0], description="Method"),
                                   "rdmw-eeg-method")
        self.cv_dropdown = css(widgets.Dropdown(options=[("leave-one-out", "loo"), ("5-fold", 5), ("10-fold", 10)],
                                                value="loo", description="CV"), "rdmw-eeg-cv")
        self.noise_dropdown = css(widgets.Dropdown(options=["none", "epoch", "time"],
                                                   value="none", description="Whitening"), "rdmw-eeg-noise")
        self.score_dropdown = css(widgets.Dropdown(options=["accuracy", "decision"], value="accuracy",
                                                   description="Score"), "rdmw-eeg-score")
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
        self.device_dropdown = css(widgets.Dropdown(options=_devices(), value="cpu", description="Device"),
                                   "rdmw-eeg-device")
        self.run_button = css(widgets.Button(description="Run", button_style="primary", icon="play"),
                              "rdmw-eeg-run")
        self.stop_button = css(widgets.Button(description="Stop", button_style="warning", icon="stop",
                                              disabled=True), "rdmw-eeg-stop")
        self.progress_bar = css(widgets.IntProgress(value=0, min=0, max=100, description="Progress"),
                                "rdmw-eeg-progress")
        self.status_html = css(widgets.HTML(""), "rdmw-eeg-status")
        self.estimate_html = css(widgets.HTML(""), "rdmw-eeg-estimate")

        widgets.link((self, "file"), (self.file_dropdown, "value"))
        widgets.link((self, "label_key"), (self.label_dropdown, "value"))
        widgets.dlink((self, "progress"), (self.progress_bar, "value"), lambda p: int(round(100 * p)))
        widgets.dlink((self, "running"), (self.run_button, "disabled"))
        widgets.dlink((self, "running"), (self.stop_button, "disabled"), lambda r: not r)
        widgets.dlink((self, "estimate_text"), (self.estimate_html, "value"), lambda t: status_html(t, "muted"))
        for control in (self.conditions_select, self.method_dropdown, self.cv_dropdown, self.noise_dropdown,
                        self.score_dropdown, self.window_input, self.pseudo_input, self.perm_input,
                        self.decim_input, self.device_dropdown):
            control.observe(self._update_estimate, "value")
        self.run_button.on_click(lambda _: self.run())
        self.stop_button.on_click(lambda _: self.stop())

        for control in (self.pseudo_input, self.perm_input, self.decim_input, self.window_input,
                        self.noise_dropdown, self.seed_input):
            control.style.description_width = "100px"
        super().__init__([
            widgets.HBox([self.file_dropdown, self.label_dropdown]),
            self.conditions_select,
            widgets.HBox([self.method_dropdown, self.score_dropdown, self.cv_dropdown]),
            widgets.HBox([self.noise_dropdown, self.pseudo_input, self.perm_input]),
            widgets.HBox([self.window_input, self.decim_input]),
            widgets.HBox([self.seed_input, self.device_dropdown]),
            self.estimate_html,
            widgets.HBox([self.run_button, self.stop_button, self.progress_bar]),
            self.status_html,
        ], **kwargs)
        self.add_class("rdmw-eeg-panel")
        self._initial_conditions = conditions
        if eeg_path is not None:
            self.file = eeg_path
        elif files:
            self.file = files[0][1]
        else:
            self.status = f"No epoch files (.npz with an 'eeg' array) under {self.data_root}."

    # ------------------------------------------------------------------ state
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
                raise TraitError(str(exc)) from None
            raise TraitError(f"{str(value)!r} is not one of the epoch files offered.")
        return resolved

    @observe("file")
    def _on_file(self, change):
        try:
            self._read_file(change)
        finally:
            self._update_estimate()

    def _read_file(self, change):
        self.epochs = None
        self.label_dropdown.options = []
        if change["new"] is None:
            return
        try:
            epochs = load_epochs(change["new"])
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
        opts = dict(self.options(), times=times)
        self._refresh_estimate(lambda: self._estimate(eeg, labels, **opts))

    # ------------------------------------------------------------------ running
    def options(self) -> dict:
        """Keyword arguments for the compute function from the controls (without progress)."""
        return dict(method=self.method_dropdown.value, cv=self.cv_dropdown.value,
                    pseudo_trials=self.pseudo_input.value or None, n_permutations=self.perm_input.value,
                    random_state=self.seed_input.value,
                    noise_normalization=None if self.noise_dropdown.value == "none" else self.noise_dropdown.value,
                    decim=self.decim_input.value, window=self.window_input.value or None,
                    score=self.score_dropdown.value, device=self.device_dropdown.value)

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
        self._start(lambda progress: self._compute(eeg, labels, progress=progress, **kwargs),
                    f"Decoding {len(set(labels))} conditions ({kwargs['method']}) over "
                    f"{eeg.shape[2]} time points ...", estimate=self.estimated_seconds)
        if wait:
            self.join()

    def _finish(self, result):
        self.result = result
        n_cond = len(getattr(result, "conditions", []) or [])
        return f"{n_cond} × {n_cond} RDMs at {len(result.times)} time points", ""


def _is_epochs(path: str) -> bool:
    """Epoch files: .fif, or .npz whose zip index holds an 'eeg' array (read without loading data)."""
    import zipfile

    if path.lower().endswith(".fif"):
        return True
    try:
        with zipfile.ZipFile(path) as zf:
            return any(Path(n).stem == "eeg" for n in zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return False
