"""MDS scatter (names on hover, stimulus images as thumbnails) and the dendrogram of an RDM's clustering.

Plotly cannot show an image in a hover label, and a figure shown in an ``ipywidgets.Output``
(the form that works in Voila, see ``widgets/_display.py``) sends no clicks back to the kernel. So the
images are drawn *into* the figure as layout images: a small thumbnail at each point
(``thumbnails=True``) and, for ``selected``, a large image in the corner with the point ringed.
The viewer picks ``selected`` with a dropdown and redraws; nothing needs a browser round trip.
"""
from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np

from ._figures import _plotly

__all__ = ["mds_figure", "dendrogram_figure", "image_paths", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp")
_MIME = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif",
         ".webp": "image/webp"}


def image_paths(images, names) -> dict:
    """``{stimulus name: image path}`` for the names that have an image.

    Parameters
    ----------
    images : str or Path (a folder of files named like the stimuli: ``image_01.jpg`` for
        ``image_01``), or dict {name: path}, or None
    names : sequence of str
    """
    if images is None:
        return {}
    if isinstance(images, dict):
        found = {str(k): Path(v) for k, v in images.items()}
    else:
        folder = Path(images)
        if not folder.is_dir():
            raise ValueError(f"'images' must be a folder of image files named like the stimuli; {folder} is not "
                             "a folder.")
        found = {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    return {n: found[n] for n in names if n in found and found[n].is_file()}


def _data_uri(path: Path, pixels: int | None) -> str:
    """The image as a data URI; downscaled to ``pixels`` on its long side when Pillow is installed
    (78 JPEGs of ~30 kB each would otherwise put ~3 MB into every redraw)."""
    data, mime = path.read_bytes(), _MIME.get(path.suffix.lower(), "image/jpeg")
    if pixels:
        try:
            from PIL import Image
        except ImportError:      # optional: the full image is embedded
            pass
        else:
            with Image.open(io.BytesIO(data)) as im:
                im = im.convert("RGB")
                im.thumbnail((pixels, pixels))
                buf = io.BytesIO()
                im.save(buf, format="JPEG", quality=85)
                data, mime = buf.getvalue(), "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _embedding_input(rdm_or_coords, names, method, random_state):
    """``(coords (n, 2), names, title, axis titles, meta)`` of an Embedding, a LayerRDM / RDM or coordinates."""
    from ..embedding import mds

    obj = rdm_or_coords
    if not hasattr(obj, "coords"):
        arr = np.asarray(getattr(obj, "matrix", obj), dtype=np.float64)
        # an RDM: square, symmetric, zero diagonal (coordinates (n, 2) are square only for n = 2)
        looks_like_rdm = (arr.ndim == 2 and arr.shape[0] == arr.shape[1] >= 3
                          and np.allclose(arr, arr.T, equal_nan=True) and np.allclose(np.diag(arr), 0.0))
        if hasattr(obj, "matrix") or looks_like_rdm:
            obj = mds(obj, 2, method, random_state=random_state)
    if hasattr(obj, "coords"):
        coords = np.asarray(obj.coords, dtype=np.float64)
        names = list(obj.stimuli) if names is None else names
        expl = np.asarray(obj.explained)
        axes = [f"MDS {k + 1}" + (f" ({100 * expl[k]:.0f} %)" if obj.method == "classical" else "")
                for k in range(2)]
        title = f"MDS ({obj.method}) {obj.layer}".rstrip() + f"; stress-1 {obj.stress:.3g}"
        meta = {"method": obj.method, "stress": float(obj.stress)}
    else:
        coords = np.asarray(obj, dtype=np.float64)
        axes, title, meta = ["MDS 1", "MDS 2"], "MDS", {}
    if coords.ndim != 2 or coords.shape[1] < 2:
        raise ValueError(f"MDS coordinates must have shape (n, 2); got {coords.shape}. Give an RDM (n, n), a "
                         "LayerRDM or rdm_widgets.embedding.mds(...) to compute them.")
    n = coords.shape[0]
    names = [str(i) for i in range(n)] if names is None else [str(s) for s in names]
    if len(names) != n:
        raise ValueError(f"Got {len(names)} names for {n} points; give exactly {n}.")
    return coords[:, :2], names, title, axes, meta


def mds_figure(rdm_or_coords, names=None, images=None, categories=None, *, method: str = "classical",
               selected=None, thumbnails: bool = True, thumbnail_px: int = 64, title: str = "",
               random_state=0, marker_size: int = 9):
    """2-D MDS scatter of the stimuli, names on hover, images where the stimuli have them.

    Parameters
    ----------
    rdm_or_coords : LayerRDM, array (n, n), Embedding or array (n, 2)
        An RDM (embedded with :func:`rdm_widgets.embedding.mds`, ``method``, ``random_state``),
        an :class:`~rdm_widgets.embedding.Embedding` or coordinates.
    names : sequence of str or None
        n stimulus names (default: the RDM's / embedding's, else ``"0".."n-1"``).
    images : folder, dict {name: path} or None
        Stimulus images (see :func:`image_paths`), e.g. ``demo_path('images')``.
    categories : sequence of n labels, dict {name: label} or None
        One colour (and legend entry) per category.
    method : {'classical', 'metric', 'nonmetric'}
        MDS method when an RDM is given.
    selected : str or int or None
        A stimulus (name or index) ringed, with its image large in the top-right corner.
    thumbnails : bool
        Draw each stimulus' image at its point (when ``images`` are given).
    thumbnail_px : int
        Long side of the embedded images in pixels (needs Pillow; else the files are embedded).
    title : str
    random_state : int
        Seed of SMACOF (``'metric'``, ``'nonmetric'``).
    marker_size : int

    Returns
    -------
    plotly.graph_objects.Figure
        One ``go.Scatter`` per category (``name`` = the category; ``'stimuli'`` without categories)
        with ``customdata`` the names and a hover naming each stimulus; equal axis scales;
        ``layout.images`` the thumbnails (``name`` = the stimulus) and the selected image
        (``name`` ``'selected: <name>'``). ``layout.meta``: ``stimuli``, ``coords``, ``with_images``,
        ``selected`` (and ``method``, ``stress`` when computed here).
    """
    go = _plotly("graph_objects")

    coords, names, default_title, axes, meta = _embedding_input(rdm_or_coords, names, method, random_state)
    n = len(names)
    if categories is None:
        labels = ["stimuli"] * n
    elif isinstance(categories, dict):
        labels = [str(categories.get(name, "other")) for name in names]
    else:
        labels = [str(c) for c in categories]
        if len(labels) != n:
            raise ValueError(f"Got {len(labels)} categories for {n} stimuli; give exactly {n}.")
    fig = go.Figure()
    colours = _plotly("colors").qualitative.Plotly
    for k, cat in enumerate(dict.fromkeys(labels)):
        idx = [i for i in range(n) if labels[i] == cat]
        extra = f"<br>{cat}" if categories is not None else ""
        fig.add_trace(go.Scatter(x=coords[idx, 0], y=coords[idx, 1], mode="markers", name=cat,
                                 marker=dict(size=marker_size, color=colours[k % len(colours)],
                                             line=dict(color="white", width=0.5)),
                                 customdata=[names[i] for i in idx],
                                 hovertemplate=f"%{{customdata}}{extra}<extra></extra>"))
    paths = image_paths(images, names)
    span = float(np.ptp(coords, axis=0).max()) or 1.0
    if thumbnails:
        size = 0.07 * span
        for i, name in enumerate(names):
            if name in paths:
                fig.add_layout_image(source=_data_uri(paths[name], thumbnail_px), name=name, x=coords[i, 0],
                                     y=coords[i, 1], xref="x", yref="y", sizex=size, sizey=size,
                                     xanchor="center", yanchor="middle", layer="below", opacity=0.95)
    sel = None
    if selected is not None:
        sel = int(selected) if isinstance(selected, (int, np.integer)) else (names.index(str(selected))
                                                                             if str(selected) in names else None)
        if sel is None or not 0 <= sel < n:
            raise ValueError(f"Invalid value for 'selected': {selected!r}. Allowed: one of the {n} names or "
                             f"an index 0..{n - 1}.")
        fig.add_trace(go.Scatter(x=[coords[sel, 0]], y=[coords[sel, 1]], mode="markers+text", text=[names[sel]],
                                 textposition="top center", name=f"selected: {names[sel]}", showlegend=False,
                                 marker=dict(size=marker_size * 2.4, color="rgba(0,0,0,0)",
                                             line=dict(color="red", width=2)), hoverinfo="skip"))
        if names[sel] in paths:
            fig.add_layout_image(source=_data_uri(paths[names[sel]], 4 * thumbnail_px), name=f"selected: {names[sel]}",
                                 x=1.0, y=1.0, xref="paper", yref="paper", sizex=0.28, sizey=0.28,
                                 xanchor="right", yanchor="top", layer="above")
    fig.update_layout(title=title or default_title, xaxis_title=axes[0], yaxis_title=axes[1],
                      plot_bgcolor="white", hovermode="closest", showlegend=categories is not None,
                      meta={**meta, "stimuli": names, "coords": coords.tolist(), "with_images": sorted(paths),
                            "selected": None if sel is None else names[sel]})
    # equal scales: MDS distances mean the same along both axes
    fig.update_yaxes(scaleanchor="x", scaleratio=1, zeroline=False, gridcolor="#eee")
    fig.update_xaxes(zeroline=False, gridcolor="#eee")
    return fig


def dendrogram_figure(rdm, names=None, method: str = "average", optimal=None, title: str = "",
                      color_threshold=None):
    """Dendrogram of an RDM's hierarchical clustering (the order of :func:`~rdm_widgets.ordering.order_by_clustering`).

    Parameters
    ----------
    rdm : LayerRDM or array-like, shape (N, N), N >= 2
    names : sequence of str or None
        N leaf labels (default: the LayerRDM's stimuli, else ``"0".."N-1"``).
    method : {'average', 'complete', 'single', 'weighted'}
        Linkage method.
    optimal : bool or None
        Optimal leaf ordering (None: up to ``ordering.MAX_OPTIMAL_LEAF_ORDERING`` stimuli).
    title : str
    color_threshold : float or None
        scipy's colouring threshold (default ``0.7 * max merge height``).

    Returns
    -------
    plotly.graph_objects.Figure
        The links of :func:`scipy.cluster.hierarchy.dendrogram` (``no_plot=True``) as line traces,
        one per link colour; leaves at x = 5, 15, 25, ... labelled with the names in leaf order.
        ``layout.meta``: ``leaves`` (indices in leaf order, equal to ``order_by_clustering``),
        ``labels`` (names in leaf order), ``method``.
    """
    from scipy.cluster.hierarchy import dendrogram

    from ..ordering import clustering_linkage

    go = _plotly("graph_objects")

    m = np.asarray(getattr(rdm, "matrix", rdm), dtype=np.float64)
    n = m.shape[0] if m.ndim == 2 else 0
    if names is None:
        names = getattr(rdm, "stimuli", None) or [str(i) for i in range(n)]
    names = [str(s) for s in names]
    if len(names) != n:
        raise ValueError(f"Got {len(names)} names for an RDM of shape {m.shape}; give exactly {n}.")
    z = clustering_linkage(m, method, optimal)
    dn = dendrogram(z, no_plot=True, color_threshold=color_threshold)
    fig = go.Figure()
    by_colour: dict = {}
    for xs, ys, colour in zip(dn["icoord"], dn["dcoord"], dn["color_list"]):
        by_colour.setdefault(colour, ([], []))
        by_colour[colour][0].extend(list(xs) + [None])
        by_colour[colour][1].extend(list(ys) + [None])
    palette = _plotly("colors").qualitative.Plotly
    for k, (colour, (xs, ys)) in enumerate(by_colour.items()):
        line = "#555" if colour in ("C0", "b") and len(by_colour) > 1 else palette[k % len(palette)]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=line, width=1.5), name=str(colour),
                                 showlegend=False, hovertemplate="merge at %{y:.4g}<extra></extra>"))
    # the y range starts just below the lowest merge: correlation-distance RDMs merge far above 0
    # (e.g. 0.18..0.22), which a range from 0 would squash into a thin strip at the top
    heights = z[:, 2]
    pad = 0.15 * max(float(heights.max() - heights.min()), 1e-12)
    y_range = [max(0.0, float(heights.min()) - pad), float(heights.max()) + 0.05 * pad]
    leaves = [int(i) for i in dn["leaves"]]
    labels = [names[i] for i in leaves]
    ticks = [5 + 10 * i for i in range(n)]
    show = ticks if n <= 80 else ticks[:: -(-n // 80)]
    fig.update_layout(title=title or f"Hierarchical clustering ({method} linkage)"
                      + (f" · {getattr(rdm, 'layer', '')}" if getattr(rdm, "layer", "") else ""),
                      xaxis=dict(tickmode="array", tickvals=show, ticktext=[labels[t // 10] for t in show],
                                 tickangle=-90, range=[0, 10 * n], showgrid=False, zeroline=False),
                      yaxis=dict(title="merge dissimilarity", gridcolor="#eee", zeroline=False, range=y_range),
                      plot_bgcolor="white", hovermode="closest",
                      meta={"leaves": leaves, "labels": labels, "method": method})
    return fig
