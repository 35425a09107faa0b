"""Path confinement of the choosers: only data under the panel's data root can be listed, opened or
written. :class:`DataBrowser` chooses a folder inside the root and lists what it skipped (and why);
:class:`SaveTo` writes results into a folder inside the root, never overwriting without asking.
"""
from __future__ import annotations

import html
import os
import shutil
import uuid
import zipfile
from pathlib import Path

import ipywidgets as widgets
from traitlets import List, Unicode, observe

from .._npy import open_file
from ..data_root import escaping_files, list_folders, relative_text, scan
from ._display import css, error_message, status_html

__all__ = ["confine", "confine_new", "list_files", "list_feature_sources", "list_folders", "DataBrowser",
           "SaveTo", "replace_path"]


def confine(path, root) -> Path:
    """Resolve ``path`` (relative paths are taken inside ``root``) and refuse anything outside ``root``.

    Symbolic links are resolved first, so a link inside the root that points
    elsewhere is refused too.

    Raises
    ------
    ValueError
        If the resolved path is not inside the resolved root.
    """
    root = Path(root).expanduser().resolve()
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = root / p
    resolved = p.resolve()
    if resolved != root and root not in resolved.parents:
        # neither the server's root nor the full path: a visitor sees no server paths
        raise ValueError(f"{Path(str(path)).name or str(path)!r} is outside the data root; "
                         "only data under the data root can be opened.")
    return resolved


def _npz_looks_like_features(path: Path, root: Path) -> bool:
    """Cheap check that an npz is not an EEG epochs file or a bare array stack (reads the zip index only).

    Only a regular file inside ``root`` is opened (a FIFO is never waited on)."""
    try:
        with open_file(path, root) as fh, zipfile.ZipFile(fh) as zf:
            keys = {Path(n).stem for n in zf.namelist()}
    except (OSError, ValueError, zipfile.BadZipFile):
        return False
    return not ("eeg" in keys or keys <= {"arr_0"} or {"rdm", "stimuli"} <= keys)


def _walk(root: Path, max_depth: int):
    """``(folder, file names)`` under ``root``, depth-limited, hidden folders skipped.

    followlinks=False: symlinked folders are not walked, so nothing outside root is reached.
    """
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "__")))
        if len(here.relative_to(root).parts) >= max_depth:
            dirnames[:] = []
        yield here, filenames


def _confined_files(root: Path, here: Path, filenames, suffixes) -> list[tuple[str, str]]:
    """``[(relative, absolute)]`` of the files in ``here`` with ``suffixes`` that resolve inside root."""
    found = []
    for f in sorted(filenames):
        if f.lower().endswith(tuple(suffixes)):
            try:
                p = confine(here / f, root)
            except ValueError:
                continue
            if not p.is_file():                 # FIFOs, devices, sockets: never offered (opening blocks)
                continue
            found.append((p.relative_to(root).as_posix(), str(p)))
    return found


def list_feature_sources(root, max_depth: int = 3) -> list[tuple[str, str]]:
    """Feature folders and HDF5 files under ``root`` (depth-limited, confined to root).

    A folder is listed when it holds .npz feature files (EEG epoch files and
    saved RDMs are skipped) and no file link that leads outside ``root``; every
    ``.h5``/``.hdf5`` file is listed. Symbolic links that lead outside ``root`` are
    not followed; special files (FIFOs, devices, sockets) are never listed or opened.

    Returns
    -------
    list of (label, path)
        ``label`` is the path relative to root (``"."`` for root itself); ``path`` absolute.
    """
    root = Path(root).expanduser().resolve()
    found: list[tuple[str, str]] = []
    for here, filenames in _walk(root, max_depth):
        try:
            here_resolved = confine(here, root)
        except ValueError:
            continue
        npz = sorted(f for f in filenames if f.lower().endswith(".npz") and not f.startswith(".")
                     and (here / f).is_file())
        # a folder with a file link out of the root is not offered: its reader would read the link
        if npz and not escaping_files(here, root) and _npz_looks_like_features(here / npz[0], root):
            rel = here_resolved.relative_to(root).as_posix() or "."
            found.append((rel, str(here_resolved)))
        found.extend(_confined_files(root, here, filenames, (".h5", ".hdf5")))
    return found


def list_files(root, suffixes, max_depth: int = 3) -> list[tuple[str, str]]:
    """Files under ``root`` with one of ``suffixes`` (depth-limited, confined): ``[(relative, absolute)]``."""
    root = Path(root).expanduser().resolve()
    found = []
    for here, filenames in _walk(root, max_depth):
        found.extend(_confined_files(root, here, filenames, suffixes))
    return found


def confine_new(name: str, root) -> Path:
    """The path of a new file or folder ``name`` typed by a visitor, inside ``root``.

    Refuses empty names, absolute names, ``..`` and anything that resolves outside ``root``
    (e.g. through a symbolically linked folder).
    """
    text = (name or "").strip()
    if not text:
        raise ValueError("Type a name (relative to the data folder) to save to.")
    parts = Path(text).parts
    if Path(text).is_absolute() or text.startswith(("~", "\\")) or ".." in parts:
        raise ValueError(f"{text!r}: give a path inside the data folder (no absolute path, no '..').")
    root = Path(root).expanduser().resolve()
    target = root / text
    confine(target.parent if not target.exists() else target, root)
    if not target.parent.resolve().is_relative_to(root):
        raise ValueError(f"{text!r} is outside the data folder.")
    return target.parent.resolve() / target.name


def replace_path(write, target: Path) -> Path:
    """Write ``target`` (a file or a folder) via ``write(tmp)`` beside it, then swap it in.

    ``write(tmp)`` creates ``tmp`` (which does not exist yet). An existing ``target`` is
    replaced only after the new one is complete; a failed write leaves it as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.partial-{uuid.uuid4().hex[:8]}{target.suffix}")
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    try:
        write(tmp)
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
    except BaseException:
        for p in (tmp,):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        if old.exists() and not target.exists():
            os.replace(old, target)
        raise
    if old.exists():
        shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
    return target


class DataBrowser(widgets.VBox):
    """Choose a folder inside the data root; lists the entries it skipped, with the reasons.

    Parameters
    ----------
    root : str or Path
        The data root (nothing outside it is listed).
    folder : str
        Initial folder, relative to the root.
    max_depth : int
        How deep sub-folders are offered.

    Attributes
    ----------
    folder : str
        The chosen folder, relative to the root (``"."``: the root itself).
    entries : list of Entry
        The :class:`rdm_widgets.data_root.Entry` of each file in that folder (usable or skipped,
        with the reason).
    """

    folder = Unicode(".")
    entries = List()

    def __init__(self, root, folder: str = ".", max_depth: int = 3, **kwargs):
        self.root = Path(root).expanduser().resolve()
        folders = list_folders(self.root, max_depth)
        self._folders = dict(folders)
        self.folder_dropdown = css(widgets.Dropdown(options=[label for label, _ in folders], value=".",
                                                    description="Folder", layout=widgets.Layout(width="420px")),
                                   "rdmw-data-folder")
        self.skipped_html = css(widgets.HTML(""), "rdmw-skipped")
        widgets.link((self, "folder"), (self.folder_dropdown, "value"))
        super().__init__([self.folder_dropdown, self.skipped_html], **kwargs)
        self.add_class("rdmw-data-browser")
        self._scan(".")
        self.folder = folder if folder in self._folders else "."

    def path(self, rel: str | None = None) -> Path:
        """Absolute path of a listed folder (default: the chosen one)."""
        return Path(self._folders[rel if rel is not None else self.folder])

    @observe("folder")
    def _on_folder(self, change):
        self._scan(change["new"])

    def _scan(self, rel):
        try:
            self.entries = scan(self._folders[rel], self.root)
        except (ValueError, OSError) as exc:
            self.entries = []
            self.skipped_html.value = status_html(relative_text(error_message(exc), self.root), "error")
            return
        skipped = [e for e in self.entries if e.kind == "skipped"]
        if not skipped:
            self.skipped_html.value = ""
            return
        items = "".join(f"<li><code>{html.escape(e.path)}</code>: {html.escape(e.reason)}</li>" for e in skipped)
        where = "the data folder" if rel == "." else html.escape(rel)
        # open: the reasons are the point (a visitor can fold the list away)
        self.skipped_html.value = (f"<details open><summary>Skipped {len(skipped)} "
                                   f"entr{'y' if len(skipped) == 1 else 'ies'} in {where} "
                                   "(not features, epochs or RDMs)</summary>"
                                   f"<ul style='font-size:12px'>{items}</ul></details>")

    def of_kind(self, kind: str) -> list[tuple[str, str]]:
        """``[(relative, absolute)]`` of the chosen folder's entries of ``kind``."""
        return [(e.path, str(e.full)) for e in self.entries if e.kind == kind]


class SaveTo(widgets.HBox):
    """"Save to" a path inside the data root; an existing target is replaced only on a second click.

    Parameters
    ----------
    root : str or Path or None
        The data root (None: saving is not offered, e.g. for the bundled data).
    default_name : str
        Initial name, relative to the root.
    write : callable
        ``write(path)`` creates the file or folder ``path`` (which does not exist yet); it
        raises when there is nothing to save.

    Attributes
    ----------
    status : str
        The last message (paths relative to the root).
    """

    status = Unicode("")

    def __init__(self, root, default_name: str, write, **kwargs):
        self.root = Path(root).expanduser().resolve() if root is not None else None
        self._write = write
        self._armed = None
        self.name_text = css(widgets.Text(value=default_name, description="Save to",
                                          layout=widgets.Layout(width="320px")), "rdmw-save-path")
        self.save_button = css(widgets.Button(description="Save", icon="save"), "rdmw-save")
        self.status_html = css(widgets.HTML(""), "rdmw-save-status")
        if self.root is None:
            self.name_text.disabled = self.save_button.disabled = True
            self.status = "Saving needs a data folder of your own (make dashboard DATA=...)."
        self.name_text.observe(self._disarm, "value")
        self.save_button.on_click(lambda _: self.save())
        super().__init__([self.name_text, self.save_button, self.status_html], **kwargs)

    @observe("status")
    def _on_status(self, change):
        text = change["new"]
        kind = "error" if text.startswith("Error") else "warn" if "exists" in text else "muted"
        self.status_html.value = status_html(text, kind)

    def _disarm(self, _change=None):
        self._armed = None
        self.save_button.description = "Save"

    def save(self):
        """Save (what the button does); a second click on an existing target overwrites it."""
        if self.root is None:
            return
        try:
            target = confine_new(self.name_text.value, self.root)
            rel = target.relative_to(self.root).as_posix()
            if target.exists() and self._armed != target:
                self._armed = target
                self.save_button.description = "Overwrite"
                self.status = f"{rel} exists -- click Overwrite to replace it, or change the name."
                return
            replace_path(self._write, target)
            self.status = f"Saved to {rel}"
        except Exception as exc:  # noqa: BLE001 - shown, not raised
            self.status = "Error: " + relative_text(error_message(exc), self.root)
        self._disarm()
