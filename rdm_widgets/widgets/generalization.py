"""Viewer of a temporal generalisation result: the train x test map, and the RDM of a clicked cell.

The map (mean over condition pairs, or one pair chosen in a dropdown) is drawn twice: as a
clickable ``ClickGrid`` (a plotly figure shown through an Output cannot send
clicks back to the kernel) whose click selects a (train, test) cell, and as the labelled Plotly
figure of ``rdm_widgets.plotting.generalization_figure`` (axes in the result's time unit,
the diagonal, the selected cell marked). Beside the grid: the (n_cond, n_cond) RDM of the
selected cell. A group test's significant cells (``significant``: a boolean mask, or a
:class:`rdm_widgets.cluster.ClusterTest` of train x test maps) are outlined on the mean map. The
viewer computes nothing; it displays the result's arrays and the mask it is given.
"""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np
from traitlets import Any, List, observe, validate

from ._clickgrid import ClickGrid
from ._display import css, show_figure, show_text
from .timecourse import chance_level, value_label

__all__ = ["GeneralizationViewer"]

_MEAN = "mean over pairs"


def _fmt(t: float) -> str:
    return f"{t:.3g}"


class GeneralizationViewer(widgets.VBox):
    """Viewer of a :class:`rdm_widgets.eeg.GeneralizationRDM`.

    Parameters
    ----------
    result : GeneralizationRDM or None
        Anything with ``.data`` (n, n, T_train, T_test), ``.train_times``, ``.test_times``,
        ``.conditions``, ``.meta``, ``.mean_map(pair=None)`` and ``.at(t, s)``.
    significant : bool array-like (T_train, T_test), ClusterTest or None
        Cells to outline on the mean map, e.g. ``cluster_test(maps).significant(0.05)`` over
        subjects' mean maps; a ``ClusterTest`` is shown at ``alpha=0.05``. Not drawn on a single
        pair's map (the test is of the mean).

    Attributes
    ----------
    result : GeneralizationRDM or None
        The result shown.
    pair : list of int, [i, j] or []
        The pair of conditions whose map is shown ([] for the mean over pairs).
    cell : list of int, [train index, test index]
        The selected cell of the map.
    significant : np.ndarray of bool, shape (T_train, T_test), or None
        The mask outlined on the mean map.
    """

    result = Any(None)
    pair = List([])
    cell = List([0, 0])
    significant = Any(None)

    def __init__(self, result=None, significant=None, **kwargs):
        self.pair_dropdown = css(widgets.Dropdown(options=[(_MEAN, None)], value=None, description="Map of"),
                                 "rdmw-gen-pair")
        self.grid = css(ClickGrid(size=300), "rdmw-gen-grid")
        self.cell_label = css(widgets.HTML(""), "rdmw-gen-cell-label")
        self.cell_rdm = css(widgets.Output(layout=widgets.Layout(min_height="360px", width="470px")),
                            "rdmw-gen-cell-rdm")
        self.map_figure = css(widgets.Output(layout=widgets.Layout(min_height="380px")), "rdmw-gen-map")
        self.pair_dropdown.observe(self._on_dropdown, "value")
        self.grid.observe(self._on_click, "selected")
        left = widgets.VBox([widgets.HTML("<small>Rows: train time, columns: test time. Click a cell for "
                                          "its RDM.</small>"), self.grid, self.cell_label])
        super().__init__([self.pair_dropdown, widgets.HBox([left, self.cell_rdm]), self.map_figure], **kwargs)
        self.add_class("rdmw-generalization-viewer")
        show_text(self.cell_rdm, "No temporal generalisation result yet: run the EEG panel with "
                                 "'temporal generalisation' ticked.")
        show_text(self.map_figure, "")
        if result is not None:
            self.result = result
        if significant is not None:
            self.significant = significant

    # ------------------------------------------------------------------ state changes
    @observe("result")
    def _on_result(self, change):
        res = change["new"]
        if res is None:
            return
        conds = [str(c) for c in res.conditions]
        n = len(conds)
        options = [(_MEAN, None)] + [(f"{conds[i]} vs {conds[j]}", (i, j)) for i in range(n) for j in range(i + 1, n)]
        mean = np.asarray(res.mean_map(), dtype=np.float64)
        diag = np.diagonal(mean) if mean.shape[0] == mean.shape[1] else mean[:, 0]
        best = int(np.nanargmax(diag)) if np.isfinite(diag).any() else 0
        self.pair_dropdown.unobserve(self._on_dropdown, "value")
        try:
            self.pair_dropdown.options = options
            self.pair_dropdown.value = None
        finally:
            self.pair_dropdown.observe(self._on_dropdown, "value")
        self.set_trait("pair", [])
        self.set_trait("cell", [best, best if mean.shape[0] == mean.shape[1] else 0])
        if self.significant is not None and self.significant.shape != mean.shape:
            self.set_trait("significant", None)                     # a mask of another result
        self._draw_map()
        self._draw_cell()

    @validate("significant")
    def _valid_mask(self, proposal):
        value = proposal["value"]
        if value is None:
            return None
        if callable(getattr(value, "significant", None)):           # a ClusterTest
            value = value.significant(0.05)
        mask = np.asarray(value)
        if mask.dtype != bool:
            raise TypeError(f"'significant' must be a boolean (train x test) mask or a ClusterTest; got an "
                            f"array of dtype {mask.dtype}. Use test.significant(alpha) for a ClusterTest.")
        res = self.result
        if res is not None and mask.shape != tuple(res.data.shape[2:]):
            raise ValueError(f"'significant' has shape {mask.shape}; the result's maps are "
                             f"{tuple(res.data.shape[2:])} (train x test times).")
        return mask

    @observe("significant")
    def _on_mask(self, change):
        self._draw_map()

    def _on_dropdown(self, change):
        value = change["new"]
        self.pair = [] if value is None else [int(value[0]), int(value[1])]

    @observe("pair")
    def _on_pair(self, change):
        value = None if not change["new"] else tuple(change["new"])
        if self.pair_dropdown.value != value:
            self.pair_dropdown.value = value
        self._draw_map()

    def _on_click(self, change):
        sel = change["new"]
        if len(sel) == 2 and list(sel) != list(self.cell):
            self.cell = [int(sel[0]), int(sel[1])]

    @observe("cell")
    def _on_cell(self, change):
        self._draw_cell()
        self._draw_map()

    # ------------------------------------------------------------------ drawing
    def _map(self) -> np.ndarray:
        res = self.result
        return np.asarray(res.mean_map(tuple(self.pair) if self.pair else None), dtype=np.float64)

    def _draw_map(self):
        from ..plotting._generalization import generalization_figure

        res = self.result
        if res is None:
            return
        z = self._map()
        conds = [str(c) for c in res.conditions]
        what = _MEAN if not self.pair else f"{conds[self.pair[0]]} vs {conds[self.pair[1]]}"
        times = [f"t={_fmt(t)}" for t in res.train_times]
        square = z.shape[0] == z.shape[1]
        self.grid.set_matrix(z if square else z[:, :z.shape[0]], labels=times,
                             title=f"Temporal generalisation: {what}")
        self.grid.selected = list(self.cell)
        meta = getattr(res, "meta", {}) or {}
        unit = "s" if meta.get("sfreq") is not None or meta.get("ch_names") is not None else "time"
        mask = self.significant if not self.pair else None
        fig = generalization_figure(z, res.train_times, res.test_times, mask, title=f"Train x test: {what}",
                                    value_label=value_label(res), chance=chance_level(res),
                                    marker=tuple(self.cell), time_unit=unit)
        fig.update_layout(height=420, width=520, margin=dict(l=50, r=10, t=50, b=40))
        show_figure(self.map_figure, fig)

    def _draw_cell(self):
        from ..plotting import rdm_heatmap

        res = self.result
        if res is None:
            return
        t, s = self.cell
        layer = res.at(t, s)
        self.cell_label.value = (f"<small>train {_fmt(res.train_times[t])}, test {_fmt(res.test_times[s])}: "
                                 f"mean {float(self._map()[t, s]):.4g}</small>")
        fig = rdm_heatmap(layer.matrix, stimuli=[str(c) for c in res.conditions],
                          title=f"RDM trained at {_fmt(res.train_times[t])}, tested at {_fmt(res.test_times[s])}")
        fig.update_traces(colorbar_title_text=value_label(res), colorbar_title_side="right")
        fig.update_layout(height=380, width=470, margin=dict(l=40, r=10, t=50, b=40))
        show_figure(self.cell_rdm, fig)
