"""Timecourse viewer: mean decoding timecourse, time slider driving the RDM at that time, pair
timecourses, the RSA of model layers per time point with significance, and a group of subjects as
mean ± SEM with the significant clusters shaded.

The RDM at the slider's time is drawn once, as a labelled Plotly heatmap (hover names the pair);
the pair whose time course is shown is chosen with two dropdowns (a plotly figure shown through an
Output cannot send clicks back to the kernel). A new result resets the pair to its first two
conditions, so no stale pair of the previous labels survives.
"""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np
from traitlets import Any, Dict, Int, List, Unicode, observe

from ..eeg import METHODS
from ._display import css, figure_output, show_figure, show_text, status_html
from ._download import DownloadButton

__all__ = ["TimecourseViewer", "chance_level", "value_label"]


def chance_level(result):
    """Chance level of a TimeResolvedRDM's values, as the core wrote it in ``meta['chance']``.

    Results without it (e.g. files saved by an older version) fall back to the chance level the
    core's method registry gives for ``meta['method']`` (0.5 for the decoding methods, 0 for the
    cross-validated distances); None when the method is unknown too (no chance line is drawn).
    """
    meta = getattr(result, "meta", {}) or {}
    if meta.get("chance") is not None:
        return float(meta["chance"])
    entry = METHODS.get(str(meta.get("method", "")))
    return None if entry is None else float(entry.chance)


def value_label(result) -> str:
    """What the values are (axis and colour-bar label): the core's ``meta['dissimilarity']``
    (decoding accuracy, probability of the true class, cross-validated distance); for older
    results, from the chance level."""
    meta = getattr(result, "meta", {}) or {}
    if meta.get("dissimilarity"):
        return str(meta["dissimilarity"])
    chance = chance_level(result)
    if chance is None:
        return "dissimilarity"
    return f"decoding {meta.get('score', 'accuracy')}" if chance else "cross-validated distance"


class TimecourseViewer(widgets.VBox):
    """Viewer of a time-resolved RDM (e.g. the EEG panel's ``result``).

    Parameters
    ----------
    result : TimeResolvedRDM or None
        Anything with ``.data`` (n, n, T), ``.times`` (T,), ``.conditions``,
        ``.meta``, ``.mean_timecourse()`` and ``.at(t)``.
    model_rdms : dict or None
        ``{layer: LayerRDM}`` model RDMs; their RSA timecourse with the EEG RDMs
        is shown per layer whose stimuli include the EEG conditions: matched by name by
        :func:`rdm_widgets.rsa.rsa_timecourse` (never by count); other layers are listed in a
        note with the core's message.
    rsa_method : str
        Correlation of :func:`rdm_widgets.rsa.rsa_timecourse`.
    rsa_permutations : int
        Stimulus-label permutations of :func:`rdm_widgets.model_rsa.rsa_timecourse_test`
        (significant time points, BH-FDR over time, are marked); 0: no test.
    group : dict or GroupTimecourse or None
        Several subjects: ``{subject: TimeResolvedRDM}`` (``eeg_rdms`` output; summarised by
        ``group_fn``, and a subject dropdown shows each subject's RDMs) or a ready
        ``GroupTimecourse``. Drawn as mean ± SEM with the clusters of ``p <= group_alpha`` shaded.
    group_fn : callable or None
        ``group_fn(results: dict) -> GroupTimecourse`` (default
        :func:`rdm_widgets.cluster.group_timecourse`); the viewer only displays its result.
    group_alpha : float
        Clusters with ``p <= group_alpha`` are shaded.

    Attributes
    ----------
    result : TimeResolvedRDM or None
        The time-resolved RDM shown.
    model_rdms : dict
        ``{layer: LayerRDM}`` model RDMs compared with ``result``.
    time_index : int
        The time point whose RDM is shown.
    pair : list of int, [i, j]
        The pair of conditions whose dissimilarity time course is shown.
    rsa : dict
        ``{layer: np.ndarray of shape (T,)}``: the computed RSA time courses.
    rsa_tests : dict
        ``{layer: TimecourseTest}``: r, p and p_fdr per time point, and the caution.
    group : dict or GroupTimecourse or None
        The group given (``{subject: TimeResolvedRDM}`` or a ready ``GroupTimecourse``).
    group_summary : GroupTimecourse or None
        The group time course shown.
    subject : str or None
        The subject whose RDMs are shown as ``result`` (None without a ``{subject: ...}`` group).
    """

    result = Any(None)
    model_rdms = Dict()
    time_index = Int(0)
    pair = List([0, 1])
    rsa = Dict()
    rsa_tests = Dict()
    group = Any(None)
    group_summary = Any(None)
    subject = Unicode(None, allow_none=True)

    def __init__(self, result=None, model_rdms=None, rsa_method: str = "spearman", rsa_permutations: int = 1000,
                 group=None, group_fn=None, group_alpha: float = 0.05, **kwargs):
        self.rsa_method = rsa_method
        self.rsa_permutations = int(rsa_permutations)
        self.group_fn = group_fn
        self.group_alpha = float(group_alpha)
        self._setting_options = False
        self.time_slider = css(widgets.IntSlider(value=0, min=0, max=0, description="Time index",
                                                 continuous_update=False, readout=False,
                                                 layout=widgets.Layout(width="420px")), "rdmw-time-slider")
        self.time_label = css(widgets.HTML(""), "rdmw-time-label")
        self.eeg_heatmap = css(widgets.Output(layout=widgets.Layout(min_height="360px", width="480px")),
                               "rdmw-eeg-heatmap")
        self.pair_a = css(widgets.Dropdown(options=[], description="Pair"), "rdmw-pair-a")
        self.pair_b = css(widgets.Dropdown(options=[], description="with"), "rdmw-pair-b")
        self.timecourse = css(widgets.Output(layout=widgets.Layout(min_height="300px")), "rdmw-timecourse")
        self.pair_timecourse = css(widgets.Output(layout=widgets.Layout(min_height="300px")),
                                   "rdmw-pair-timecourse")
        self.rsa_note = css(widgets.HTML(""), "rdmw-rsa-note")
        self.download = css(DownloadButton("Download RDM (.npz)", "eeg_rdm.npz"), "rdmw-eeg-download")
        self.subject_dropdown = css(widgets.Dropdown(options=[], description="Subject"), "rdmw-subject")
        self.group_note = css(widgets.HTML(""), "rdmw-group-note")
        self.group_timecourse = css(widgets.Output(layout=widgets.Layout(min_height="300px")),
                                    "rdmw-group-timecourse")
        self.group_box = widgets.VBox([self.group_timecourse, self.group_note, self.subject_dropdown],
                                      layout=widgets.Layout(display="none"))

        widgets.link((self, "time_index"), (self.time_slider, "value"))
        widgets.link((self, "subject"), (self.subject_dropdown, "value"))
        self.pair_a.observe(self._on_pair_dropdown, "value")
        self.pair_b.observe(self._on_pair_dropdown, "value")

        pair_box = widgets.VBox([widgets.HTML("<small>Choose a pair of conditions to see its time course "
                                              "(hover over the matrix for the names):</small>"),
                                 self.pair_a, self.pair_b, self.download])
        super().__init__([
            self.group_box,
            widgets.HBox([self.time_slider, self.time_label]),
            widgets.HBox([self.eeg_heatmap, pair_box]),
            self.timecourse, self.rsa_note, self.pair_timecourse,
        ], **kwargs)
        self.add_class("rdmw-timecourse-viewer")
        for out in (self.eeg_heatmap, self.timecourse, self.pair_timecourse):
            show_text(out, "No EEG RDM yet: run the EEG panel.")
        if model_rdms:
            self.model_rdms = dict(model_rdms)
        if result is not None:
            self.result = result
        if group is not None:
            self.group = group

    # ------------------------------------------------------------------ state changes
    @observe("result")
    def _on_result(self, change):
        res = change["new"]
        if res is None:
            self.download.clear()
            return
        n_t = len(res.times)
        conds = [str(c) for c in res.conditions]
        mean = np.asarray(res.mean_timecourse(), dtype=np.float64)
        start = int(np.nanargmax(mean)) if np.isfinite(mean).any() else 0
        # new conditions: a new pair (the first two), set without the dropdowns' observers, which
        # would otherwise see half-updated options and select a pair of one condition with itself
        pair = [0, min(1, len(conds) - 1)]
        self._setting_options = True
        try:
            self.time_slider.max = max(n_t - 1, 0)
            options = list(zip(conds, range(len(conds))))
            self.pair_a.options = options
            self.pair_b.options = options
            self.pair_a.value, self.pair_b.value = pair
        finally:
            self._setting_options = False
        self._offer_download(res)
        self._compute_rsa()
        if self.time_index == start:
            self._draw_time()
        self.time_index = start
        if self.pair == pair:
            self._draw_pair()
        self.pair = pair

    def _offer_download(self, res):
        from ..rdm_files import time_resolved_to_npz

        method = str((getattr(res, "meta", {}) or {}).get("method", "eeg"))
        self.download.set_payload(f"eeg_rdm_{method}.npz", time_resolved_to_npz(res))

    @observe("model_rdms")
    def _on_models(self, change):
        self._compute_rsa()
        self._draw_timecourse()

    @observe("time_index")
    def _on_time(self, change):
        self._draw_time()      # also redraws the mean timecourse with its time marker
        self._draw_pair()      # keep the pair's time marker at the slider's time too
        self._draw_group()

    @observe("group")
    def _on_group(self, change):
        """A dict of subjects is summarised by ``group_fn`` (the core); a GroupTimecourse is shown as is."""
        group = change["new"]
        self.group_box.layout.display = "none" if group is None else None
        self.group_note.value = ""
        subjects = list(group) if isinstance(group, dict) else []
        self.subject_dropdown.options = subjects
        self.subject_dropdown.layout.display = None if subjects else "none"
        summary = None
        if isinstance(group, dict):
            fn = self.group_fn
            if fn is None:
                from ..cluster import group_timecourse as fn
            try:
                summary = fn(group)
            except (ValueError, TypeError) as exc:
                self.group_note.value = status_html(f"No group time course: {exc}", "error")
        elif group is not None:
            summary = group
        self.group_summary = summary
        if subjects:
            if self.subject == subjects[0]:
                self.result = group[subjects[0]]
            self.subject = subjects[0]
        self._draw_group()

    @observe("subject")
    def _on_subject(self, change):
        if isinstance(self.group, dict) and change["new"] in self.group:
            self.result = self.group[change["new"]]

    @observe("pair")
    def _on_pair(self, change):
        self._draw_pair()

    def _on_pair_dropdown(self, change):
        if self._setting_options:
            return
        a, b = self.pair_a.value, self.pair_b.value
        if a is not None and b is not None and [a, b] != list(self.pair):
            self.pair = [a, b]

    # ------------------------------------------------------------------ computing what is shown
    def _compute_rsa(self):
        """RSA timecourse per model layer with its permutation test (computed by the core; shown here)."""
        from ..model_rsa import rsa_timecourse_test

        res = self.result
        self.rsa, self.rsa_tests = {}, {}
        if res is None or not self.model_rdms:
            self.rsa_note.value = ""
            return
        tests, skipped, reason = {}, [], ""
        for layer, model in self.model_rdms.items():
            try:
                tests[layer] = rsa_timecourse_test(model, res, method=self.rsa_method,
                                                   n_permutations=self.rsa_permutations, random_state=0)
            except (ValueError, TypeError) as exc:
                n_model = len(getattr(model, "stimuli", None) or np.asarray(model))
                skipped.append(f"{layer} ({n_model} stimuli)")
                reason = reason or str(exc)       # layers of one network fail alike: the first says why
        self.rsa_tests = tests
        self.rsa = {layer: np.asarray(t.r, dtype=np.float64) for layer, t in tests.items()}
        notes = []
        caution = next((t.caution for t in tests.values() if t.caution), "")
        if caution:
            notes.append(status_html(caution, "warn"))
        if skipped:
            notes.append(status_html(f"No model–EEG RSA for {', '.join(skipped[:6])}"
                                     f"{' …' if len(skipped) > 6 else ''}: {reason}", "warn"))
        self.rsa_note.value = "<br>".join(notes)

    def time_title(self) -> str:
        """Title of the RDM at the slider's time: ``"<method> · t = 0.300 s"``."""
        res = self.result
        t = float(res.times[self.time_index])
        method = (getattr(res, "meta", {}) or {}).get("method", "EEG")
        return f"{method} · t = {t:.3f} s"

    # ------------------------------------------------------------------ drawing
    def _draw_time(self):
        from ..plotting import rdm_heatmap

        res = self.result
        if res is None:
            return
        i = min(max(self.time_index, 0), len(res.times) - 1)
        title = self.time_title()
        self.time_label.value = f"<b>t = {float(res.times[i]):.3f} s</b>"
        from ..plotting._inputs import offdiagonal_range

        matrix = np.asarray(res.data[:, :, i], dtype=np.float64)
        conds = [str(c) for c in res.conditions]
        # a fixed colour range over time (off-diagonal cells only), so colours compare while sliding
        zmin, zmax = offdiagonal_range(np.asarray(res.data, dtype=np.float64))
        fig = rdm_heatmap(matrix, stimuli=conds, title=title, zmin=zmin, zmax=zmax)
        fig.update_traces(colorbar_title_text=value_label(res), colorbar_title_side="right")
        fig.update_layout(height=380, width=470, margin=dict(l=40, r=10, t=50, b=40))
        show_figure(self.eeg_heatmap, fig)
        self._draw_timecourse()

    def _draw_timecourse(self):
        from ..plotting import rsa_timecourse_figure, timecourse_figure

        res = self.result
        if res is None:
            return
        t_now = float(res.times[min(self.time_index, len(res.times) - 1)])
        ylabel = value_label(res)
        fig = timecourse_figure(res.times, {f"mean {ylabel}": res.mean_timecourse()}, chance=chance_level(res),
                                ylabel=ylabel, marker_time=t_now, title=f"Mean {ylabel} over condition pairs")
        fig.update_layout(height=300, width=640, margin=dict(l=50, r=10, t=50, b=40))
        outputs = [fig]
        if self.rsa_tests:
            rsa_fig = rsa_timecourse_figure(self.rsa_tests, marker_time=t_now)
            rsa_fig.update_layout(height=320, width=640, margin=dict(l=50, r=10, t=50, b=40))
            outputs.append(rsa_fig)
        self.timecourse.outputs = tuple(figure_output(f) for f in outputs)

    def _draw_pair(self):
        from ..plotting import timecourse_figure

        res = self.result
        if res is None or len(self.pair) != 2:
            return
        n = len(res.conditions)
        i, j = (int(v) for v in self.pair)
        if not (0 <= i < n and 0 <= j < n):
            return
        self._setting_options = True
        try:
            self.pair_a.value, self.pair_b.value = i, j
        finally:
            self._setting_options = False
        if i == j:
            show_text(self.pair_timecourse, f"{res.conditions[i]} with itself: choose two different conditions.")
            return
        a, b = str(res.conditions[i]), str(res.conditions[j])
        ylabel = value_label(res)
        fig = timecourse_figure(res.times, {f"{a} vs {b}": np.asarray(res.data[i, j, :], dtype=np.float64)},
                                chance=chance_level(res), ylabel=ylabel,
                                marker_time=float(res.times[min(self.time_index, len(res.times) - 1)]),
                                title=f"{a} vs {b}")
        fig.update_layout(height=300, width=640, margin=dict(l=50, r=10, t=50, b=40))
        show_figure(self.pair_timecourse, fig)

    def _draw_group(self):
        from ..plotting import group_timecourse_figure

        summary = self.group_summary
        if summary is None:
            return
        res = self.result
        t_now = (float(res.times[min(self.time_index, len(res.times) - 1)])
                 if res is not None and len(res.times) == len(summary.times) else None)
        fig = group_timecourse_figure(summary, alpha=self.group_alpha, marker_time=t_now, show_subjects=True)
        fig.update_layout(height=320, width=640, margin=dict(l=50, r=10, t=50, b=40))
        show_figure(self.group_timecourse, fig)
        test = getattr(summary, "test", None)
        if test is not None and not self.group_note.value:
            spans = test.spans(self.group_alpha)
            text = (", ".join(f"{a:.3f}–{b:.3f} s (p = {p:.3g})" for a, b, p in spans) if spans
                    else f"no cluster with p ≤ {self.group_alpha:g}")
            self.group_note.value = status_html(f"{len(summary.subjects)} subjects; significant clusters: {text}",
                                                "muted")
