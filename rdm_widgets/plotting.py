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

from ._blocks import block_means
from ._plot_inputs import (MAX_TICK_LABELS, colour_label, heatmap_input, offdiagonal_range, tick_labels,
                           unique_labels)
from ._validate import check_positive_int

__all__ = ["rdm_heatmap", "window_heatmap", "timecourse_figure", "figure_mime_bundle", "figure_config",
           "model_comparison_figure", "rsa_timecourse_figure", "IMAGE_FORMATS"]

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
        values are (:func:`rdm_widgets._plot_inputs.colour_label` of the RDM's meta); above 60
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
    from ._validate import check_option

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


def _finite(v) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def model_comparison_figure(table, alpha: float = 0.05, title: str = ""):
    """Bars of model-brain similarity per layer, grouped by model, one panel per brain RDM.

    Parameters
    ----------
    table : RSATable
        From :func:`rdm_widgets.model_rsa.model_brain_table` (anything with ``rows``,
        ``brains``, ``models`` and ``method``).
    alpha : float
        Bars with ``p_fdr <= alpha`` get a ``*`` above them.
    title : str
        Default ``"Model–brain RSA (<method>)"``.

    Returns
    -------
    plotly.graph_objects.Figure
        Per (brain, model) one ``go.Bar`` with error bars (SEM over subjects) and one text
        ``go.Scatter`` (name ``"<model> p_FDR ≤ alpha"``) with ``*`` above the significant
        bars; the noise ceiling (lower..upper) of each stack as a grey rectangle behind the
        bars. ``layout.meta`` holds ``{brain: [lower, upper]}`` under ``noise_ceiling``.
    """
    go = _plotly("graph_objects")
    make_subplots = _plotly("subplots").make_subplots

    brains = list(table.brains)
    fig = make_subplots(rows=1, cols=max(len(brains), 1), shared_yaxes=True, subplot_titles=brains or None,
                        horizontal_spacing=0.04)
    colours = _plotly("colors").qualitative.Plotly
    ceilings = {}
    for col, brain in enumerate(brains, start=1):
        for k, model in enumerate(table.models):
            rows = table.select(brain=brain, model=model)
            if not rows:
                continue
            sem = [_finite(r["r_sem"]) or 0.0 for r in rows]
            marks = ["*" if (_finite(r["p_fdr"]) is not None and r["p_fdr"] <= alpha) else "" for r in rows]
            hover = [f"{model} · {r['layer']}<br>r = {r['r']:.4g}<br>p = {r['p']:.3g} ({r['test']})"
                     f"<br>p FDR = {r['p_fdr']:.3g}<br>matched {r['matched']}" for r in rows]
            layers = [r["layer"] for r in rows]
            fig.add_trace(go.Bar(x=layers, y=[r["r"] for r in rows], name=model, legendgroup=model,
                                 showlegend=col == 1, marker_color=colours[k % len(colours)],
                                 offsetgroup=model, alignmentgroup=brain,
                                 error_y=dict(type="data", array=sem, visible=any(sem)),
                                 hovertext=hover, hoverinfo="text"), row=1, col=col)
            # the stars above the error bars, in the bar's slot of the group
            tops = [max(r["r"], 0.0) + s for r, s in zip(rows, sem)]
            fig.add_trace(go.Scatter(x=layers, y=tops, mode="text", text=marks, textposition="top center",
                                     textfont=dict(size=18), name=f"{model} p_FDR ≤ {alpha:g}", legendgroup=model,
                                     showlegend=False, offsetgroup=model, alignmentgroup=brain,
                                     hoverinfo="skip", cliponaxis=False), row=1, col=col)
        first = table.select(brain=brain)[0]
        lo, hi = _finite(first["noise_lower"]), _finite(first["noise_upper"])
        if lo is not None and hi is not None:
            ceilings[brain] = [lo, hi]
            xaxis, yaxis = ("x", "y") if col == 1 else (f"x{col}", f"y{col}")
            fig.add_shape(type="rect", xref=f"{xaxis} domain", yref=yaxis, x0=0, x1=1, y0=lo, y1=hi,
                          fillcolor="rgba(128,128,128,0.15)", line=dict(color="rgba(90,90,90,0.6)", width=1,
                                                                        dash="dot"), layer="below")
            fig.add_annotation(xref=f"{xaxis} domain", yref=yaxis, x=1, y=hi, text="noise ceiling",
                               showarrow=False, xanchor="right", yanchor="bottom", font=dict(size=10))
    method = getattr(table, "method", "")
    fig.update_layout(title=title or f"Model–brain RSA ({method}); * p_FDR ≤ {alpha:g}", barmode="group",
                      scattermode="group",
                      yaxis_title=f"{method} r", legend_title_text="model", plot_bgcolor="white",
                      meta={"noise_ceiling": ceilings, "alpha": alpha})
    fig.update_yaxes(zeroline=True, zerolinecolor="#888", gridcolor="#eee")
    return fig


def rsa_timecourse_figure(tests: dict, alpha: float = 0.05, marker_time=None, title: str = ""):
    """RSA time course per model layer, with the significant time points marked.

    Parameters
    ----------
    tests : dict
        ``{layer: TimecourseTest}`` (:func:`rdm_widgets.model_rsa.rsa_timecourse_test`).
    alpha : float
        Time points with ``p_fdr <= alpha`` are marked by dots on a row below the lines.
    marker_time : float or None
        A vertical line at this time (the time slider's).
    title : str

    Returns
    -------
    plotly.graph_objects.Figure
        One line per layer (``name`` = the layer) and one marker trace per layer with any
        significant time point (``name`` = ``"<layer> p_FDR ≤ alpha"``); a zero line.
    """
    go = _plotly("graph_objects")

    fig = go.Figure()
    colours = _plotly("colors").qualitative.Plotly
    tests = dict(tests)
    finite = [t.r[np.isfinite(t.r)] for t in tests.values()]
    low = min((float(v.min()) for v in finite if v.size), default=0.0)
    step = 0.04 * max(max((float(np.abs(v).max()) for v in finite if v.size), default=1.0), 1e-3)
    method = ""
    for k, (layer, t) in enumerate(tests.items()):
        colour = colours[k % len(colours)]
        method = t.method
        fig.add_trace(go.Scatter(x=t.times, y=t.r, mode="lines", name=str(layer), line_color=colour,
                                 customdata=np.stack([t.p, t.p_fdr], axis=1),
                                 hovertemplate=f"{layer}<br>t = %{{x:.3f}} s<br>r = %{{y:.3g}}<br>"
                                               "p = %{customdata[0]:.3g}<br>p FDR = %{customdata[1]:.3g}"
                                               "<extra></extra>"))
        sig = t.significant(alpha)
        if sig.any():
            fig.add_trace(go.Scatter(x=t.times[sig], y=np.full(int(sig.sum()), low - (k + 1) * step),
                                     mode="markers", marker=dict(color=colour, size=6, symbol="square"),
                                     name=f"{layer} p_FDR ≤ {alpha:g}", showlegend=False,
                                     hovertemplate=f"{layer}: significant at %{{x:.3f}} s<extra></extra>"))
    fig.add_hline(y=0.0, line_dash="dash", line_color="gray")
    if marker_time is not None:
        fig.add_vline(x=float(marker_time), line_color="red", line_width=1)
    fig.update_layout(title=title or f"Model–EEG RSA per layer; squares: p_FDR ≤ {alpha:g}",
                      xaxis_title="Time (s)", yaxis_title=f"{method} r", hovermode="closest",
                      showlegend=len(tests) > 1, meta={"alpha": alpha})
    return fig
