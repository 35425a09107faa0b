"""Model vs brain: RSA of model layers against brain / behaviour / hypothesis RDMs.

The panel only chooses and displays; the numbers come from the compute function (default
:func:`rdm_widgets.model_rsa.model_brain_table`), run in a background thread with progress and
Stop. Models arrive with :meth:`RSAPanel.add_models` (e.g. after a DNN run), brain RDMs with
:meth:`RSAPanel.add_brain` (e.g. an uploaded file read by :func:`rdm_widgets.rdm_files.read_rdm_file`).
"""
from __future__ import annotations

import html
import inspect

import ipywidgets as widgets
import numpy as np
from traitlets import Any, Bool, Dict, Float, Unicode, observe

from ._display import css, show_figure, show_text, status_html
from ._download import DownloadButton
from ._runner import RunnerMixin

__all__ = ["RSAPanel", "bundled_rsa_panel", "default_compute", "METHODS", "BOOTSTRAP_CHOICES"]

METHODS = ("spearman", "pearson", "kendall_tau_a")
#: the "Bootstrap CI" dropdown: (shown, value given to the compute function as ``bootstrap``)
BOOTSTRAP_CHOICES = (("none", None), ("over stimuli", "stimuli"), ("over subjects", "subjects"),
                     ("stimuli and subjects", "both"))
FIGURE_FORMATS = ("png", "svg")
#: the table's columns on screen: (header, formatter of a row)
_SHOWN = (
    ("brain", lambda r: r["brain"]),
    ("model", lambda r: r["model"]),
    ("layer", lambda r: r["layer"]),
    ("r", lambda r: _num(r["r"], 4) + (f" ± {_num(r['r_sem'], 2)}" if np.isfinite(r["r_sem"]) else "")),
    ("p", lambda r: _num(r["p"], 3)),
    ("p FDR", lambda r: _num(r["p_fdr"], 3)),
    ("test", lambda r: r["test"]),
    ("leave one subject out", lambda r: (f"{_num(r['r_loso_min'], 3)} – {_num(r['r_loso_max'], 3)}"
                                         if np.isfinite(r["r_loso_min"]) else "–")),
    ("noise ceiling", lambda r: (f"{_num(r['noise_lower'], 3)} – {_num(r['noise_upper'], 3)}"
                                 if np.isfinite(r["noise_lower"]) else "–")),
    ("bootstrap CI", lambda r: (f"{_num(r['ci_low'], 3)} – {_num(r['ci_high'], 3)} ({r.get('bootstrap')})"
                                if _has_ci(r) else "–")),
    ("stimuli", lambda r: str(r["n_stimuli"])),
    ("subjects", lambda r: str(r["n_subjects"])),
)


def _num(v, digits: int) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{v:.{digits}g}"


def _has_ci(row) -> bool:
    lo, hi = row.get("ci_low"), row.get("ci_high")
    return lo is not None and hi is not None and bool(np.isfinite(lo)) and bool(np.isfinite(hi))


def accepts(fn, name: str) -> bool:
    """Whether ``fn`` takes a keyword argument ``name`` (or ``**kwargs``)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def default_compute(models, brains, *, method, n_permutations, random_state, progress, bootstrap=None):
    """The panel's compute function: :func:`model_brain_table` (pairs that do not match are skipped).

    ``bootstrap`` (``None``, ``'stimuli'``, ``'subjects'``, ``'both'``) adds bootstrap confidence
    intervals (``ci_low``, ``ci_high``) to the rows, where ``model_brain_table`` has that parameter.
    """
    from ..model_rsa import model_brain_table

    extra = {}
    if bootstrap is not None:
        if not accepts(model_brain_table, "bootstrap"):
            raise ValueError("Bootstrap confidence intervals need model_brain_table(..., bootstrap=...), which this "
                             "version of rdm_widgets does not have; choose 'none'.")
        extra["bootstrap"] = bootstrap
    return model_brain_table(models, brains, method=method, n_permutations=n_permutations,
                             random_state=random_state, progress=progress, on_error="skip", **extra)


def table_html(table) -> str:
    """An HTML table of an RSATable's rows (escaped)."""
    head = "".join(f"<th style='padding:2px 8px;text-align:left'>{h}</th>" for h, _ in _SHOWN)
    body = "".join("<tr>" + "".join(f"<td style='padding:2px 8px'>{html.escape(str(f(r)))}</td>"
                                    for _, f in _SHOWN) + "</tr>" for r in table.rows)
    return f"<table style='border-collapse:collapse;font-size:12px'><tr>{head}</tr>{body}</table>"


class RSAPanel(RunnerMixin, widgets.VBox):
    """Bars of model-brain similarity per layer, with noise ceiling, significance and a CSV download.

    Parameters
    ----------
    models : dict or None
        ``{model name: {layer: LayerRDM}}``.
    brains : dict or None
        ``{name: RDMSet}`` (a LayerRDM is accepted and wrapped).
    compute : callable or None
        ``compute(models, brains, *, method, n_permutations, random_state, progress[, bootstrap])
        -> RSATable`` (default :func:`default_compute`). Tests inject a fake. The "Bootstrap CI"
        choice is passed as ``bootstrap`` only to a function that takes it (else the dropdown is
        disabled); rows with finite ``ci_low``/``ci_high`` are drawn with CI error bars.
    method : str
    n_permutations : int
    bootstrap : {None, 'stimuli', 'subjects', 'both'}
        The dropdown's initial value.

    Attributes
    ----------
    models : dict
        ``{model name: {layer: LayerRDM}}`` compared.
    brains : dict
        ``{name: RDMSet}`` compared with.
    table : RSATable or None
        The last result.
    running : bool
        A run is in progress.
    progress : float
        Fraction of the run done, 0..1.
    status : str
        Status line (``"Error: ..."``, ``"Stopped ..."``, ``"Done ..."``).
    estimate_text : str
        ``"Estimated: ..."`` for the current choices.
    """

    models = Dict()
    brains = Dict()
    table = Any(None)
    running = Bool(False)
    progress = Float(0.0)
    status = Unicode("")
    estimate_text = Unicode("")
    _progress_label = "Comparing"
    _progress_unit = "units (permutations, layer RDMs, bootstrap samples)"
    _stopped_text = "Stopped: no table was computed."

    def __init__(self, models=None, brains=None, compute=None, method: str = "spearman",
                 n_permutations: int = 1000, random_state=0, bootstrap=None, **kwargs):
        self._compute = compute if compute is not None else default_compute
        self.random_state = random_state
        self._run = None
        self._t0 = 0.0
        lay = widgets.Layout(width="260px", height="110px")
        self.models_select = css(widgets.SelectMultiple(options=[], description="Models", layout=lay),
                                 "rdmw-rsa-models")
        self.brain_select = css(widgets.SelectMultiple(options=[], description="Brain RDMs", layout=lay),
                                "rdmw-rsa-brain")
        self.method_dropdown = css(widgets.Dropdown(options=METHODS, value=method, description="Method"),
                                   "rdmw-rsa-method")
        self.permutations_input = css(widgets.BoundedIntText(value=n_permutations, min=0, max=100_000, step=100,
                                                             description="Permutations"), "rdmw-rsa-permutations")
        can_bootstrap = accepts(self._compute, "bootstrap")
        self.bootstrap_dropdown = css(widgets.Dropdown(
            options=BOOTSTRAP_CHOICES, value=bootstrap, description="Bootstrap CI", disabled=not can_bootstrap,
            tooltip="confidence intervals by resampling stimuli, subjects or both" if can_bootstrap
            else "the compute function has no bootstrap option"), "rdmw-rsa-bootstrap")
        self.format_dropdown = css(widgets.Dropdown(options=FIGURE_FORMATS, value="png", description="Figure as",
                                                    tooltip="what the figure's camera button saves"),
                                   "rdmw-rsa-image-format")
        self._make_controls("rdmw-rsa")
        self.note_html = css(widgets.HTML(""), "rdmw-rsa-match-note")
        self.figure = css(widgets.Output(layout=widgets.Layout(min_height="380px")), "rdmw-rsa-figure")
        self.table_html = css(widgets.HTML(""), "rdmw-rsa-table")
        self.download = css(DownloadButton("Download table (.csv)", "rsa_table.csv"), "rdmw-rsa-download")

        widgets.dlink((self, "progress"), (self.progress_bar, "value"), lambda p: int(round(100 * p)))
        widgets.dlink((self, "running"), (self.run_button, "disabled"))
        widgets.dlink((self, "running"), (self.stop_button, "disabled"), lambda r: not r)
        self.run_button.on_click(lambda _: self.run())
        self.stop_button.on_click(lambda _: self.stop())
        self.format_dropdown.observe(lambda _: self._draw(), "value")
        super().__init__([
            widgets.HBox([self.models_select, self.brain_select]),
            widgets.HBox([self.method_dropdown, self.permutations_input, self.bootstrap_dropdown,
                          self.format_dropdown]),
            widgets.HBox([self.run_button, self.stop_button, self.progress_bar]),
            self.status_html, self.note_html, self.figure, self.table_html, self.download,
        ], **kwargs)
        self.add_class("rdmw-rsa-panel")
        show_text(self.figure, "No RSA yet: choose models and brain RDMs, then Run.")
        for name, rdms in (models or {}).items():
            self.add_models(name, rdms)
        for name, rdm_set in (brains or {}).items():
            self.add_brain(name, rdm_set)

    # ------------------------------------------------------------------ inputs
    def add_models(self, name: str, rdms: dict, select: bool = True) -> None:
        """Add (or replace) a model: ``{layer: LayerRDM}``; it is selected unless ``select=False``."""
        if not isinstance(rdms, dict) or not rdms:
            raise ValueError(f"Model {name!r} needs a non-empty dict {{layer: LayerRDM}}.")
        self.models = {**self.models, str(name): dict(rdms)}
        if select:
            self.models_select.value = tuple(dict.fromkeys((*self.models_select.value, str(name))))

    def add_brain(self, name: str, rdm_set, select: bool = True) -> None:
        """Add (or replace) a brain/behaviour/hypothesis RDM (an RDMSet or a LayerRDM)."""
        from ..rdm_files import RDMSet

        if not isinstance(rdm_set, RDMSet):
            rdm_set = RDMSet.from_layer_rdm(rdm_set, str(name))
        self.brains = {**self.brains, str(name): rdm_set}
        if select:
            self.brain_select.value = tuple(dict.fromkeys((*self.brain_select.value, str(name))))

    @observe("models")
    def _on_models(self, change):
        keep = [v for v in self.models_select.value if v in self.models]
        self.models_select.options = list(self.models)
        self.models_select.value = tuple(keep)

    @observe("brains")
    def _on_brains(self, change):
        keep = [v for v in self.brain_select.value if v in self.brains]
        self.brain_select.options = [(f"{k} ({v.n_subjects} × {v.n_stimuli})", k) for k, v in self.brains.items()]
        self.brain_select.value = tuple(keep)

    # ------------------------------------------------------------------ running
    def options(self) -> dict:
        """Keyword arguments the compute function gets from the controls (without progress)."""
        options = dict(method=self.method_dropdown.value, n_permutations=int(self.permutations_input.value),
                       random_state=self.random_state)
        if not self.bootstrap_dropdown.disabled and accepts(self._compute, "bootstrap"):
            options["bootstrap"] = self.bootstrap_dropdown.value
        return options

    def run(self, wait: bool = False) -> None:
        """Compute the table for the selected models and brain RDMs in the background (the Run button)."""
        if self.running:
            return
        models = {k: self.models[k] for k in self.models_select.value if k in self.models}
        brains = {k: self.brains[k] for k in self.brain_select.value if k in self.brains}
        if not models or not brains:
            self.status = "Error: choose at least one model and one brain RDM."
            return
        kwargs = self.options()
        self._start(lambda progress: self._compute(models, brains, progress=progress, **kwargs),
                    f"Comparing {len(models)} model(s) with {len(brains)} brain RDM(s) "
                    f"({kwargs['method']}, {kwargs['n_permutations']} permutations"
                    + (f", bootstrap over {kwargs['bootstrap']}" if kwargs.get("bootstrap") else "") + ") ...")
        if wait:
            self.join()

    def _finish(self, table):
        if not table.rows:
            raise ValueError("No model matches the chosen brain RDMs: " + "; ".join(table.skipped[:3]))
        self.table = table
        skipped = f" · skipped {len(table.skipped)} model/brain pair(s)" if table.skipped else ""
        return f"{len(table.rows)} layer comparisons", skipped

    @observe("table")
    def _on_table(self, change):
        table = change["new"]
        if table is None:
            self.download.clear()
            return
        lines = [status_html(n, "muted") for n in table.notes]
        lines += [status_html(f"Skipped {s}", "warn") for s in table.skipped]
        self.note_html.value = "<br>".join(lines)
        self.table_html.value = table_html(table)
        self.download.set_payload("rsa_table.csv", table.to_csv())
        self._draw()

    def _draw(self):
        from ..plotting import model_comparison_figure

        if self.table is None:
            return
        fig = model_comparison_figure(self.table)
        fig.update_layout(height=420, margin=dict(l=60, r=20, t=70, b=60))
        show_figure(self.figure, fig, image_format=self.format_dropdown.value, filename="model_brain_rsa")


def bundled_rsa_panel(compute=None, run: bool = True, n_permutations: int = 1000) -> RSAPanel:
    """The RSA panel on the bundled data: MobileNetV2 layers (78 images) vs the EVC and IT subject RDMs.

    The model RDMs are computed with ``RDMCreator().compute_rdms`` (correlation distance, < 1 s);
    with ``run`` the table is computed before returning (~1.5 s for 1000 permutations), so the
    panel opens on a real result with noise ceilings.
    """
    from ..creator import RDMCreator
    from ..demo import demo_path
    from ..rdm_files import bundled_brain_rdms

    panel = RSAPanel(compute=compute, n_permutations=n_permutations)
    panel.add_models("MobileNetV2", RDMCreator().compute_rdms(demo_path("mobilenetv2")))
    for name, rdm_set in bundled_brain_rdms().items():
        panel.add_brain(name, rdm_set)
    if run:
        panel.run(wait=True)
    return panel
