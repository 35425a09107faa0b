"""A download button that works in Voila: the bytes travel in a synced trait, the browser saves them.

A visitor of a served dashboard has no access to the server's files, and Voila's ``/files`` route
serves only images by default. This anywidget keeps the payload in a ``Bytes`` trait; on click the
browser wraps it in a ``Blob`` and clicks a temporary ``<a download>`` (30 MB in ~0.1 s, see
``shared/NOTES-jupyter.md``). A few lines of JavaScript, no server route, no data: URL.
"""
from __future__ import annotations

from pathlib import PurePath

import anywidget
import traitlets

__all__ = ["DownloadButton", "MIME_TYPES"]

#: file suffix -> MIME type of the Blob (others: application/octet-stream)
MIME_TYPES = {".csv": "text/csv", ".zip": "application/zip", ".npz": "application/octet-stream",
              ".npy": "application/octet-stream", ".json": "application/json", ".svg": "image/svg+xml",
              ".png": "image/png", ".txt": "text/plain", ".h5": "application/x-hdf5"}

_ESM = r"""
function sizeText(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1048576) return `${(n / 1024).toFixed(1)} kB`;
  return `${(n / 1048576).toFixed(1)} MB`;
}
function render({ model, el }) {
  el.classList.add("rdmw-download");
  const btn = document.createElement("button");
  btn.className = "rdmw-download-button jupyter-button widget-button";
  btn.style.width = "auto";
  function bytes() {
    const d = model.get("data");
    return d ? d.byteLength || 0 : 0;
  }
  function refresh() {
    const n = bytes();
    btn.textContent = model.get("label");
    btn.disabled = model.get("disabled") || n === 0;
    btn.title = n ? `${model.get("filename")} (${sizeText(n)})` : "Nothing to download yet";
  }
  btn.addEventListener("click", () => {
    if (!bytes()) return;
    const blob = new Blob([model.get("data")], { type: model.get("mime") || "application/octet-stream" });
    const url = URL.createObjectURL(blob);
    const a = document.createElement("a");
    a.href = url;
    a.download = model.get("filename") || "download";
    a.style.display = "none";
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 30000);
    model.set("clicks", (model.get("clicks") || 0) + 1);
    model.save_changes();
  });
  for (const name of ["data", "label", "filename", "disabled"]) model.on(`change:${name}`, refresh);
  el.appendChild(btn);
  refresh();
}
export default { render };
"""


class DownloadButton(anywidget.AnyWidget):
    """A button that saves ``data`` as ``filename`` in the visitor's browser.

    Parameters
    ----------
    label : str
        Button text, e.g. ``"Download table (.csv)"``.
    filename, data, mime
        Initial payload (see :meth:`set_payload`); the button is disabled while ``data`` is empty.

    Attributes
    ----------
    filename : str
        The name the browser saves the file under. Synced with the browser.
    data : bytes
        The payload. Synced with the browser.
    label : str
        Button text. Synced with the browser.
    mime : str
        Blob type (default from the file suffix, ``MIME_TYPES``). Synced with the browser.
    disabled : bool
        True while there is nothing to download. Synced with the browser.
    clicks : int
        Incremented by the browser on each download (for tests and logs). Synced with the
        browser.
    """

    _esm = _ESM
    filename = traitlets.Unicode("download").tag(sync=True)
    data = traitlets.Bytes(b"").tag(sync=True)
    label = traitlets.Unicode("Download").tag(sync=True)
    mime = traitlets.Unicode("application/octet-stream").tag(sync=True)
    disabled = traitlets.Bool(False).tag(sync=True)
    clicks = traitlets.Int(0).tag(sync=True)

    def __init__(self, label: str = "Download", filename: str = "download", data: bytes = b"",
                 mime: str | None = None, **kwargs):
        super().__init__(label=label, **kwargs)
        self.add_class("rdmw-download")
        if data:
            self.set_payload(filename, data, mime)
        else:
            self.filename = filename

    def set_payload(self, filename: str, data, mime: str | None = None) -> None:
        """Offer ``data`` (bytes, or str encoded as UTF-8) for download as ``filename``.

        Parameters
        ----------
        filename : str
            A plain file name (folders are dropped: the browser decides where it goes).
        data : bytes, bytearray, memoryview or str
        mime : str or None
            Default from the suffix of ``filename`` (:data:`MIME_TYPES`).
        """
        if isinstance(data, str):
            data = data.encode("utf-8")
        elif not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"Download data must be bytes or str; got {type(data).__name__}.")
        name = PurePath(str(filename)).name or "download"
        with self.hold_sync():
            self.filename = name
            self.mime = mime or MIME_TYPES.get(PurePath(name).suffix.lower(), "application/octet-stream")
            self.data = bytes(data)

    def clear(self) -> None:
        """Nothing to download (the button is disabled)."""
        self.data = b""

    @property
    def size(self) -> int:
        """Bytes offered."""
        return len(self.data)
