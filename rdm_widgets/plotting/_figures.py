"""Heatmaps of RDMs and on-disk windows, the figures' config and MIME bundle, and the lazy plotly import
shared by the other figure modules of :mod:`rdm_widgets.plotting`."""
from __future__ import annotations

import json
import math

import numpy as np

from .._blocks import block_means
from ._inputs import (MAX_TICK_LABELS, colour_label, heatmap_input, offdiagonal_range, tick_labels,
                           unique_labels)
from .._validate import check_positive_int

__all__ = ["rdm_heatmap", "window_heatmap", "figure_mime_bundle", "figure_config", "IMAGE_FORMATS"]

#: formats of the modebar's camera button ("Download plot")
IMAGE_FORMATS = ("png", "svg", "jpeg", "webp")


def _plotly(submodule: str):
    """Import ``plotly.<submodule>`` on first use: the core must not load plotly at import time."""
    import importlib

    return importlib.import_module(f"plotly.{submodule}")


def rdm_heatmap(matrix, stimuli=None, title: str = "", colorscale: str = "Viridis",
                max_display: int = 1000, zmin=None, zmax=None, indices=None):
    """Heatmap of an RDM with stimulus names on hover.

    Parameters
    ----------
    matrix : LayerRDM or array-like, shape (N, N)
        The RDM. For a LayerRDM (or any object with ``matrix``, ``stimuli``, ``layer``, ``meta``
        and ``subset``), its stimuli and layer name (as default title) are used.
    stimuli : sequence of str or None
        N stimulus names (default: the LayerRDM's, else ``"0".."N-1"``).
    title : str
        Figure title. When downsampled, ``" (block means of k x k)"`` is added.
    colorscale : str
        Plotly colorscale name.
    max_display : int
        Most cells per side; larger RDMs are shown as block means.
    zmin, zmax : float or None
        Colour range (default: the range of the off-diagonal values, so that the zero diagonal
        does not squeeze the structure between stimuli; values outside are clipped).
    indices : sequence of int or str, or None
        Show only these stimuli (indices or names), in this order.

    Returns
    -------
    plotly.graph_objects.Figure
        One ``go.Heatmap`` trace; row 0 at the top; square cells; the colour bar says what the
        values are (:func:`rdm_widgets.plotting._inputs.colour_label` of the RDM's meta); above 60
        stimuli every k-th is labelled. ``layout.meta`` holds ``block_size`` (k, 1 when not
        downsampled) and ``n_stimuli``.
    """
    go = _plotly("graph_objects")

    max_display = check_positive_int("max_display", max_display)
    matrix, names, layer, meta = heatmap_input(matrix, stimuli, indices)
    if not title and layer:
        title = layer
    n = len(names)
    if n > max_display:
        k = math.ceil(n / max_display)
        z = block_means(matrix, k)
        labels = [f"{names[s]} … {names[min(s + k, n) - 1]} ({min(s + k, n) - s})"
                  for s in range(0, n, k)]
        title = f"{title} (block means of {k} x {k})".strip()
        what = "block"
    else:
        k = 1
        z = matrix
        labels = names
        what = "stimulus"
    labels = unique_labels(labels)
    if zmin is None and zmax is None and k == 1:
        zmin, zmax = offdiagonal_range(z)
    hover = (f"row {what}: %{{y}}<br>column {what}: %{{x}}<br>"
             f"{'mean ' if k > 1 else ''}dissimilarity: %{{z:.4g}}<extra></extra>")
    fig = go.Figure(go.Heatmap(z=z, x=labels, y=labels, colorscale=colorscale, zmin=zmin, zmax=zmax,
                               hovertemplate=hover, colorbar=dict(title=colour_label(meta))))
    ticks = dict(tickmode="array", tickvals=tick_labels(labels)) if len(labels) > MAX_TICK_LABELS else {}
    fig.update_layout(
        title=title,
        xaxis=dict(constrain="domain", type="category", **ticks),
        yaxis=dict(autorange="reversed", scaleanchor="x", scaleratio=1, constrain="domain",
                   type="category", **ticks),
        meta={"block_size": k, "n_stimuli": n},
        plot_bgcolor="white",
    )
    return fig


def window_heatmap(window, stimuli, title: str = "", colorscale: str = "Viridis", zmin=None, zmax=None,
                   distance: str = ""):
    """Heatmap of a :class:`rdm_widgets.tiled.Window` (part of an on-disk RDM).

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
    xt = dict(tickmode="array", tickvals=tick_labels(xlab)) if len(xlab) > MAX_TICK_LABELS else {}
    yt = dict(tickmode="array", tickvals=tick_labels(ylab)) if len(ylab) > MAX_TICK_LABELS else {}
    fig.update_layout(title=title, xaxis=dict(constrain="domain", type="category", **xt),
                      yaxis=dict(autorange="reversed", scaleanchor="x", scaleratio=1, constrain="domain",
                                 type="category", **yt),
                      meta={"block_size": f, "rows": list(window.rows), "cols": list(window.cols)},
                      plot_bgcolor="white")
    return fig


def figure_config(image_format: str = "png", filename: str = "figure", scale: float = 2) -> dict:
    """Plotly ``config`` of the shown figures: the modebar's camera button saves ``image_format``.

    Parameters
    ----------
    image_format : {'png', 'svg', 'jpeg', 'webp'}
        What "Download plot" saves (SVG for publication figures).
    filename : str
        Download file name, without the suffix.
    scale : float
        Resolution factor of raster images.
    """
    from .._validate import check_option

    image_format = check_option("image_format", image_format, IMAGE_FORMATS)
    return {"responsive": True, "displaylogo": False,
            "toImageButtonOptions": {"format": image_format, "filename": str(filename) or "figure",
                                     "scale": float(scale)}}


def figure_mime_bundle(fig, config: dict | None = None) -> dict:
    """MIME bundle that displays ``fig`` in a notebook output or ``ipywidgets.Output``.

    Use ``out.outputs = ({'output_type': 'display_data', 'data': bundle,
    'metadata': {}},)``; this works from threads and in Voila.

    Parameters
    ----------
    fig : plotly Figure
    config : dict or None
        Plotly config (e.g. :func:`figure_config`); default responsive, no logo, PNG download.

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
    fig_json["config"] = dict(config) if config is not None else {"responsive": True, "displaylogo": False}
    title = fig.layout.title.text or ""
    n_traces = len(fig.data)
    return {
        "application/vnd.plotly.v1+json": fig_json,
        "text/plain": f"<plotly Figure {title!r} with {n_traces} trace(s)>",
    }
