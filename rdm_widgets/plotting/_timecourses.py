"""Time-course figures: lines with ± bands, significant clusters shaded, group means, RSA per layer."""
from __future__ import annotations

import numpy as np

from ._figures import _plotly

__all__ = ["timecourse_figure", "group_timecourse_figure", "rsa_timecourse_figure", "mask_spans"]

#: fill of a significant cluster's span and of a ± band (the band takes its line's colour)
SPAN_FILL = "rgba(255,165,0,0.18)"
BAND_OPACITY = 0.2


def _array(values) -> np.ndarray:
    return np.asarray(values.detach().cpu() if hasattr(values, "detach") else values, dtype=np.float64)


def mask_spans(times, mask, p_values=None) -> list:
    """Contiguous runs of a boolean mask as ``[(t_start, t_stop, p)]`` in ``times`` units.

    A run of samples ``i..j`` spans from half a sample before ``times[i]`` to half a sample after
    ``times[j]`` (the mid-points to the neighbours), so that a single significant sample still
    shows as a band one sample wide.

    Parameters
    ----------
    times : array-like, shape (T,)
        Increasing times.
    mask : array-like of bool, shape (T,)
    p_values : array-like, shape (T,), or None
        Per-sample p (e.g. ``ClusterTest.p_map``); a span's p is its minimum (NaN when None).

    Returns
    -------
    list of (float, float, float)
    """
    t = np.asarray(times, dtype=np.float64).ravel()
    m = np.asarray(mask, dtype=bool).ravel()
    if m.shape != t.shape:
        raise ValueError(f"'significant' mask has shape {m.shape}; expected {t.shape} to match 'times'.")
    if not m.any():
        return []
    if t.size > 1:
        mid = (t[1:] + t[:-1]) / 2.0
        edges = np.concatenate([[t[0] - (mid[0] - t[0])], mid, [t[-1] + (t[-1] - mid[-1])]])
    else:
        edges = np.array([t[0], t[0]])
    padded = np.concatenate([[False], m, [False]]).astype(np.int8)
    starts = np.flatnonzero(np.diff(padded) == 1)
    stops = np.flatnonzero(np.diff(padded) == -1)          # exclusive
    p = None if p_values is None else np.asarray(p_values, dtype=np.float64).ravel()
    return [(float(edges[a]), float(edges[b]), float(np.nanmin(p[a:b])) if p is not None else float("nan"))
            for a, b in zip(starts, stops)]


def _spans(times, significant, alpha: float = 0.05) -> list:
    """A mask (T,), a list of ``(t_start, t_stop[, p])`` or a ClusterTest -> ``[(t_start, t_stop, p)]``.

    A ClusterTest's significant samples (``p_map <= alpha``) become spans half a sample wider on each
    side than ``ClusterTest.spans`` (first to last sample), so that a one-sample cluster shows.
    """
    if hasattr(significant, "p_map") and hasattr(significant, "significant"):
        return mask_spans(times, significant.significant(alpha), significant.p_map)
    if hasattr(significant, "spans"):
        return _spans(times, significant.spans(alpha))
    if significant is None or len(significant) == 0:
        return []
    try:
        is_mask = np.asarray(significant).dtype == bool
    except ValueError:      # ragged: spans with and without p
        is_mask = False
    if is_mask:
        return mask_spans(times, significant)
    out = []
    for span in significant:
        span = tuple(span)
        if len(span) not in (2, 3):
            raise ValueError(f"A significant span must be (t_start, t_stop) or (t_start, t_stop, p); got {span!r}.")
        out.append((float(span[0]), float(span[1]), float(span[2]) if len(span) == 3 else float("nan")))
    return out


def _rgba(colour: str, alpha: float) -> str:
    colour = colour.lstrip("#")
    r, g, b = (int(colour[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _shade_spans(fig, spans, y_bar: float, *, colour: str = SPAN_FILL, label: str = "cluster",
                 bar_colour: str = "darkorange"):
    """Each span as a shaded vertical band (below the lines) plus a thick bar at ``y_bar`` whose hover
    gives the span and its p (shapes have no hover in Plotly)."""
    go = _plotly("graph_objects")

    for k, (t0, t1, p) in enumerate(spans):
        fig.add_vrect(x0=t0, x1=t1, fillcolor=colour, line_width=0, layer="below")
        ptext = f"p = {p:.3g}" if np.isfinite(p) else "significant"
        fig.add_trace(go.Scatter(x=[t0, t1], y=[y_bar, y_bar], mode="lines", line=dict(color=bar_colour, width=5),
                                 name=f"{label} {k + 1}", showlegend=False,
                                 hovertemplate=f"{label} {t0:.3f}–{t1:.3f} s<br>{ptext}<extra></extra>"))


def _y_range(values) -> tuple[float, float]:
    finite = [v[np.isfinite(v)] for v in values]
    finite = [v for v in finite if v.size]
    if not finite:
        return 0.0, 1.0
    return min(float(v.min()) for v in finite), max(float(v.max()) for v in finite)


def timecourse_figure(times, series, chance=None, xlabel: str = "Time (s)", ylabel: str = "",
                      marker_time=None, title: str = "", band=None, significant=None):
    """Line plot of one or more timecourses, with optional ± bands and shaded significant spans.

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
    band : dict of str -> (lower (T,), upper (T,)), or None
        A shaded band around the series of that name (e.g. mean ± SEM), in the line's colour.
    significant : array-like of bool (T,), list of (t_start, t_stop[, p]), ClusterTest, or None
        Significant spans, shaded as vertical rectangles: a mask's runs (and a ClusterTest's
        samples with ``p_map <= 0.05``) span half a sample either side (:func:`mask_spans`);
        listed spans are drawn as given.

    Returns
    -------
    plotly.graph_objects.Figure
        Per series an optional band trace (``name`` ``"<name> band"``, a closed polygon
        ``x = t + t[::-1]``, ``y = upper + lower[::-1]``) then the line (``name`` = the series
        name); per span a ``vrect`` shape and a hover bar trace (``"cluster k"``).
        ``layout.meta['spans']`` lists ``[t_start, t_stop, p]``.
    """
    go = _plotly("graph_objects")

    t = np.asarray(times, dtype=np.float64).ravel()
    if not isinstance(series, dict):
        series = {ylabel or "value": series}
    band = dict(band or {})
    unknown = [name for name in band if name not in series]
    if unknown:
        raise ValueError(f"'band' names {unknown} are not series; the series are {list(series)}.")
    colours = _plotly("colors").qualitative.Plotly
    fig = go.Figure()
    drawn = []
    for k, (name, values) in enumerate(series.items()):
        v = _array(values)
        if v.shape != t.shape:
            raise ValueError(f"Series {name!r} has shape {v.shape}; expected {t.shape} to match 'times'.")
        colour = colours[k % len(colours)]
        drawn.append(v)
        if name in band:
            lower, upper = (_array(b) for b in band[name])
            if lower.shape != t.shape or upper.shape != t.shape:
                raise ValueError(f"Band of {name!r} has shapes {lower.shape}, {upper.shape}; expected {t.shape}.")
            drawn += [lower, upper]
            fig.add_trace(go.Scatter(x=np.concatenate([t, t[::-1]]), y=np.concatenate([upper, lower[::-1]]),
                                     fill="toself", fillcolor=_rgba(colour, BAND_OPACITY), line=dict(width=0),
                                     mode="lines", name=f"{name} band", showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=t, y=v, mode="lines", name=str(name), line_color=colour,
                                 hovertemplate=f"{name}<br>{xlabel}: %{{x:.4g}}<br>value: %{{y:.4g}}"
                                               "<extra></extra>"))
    spans = _spans(t, significant)
    if spans:
        lo, hi = _y_range(drawn + ([np.array([float(chance)])] if chance is not None else []))
        _shade_spans(fig, spans, lo - 0.04 * max(hi - lo, 1e-12))
    if chance is not None:
        fig.add_hline(y=float(chance), line_dash="dash", line_color="gray",
                      annotation_text="chance", annotation_position="bottom right")
    if marker_time is not None:
        fig.add_vline(x=float(marker_time), line_color="red", line_width=1)
    fig.update_layout(title=title, xaxis_title=xlabel, yaxis_title=ylabel,
                      showlegend=len(series) > 1, hovermode="closest",
                      meta={"spans": [list(s) for s in spans]})
    return fig


def group_timecourse_figure(group, alpha: float = 0.05, title: str = "", marker_time=None,
                            show_subjects: bool = False):
    """Group mean ± SEM time course with the significant clusters shaded.

    Parameters
    ----------
    group : GroupTimecourse
        :func:`rdm_widgets.cluster.group_timecourse` output (``times``, ``values`` (n_subjects,
        T), ``subjects``, ``mean``, ``sem``, ``chance``, ``label``, ``test``).
    alpha : float
        Clusters with ``p <= alpha`` (``group.test.significant(alpha)``, half a sample either side) are
        shaded; their p shows on hover.
    title : str
        Default ``"Group mean ± SEM (n = <subjects>)"``.
    marker_time : float or None
        A vertical line at this time.
    show_subjects : bool
        Also draw each subject's time course as a thin grey line.

    Returns
    -------
    plotly.graph_objects.Figure
        As :func:`timecourse_figure`: the band ``mean ± sem``, the mean line (``name``
        ``"mean <label>"``), the chance line at ``group.chance``, the spans; then one line per
        subject when ``show_subjects``. ``layout.meta`` adds ``alpha`` and ``n_subjects``.
    """
    go = _plotly("graph_objects")

    mean, sem = _array(group.mean), _array(group.sem)
    name = f"mean {group.label}".strip()
    test = getattr(group, "test", None)
    spans = _spans(group.times, test, alpha) if test is not None else None
    n = len(group.subjects)
    fig = timecourse_figure(group.times, {name: mean}, chance=group.chance, ylabel=group.label,
                            marker_time=marker_time, band={name: (mean - sem, mean + sem)}, significant=spans,
                            title=title or f"Group mean ± SEM (n = {n})"
                                           + (f"; shaded: cluster p ≤ {alpha:g}" if test is not None else ""))
    if show_subjects:
        values = _array(group.values)
        for subject, v in zip(group.subjects, values):
            fig.add_trace(go.Scatter(x=np.asarray(group.times, dtype=np.float64), y=v, mode="lines",
                                     name=str(subject), line=dict(color="rgba(120,120,120,0.35)", width=1),
                                     showlegend=False,
                                     hovertemplate=f"{subject}<br>t = %{{x:.3f}} s<br>%{{y:.4g}}<extra></extra>"))
    fig.update_layout(meta={**fig.layout.meta, "alpha": alpha, "n_subjects": n})
    return fig


def rsa_timecourse_figure(tests: dict, alpha: float = 0.05, marker_time=None, title: str = "",
                          clusters: dict | None = None):
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
    clusters : dict or None
        ``{layer: ClusterTest or list of (t_start, t_stop[, p]) or bool mask (T,)}``: cluster
        spans shaded in the layer's colour (``ClusterTest.spans(alpha)``) with p on hover.

    Returns
    -------
    plotly.graph_objects.Figure
        One line per layer (``name`` = the layer) and one marker trace per layer with any
        significant time point (``name`` = ``"<layer> p_FDR ≤ alpha"``); a zero line; per cluster
        span a ``vrect`` and a hover bar (``"<layer> cluster k"``). ``layout.meta['spans']`` is
        ``{layer: [[t_start, t_stop, p], ...]}``.
    """
    go = _plotly("graph_objects")

    fig = go.Figure()
    colours = _plotly("colors").qualitative.Plotly
    tests = dict(tests)
    clusters = dict(clusters or {})
    unknown = [layer for layer in clusters if layer not in tests]
    if unknown:
        raise ValueError(f"'clusters' layers {unknown} have no time course; the layers are {list(tests)}.")
    finite = [t.r[np.isfinite(t.r)] for t in tests.values()]
    low = min((float(v.min()) for v in finite if v.size), default=0.0)
    step = 0.04 * max(max((float(np.abs(v).max()) for v in finite if v.size), default=1.0), 1e-3)
    method = ""
    all_spans = {}
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
        if layer in clusters:
            c = clusters[layer]
            spans = _spans(t.times, c, alpha)
            all_spans[str(layer)] = [list(s) for s in spans]
            _shade_spans(fig, spans, low - (len(tests) + k + 1) * step, colour=_rgba(colour, 0.15),
                         label=f"{layer} cluster", bar_colour=colour)
    fig.add_hline(y=0.0, line_dash="dash", line_color="gray")
    if marker_time is not None:
        fig.add_vline(x=float(marker_time), line_color="red", line_width=1)
    shaded = "; shaded: cluster p ≤ {:g}".format(alpha) if clusters else ""
    fig.update_layout(title=title or f"Model–EEG RSA per layer; squares: p_FDR ≤ {alpha:g}{shaded}",
                      xaxis_title="Time (s)", yaxis_title=f"{method} r", hovermode="closest",
                      showlegend=len(tests) > 1, meta={"alpha": alpha, "spans": all_spans})
    return fig
