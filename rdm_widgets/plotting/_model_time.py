"""Figures of time-resolved model RDMs: the RDM at one model time point and the model time x
brain time RSA map (plotly imported inside the functions).

The inputs are arrays or ``TimeResolvedRDM``-like objects (``data`` (N, N, T), ``times``,
``conditions``, ``time_labels``, ``layer``, ``meta``, ``at(i)``), recognised by their attributes:
plotting imports no container module.
"""
from __future__ import annotations

import numpy as np

from ._figures import _plotly, rdm_heatmap

__all__ = ["model_time_labels", "model_time_rdm_figure", "model_brain_time_figure"]


def model_time_labels(result) -> list:
    """One label per model time point: its ``time_labels`` (``'clip 2'``) or ``'t=<time>'``."""
    labels = getattr(result, "time_labels", None)
    if labels is not None:
        return [str(x) for x in labels]
    return [f"t={t:.4g}" for t in np.asarray(result.times, dtype=float)]


def model_time_rdm_figure(result, index: int, colorscale: str = "Viridis", max_display: int = 1000):
    """Heatmap of the model RDM at model time point ``index``.

    Parameters
    ----------
    result : TimeResolvedRDM
        A time-resolved model RDM (one RDM per clip / time point).
    index : int
        Model time index.
    colorscale, max_display
        As in :func:`rdm_widgets.plotting.rdm_heatmap`.

    Returns
    -------
    plotly.graph_objects.Figure
        Title ``"<layer> · <time label> · <distance>"``; the colour range is the range of the
        off-diagonal values over all model time points, so that the slider compares like with like.
    """
    data = np.asarray(result.data)
    n = data.shape[0]
    off = data[~np.eye(n, dtype=bool)] if n > 1 else data.ravel()
    zmin, zmax = (float(off.min()), float(off.max())) if off.size else (None, None)
    label = model_time_labels(result)[int(index)]
    meta = getattr(result, "meta", {}) or {}
    parts = [p for p in (getattr(result, "layer", ""), label, meta.get("distance", "")) if p]
    return rdm_heatmap(result.at(int(index)), title=" · ".join(parts), colorscale=colorscale,
                       max_display=max_display, zmin=zmin, zmax=zmax)


def model_brain_time_figure(matrix, model_labels, brain_times, *, title: str = "", method: str = "spearman",
                            highlight=None, colorscale: str = "RdBu_r"):
    """Heatmap of a model time x brain time RSA map (``rsa_timecourse`` of a time-resolved model).

    Parameters
    ----------
    matrix : array-like, shape (n_model_times, n_brain_times)
        Correlations (NaN where undefined).
    model_labels : sequence of str
        One label per model time point (rows, top to bottom).
    brain_times : array-like, shape (n_brain_times,)
        Brain times (columns; seconds for MNE input).
    title : str
    method : str
        The correlation's name (colour bar title).
    highlight : int or None
        A model time index to outline (the viewer's slider).
    colorscale : str
        A diverging scale centred on 0.

    Returns
    -------
    plotly.graph_objects.Figure
        One ``go.Heatmap`` with ``layout.meta`` = ``{"n_model_times", "n_brain_times", "peak"}``,
        ``peak`` the (model index, brain index) of the largest finite value (None if none).
    """
    go = _plotly("graph_objects")

    z = np.asarray(matrix, dtype=float)
    labels = [str(x) for x in model_labels]
    times = np.asarray(brain_times, dtype=float)
    if z.ndim != 2 or z.shape != (len(labels), len(times)):
        raise ValueError(f"matrix has shape {z.shape}; expected ({len(labels)}, {len(times)}) "
                         "(n_model_times, n_brain_times) to match the labels and times.")
    finite = np.isfinite(z)
    bound = float(np.abs(z[finite]).max()) if finite.any() else 1.0
    peak = None
    if finite.any():
        m, b = np.unravel_index(np.nanargmax(np.where(finite, z, -np.inf)), z.shape)
        peak = [int(m), int(b)]
    fig = go.Figure(go.Heatmap(
        z=np.where(finite, z, None).tolist(), x=times.tolist(), y=labels, colorscale=colorscale,
        zmin=-bound, zmax=bound, colorbar=dict(title=f"{method} r"),
        hovertemplate="model: %{y}<br>brain t: %{x:.3f}<br>r: %{z:.3f}<extra></extra>"))
    if highlight is not None and 0 <= int(highlight) < len(labels):
        fig.add_hline(y=int(highlight), line=dict(color="black", width=1, dash="dot"))
    fig.update_layout(title=title or "model time × brain time", xaxis_title="brain time",
                      yaxis=dict(title="model time", autorange="reversed", type="category"),
                      meta={"n_model_times": len(labels), "n_brain_times": len(times), "peak": peak},
                      plot_bgcolor="white")
    return fig
