"""Timecourse viewer: mean decoding timecourse, time slider driving the RDM at that time, pair timecourses, RSA."""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np
from traitlets import Any, Dict, Int, List, observe

from ._clickgrid import ClickGrid
from ._common import css, error_message, show_text, status_html

__all__ = ["TimecourseViewer", "chance_level"]


def chance_level(result):
    """Chance level of a TimeResolvedRDM's values: ``meta['chance']``, 0.5 for pairwise accuracy,
    0 for cross-validated distances, else None."""
    meta = getattr(result, "meta", {}) or {}
    if meta.get("chance") is not None:
        return float(meta["chance"])
    score = str(meta.get("score", "")).lower()
    method = str(meta.get("method", "")).lower()
    if "euclid" in method or "crossnobis" in method or "distance" in method:
        return 0.0
    if score in ("accuracy", "acc", "") and method:
        return 0.5
    return None


def _value_label(result) -> str:
    meta = getattr(result, "meta", {}) or {}
    if meta.get("dissimilarity"):
        return str(meta["dissimilarity"])
    method = str(meta.get("method", ""))
    if "euclid" in method.lower() or "crossnobis" in method.lower():
        return "cross-validated distance"
    return f"decoding {meta.get('score', 'accuracy')}" if method else "dissimilarity"


class TimecourseViewer(widgets.VBox):
    """Viewer of a time-resolved RDM (e.g. the EEG panel's ``result``).

    Parameters
    ----------
    result : TimeResolvedRDM or None
        Anything with ``.data`` (n, n, T), ``.times`` (T,), ``.conditions``,
        ``.meta``, ``.mean_timecourse()`` and ``.at(t)``.
    model_rdms : dict or None
        ``{layer: LayerRDM}`` model RDMs; their RSA timecourse with the EEG RDMs
        is shown per layer when their stimuli match the EEG conditions (by name,
        or by count when the names differ).
    rsa_method : str
        Correlation of :func:`rdm_widgets.rsa.rsa_timecourse`.

    Attributes (traitlets)
    ----------------------
    result, model_rdms : dict, time_index : int, pair : list [i, j],
    rsa : dict {layer: (T,) ndarray} (computed RSA timecourses)
    """

    result = Any(None)
    model_rdms = Dict()
    time_index = Int(0)
    pair = List([0, 1])
    rsa = Dict()

    def __init__(self, result=None, model_rdms=None, rsa_method: str = "spearman", **kwargs):
        self.rsa_method = rsa_method
        self.time_slider = css(widgets.IntSlider(value=0, min=0, max=0, description="Time index",
                                                 continuous_update=False, readout=False,
                                                 layout=widgets.Layout(width="420px")), "rdmw-time-slider")
        self.time_label = css(widgets.HTML(""), "rdmw-time-label")
        self.eeg_heatmap = css(widgets.Output(layout=widgets.Layout(min_height="360px", width="460px")),
                               "rdmw-eeg-heatmap")
        self.clickgrid = css(ClickGrid(), "rdmw-clickgrid")
        self.pair_a = css(widgets.Dropdown(options=[], description="Pair"), "rdmw-pair-a")
        self.pair_b = css(widgets.Dropdown(options=[], description="with"), "rdmw-pair-b")
        self.timecourse = css(widgets.Output(layout=widgets.Layout(min_height="300px")), "rdmw-timecourse")
        self.pair_timecourse = css(widgets.Output(layout=widgets.Layout(min_height="300px")),
                                   "rdmw-pair-timecourse")
        self.rsa_note = css(widgets.HTML(""), "rdmw-rsa-note")

        widgets.link((self, "time_index"), (self.time_slider, "value"))
        widgets.link((self, "pair"), (self.clickgrid, "selected"))
        self.pair_a.observe(self._on_pair_dropdown, "value")
        self.pair_b.observe(self._on_pair_dropdown, "value")

        click_box = widgets.VBox([widgets.HTML("<small>Click a cell to see that pair's timecourse:</small>"),
                                  self.clickgrid, widgets.HBox([self.pair_a, self.pair_b])])
        super().__init__([
            widgets.HBox([self.time_slider, self.time_label]),
            widgets.HBox([self.eeg_heatmap, click_box]),
            self.timecourse, self.rsa_note, self.pair_timecourse,
        ], **kwargs)
        self.add_class("rdmw-timecourse-viewer")
        for out in (self.eeg_heatmap, self.timecourse, self.pair_timecourse):
            show_text(out, "No EEG RDM yet: run the EEG panel.")
        if model_rdms:
            self.model_rdms = dict(model_rdms)
        if result is not None:
            self.result = result

    # ------------------------------------------------------------------ state changes
    @observe("result")
    def _on_result(self, change):
        res = change["new"]
        if res is None:
            return
        n_t = len(res.times)
        conds = [str(c) for c in res.conditions]
        mean = np.asarray(res.mean_timecourse(), dtype=np.float64)
        start = int(np.nanargmax(mean)) if np.isfinite(mean).any() else 0
        with self.hold_trait_notifications():
            self.time_slider.max = max(n_t - 1, 0)
            options = list(zip(conds, range(len(conds))))
            self.pair_a.options = options
            self.pair_b.options = options
        self._compute_rsa()
        pair = list(self.pair) if len(self.pair) == 2 and max(self.pair) < len(conds) else [0, min(1, len(conds) - 1)]
        if self.time_index == start:
            self._draw_time()
        self.time_index = start
        if self.pair == pair:
            self._draw_pair()
        self.pair = pair

    @observe("model_rdms")
    def _on_models(self, change):
        self._compute_rsa()
        self._draw_timecourse()

    @observe("time_index")
    def _on_time(self, change):
        self._draw_time()      # also redraws the mean timecourse with its time marker
        self._draw_pair()      # keep the pair's time marker at the slider's time too

    @observe("pair")
    def _on_pair(self, change):
        self._draw_pair()

    def _on_pair_dropdown(self, change):
        a, b = self.pair_a.value, self.pair_b.value
        if a is not None and b is not None and [a, b] != list(self.pair):
            self.pair = [a, b]

    # ------------------------------------------------------------------ computing what is shown
    def _compute_rsa(self):
        """RSA timecourse per model layer whose stimuli match the EEG conditions."""
        from ..rsa import rsa_timecourse

        res = self.result
        self.rsa = {}
        if res is None or not self.model_rdms:
            self.rsa_note.value = ""
            return
        conds = [str(c) for c in res.conditions]
        data = np.asarray(res.data, dtype=np.float64)
        rsa, skipped = {}, []
        for layer, model in self.model_rdms.items():
            names = [str(s) for s in getattr(model, "stimuli", [])]
            try:
                if names and set(conds) <= set(names):
                    matrix = model.subset(conds).matrix
                elif np.asarray(getattr(model, "matrix", model)).shape[0] == len(conds):
                    matrix = np.asarray(getattr(model, "matrix", model))
                else:
                    n_model = np.asarray(getattr(model, "matrix", model)).shape[0]
                    skipped.append(f"{layer} ({n_model} stimuli)")
                    continue
                rsa[layer] = np.asarray(rsa_timecourse(matrix, data, method=self.rsa_method), dtype=np.float64)
            except (ValueError, TypeError) as exc:
                skipped.append(f"{layer} ({error_message(exc)})")
        self.rsa = rsa
        note = ""
        if skipped:
            note = status_html(f"No model–EEG RSA for {', '.join(skipped[:6])}"
                               f"{' …' if len(skipped) > 6 else ''}: a model RDM needs one stimulus per EEG "
                               f"condition ({len(conds)}: {', '.join(conds[:6])}).", "warn")
        self.rsa_note.value = note

    def time_title(self) -> str:
        """Title of the RDM at the slider's time: ``"<method> · t = 0.300 s"``."""
        res = self.result
        t = float(res.times[self.time_index])
        method = (getattr(res, "meta", {}) or {}).get("method", "EEG")
        return f"{method} · t = {t:.3f} s"

    # ------------------------------------------------------------------ drawing
    def _draw_time(self):
        from ..plotting import rdm_heatmap
        from ._common import show_figure

        res = self.result
        if res is None:
            return
        i = min(max(self.time_index, 0), len(res.times) - 1)
        title = self.time_title()
        self.time_label.value = f"<b>t = {float(res.times[i]):.3f} s</b>"
        matrix = np.asarray(res.data[:, :, i], dtype=np.float64)
        conds = [str(c) for c in res.conditions]
        # a fixed colour range over time, so colours are comparable while sliding
        finite = np.asarray(res.data)[np.isfinite(res.data)]
        zmin, zmax = (float(finite.min()), float(finite.max())) if finite.size else (None, None)
        fig = rdm_heatmap(matrix, stimuli=conds, title=title, zmin=zmin, zmax=zmax)
        fig.update_layout(height=380, width=450, margin=dict(l=40, r=10, t=50, b=40))
        show_figure(self.eeg_heatmap, fig)
        self.clickgrid.set_matrix(matrix, conds, title=title, zmin=zmin, zmax=zmax)
        self._draw_timecourse()

    def _draw_timecourse(self):
        from ..plotting import figure_mime_bundle, timecourse_figure

        res = self.result
        if res is None:
            return
        t_now = float(res.times[min(self.time_index, len(res.times) - 1)])
        ylabel = _value_label(res)
        fig = timecourse_figure(res.times, {f"mean {ylabel}": res.mean_timecourse()}, chance=chance_level(res),
                                ylabel=ylabel, marker_time=t_now, title=f"Mean {ylabel} over condition pairs")
        fig.update_layout(height=300, width=640, margin=dict(l=50, r=10, t=50, b=40))
        outputs = [fig]
        if self.rsa:
            rsa_fig = timecourse_figure(res.times, self.rsa, chance=0.0, ylabel=f"{self.rsa_method} r",
                                        marker_time=t_now, title="Model–EEG RSA per layer")
            rsa_fig.update_layout(height=300, width=640, margin=dict(l=50, r=10, t=50, b=40))
            outputs.append(rsa_fig)
        self.timecourse.outputs = tuple({"output_type": "display_data", "data": figure_mime_bundle(f),
                                         "metadata": {}} for f in outputs)

    def _draw_pair(self):
        from ..plotting import timecourse_figure
        from ._common import show_figure

        res = self.result
        if res is None or len(self.pair) != 2:
            return
        n = len(res.conditions)
        i, j = (int(v) for v in self.pair)
        if not (0 <= i < n and 0 <= j < n):
            return
        with self.pair_a.hold_trait_notifications(), self.pair_b.hold_trait_notifications():
            self.pair_a.value, self.pair_b.value = i, j
        a, b = str(res.conditions[i]), str(res.conditions[j])
        ylabel = _value_label(res)
        fig = timecourse_figure(res.times, {f"{a} vs {b}": np.asarray(res.data[i, j, :], dtype=np.float64)},
                                chance=chance_level(res), ylabel=ylabel,
                                marker_time=float(res.times[min(self.time_index, len(res.times) - 1)]),
                                title=f"{a} vs {b}")
        fig.update_layout(height=300, width=640, margin=dict(l=50, r=10, t=50, b=40))
        show_figure(self.pair_timecourse, fig)
