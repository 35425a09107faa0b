"""The train time x test time map of temporal generalisation (Plotly; imported lazily).

Why this module exists: a generalisation map is read against its diagonal (train = test) and
its chance level; this figure draws both, marks significant cells (e.g. a cluster test's mask)
with a contour and one chosen cell, so notebooks, the README figure and the viewer share one
builder.
"""
from __future__ import annotations

import numpy as np

from ._figures import _plotly

__all__ = ["generalization_figure"]


def _axis(name: str, times, n: int) -> np.ndarray:
    if times is None:
        return np.arange(n, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    if times.shape != (n,):
        raise ValueError(f"'{name}' has {times.size} values but the matrix has {n} along that axis; give "
                         "one time per row (train) / column (test).")
    return times


def generalization_figure(matrix, train_times=None, test_times=None, significant=None, *, title: str = "",
                          value_label: str = "decoding accuracy", chance=None, colorscale: str = "RdBu_r",
                          zmin=None, zmax=None, marker=None, time_unit: str = "s"):
    """Heatmap of a temporal generalisation map: rows train time, columns test time.

    Parameters
    ----------
    matrix : array-like, shape (n_train, n_test)
        E.g. ``GeneralizationRDM.mean_map()``.
    train_times, test_times : array-like, shape (n_train,) / (n_test,), optional
        Axis values (default indices).
    significant : bool array-like, shape (n_train, n_test), optional
        Cells to outline (a cluster test's ``significant()`` mask); drawn as a black contour.
    title : str
    value_label : str
        Colour-bar title.
    chance : float or None
        Centre of the diverging colour scale (0.5 for accuracy, 0 for distances); None: no centre.
    colorscale : str
        Plotly colorscale (diverging by default, so above/below chance read at a glance).
    zmin, zmax : float or None
        Colour range (default symmetric about ``chance`` when given, else the data range).
    marker : (int, int) or None
        (train index, test index) of a cell to mark (the viewer's selected cell).
    time_unit : str
        Axis unit label.

    Returns
    -------
    plotly.graph_objects.Figure
        Trace 0 the heatmap (``z`` = the matrix, ``x`` test times, ``y`` train times), then the
        diagonal (dashed), the significance contour and the marker when given; ``layout.meta``
        holds ``{"kind": "generalization", "n_train": ..., "n_test": ...}``.
    """
    go = _plotly("graph_objects")
    z = np.asarray(matrix, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"'matrix' must be 2-D (n_train_times, n_test_times); got shape {z.shape}.")
    y = _axis("train_times", train_times, z.shape[0])
    x = _axis("test_times", test_times, z.shape[1])
    if chance is not None and zmin is None and zmax is None and np.isfinite(z).any():
        half = float(np.nanmax(np.abs(z - chance))) or 1.0
        zmin, zmax = chance - half, chance + half
    hover = (f"train %{{y:.4g}} {time_unit}<br>test %{{x:.4g}} {time_unit}<br>{value_label}: %{{z:.4g}}"
             "<extra></extra>")
    fig = go.Figure(go.Heatmap(z=z, x=x, y=y, colorscale=colorscale, zmin=zmin, zmax=zmax, zmid=None,
                               hovertemplate=hover, colorbar=dict(title=value_label)))
    lo, hi = max(x[0], y[0]), min(x[-1], y[-1])
    if lo <= hi:
        fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="train = test", hoverinfo="skip",
                                 line=dict(color="black", dash="dash", width=1), showlegend=False))
    if significant is not None:
        mask = np.asarray(significant, dtype=bool)
        if mask.shape != z.shape:
            raise ValueError(f"'significant' has shape {mask.shape}; the matrix has {z.shape}.")
        if mask.any():
            fig.add_trace(go.Contour(z=mask.astype(float), x=x, y=y, showscale=False, hoverinfo="skip",
                                     contours=dict(start=0.5, end=0.5, size=1, coloring="none"),
                                     line=dict(color="black", width=2), name="significant"))
    if marker is not None:
        t, s = (int(v) for v in marker)
        fig.add_trace(go.Scatter(x=[x[s]], y=[y[t]], mode="markers", name="selected", hoverinfo="skip",
                                 marker=dict(symbol="square-open", size=12, color="black", line=dict(width=2)),
                                 showlegend=False))
    fig.update_layout(title=title, plot_bgcolor="white", meta={"kind": "generalization", "n_train": z.shape[0],
                                                                 "n_test": z.shape[1]},
                      xaxis=dict(title=f"test time ({time_unit})", constrain="domain"),
                      yaxis=dict(title=f"train time ({time_unit})", scaleanchor="x", scaleratio=1,
                                 constrain="domain"))
    return fig
