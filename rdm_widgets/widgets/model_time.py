"""Viewer of time-resolved model RDMs (video / sequence models): a model-time slider showing the
RDM at that clip / time point, and the model time x brain time RSA map when brain RDMs are given.

The viewer only displays: the map comes from the RSA function it is given (default
:func:`rdm_widgets.rsa.rsa_timecourse`, which matches stimuli to conditions by name), computed
once per (model, brain, method); moving the slider redraws the RDM and the map's marker only.
"""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np
from traitlets import Any, Int, Unicode, observe

from ._display import css, error_message, show_figure, show_text, status_html

__all__ = ["ModelTimeViewer"]

RSA_METHODS = ("spearman", "pearson", "kendall_tau_a")


def _default_rsa(model, brain, method):
    from ..rsa import rsa_timecourse

    return rsa_timecourse(model, brain, method=method)


class ModelTimeViewer(widgets.VBox):
    """Slider over model time points and the model time x brain time RSA map.

    Parameters
    ----------
    result : TimeResolvedRDM or dict or None
        A time-resolved model RDM (``RDMCreator.compute_rdms(..., multi_timepoint_rdms=...)``
        gives ``{layer: TimeResolvedRDM}``; a dict offers a layer dropdown).
    brain : TimeResolvedRDM or None
        Time-resolved brain RDMs (EEG/MEG); their conditions are matched to the model's stimuli
        by name.
    rsa : callable or None
        ``rsa(model, brain, method) -> (n_model_times, n_brain_times)`` (default
        :func:`rdm_widgets.rsa.rsa_timecourse`). Tests inject a fake.
    method : str
        Initial correlation.

    Attributes
    ----------
    result : TimeResolvedRDM or dict or None
        The model RDMs given (one, or ``{layer: TimeResolvedRDM}``).
    layer : str or None
        The layer shown (when ``result`` is a dict).
    time_index : int
        The model time point shown.
    brain : TimeResolvedRDM or None
        The brain RDMs the model is compared with.
    method : str
        The correlation of the RSA map.
    rsa_map : np.ndarray, shape (n_model_times, n_brain_times), or None
        The model time x brain time RSA map shown.
    """

    result = Any(None)
    layer = Unicode(None, allow_none=True)
    time_index = Int(0)
    brain = Any(None)
    method = Unicode("spearman")
    rsa_map = Any(None)

    def __init__(self, result=None, brain=None, rsa=None, method: str = "spearman", **kwargs):
        self._rsa = rsa if rsa is not None else _default_rsa
        self._results: dict = {}
        self.layer_dropdown = css(widgets.Dropdown(options=[], description="Layer"), "rdmw-model-layer")
        self.time_slider = css(widgets.IntSlider(value=0, min=0, max=0, description="Model time",
                                                 continuous_update=False, readout=False,
                                                 layout=widgets.Layout(width="420px")), "rdmw-model-time-slider")
        self.time_label = css(widgets.HTML(""), "rdmw-model-time-label")
        self.method_dropdown = css(widgets.Dropdown(options=RSA_METHODS, value=method, description="RSA"),
                                   "rdmw-model-rsa-method")
        self.heatmap = css(widgets.Output(layout=widgets.Layout(min_height="360px", width="480px")),
                           "rdmw-model-heatmap")
        self.map_output = css(widgets.Output(layout=widgets.Layout(min_height="360px")), "rdmw-model-brain-map")
        self.note = css(widgets.HTML(""), "rdmw-model-note")
        widgets.link((self, "time_index"), (self.time_slider, "value"))
        widgets.link((self, "method"), (self.method_dropdown, "value"))
        widgets.link((self, "layer"), (self.layer_dropdown, "value"))
        super().__init__([widgets.HBox([self.layer_dropdown, self.method_dropdown]),
                          widgets.HBox([self.time_slider, self.time_label]),
                          widgets.HBox([self.heatmap, self.map_output]), self.note], **kwargs)
        self.add_class("rdmw-model-time-viewer")
        show_text(self.heatmap, "No time-resolved model RDM yet.")
        show_text(self.map_output, "Give brain RDMs (a TimeResolvedRDM) for the model time × brain time map.")
        self.method = method
        if brain is not None:
            self.brain = brain
        if result is not None:
            self.set_results(result)

    # ------------------------------------------------------------------ inputs
    def set_results(self, result):
        """Show a TimeResolvedRDM, or ``{layer: TimeResolvedRDM}`` with a layer dropdown."""
        results = dict(result) if isinstance(result, dict) else {getattr(result, "layer", "") or "model": result}
        self._results = results
        self.layer_dropdown.options = list(results)
        self.layer = next(iter(results))
        self.result = results[self.layer]

    @observe("layer")
    def _on_layer(self, change):
        if change["new"] in self._results:
            self.result = self._results[change["new"]]

    @observe("result")
    def _on_result(self, change):
        res = change["new"]
        if res is None:
            return
        n_t = np.asarray(res.data).shape[2]
        self.time_slider.max = max(n_t - 1, 0)
        self._compute_map()
        if self.time_index == 0:
            self._draw()
        self.time_index = 0

    @observe("brain", "method")
    def _on_brain(self, change):
        self._compute_map()
        self._draw()

    @observe("time_index")
    def _on_time(self, change):
        self._draw()

    # ------------------------------------------------------------------ computing (by the given function)
    def _compute_map(self):
        self.rsa_map, self.note.value = None, ""
        if self.result is None or self.brain is None:
            return
        try:
            self.rsa_map = np.asarray(self._rsa(self.result, self.brain, self.method), dtype=float)
        except Exception as exc:  # noqa: BLE001 - shown, not raised (e.g. stimuli not matching)
            self.note.value = status_html(f"No RSA map: {error_message(exc)}", "warn")

    # ------------------------------------------------------------------ drawing
    def _draw(self):
        from ..plotting._model_time import model_brain_time_figure, model_time_labels, model_time_rdm_figure

        res = self.result
        if res is None:
            return
        labels = model_time_labels(res)
        i = min(max(self.time_index, 0), len(labels) - 1)
        self.time_label.value = f"<b>{labels[i]}</b> ({i + 1} of {len(labels)})"
        show_figure(self.heatmap, model_time_rdm_figure(res, i))
        if self.rsa_map is None:
            return
        fig = model_brain_time_figure(self.rsa_map, labels, self.brain.times, method=self.method, highlight=i,
                                      title=f"{getattr(res, 'layer', '') or 'model'} × brain ({self.method})")
        show_figure(self.map_output, fig)
