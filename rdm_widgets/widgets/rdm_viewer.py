"""RDM viewer: Plotly heatmap, MDS map or dendrogram of a layer's RDM, with layer, subset, ordering, colour
scale and rank-transform controls."""
from __future__ import annotations

import base64
import html
from pathlib import Path

import ipywidgets as widgets
import numpy as np
from traitlets import Bool, Dict, Int, Unicode, observe

from ._display import css, error_message, show_figure, show_text, status_html

__all__ = ["RDMViewer", "parse_selection", "colorbar_title", "off_diagonal_range", "DISTANCE_LABELS", "VIEWS"]

#: what the viewer can show of the selected RDM -> the most stimuli it is drawn for (MDS needs an
#: n x n eigen-decomposition or SMACOF iterations, a dendrogram of thousands of leaves is unreadable)
VIEWS = {"heatmap": None, "MDS": 2000, "dendrogram": 1000}
MDS_CHOICES = ("classical", "metric")

COLORSCALES = ("Viridis", "Cividis", "Magma", "Inferno", "Plasma", "Greys", "RdBu_r", "Blues")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp")
_MIME = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif",
         ".webp": "image/webp"}


def parse_selection(text: str, stimuli: list[str]) -> list[int] | None:
    """Parse a subset typed by the user into (0-based) stimulus indices.

    Accepts stimulus names (``"image_01, image_05"``) and **1-based** positions as shown to the
    user (position 1 is the first stimulus, so ``"1-10"`` is ``image_01 .. image_10``):
    comma/space separated positions and inclusive ranges (``"1-10, 20, 30:40"``; ``a:b`` is
    inclusive too). Negative positions count from the end (``-1`` is the last). An empty
    string means all stimuli (None).

    Raises
    ------
    ValueError
        Unknown name (with a suggestion), position 0 or out of range.
    """
    import difflib
    import re

    text = (text or "").strip()
    if not text:
        return None
    n = len(stimuli)
    lookup = {}
    for i, s in enumerate(stimuli):
        lookup.setdefault(s, i)
    out: list[int] = []
    for token in [t for t in re.split(r"[,\s]+", text) if t]:
        m = re.fullmatch(r"(\d+)\s*([-:])\s*(\d+)", token)
        if token in lookup:
            out.append(lookup[token])
        elif m:
            a, b = int(m.group(1)), int(m.group(3))
            if a < 1 or b > n or a > b:
                raise ValueError(f"Range {token!r} is not inside 1..{n} (positions start at 1).")
            out.extend(range(a - 1, b))
        elif token.lstrip("-").isdigit():
            i = int(token)
            if i == 0 or not -n <= i <= n:
                raise ValueError(f"Stimulus position {i} is out of range for {n} stimuli (1..{n}).")
            out.append(i - 1 if i > 0 else n + i)
        else:
            close = difflib.get_close_matches(token, stimuli, n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ValueError(f"Unknown stimulus {token!r}.{hint}")
    out = list(dict.fromkeys(out))  # keep the first occurrence of repeated stimuli
    if len(out) < 2:
        raise ValueError("Select at least 2 stimuli to show an RDM.")
    return out


#: colour bar titles of the core's distances (what the values are); others show their name
DISTANCE_LABELS = {
    "correlation": "1 − Pearson r", "pearson": "1 − Pearson r", "cosine": "1 − cosine similarity",
    "spearman": "1 − Spearman ρ", "euclidean": "Euclidean distance", "l2": "Euclidean distance",
    "sqeuclidean": "squared Euclidean distance", "manhattan": "Manhattan (L1) distance",
    "cityblock": "Manhattan (L1) distance", "l1": "Manhattan (L1) distance",
    "chebyshev": "Chebyshev distance", "mahalanobis": "Mahalanobis distance",
}
#: tick labels are drawn (with a smaller font) up to this many stimuli; above, an axis title
MAX_TICK_LABELS = 150


def colorbar_title(meta: dict) -> str:
    """What the colours mean: ``"1 − Pearson r"``, or ``"rank of 1 − Pearson r"`` after the rank transform."""
    distance = str(meta.get("distance") or "dissimilarity")
    label = DISTANCE_LABELS.get(distance.lower(), distance)
    return f"rank of {label}" if meta.get("rank_transformed") else label


def off_diagonal_range(matrix, block: int = 1024) -> tuple[float, float] | None:
    """``(min, max)`` of the off-diagonal values (the zero diagonal must not set the colour range).

    Row blocks keep the memory at ``block`` rows; NaNs are ignored; None for fewer than 2 rows.
    """
    m = np.asarray(matrix)
    n = m.shape[0]
    if n < 2:
        return None
    lo, hi = np.inf, -np.inf
    for s in range(0, n, block):
        rows = np.array(m[s:s + block], dtype=np.float64)
        rows[np.arange(rows.shape[0]), np.arange(s, s + rows.shape[0])] = np.nan
        if np.isnan(rows).all():
            continue
        lo, hi = min(lo, float(np.nanmin(rows))), max(hi, float(np.nanmax(rows)))
    if not np.isfinite(lo) or not np.isfinite(hi):
        return None
    return (lo, hi) if hi > lo else (lo, lo + 1e-12)


def _image_index(folder) -> dict[str, Path]:
    if folder is None or not Path(folder).is_dir():
        return {}
    return {p.stem: p for p in sorted(Path(folder).iterdir()) if p.suffix.lower() in _IMAGE_SUFFIXES}


class RDMViewer(widgets.VBox):
    """Interactive heatmap of one layer's RDM.

    Parameters
    ----------
    rdms : dict or None
        ``{layer: LayerRDM}`` (e.g. the creation panel's ``rdms``).
    image_folder : str or Path or None
        Folder of images named like the stimuli (``image_01.jpg`` for stimulus
        ``image_01``); thumbnails of the shown stimuli appear under the heatmap.
    max_display : int
        Most rows/columns drawn; larger RDMs are shown as block means (and the
        note says so).
    labels : dict or None
        Category label per stimulus name, used by the 'category' ordering.
    max_thumbnails : int
        Most thumbnails shown.

    Attributes
    ----------
    rdms : dict
        ``{layer: LayerRDM}`` shown.
    layer : str or None
        The layer shown.
    subset : str
        The stimuli shown, as typed: names or 1-based positions (e.g. ``"1-10, 15"``; ``""``:
        all), read by :func:`parse_selection`.
    order : {'original', 'category', 'cluster'}
        Stimulus ordering (:data:`rdm_widgets.ordering.ORDERINGS`).
    colorscale : str
        Plotly colour scale of the heatmap.
    rank : bool
        Show the ranks of the dissimilarities instead of their values.
    labels : dict
        ``{stimulus: category label}`` used by the ``'category'`` ordering.
    note : str
        The downsampling note (``""`` when every cell is drawn).
    max_display : int
        Most rows/columns drawn (the ``max_display`` parameter).
    view : {'heatmap', 'MDS', 'dendrogram'}
        What is drawn.
    mds_method : {'classical', 'metric'}
        The MDS of the ``'MDS'`` view.
    selected : str
        The stimulus whose image the MDS view shows large (``""``: none).
    """

    rdms = Dict()
    layer = Unicode(None, allow_none=True)
    subset = Unicode("")
    order = Unicode("original")
    colorscale = Unicode("Viridis")
    rank = Bool(False)
    labels = Dict()
    note = Unicode("")
    max_display = Int(1000)
    view = Unicode("heatmap")
    mds_method = Unicode("classical")
    selected = Unicode("")

    def __init__(self, rdms=None, image_folder=None, max_display: int = 1000, labels=None,
                 max_thumbnails: int = 24, **kwargs):
        from ..ordering import ORDERINGS

        self._suspend = False
        self._images = _image_index(image_folder)
        self._thumb_cache: dict[str, str] = {}
        self._view_cache: dict = {}
        self.max_thumbnails = int(max_thumbnails)
        self.layer_dropdown = css(widgets.Dropdown(options=[], description="Layer"), "rdmw-layer")
        self.subset_text = css(widgets.Text(value="", description="Stimuli", continuous_update=False,
                                            placeholder="all · e.g. 1-10, 20 (positions from 1) or image_01 image_05"),
                               "rdmw-subset")
        self.order_dropdown = css(widgets.Dropdown(options=list(ORDERINGS), value="original",
                                                   description="Order"), "rdmw-order")
        self.colorscale_dropdown = css(widgets.Dropdown(options=COLORSCALES, value="Viridis",
                                                        description="Colours"), "rdmw-colorscale")
        self.rank_checkbox = css(widgets.Checkbox(value=False, description="Rank-transform", indent=False),
                                 "rdmw-rank")
        self.view_buttons = css(widgets.ToggleButtons(options=list(VIEWS), value="heatmap",
                                                      style={"button_width": "90px"}), "rdmw-view")
        self.mds_dropdown = css(widgets.Dropdown(options=MDS_CHOICES, value="classical", description="MDS",
                                                 layout=widgets.Layout(display="none")), "rdmw-mds-method")
        self.selected_dropdown = css(widgets.Dropdown(options=[("none", "")], value="", description="Image of",
                                                      layout=widgets.Layout(display="none")), "rdmw-selected")
        self.note_html = css(widgets.HTML(""), "rdmw-note")
        self.heatmap = css(widgets.Output(layout=widgets.Layout(min_height="420px")), "rdmw-heatmap")
        self.thumbnails = css(widgets.HTML(""), "rdmw-thumbnails")

        widgets.link((self, "layer"), (self.layer_dropdown, "value"))
        widgets.link((self, "subset"), (self.subset_text, "value"))
        widgets.link((self, "order"), (self.order_dropdown, "value"))
        widgets.link((self, "colorscale"), (self.colorscale_dropdown, "value"))
        widgets.link((self, "rank"), (self.rank_checkbox, "value"))
        widgets.link((self, "view"), (self.view_buttons, "value"))
        widgets.link((self, "mds_method"), (self.mds_dropdown, "value"))
        widgets.link((self, "selected"), (self.selected_dropdown, "value"))
        widgets.dlink((self, "note"), (self.note_html, "value"))

        super().__init__([
            widgets.HBox([self.layer_dropdown, self.order_dropdown, self.colorscale_dropdown,
                          self.rank_checkbox]),
            widgets.HBox([self.view_buttons, self.mds_dropdown, self.selected_dropdown]),
            self.subset_text, self.note_html, self.heatmap, self.thumbnails,
        ], **kwargs)
        self.add_class("rdmw-rdm-viewer")
        self.max_display = int(max_display)
        self.labels = dict(labels or {})
        show_text(self.heatmap, "No RDMs yet: run the creation panel.")
        if rdms:
            self.rdms = dict(rdms)

    # ------------------------------------------------------------------ state
    @observe("rdms")
    def _on_rdms(self, change):
        self._view_cache.clear()
        layers = list(self.rdms)
        keep = self.layer if self.layer in layers else (layers[-1] if layers else None)
        # set options and layer without drawing in between; draw once below
        self._suspend = True
        try:
            self.layer_dropdown.options = layers
            self.layer = keep
        finally:
            self._suspend = False
        self.redraw()

    @observe("layer", "subset", "order", "colorscale", "rank", "labels", "max_display", "view", "mds_method",
             "selected")
    def _on_view_change(self, change):
        if self._suspend:
            return
        self.redraw()

    @observe("view")
    def _on_view(self, change):
        mds = change["new"] == "MDS"
        self.mds_dropdown.layout.display = None if mds else "none"
        self.selected_dropdown.layout.display = None if mds and self._images else "none"
        self.colorscale_dropdown.disabled = change["new"] != "heatmap"

    def current_rdm(self):
        """The LayerRDM as displayed (subset, order and rank transform applied), or None.

        Results are cached per (layer, subset, order, rank), so that changing only
        the colour scale of a 5 000-stimulus RDM does not recluster or rerank it.
        """
        from ..ordering import stimulus_order
        from ..rdm import LayerRDM

        if not self.rdms or self.layer not in self.rdms:
            return None
        rdm = self.rdms[self.layer]
        labels_key = tuple(sorted(self.labels.items())) if self.order == "category" else None
        key = (id(rdm), self.layer, self.subset, self.order, self.rank, labels_key)
        if key in self._view_cache:
            return self._view_cache[key]
        if not isinstance(rdm, LayerRDM):
            rdm = LayerRDM(np.asarray(rdm), layer=self.layer)
        idx = parse_selection(self.subset, rdm.stimuli)
        if idx is not None:
            rdm = rdm.subset(idx)
        if self.order != "original":
            rdm = rdm.subset(stimulus_order(rdm, self.order, labels=self.labels or None))
        if self.rank:
            rdm = rdm.rank_transform()
        while len(self._view_cache) >= 4:  # a few views; each can be a 5 000 x 5 000 matrix
            self._view_cache.pop(next(iter(self._view_cache)))
        self._view_cache[key] = rdm
        return rdm

    def title(self, rdm) -> str:
        """``"<layer> · <distance>"`` (plus ``" · ranks"`` when rank-transformed)."""
        distance = rdm.meta.get("distance") or "dissimilarity"
        return f"{self.layer} · {distance}" + (" · ranks" if self.rank else "")

    def redraw(self):
        """Draw the current view (called on every state change)."""
        from ..plotting import rdm_heatmap

        try:
            rdm = self.current_rdm()
        except (ValueError, TypeError, IndexError) as exc:
            self.note = status_html(f"Error: {error_message(exc)}", "error")
            return
        if rdm is None:
            self.note = ""
            show_text(self.heatmap, "No RDMs yet: run the creation panel.")
            self.thumbnails.value = ""
            return
        if self.view != "heatmap":
            self._draw_map(rdm)
            return
        zrange = off_diagonal_range(rdm.matrix) or (None, None)
        fig = rdm_heatmap(rdm, title=self.title(rdm), colorscale=self.colorscale, max_display=self.max_display,
                          zmin=zrange[0], zmax=zrange[1])
        fig.data[0].colorbar.title = colorbar_title(rdm.meta)
        # the figure builder decides the block size; the note only reports it
        k, n = int(fig.layout.meta["block_size"]), int(fig.layout.meta["n_stimuli"])
        self.note = (status_html(f"Showing block means of {k}×{k} stimuli (N = {n}); hover shows each "
                                 "block's stimulus range. Select a subset to see single stimuli.", "warn")
                     if k > 1 else "")
        # float32 halves what goes to the browser (a 1000 x 1000 view is ~5 MB instead of ~11 MB)
        fig.data[0].z = np.asarray(fig.data[0].z, dtype=np.float32)
        # an explicit width too: with height alone Plotly re-measures a figure whose tab is shown
        # again (or the window resized) and collapses it to 0 px
        fig.update_layout(height=560, width=620, margin=dict(l=40, r=20, t=60, b=40))
        self._axis_labels(fig, n if k == 1 else len(fig.data[0].x))
        show_figure(self.heatmap, fig)
        self._draw_thumbnails(rdm.stimuli)

    def embedding(self, rdm):
        """The MDS of the displayed RDM (:func:`rdm_widgets.embedding.mds`, seeded; the last one is kept)."""
        from ..embedding import mds

        # one slot holding the RDM object itself (an id() could be reused once the view cache drops it)
        cached = getattr(self, "_mds", None)
        if cached is None or cached[0] is not rdm or cached[1] != self.mds_method:
            self._mds = cached = (rdm, self.mds_method, mds(rdm, 2, self.mds_method, random_state=0))
        return cached[2]

    def _draw_map(self, rdm):
        """The MDS or dendrogram view (computed by the core, drawn by the plotting module)."""
        from ..plotting import dendrogram_figure, mds_figure

        limit = VIEWS[self.view]
        if rdm.n_stimuli > limit:
            self.note = status_html(f"The {self.view} view is drawn for up to {limit} stimuli; this RDM has "
                                    f"{rdm.n_stimuli}. Select a subset (e.g. 1-{limit}).", "warn")
            show_text(self.heatmap, f"Select at most {limit} stimuli for the {self.view} view.")
            return
        names = list(rdm.stimuli)
        options = [("none", "")] + [(n, n) for n in names if n in self._images]
        if list(self.selected_dropdown.options) != options:
            self._suspend = True
            try:
                self.selected_dropdown.options = options
                if self.selected not in dict(options).values():
                    self.selected = ""
            finally:
                self._suspend = False
        try:
            if self.view == "MDS":
                emb = self.embedding(rdm)
                fig = mds_figure(emb, images={n: self._images[n] for n in names if n in self._images},
                                 selected=self.selected or None, title=f"{self.title(rdm)} · MDS ({emb.method}); "
                                                                        f"stress-1 {emb.stress:.3g}")
            else:
                fig = dendrogram_figure(rdm, title=f"{self.title(rdm)} · average-linkage clustering")
        except (ValueError, TypeError) as exc:
            self.note = status_html(f"Error: {error_message(exc)}", "error")
            return
        self.note = ""
        fig.update_layout(height=560, width=620, margin=dict(l=50, r=20, t=60, b=80))
        show_figure(self.heatmap, fig)
        self._draw_thumbnails(names)

    @staticmethod
    def _axis_labels(fig, shown: int):
        """Tick labels up to :data:`MAX_TICK_LABELS` rows (smaller font above 60), else axis titles."""
        if shown <= MAX_TICK_LABELS:
            size = 10 if shown <= 60 else max(5, int(480 / shown))
            fig.update_xaxes(showticklabels=True, tickfont=dict(size=size), tickangle=-90)
            fig.update_yaxes(showticklabels=True, tickfont=dict(size=size))
            fig.update_layout(margin=dict(l=40 + 5 * size, b=40 + 5 * size))
        else:
            fig.update_xaxes(showticklabels=False, title=f"{shown} stimuli (hover for names)")
            fig.update_yaxes(showticklabels=False, title="stimuli")

    def _draw_thumbnails(self, names):
        shown = [(name, self._images[name]) for name in names if name in self._images][: self.max_thumbnails]
        if not shown:
            self.thumbnails.value = ""
            return
        cells = []
        for name, path in shown:
            if name not in self._thumb_cache:
                try:
                    self._thumb_cache[name] = base64.b64encode(path.read_bytes()).decode("ascii")
                except OSError:
                    continue
            data = self._thumb_cache[name]
            src = f"data:{_MIME.get(path.suffix.lower(), 'image/jpeg')};base64,{data}"
            cells.append(f'<figure style="margin:2px;display:inline-block;text-align:center">'
                         f'<img src="{src}" title="{html.escape(name)}" alt="{html.escape(name)}" '
                         f'style="width:56px;height:56px;object-fit:cover"/>'
                         f'<figcaption style="font-size:9px">{html.escape(name)}</figcaption></figure>')
        extra = sum(1 for name in names if name in self._images) - len(shown)
        more = f"<div style='font-size:11px'>… and {extra} more</div>" if extra > 0 else ""
        self.thumbnails.value = f"<div style='display:flex;flex-wrap:wrap'>{''.join(cells)}</div>{more}"
