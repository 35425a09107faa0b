"""Display helpers of the panels: CSS classes, figures and text in Outputs, status lines, error text."""
from __future__ import annotations

import html

import ipywidgets as widgets

__all__ = ["refresh_choices", "css", "show_figure", "figure_output", "show_text", "status_html", "error_message"]

_COLOURS = {"info": "#333", "ok": "#1a7f37", "warn": "#9a6700", "error": "#cf222e", "muted": "#57606a"}


def css(widget, cls: str):
    """Add CSS class ``cls`` (browser tests select elements by it) and return the widget."""
    widget.add_class(cls)
    return widget


def figure_output(fig, *, image_format: str = "png", filename: str | None = None) -> dict:
    """The ``display_data`` output of a plotly figure, with the modebar saving ``image_format``.

    ``filename`` (without suffix) defaults to the figure's title made file-name safe.
    """
    import re

    from ..plotting import figure_config, figure_mime_bundle

    if filename is None:
        filename = re.sub(r"[^A-Za-z0-9._-]+", "_", str(fig.layout.title.text or "figure")).strip("_")[:80]
    config = figure_config(image_format, filename=filename or "figure")
    return {"output_type": "display_data", "data": figure_mime_bundle(fig, config=config), "metadata": {}}


def show_figure(out: widgets.Output, fig, *, image_format: str = "png", filename: str | None = None) -> None:
    """Show a plotly figure in ``out``; safe from background threads and in Voila.

    ``with out: fig.show()`` captures nothing from a thread, and plotly's
    FigureWidget does not follow updates in Voila, so the figure's mime bundle
    is written into the Output's state directly.

    Parameters
    ----------
    out : ipywidgets.Output
    fig : plotly Figure
    image_format : {'png', 'svg', 'jpeg', 'webp'}
        What the modebar's camera button ("Download plot") saves.
    filename : str or None
        Its file name without suffix (default: from the figure's title).
    """
    out.outputs = (figure_output(fig, image_format=image_format, filename=filename),)


def show_text(out: widgets.Output, text: str) -> None:
    """Replace the content of ``out`` by plain text (e.g. "nothing to show yet")."""
    out.outputs = ({"output_type": "display_data", "data": {"text/plain": text,
                                                            "text/html": f"<i>{html.escape(text)}</i>"},
                    "metadata": {}},)


def status_html(text: str, kind: str = "info") -> str:
    """HTML of a one-line status message (escaped; colour by kind: info, ok, warn, error, muted)."""
    return f'<span style="color:{_COLOURS.get(kind, _COLOURS["info"])}">{html.escape(text)}</span>'


def error_message(exc: BaseException) -> str:
    """Readable one-line message of an exception (no traceback)."""
    msg = str(exc).strip()
    if isinstance(exc, KeyError) and msg.startswith(("'", '"')):
        msg = msg[1:-1]
    if not msg:
        msg = type(exc).__name__
    elif not isinstance(exc, (ValueError, TypeError, FileNotFoundError, FileExistsError, KeyError)):
        msg = f"{type(exc).__name__}: {msg}"
    return msg


def refresh_choices(dropdown, choices, current, keep_uploads: bool = True):
    """Offer ``[(label, value)]`` in ``dropdown``; return the value to choose next.

    Entries uploaded on this page (labels ``uploads/...``) stay listed when ``keep_uploads``;
    ``current`` stays chosen when it is still listed, else the first entry (None when empty).
    """
    kept = [o for o in dropdown.options if keep_uploads and o[0].startswith("uploads/")]
    options = list(choices) + [o for o in kept if o not in choices]
    dropdown.options = options
    values = [v for _, v in options]
    return current if current in values else (values[0] if values else None)
