"""A small clickable matrix (anywidget + <canvas>) that reports the clicked cell to Python.

Plotly figures shown through an Output's mime renderer cannot send clicks back
to the kernel, and plotly's FigureWidget does not follow updates in Voila. This
widget draws an (n x n) matrix on a canvas with a Viridis-like colour map,
shows the pair and value on hover and sets ``selected = [i, j]`` on click.
A few lines of JavaScript, no plotly: it loads instantly.
"""
from __future__ import annotations

import anywidget
import numpy as np
import traitlets

__all__ = ["ClickGrid"]

_ESM = r"""
const STOPS = [[68,1,84],[59,82,139],[33,145,140],[94,201,98],[253,231,37]];
function colour(f) {
  if (!isFinite(f)) return "rgb(200,200,200)";
  f = Math.min(1, Math.max(0, f)) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(f)), t = f - i;
  const c = STOPS[i].map((v, k) => Math.round(v + t * (STOPS[i + 1][k] - v)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}
function render({ model, el }) {
  el.classList.add("rdmw-clickgrid-root");
  const title = document.createElement("div");
  title.style.fontSize = "13px"; title.style.margin = "2px 0";
  const canvas = document.createElement("canvas");
  canvas.style.cursor = "pointer";
  canvas.setAttribute("tabindex", "0");
  const tip = document.createElement("div");
  tip.className = "rdmw-clickgrid-tip";
  tip.style.fontSize = "12px"; tip.style.minHeight = "1.3em";
  el.append(title, canvas, tip);
  let cell = 1;
  function draw() {
    const m = model.get("matrix") || [], n = m.length, size = model.get("size");
    const sel = model.get("selected") || [];
    title.textContent = model.get("title");
    cell = n ? Math.max(4, Math.floor(size / n)) : 1;
    canvas.width = canvas.height = Math.max(1, cell * n);
    const ctx = canvas.getContext("2d");
    let lo = model.get("zmin"), hi = model.get("zmax");
    if (lo === null || hi === null) {
      const vals = m.flat().filter(Number.isFinite);
      lo = lo === null ? Math.min(...vals) : lo; hi = hi === null ? Math.max(...vals) : hi;
    }
    const span = hi > lo ? hi - lo : 1;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      ctx.fillStyle = colour((m[i][j] - lo) / span);
      ctx.fillRect(j * cell, i * cell, cell, cell);
    }
    if (sel.length === 2 && sel[0] < n && sel[1] < n) {
      ctx.strokeStyle = "red"; ctx.lineWidth = 2;
      ctx.strokeRect(sel[1] * cell + 1, sel[0] * cell + 1, cell - 2, cell - 2);
    }
  }
  function cellAt(ev) {
    const r = canvas.getBoundingClientRect(), n = (model.get("matrix") || []).length;
    const j = Math.floor((ev.clientX - r.left) / cell), i = Math.floor((ev.clientY - r.top) / cell);
    return (i >= 0 && j >= 0 && i < n && j < n) ? [i, j] : null;
  }
  canvas.addEventListener("mousemove", (ev) => {
    const c = cellAt(ev), labels = model.get("labels") || [];
    if (!c) { tip.textContent = ""; return; }
    const v = model.get("matrix")[c[0]][c[1]];
    tip.textContent = `${labels[c[0]] ?? c[0]} × ${labels[c[1]] ?? c[1]}: ${Number(v).toPrecision(4)}`;
    canvas.title = tip.textContent;
  });
  canvas.addEventListener("click", (ev) => {
    const c = cellAt(ev);
    if (!c) return;
    model.set("selected", c);
    model.save_changes();
  });
  // a new matrix or new labels: the last hover text no longer describes what is drawn
  const fresh = () => { tip.textContent = ""; canvas.title = ""; draw(); };
  model.on("change:matrix", fresh); model.on("change:labels", fresh);
  model.on("change:selected", draw); model.on("change:title", draw);
  draw();
}
export default { render };
"""


class ClickGrid(anywidget.AnyWidget):
    """Clickable heatmap of a small matrix.

    Attributes
    ----------
    matrix : list of list of float, shape (n, n)
        The values drawn. Synced with the browser.
    labels : list of str, length n
        Row and column labels. Synced with the browser.
    selected : list of int, [i, j] or []
        The clicked cell (row, column), set by a click in the browser or from Python. Synced
        with the browser.
    title : str
        Title above the grid. Synced with the browser.
    zmin : float or None
        Lower end of the colour range (None: the data's minimum). Synced with the browser.
    zmax : float or None
        Upper end of the colour range (None: the data's maximum). Synced with the browser.
    size : int
        Approximate side length of the grid in pixels. Synced with the browser.
    """

    _esm = _ESM
    matrix = traitlets.List([]).tag(sync=True)
    labels = traitlets.List([]).tag(sync=True)
    selected = traitlets.List([]).tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)
    zmin = traitlets.Float(None, allow_none=True).tag(sync=True)
    zmax = traitlets.Float(None, allow_none=True).tag(sync=True)
    size = traitlets.Int(240).tag(sync=True)

    def set_matrix(self, matrix, labels=None, title: str = "", zmin=None, zmax=None) -> None:
        """Show ``matrix`` (n, n); non-finite values are drawn grey."""
        m = np.asarray(matrix, dtype=np.float64)
        rows = [[float(v) if np.isfinite(v) else None for v in row] for row in m]
        with self.hold_sync():
            self.zmin = None if zmin is None else float(zmin)
            self.zmax = None if zmax is None else float(zmax)
            self.labels = [str(x) for x in (labels if labels is not None else range(m.shape[0]))]
            self.title = title
            self.matrix = rows
