"""Plotly figure builders for RDMs and timecourses.

plotly is imported inside the functions only, so that ``import rdm_widgets``
stays light and UI-free. Widgets show figures in an ``ipywidgets.Output`` with
:func:`figure_mime_bundle`, which works from background threads and in Voila.

Large RDMs: a 10 000 x 10 000 heatmap is 10^8 cells, far more than a browser
can draw, so above ``max_display`` stimuli the matrix is reduced to block
means of k x k stimuli (``k = ceil(N / max_display)``; the last block may be
smaller) and the hover text shows the stimulus range of each block.
"""
from __future__ import annotations

import json
import math

import numpy as np

__all__ = ["rdm_heatmap", "window_heatmap", "timecourse_figure", "figure_mime_bundle", "block_means"]

_MAX_TICK_LABELS = 60  # beyond this, tick labels overlap and only clutter the plot


def _plotly(submodule: str):
    """Import ``plotly.<submodule>`` on first use: the core must not load plotly at import time."""
    import importlib

    return importlib.import_module(f"plotly.{submodule}")


def block_means(matrix: np.ndarray, k: int) -> np.ndarray:
    """Means over k x k blocks of a 2-D matrix (the last block may be smaller).

    Parameters
    ----------
    matrix : ndarray, shape (N, M)
    k : int
        Block size.

    Returns
    -------
    ndarray, shape (ceil(N / k), ceil(M / k)), float64
    """
    m = np.asarray(matrix)
    starts0 = np.arange(0, m.shape[0], k)
    starts1 = np.arange(0, m.shape[1], k)
    # reduceat sums each block in float64 without padding or copying the full matrix
    rows = np.add.reduceat(m, starts0, axis=0, dtype=np.float64)
    sums = np.add.reduceat(rows, starts1, axis=1)
    sizes0 = np.diff(np.append(starts0, m.shape[0]))
    sizes1 = np.diff(np.append(starts1, m.shape[1]))
    return sums / np.outer(sizes0, sizes1)


def _unique_labels(names: list[str]) -> list[str]:
    # categorical axes merge equal labels, so duplicates get their index appended
    seen: dict[str, int] = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    return [n if seen[n] == 1 else f"{n} #{i}" for i, n in enumerate(names)]


def rdm_heatmap(matrix, stimuli=None, title: str = "", colorscale: str = "Viridis",
                max_display: int = 1000, zmin=None, zmax=None, indices=None):
    """Heatmap of an RDM with stimulus names on hover.

    Parameters
    ----------
    matrix : LayerRDM or array-like, shape (N, N)
        The RDM. For a LayerRDM, its stimuli and layer name (as default
        title) are used.
    stimuli : sequence of str or None
        N stimulus names (default: the LayerRDM's, else ``"0".."N-1"``).
    title : str
        Figure title. When downsampled, ``" (block means of k x k)"`` is added.
    colorscale : str
        Plotly colorscale name.
    max_display : int
        Most cells per side; larger RDMs are shown as block means.
    zmin, zmax : float or None
        Colour range (default: data range).
    indices : sequence of int or str, or None
        Show only these stimuli (indices or names), in this order.

    Returns
    -------
    plotly.graph_objects.Figure
        One ``go.Heatmap`` trace; row 0 at the top; square cells.
    """
    go = _plotly("graph_objects")

    from ._validate import check_positive_int
    from .rdm import LayerRDM

    max_display = check_positive_int("max_display", max_display)
    if isinstance(matrix, LayerRDM):
        rdm = matrix if stimuli is None else LayerRDM(matrix.matrix, stimuli, matrix.layer, matrix.meta)
    else:
        rdm = LayerRDM(matrix, stimuli)
    if indices is not None:
        rdm = rdm.subset(indices)
    if not title and rdm.layer:
        title = rdm.layer
    n = rdm.n_stimuli
    names = rdm.stimuli
    if n > max_display:
        k = math.ceil(n / max_display)
        z = block_means(rdm.matrix, k)
        labels = [f"{names[s]} … {names[min(s + k, n) - 1]} ({min(s + k, n) - s})"
                  for s in range(0, n, k)]
        title = f"{title} (block means of {k} x {k})".strip()
        what = "block"
    else:
        k = 1
        z = rdm.matrix
        labels = names
        what = "stimulus"
    labels = _unique_labels(labels)
    hover = (f"row {what}: %{{y}}<br>column {what}: %{{x}}<br>"
             f"{'mean ' if k > 1 else ''}dissimilarity: %{{z:.4g}}<extra></extra>")
    fig = go.Figure(go.Heatmap(z=z, x=labels, y=labels, colorscale=colorscale, zmin=zmin, zmax=zmax,
                               hovertemplate=hover, colorbar=dict(title=str(rdm.meta.get("distance", "")))))
    show_ticks = len(labels) <= _MAX_TICK_LABELS
    fig.update_layout(
        title=title,
        xaxis=dict(showticklabels=show_ticks, constrain="domain", type="category"),
        yaxis=dict(showticklabels=show_ticks, autorange="reversed", scaleanchor="x",
                   scaleratio=1, constrain="domain", type="category"),
        meta={"block_size": k, "n_stimuli": n},
        plot_bgcolor="white",
    )
    return fig


def window_heatmap(window, stimuli, title: str = "", colorscale: str = "Viridis", zmin=None, zmax=None,
                   distance: str = ""):
    """Heatmap of a :class:`rdm_widgets.ondisk.Window` (part of an on-disk RDM).

    Parameters
    ----------
    window : Window
        ``values`` (h, w) at ``factor`` stimuli per cell, covering ``rows`` x ``cols``.
    stimuli : sequence of str
        All N stimulus names (hover shows the names, or the first/last of a block).
    title, colorscale, zmin, zmax, distance
        As in :func:`rdm_heatmap`.

    Returns
    -------
    plotly.graph_objects.Figure
        Categorical axes labelled ``"index: name"`` (or a block's range), row 0 at the top.
    """
    go = _plotly("graph_objects")

    f = int(window.factor)

    def labels(start, stop):
        # "index: name" keeps the labels unique (categorical axes merge equal labels)
        if f == 1:
            return [f"{i}: {stimuli[i]}" for i in range(start, stop)]
        return [f"{s}–{min(s + f, stop) - 1}: {stimuli[s]} … {stimuli[min(s + f, stop) - 1]}"
                for s in range(start, stop, f)]

    ylab, xlab = labels(*window.rows), labels(*window.cols)
    what = "stimulus" if f == 1 else "block"
    hover = (f"row {what}: %{{y}}<br>column {what}: %{{x}}<br>"
             f"{'mean ' if f > 1 else ''}dissimilarity: %{{z:.4g}}<extra></extra>")
    fig = go.Figure(go.Heatmap(z=np.asarray(window.values, dtype=np.float32), x=xlab, y=ylab,
                               colorscale=colorscale, zmin=zmin, zmax=zmax, hovertemplate=hover,
                               colorbar=dict(title=distance)))
    ticks = max(len(xlab), len(ylab)) <= _MAX_TICK_LABELS
    fig.update_layout(title=title, xaxis=dict(constrain="domain", type="category", showticklabels=ticks),
                      yaxis=dict(autorange="reversed", scaleanchor="x", scaleratio=1, constrain="domain",
                                 type="category", showticklabels=ticks),
                      meta={"block_size": f, "rows": list(window.rows), "cols": list(window.cols)},
                      plot_bgcolor="white")
    return fig


def timecourse_figure(times, series, chance=None, xlabel: str = "Time (s)", ylabel: str = "",
                      marker_time=None, title: str = ""):
    """Line plot of one or more timecourses.

    Parameters
    ----------
    times : array-like, shape (T,)
    series : dict of str -> array-like (T,), or one array (T,)
        Named timecourses (one line each).
    chance : float or None
        Draw a dashed horizontal line at this value.
    xlabel, ylabel, title : str
    marker_time : float or None
        Draw a vertical line at this time (e.g. the time shown in an RDM viewer).

    Returns
    -------
    plotly.graph_objects.Figure
    """
    go = _plotly("graph_objects")

    t = np.asarray(times, dtype=np.float64).ravel()
    if not isinstance(series, dict):
        series = {ylabel or "value": series}
    fig = go.Figure()
    for name, values in series.items():
        v = np.asarray(values.detach().cpu() if hasattr(values, "detach") else values, dtype=np.float64)
        if v.shape != t.shape:
            raise ValueError(f"Series {name!r} has shape {v.shape}; expected {t.shape} to match 'times'.")
        fig.add_trace(go.Scatter(x=t, y=v, mode="lines", name=str(name),
                                 hovertemplate=f"{name}<br>{xlabel}: %{{x:.4g}}<br>value: %{{y:.4g}}"
                                               "<extra></extra>"))
    if chance is not None:
        fig.add_hline(y=float(chance), line_dash="dash", line_color="gray",
                      annotation_text="chance", annotation_position="bottom right")
    if marker_time is not None:
        fig.add_vline(x=float(marker_time), line_color="red", line_width=1)
    fig.update_layout(title=title, xaxis_title=xlabel, yaxis_title=ylabel,
                      showlegend=len(series) > 1, hovermode="closest")
    return fig


def figure_mime_bundle(fig) -> dict:
    """MIME bundle that displays ``fig`` in a notebook output or ``ipywidgets.Output``.

    Use ``out.outputs = ({'output_type': 'display_data', 'data': bundle,
    'metadata': {}},)``; this works from threads and in Voila.

    Returns
    -------
    dict
        ``{'application/vnd.plotly.v1+json': {'data', 'layout', 'config'},
        'text/plain': str}``, JSON-serialisable (same content as plotly's own
        notebook renderer produces).
    """
    pio = _plotly("io")

    try:
        # exactly what plotly's own notebook renderer sends (numpy arrays as base64 'bdata')
        fig_json = pio.renderers["plotly_mimetype"].to_mimebundle(fig.to_dict())[
            "application/vnd.plotly.v1+json"]
    except (KeyError, AttributeError):  # renderer API changed: same content via to_json
        fig_json = json.loads(pio.to_json(fig, validate=False, remove_uids=False))
    fig_json.setdefault("config", {"responsive": True, "displaylogo": False})
    title = fig.layout.title.text or ""
    n_traces = len(fig.data)
    return {
        "application/vnd.plotly.v1+json": fig_json,
        "text/plain": f"<plotly Figure {title!r} with {n_traces} trace(s)>",
    }
