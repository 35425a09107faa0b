"""Data in and out at the page's edge: uploads into a per-page temporary folder, download buttons.

A visitor of a served dashboard (Binder, a lab server) has no other way to bring data in. Each
page (kernel) gets one folder under the server's temp dir (:class:`UploadArea`), removed when
the kernel ends. An upload is stored there (a ``.zip`` is extracted safely: no absolute names,
no ``..``, no links, sizes checked before anything is written), validated with the same readers
as the Python API (:data:`VALIDATORS`), and handed to the panel that uses it. The size limit is
shown beside the button: a message larger than Voila's websocket limit is dropped silently by the
server, so the limit must be visible (``notebooks/voila.json`` raises Voila's limit above it).
"""
from __future__ import annotations

import atexit
import re
import shutil
import stat
import tempfile
import weakref
import zipfile
from io import BytesIO
from pathlib import Path

import ipywidgets as widgets
import numpy as np
from traitlets import Unicode, observe

from ..data_root import relative_text
from ._display import css, error_message, status_html

__all__ = ["UploadArea", "UploadButton", "MAX_UPLOAD_MB", "SUFFIXES", "VALIDATORS", "safe_name",
           "extract_zip", "store_upload", "download_button", "rdms_csv_zip", "MAX_DOWNLOAD_MB"]

#: results larger than this are not offered as a download (the bytes travel to the browser)
MAX_DOWNLOAD_MB = 300
#: the limit per file shown in the UI (Voila's websocket limit is raised to 200 MiB in voila.json)
MAX_UPLOAD_MB = 100
#: most bytes a .zip may hold once extracted, and most members (zip bombs are refused before writing)
MAX_UNZIPPED_BYTES = 2 * 1024 ** 3
MAX_ZIP_MEMBERS = 100_000

#: accepted file types per upload kind
SUFFIXES = {
    "features": (".zip", ".npz", ".h5", ".hdf5"),
    "epochs": (".npz", ".fif"),
    "rdm": (".npz", ".npy", ".csv", ".tsv", ".mat", ".h5", ".hdf5"),
}
_HINTS = {
    "features": ".zip of per-stimulus .npz files, a per-layer .npz, or an .h5",
    "epochs": ".npz (trials × channels × times + labels) or MNE -epo.fif",
    "rdm": "one RDM or a stack of subject RDMs: .npz, .npy, .csv, .mat, rsatoolbox .hdf5",
}


def _check_features(path: Path) -> str:
    import warnings

    from ..features import open_features

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        src = open_features(path)
    return f"{src.n_stimuli} stimuli, {len(src.layers)} layers"


def _check_epochs(path: Path) -> str:
    from ..eeg import read_epochs

    ep = read_epochs(path)
    return "{} trials × {} channels × {} times".format(*ep.eeg.shape)


def _check_rdm(path: Path) -> str:
    from ..rdm_files import read_rdm_file

    rdms = read_rdm_file(path)
    return f"{rdms.n_subjects} RDM{'s' if rdms.is_stack else ''} of {rdms.n_stimuli} stimuli"


#: kind -> ``validate(path) -> details``; raises the Python API's error for a bad file
VALIDATORS = {"features": _check_features, "epochs": _check_epochs, "rdm": _check_rdm}
#: what each kind is called in messages, and the button that takes it (named when a file given
#: to one button is valid as another kind: the commonest upload mistake seen in the browser)
_WHAT = {"features": "features", "epochs": "epochs", "rdm": "RDMs"}
_WHERE = {"features": "'Upload features' (tab DNN RDMs)", "epochs": "'Upload epochs' (tab EEG)",
          "rdm": "'Upload RDMs' (tab Model vs brain)"}


def _other_kind_hint(kind: str, file: Path) -> str:
    """``" It looks like <kind> (<details>): use <button>."`` when ``file`` is valid as another
    upload kind (most specific first: epochs, RDMs, features), else ``""``."""
    for other in ("epochs", "rdm", "features"):
        if other == kind or not file.is_file() or file.suffix.lower() not in SUFFIXES[other]:
            continue
        try:
            details = VALIDATORS[other](file)
        except Exception:  # noqa: BLE001 - not that kind either
            continue
        return f" It looks like {_WHAT[other]} ({details}): use {_WHERE[other]}."
    return ""


class UploadArea:
    """The page's upload folder (``tempfile.mkdtemp(prefix='rdmw_upload_')``), removed with the kernel.

    Removal: when the object is collected and at interpreter exit (``weakref.finalize``, which
    also registers with ``atexit``), or by :meth:`cleanup`.
    """

    def __init__(self, prefix: str = "rdmw_upload_"):
        self.root = Path(tempfile.mkdtemp(prefix=prefix)).resolve()
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.root), True)
        atexit.register(self._finalizer)            # idempotent: a finalizer runs once

    def folder(self, kind: str) -> Path:
        """The sub-folder for one kind of upload (created)."""
        path = self.root / kind
        path.mkdir(exist_ok=True)
        return path

    def cleanup(self) -> None:
        """Remove the folder now."""
        self._finalizer()

    @property
    def labels(self) -> dict:
        """``{folder: name shown}`` for :func:`rdm_widgets.data_root.relative_text`."""
        return {self.root: "uploads"}


def safe_name(name: str) -> str:
    """A plain file name from a browser-supplied one: no folders, no leading dots, safe characters."""
    base = re.split(r"[\\/]", str(name))[-1]
    base = re.sub(r"[^A-Za-z0-9._+-]", "_", base).lstrip(".")
    return base[:120] or "upload"


def _unique(path: Path) -> Path:
    out, i = path, 1
    while out.exists():
        i += 1
        out = path.with_name(f"{path.stem}_{i}{path.suffix}")
    return out


def extract_zip(data: bytes, dest: Path, max_bytes: int = MAX_UNZIPPED_BYTES,
                max_members: int = MAX_ZIP_MEMBERS) -> Path:
    """Extract a zip archive into the new folder ``dest``, safely; returns the data folder.

    Every member is checked before anything is written: no absolute names, no ``..``, no
    symbolic links, at most ``max_members`` members and ``max_bytes`` uncompressed bytes
    (the sizes the archive declares; while writing, a member that yields more than it declared
    is refused too). ``__MACOSX`` and hidden files are left out. When everything is inside one
    top-level folder, that folder is returned.

    Raises
    ------
    ValueError
        Not a zip file, or a member breaks a rule above (the folder is then removed).
    """
    try:
        zf = zipfile.ZipFile(BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ValueError(f"Not a readable .zip file ({exc}).") from None
    members = []
    with zf:
        infos = zf.infolist()
        if len(infos) > max_members:
            raise ValueError(f"The .zip holds {len(infos)} entries; at most {max_members} are accepted.")
        total = 0
        for info in infos:
            name = info.filename.replace("\\", "/")
            parts = [p for p in name.split("/") if p not in ("", ".")]
            if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts:
                raise ValueError(f"The .zip member {name!r} has an absolute path or '..'; refused.")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise ValueError(f"The .zip member {name!r} is a symbolic link; refused.")
            if info.is_dir() or not parts or parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts):
                continue
            total += info.file_size
            if total > max_bytes:
                raise ValueError(f"The .zip would extract to more than {max_bytes / 1024 ** 2:.0f} MB; refused.")
            members.append((info, parts))
        dest.mkdir(parents=True)
        try:
            for info, parts in members:
                target = dest.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                written = 0
                with zf.open(info) as src, open(target, "wb") as out:
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        if written > info.file_size:
                            raise ValueError(f"The .zip member {info.filename!r} is larger than it declares.")
                        out.write(chunk)
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise
    children = [p for p in dest.iterdir()]
    if len(children) == 1 and children[0].is_dir():
        return children[0]
    return dest


def _check_npz_members(made: Path, max_bytes: int | None = None) -> None:
    """Refuse an uploaded ``.npz`` (also one inside an uploaded .zip) whose arrays would decompress to
    more than ``max_bytes`` (default :data:`MAX_UNZIPPED_BYTES`) in all, from the sizes its zip
    directory and ``.npy`` headers declare (nothing decompressed)."""
    from .._npy import npz_headers

    max_bytes = MAX_UNZIPPED_BYTES if max_bytes is None else max_bytes
    files = [made] if made.is_file() else sorted(made.rglob("*.npz"))
    for f in files:
        if f.suffix.lower() != ".npz" or not f.is_file():
            continue
        headers = npz_headers(f, max_member_bytes=max_bytes)
        total = sum(int(np.prod(shape, dtype=object)) * dtype.itemsize for shape, dtype in headers.values())
        if total > max_bytes:
            raise ValueError(f"{f.name}: its arrays would decompress to {total / 1024 ** 2:,.0f} MB; at most "
                             f"{max_bytes / 1024 ** 2:,.0f} MB are accepted per upload.")


def store_upload(kind: str, name: str, content, area: UploadArea, max_bytes: int) -> Path:
    """Write one uploaded file into ``area`` and return the path to open.

    Features: a ``.zip`` is extracted into a folder of its own, a per-layer ``.npz`` gets a
    folder of its own (a feature set is a folder), an ``.h5`` stays a file. Epochs and RDMs stay
    files. Then the file is validated (:data:`VALIDATORS`); a bad upload is removed again.

    Raises
    ------
    ValueError
        Wrong type or too large, or the validator's error (with the uploaded file's name).
    """
    size = len(content)
    clean = safe_name(name)
    suffix = Path(clean).suffix.lower()
    if suffix not in SUFFIXES[kind]:
        raise ValueError(f"{clean}: {_WHAT[kind]} uploads must be one of {', '.join(SUFFIXES[kind])}.")
    if size > max_bytes:
        raise ValueError(f"{clean} is {size / 1024 ** 2:.1f} MB; the limit is {max_bytes / 1024 ** 2:.0f} MB "
                         "per file.")
    folder = area.folder(kind)
    if kind == "features" and suffix in (".zip", ".npz"):
        own = _unique(folder / Path(clean).stem)
        if suffix == ".zip":
            path = extract_zip(bytes(content), own)
        else:
            own.mkdir()
            (own / clean).write_bytes(bytes(content))
            path = own
        made = own
    else:
        path = made = _unique(folder / clean)
        path.write_bytes(bytes(content))
    checked = False
    try:
        _check_npz_members(made)
        checked = True          # only then may the other kinds' readers open it (no zip bomb)
        VALIDATORS[kind](path)
    except Exception as exc:
        hint = _other_kind_hint(kind, made / clean if made.is_dir() else made) if checked else ""
        shutil.rmtree(made, ignore_errors=True) if made.is_dir() else made.unlink(missing_ok=True)
        if hint:
            raise ValueError(error_message(exc) + hint) from exc
        raise
    return path


class UploadButton(widgets.VBox):
    """A FileUpload for one kind of data, the size limit beside it, and a status line.

    Parameters
    ----------
    kind : {'features', 'epochs', 'rdm'}
    area : UploadArea
    on_loaded : callable
        ``on_loaded(path, label)`` after a valid upload (``label``: ``"uploads/<name>"``).
    max_mb : float
        Limit per file, shown in the UI.

    Attributes
    ----------
    status : str
        ``"Loaded ..."`` or ``"Error: ..."`` (never a server path).
    """

    status = Unicode("")

    def __init__(self, kind: str, area: UploadArea, on_loaded, max_mb: float = MAX_UPLOAD_MB, **kwargs):
        self.kind, self.area, self._on_loaded = kind, area, on_loaded
        self.max_bytes = int(max_mb * 1024 ** 2)
        what = {"features": "features", "epochs": "epochs", "rdm": "RDMs"}[kind]
        self.upload = css(widgets.FileUpload(accept=",".join(SUFFIXES[kind]), multiple=False,
                                             description=f"Upload {what}"), f"rdmw-upload-{kind}")
        self.hint = css(widgets.HTML(status_html(f"{_HINTS[kind]} · max {max_mb:g} MB per file", "muted")),
                        "rdmw-upload-hint")
        self.status_html = css(widgets.HTML(""), "rdmw-upload-status")
        self.upload.observe(self._on_value, "value")
        super().__init__([widgets.HBox([self.upload, self.hint]), self.status_html], **kwargs)

    @observe("status")
    def _on_status(self, change):
        text = change["new"]
        self.status_html.value = status_html(text, "error" if text.startswith("Error") else "ok")

    def _on_value(self, change):
        files = change["new"]
        if not files:
            return
        try:
            self.handle([(f["name"], f["content"]) for f in files])
        finally:
            self.upload.value = ()          # the same file can be uploaded again

    def handle(self, files) -> list[Path]:
        """Store, validate and hand on ``[(name, bytes)]`` (what an upload does); returns the paths."""
        done, problems = [], []
        for name, content in files:
            try:
                path = store_upload(self.kind, name, content, self.area, self.max_bytes)
                label = "uploads/" + path.relative_to(self.area.root / self.kind).parts[0]
                self._on_loaded(path, label)
                done.append(path)
            except Exception as exc:  # noqa: BLE001 - shown beside the button
                text = error_message(exc).replace(str(self.area.root / self.kind) + "/", "")
                problems.append(relative_text(text, self.area.root / self.kind, self.area.labels))
        if problems:
            self.status = "Error: " + "; ".join(problems)
        elif done:
            self.status = f"Loaded {', '.join(safe_name(n) for n, _ in files)}"
        return done


def rdms_csv_zip(rdms: dict) -> bytes:
    """A zip of one ``RDM_<layer>.csv`` per layer (:func:`rdm_widgets.rdm_files.rdm_to_csv`), as bytes."""
    from .._atomic import rdm_filename
    from ..rdm_files import rdm_to_csv

    buf, taken = BytesIO(), set()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for layer, rdm in rdms.items():
            name = rdm_filename(layer, taken, "csv")
            taken.add(name)
            zf.writestr(name, rdm_to_csv(rdm))
    return buf.getvalue()


def download_button(label: str, cls: str):
    """A download button (:class:`rdm_widgets.widgets._download.DownloadButton`) with CSS class ``cls``,
    disabled until it holds a payload."""
    from ._download import DownloadButton

    return css(DownloadButton(label=label), cls)
