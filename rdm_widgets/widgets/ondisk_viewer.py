"""Viewer for RDMs of any size stored on disk: an overview, click to zoom, full resolution on demand.

A 50,000 x 50,000 RDM has 2.5e9 cells; a browser draws about a million. The core
(:class:`rdm_widgets.OnDiskRDM`) keeps an overview pyramid of block means next to the
condensed values, and :meth:`OnDiskRDM.window` returns any rectangle at the finest
resolution that fits ``max_cells`` per side. This viewer only chooses rectangles and
displays them: a small clickable navigator (the whole matrix), row/column range sliders,
zoom buttons, and a Plotly heatmap of the current window -- full resolution (single
stimuli, names on hover) as soon as the window is small enough.
"""
from __future__ import annotations

import ipywidgets as widgets
from traitlets import Int, Tuple, Unicode, observe

from ._clickgrid import ClickGrid
from ._display import css, error_message, show_figure, status_html
from .rdm_viewer import COLORSCALES

__all__ = ["OnDiskRDMViewer"]


class OnDiskRDMViewer(widgets.VBox):
    """Browse an on-disk RDM (from :func:`rdm_widgets.tiled_rdm`).

    Parameters
    ----------
    store : OnDiskRDM, str or Path
        The store (or its folder).
    max_cells : int
        Most cells per side drawn. Windows up to this many stimuli per side are shown
        at full resolution; larger ones as block means of the overview levels.
    navigator_size : int
        Cells per side of the clickable overview.

    Attributes
    ----------
    rows : tuple of int, (start, stop)
        The displayed rows' stimulus range (stop exclusive).
    cols : tuple of int, (start, stop)
        The displayed columns' stimulus range (stop exclusive).
    colorscale : str
        Plotly colour scale of the heatmap.
    max_cells : int
        Most cells per side drawn (the ``max_cells`` parameter).
    info : str
        What is shown (``"full resolution"`` or the block size).
    """

    rows = Tuple(Int(), Int())
    cols = Tuple(Int(), Int())
    colorscale = Unicode("Viridis")
    max_cells = Int(600)
    info = Unicode("")

    def __init__(self, store, max_cells: int = 600, navigator_size: int = 96, **kwargs):
        from ..tiled import OnDiskRDM

        self.store = store if isinstance(store, OnDiskRDM) else OnDiskRDM(store)
        n = self.store.n_stimuli
        self._suspend = True
        self.navigator = css(ClickGrid(size=240), "rdmw-ondisk-navigator")
        self._nav = self.store.thumbnail(navigator_size)
        f, names = self._nav.factor, self.store.stimuli
        self.navigator.set_matrix(
            self._nav.values, title="Overview · click to zoom to full resolution",
            labels=[f"{s}–{min(s + f, n) - 1} ({names[s]} …)" for s in range(0, n, f)])
        self.row_slider = css(widgets.IntRangeSlider(min=0, max=n, value=(0, n), description="Rows",
                                                     continuous_update=False,
                                                     layout=widgets.Layout(width="420px")), "rdmw-ondisk-rows")
        self.col_slider = css(widgets.IntRangeSlider(min=0, max=n, value=(0, n), description="Columns",
                                                     continuous_update=False,
                                                     layout=widgets.Layout(width="420px")), "rdmw-ondisk-cols")
        self.zoom_in_button = css(widgets.Button(description="Zoom in", icon="search-plus"), "rdmw-zoom-in")
        self.zoom_out_button = css(widgets.Button(description="Zoom out", icon="search-minus"), "rdmw-zoom-out")
        self.full_button = css(widgets.Button(description="Full resolution", tooltip="Show single stimuli "
                                              "around the centre of the current view"), "rdmw-full-res")
        self.reset_button = css(widgets.Button(description="Whole RDM"), "rdmw-reset")
        self.colorscale_dropdown = css(widgets.Dropdown(options=COLORSCALES, value="Viridis",
                                                        description="Colours"), "rdmw-colorscale")
        self.info_html = css(widgets.HTML(""), "rdmw-ondisk-info")
        self.heatmap = css(widgets.Output(layout=widgets.Layout(min_height="420px")), "rdmw-heatmap")

        widgets.link((self, "colorscale"), (self.colorscale_dropdown, "value"))
        self.row_slider.observe(lambda c: self.set_window(rows=c["new"]), "value")
        self.col_slider.observe(lambda c: self.set_window(cols=c["new"]), "value")
        self.navigator.observe(self._on_navigator_click, "selected")
        self.zoom_in_button.on_click(lambda _: self.zoom(0.25))
        self.zoom_out_button.on_click(lambda _: self.zoom(4.0))
        self.full_button.on_click(lambda _: self.full_resolution())
        self.reset_button.on_click(lambda _: self.set_window((0, n), (0, n)))

        super().__init__([
            widgets.HBox([self.navigator, widgets.VBox([
                self.row_slider, self.col_slider,
                widgets.HBox([self.zoom_in_button, self.zoom_out_button, self.full_button, self.reset_button]),
                self.colorscale_dropdown, self.info_html])]),
            self.heatmap,
        ], **kwargs)
        self.add_class("rdmw-ondisk-viewer")
        self.max_cells = int(max_cells)
        self.rows, self.cols = (0, n), (0, n)
        self._suspend = False
        self.redraw()

    # ------------------------------------------------------------------ navigation
    def _clip(self, start, stop) -> tuple:
        n = self.store.n_stimuli
        start, stop = int(start), int(stop)
        width = max(1, min(n, stop - start))
        start = min(max(0, start), n - width)
        return start, start + width

    def set_window(self, rows=None, cols=None) -> None:
        """Show ``rows x cols`` (each ``(start, stop)``; None keeps it) with one redraw."""
        rows = self.rows if rows is None else self._clip(*rows)
        cols = self.cols if cols is None else self._clip(*cols)
        if (rows, cols) == (self.rows, self.cols):
            return
        self._suspend = True
        try:
            self.rows, self.cols = rows, cols
            self.row_slider.value, self.col_slider.value = rows, cols
        finally:
            self._suspend = False
        self.redraw()

    def center_on(self, row: int, col: int, extent=None) -> None:
        """Centre a window of ``extent`` stimuli per side (default ``max_cells``: full
        resolution) on stimulus pair ``(row, col)``."""
        e = int(extent or self.max_cells)
        self.set_window((row - e // 2, row - e // 2 + e), (col - e // 2, col - e // 2 + e))

    def zoom(self, scale: float) -> None:
        """Scale both extents by ``scale`` around the current centre (< 1 zooms in)."""
        def scaled(r):
            mid, half = (r[0] + r[1]) / 2, max(1.0, (r[1] - r[0]) * scale / 2)
            return int(round(mid - half)), int(round(mid + half))

        self.set_window(scaled(self.rows), scaled(self.cols))

    def full_resolution(self) -> None:
        """Zoom to single stimuli (``max_cells`` per side) around the current centre."""
        self.center_on((self.rows[0] + self.rows[1]) // 2, (self.cols[0] + self.cols[1]) // 2)

    def _on_navigator_click(self, change):
        sel = change["new"]
        if len(sel) == 2:
            f = self._nav.factor
            self.center_on(sel[0] * f + f // 2, sel[1] * f + f // 2)

    # ------------------------------------------------------------------ drawing
    @observe("colorscale", "max_cells")
    def _on_style(self, change):
        if not self._suspend:
            self.redraw()

    def current_window(self):
        """The :class:`rdm_widgets.tiled.Window` shown now (read from disk by the core)."""
        return self.store.window(self.rows, self.cols, max_size=self.max_cells)

    def redraw(self) -> None:
        from ..plotting import window_heatmap

        try:
            w = self.current_window()
        except (ValueError, TypeError, RuntimeError, OSError) as exc:
            self.info = f"Error: {error_message(exc)}"
            self.info_html.value = status_html(self.info, "error")
            return
        what = ("full resolution" if w.factor == 1 else
                f"block means of {w.factor}×{w.factor} stimuli — zoom in (or click the overview) for single stimuli")
        self.info = (f"Rows {w.rows[0]}–{w.rows[1] - 1} × columns {w.cols[0]}–{w.cols[1] - 1} of "
                     f"{self.store.n_stimuli}: {w.values.shape[0]}×{w.values.shape[1]} cells, {what}")
        self.info_html.value = status_html(self.info, "ok" if w.factor == 1 else "info")
        distance = str(self.store.meta.get("distance", ""))
        title = f"{self.store.layer} · {distance}" + ("" if w.factor == 1 else f" (block means of {w.factor}×{w.factor})")
        fig = window_heatmap(w, self.store.stimuli, title=title, colorscale=self.colorscale, distance=distance)
        fig.update_layout(height=560, width=620, margin=dict(l=40, r=20, t=60, b=40))
        show_figure(self.heatmap, fig)
