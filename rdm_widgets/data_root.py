"""What a data folder holds: features, epochs, RDMs, sidecars -- or why an entry is skipped.

Why this module exists: the dashboard (and any script) is pointed at a user's folder and must
open on something valid, never on an error. :func:`scan` looks at one folder's entries and tells
each one's kind by content, with the same readers the Python API uses (``open_features``,
:func:`rdm_widgets.eeg.find_epoch_arrays`, :func:`rdm_widgets.rdm_files.read_rdm_file`), so a
skipped entry carries that reader's clear reason. Scanning reads headers only (``.npy``
headers of an ``.npz``, HDF5 dataset shapes), except for small candidate RDM files
(``.csv``, ``.mat``, stacks in an ``.npz``), which are read.

Paths are confined to a root folder (no ``..``, no absolute names, no symbolic link that leads
out of the root; links outside the root are never listed or read -- a feature folder holding a
file link that leads out is skipped whole), and every path a visitor sees is relative to the
root (:func:`relative_text` rewrites messages that name it). Special files (FIFOs, devices,
sockets) are skipped with the reason, never opened: opening a FIFO would block.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ._data_root_readers import try_features, try_rdm, unreadable_cause, unreadable_reason

__all__ = ["Entry", "KINDS", "SIDECAR_SUFFIXES", "scan", "classify_file", "list_folders", "inside",
           "relative_text", "epoch_arrays", "read_epochs_keys", "first_entry", "escaping_files"]

#: entry kinds: data the dashboard opens, the package's own description files, everything else
KINDS = ("features", "epochs", "rdm", "sidecar", "skipped")
#: files that describe the data beside them (``info.json``, ``stimuli.json``, ``*_sha256.json``,
#: ``README.md``): read by whoever needs them (names, categories), never reported as skipped
SIDECAR_SUFFIXES = (".json", ".md", ".txt")
#: per-stimulus folders above this many ``.npz`` files are judged by their first file only
MAX_CLASSIFIED_FILES = 200
#: candidate RDM files up to this size are read to confirm them
MAX_RDM_READ_BYTES = 200 * 1024 ** 2
_RDM_SUFFIXES = (".csv", ".tsv", ".mat")
_HDF5_SUFFIXES = (".h5", ".hdf5")


@dataclass(frozen=True)
class Entry:
    """One entry of a data folder.

    Attributes
    ----------
    path : str
        Relative to the data root, POSIX separators (``"."`` is the root itself).
    kind : str
        One of :data:`KINDS`.
    reason : str
        Why a ``'skipped'`` entry is skipped (paths relative to the root); else ``""``.
    details : str
        A short description (``"78 stimuli, 5 layers"``, ``"180 trials × 64 channels × 161 times"``).
    full : Path
        The resolved path, for the program (never shown to a visitor).
    """

    path: str
    kind: str
    reason: str = ""
    details: str = ""
    full: Path = field(default=None, repr=False, compare=False)


def inside(path, root) -> Path | None:
    """``path`` resolved (symbolic links followed) when it lies inside ``root``, else None."""
    root = Path(root).resolve()
    try:
        resolved = Path(path).resolve()
    except (OSError, RuntimeError):
        return None
    return resolved if resolved == root or root in resolved.parents else None


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() or "."


def relative_text(text: str, root, labels: dict | None = None) -> str:
    """``text`` with every mention of ``root`` (and of the ``labels`` folders) made relative.

    ``"/srv/data/sub/x.h5"`` becomes ``"sub/x.h5"`` and the root alone ``"."``;
    ``labels`` maps other folders (e.g. an upload folder) to the name shown instead.
    """
    pairs = [(Path(root), ".")] + [(Path(p), name) for p, name in (labels or {}).items()]
    for folder, name in pairs:
        if len(folder.parts) <= 1:
            continue                            # never rewrite "/" itself
        for form in dict.fromkeys([str(folder), str(folder.resolve()) if folder.exists() else str(folder)]):
            text = text.replace(form + os.sep, "" if name == "." else name.rstrip("/") + "/")
            # the folder itself, not a longer name that starts like it ("/data/lab2")
            text = re.sub(re.escape(form) + r"(?![\w.-])", lambda _: name, text)
    return text


def _npz_kind(path: Path, infos: dict):
    """Kind of an ``.npz`` from its headers: epochs, a features file, an RDM candidate or not data."""
    from .eeg import find_epoch_arrays
    from .eeg._saved_files import saved_rdm_file
    from .features._npz_layers import is_layer_file

    try:
        saved = saved_rdm_file(path, infos)     # a saved RDM (n, n, T) + conditions (n,) looks like epochs
    except ValueError as exc:
        return None, str(exc)
    if saved is not None:
        what, source, opener = saved
        how = f"; open it with {opener}(path)" if opener else ""
        return "saved-rdm", f"{what} ({source}), neither epochs nor a brain RDM{how}"
    data_key, label_keys = find_epoch_arrays(infos)
    if data_key is not None and label_keys:
        n_tr, n_ch, n_t = infos[data_key][0]
        return "epochs", f"{n_tr} trials × {n_ch} channels × {n_t} times ('{data_key}'; labels {label_keys})"
    if is_layer_file(infos):
        return "features-file", "per-layer features"
    numeric = {k: v for k, v in infos.items() if v[1].kind in "fiub"}
    square = [k for k, (shape, _) in numeric.items()
              if len(shape) in (2, 3) and shape[-1] == shape[-2] and shape[-1] >= 2]
    if square and len(square) == len(numeric):
        return "rdm-candidate", ""
    if numeric and len(numeric) == len(infos):
        return "features-file", "per-stimulus features"
    bad = next((k for k, v in infos.items() if v[1].kind not in "fiub"), None)
    if bad is None:
        return None, "an .npz without arrays"
    return None, (f"array '{bad}' has dtype {infos[bad][1].str}; features and RDMs must be numeric, "
                  "epochs need a 3-D (trials × channels × times) array with label arrays")


def classify_file(path) -> tuple[str, str, str]:
    """``(kind, reason, details)`` of one file (see :data:`KINDS`), by content.

    ``kind`` is ``'features'`` for an HDF5 feature file, ``'features-file'`` for one ``.npz``
    of a feature folder (the folder is the feature set), ``'epochs'``, ``'rdm'``,
    ``'sidecar'`` or ``'skipped'`` (``reason`` says why).
    """
    from .eeg import mne_available

    path = Path(path)
    special = _special(path)
    if special:
        return "skipped", special, ""
    suffix = path.suffix.lower()
    if suffix in SIDECAR_SUFFIXES:
        return "sidecar", "", ""
    if suffix == ".npz":
        from ._npy import npz_headers

        try:
            infos = npz_headers(path)
        except ValueError as exc:
            return "skipped", str(exc), ""
        kind, info = _npz_kind(path, infos)
        if kind == "saved-rdm":                 # a LayerRDM file is an RDM; a time-resolved one is not
            details, _ = try_rdm(path, MAX_RDM_READ_BYTES)
            return ("rdm", "", details) if details is not None else ("skipped", info, "")
        if kind == "rdm-candidate":
            details, reason = try_rdm(path, MAX_RDM_READ_BYTES)
            if details is not None:
                return "rdm", "", details
            return "features-file", "", "per-stimulus features"
        return (kind, "", info) if kind else ("skipped", info, "")
    if suffix in _HDF5_SUFFIXES:
        details, reason = try_features(path)
        if details is not None:
            return "features", "", details
        rdm_details, _ = try_rdm(path, MAX_RDM_READ_BYTES)
        if rdm_details is not None:
            return "rdm", "", rdm_details
        return "skipped", reason, ""
    if suffix == ".npy" or suffix in _RDM_SUFFIXES:
        details, reason = try_rdm(path, MAX_RDM_READ_BYTES)
        return ("rdm", "", details) if details is not None else ("skipped", reason, "")
    if suffix == ".fif":
        if not mne_available():
            return "skipped", "MNE .fif files need MNE-Python (pip install mne)", ""
        return "epochs", "", "MNE epochs"
    return "skipped", "not a data file (features: .npz folder or .h5; epochs: .npz or -epo.fif; "\
                      "RDMs: .npz, .npy, .csv, .mat, .hdf5)", ""


def _special(path: Path) -> str:
    """Why ``path`` is never opened (a FIFO, device or socket), or ``""``."""
    from ._npy import special_file

    kind = special_file(path)
    return f"{kind}, not a regular file; never read" if kind else ""


def _visible_children(folder: Path, root: Path):
    """Entries of ``folder``: no hidden names, no links that lead out of ``root``."""
    try:
        children = sorted(folder.iterdir(), key=lambda p: p.name.lower())
    except OSError:
        return []
    out = []
    for p in children:
        if p.name.startswith((".", "__")):
            continue
        if p.is_symlink() and (p.is_dir() or inside(p, root) is None):
            continue                # symlinked folders are not walked; links out of the root never read
        out.append(p)
    return out


def scan(folder, root=None) -> list[Entry]:
    """What ``folder`` holds: one :class:`Entry` per data file, feature folder or skipped file.

    A folder holding per-stimulus or per-layer feature ``.npz`` files is one ``'features'``
    entry (``folder`` itself, or a direct sub-folder); other sub-folders are not entries (see
    :func:`list_folders`). Sidecar files are entries of kind ``'sidecar'``.

    Parameters
    ----------
    folder : str or Path
        The folder to look at (inside ``root``).
    root : str or Path or None
        The data root that paths are relative to and confined to (default ``folder``).

    Returns
    -------
    list of Entry
        Features first, then epochs, RDMs, sidecars and skipped entries, each by name.

    Raises
    ------
    ValueError
        ``folder`` is not a folder inside ``root``.
    """
    root = Path(root if root is not None else folder).expanduser().resolve()
    here = inside(Path(folder).expanduser(), root)
    if here is None or not here.is_dir():
        raise ValueError(f"{relative_text(str(folder), root)!r} is not a folder inside the data root.")
    entries: list[Entry] = []
    own, covered = _feature_folder(here, root)
    if own is not None:
        entries.append(own)
    from ._layer_rdm_files import RDM_FILE

    layer_links_out = [n for n in escaping_files(here, root) if RDM_FILE.match(n)]
    for p in _visible_children(here, root):
        full = p.resolve()
        if p.is_dir():
            sub = _feature_folder_entry(full, root)
            if sub is not None:
                entries.append(sub)
            continue
        if p.name in covered:
            continue                                    # named in the folder's reason: one entry, one problem
        if own is not None and own.kind == "features" and p.suffix.lower() == ".npz" and \
                own.details and not _checked(here):
            continue                                    # a large feature folder: judged by its first file
        kind, reason, details = classify_file(full)
        if kind == "features-file":
            continue                                    # part of the folder's feature entry
        if kind == "rdm" and RDM_FILE.match(p.name) and layer_links_out:
            # a model folder is loaded whole (load_rdms): it would read the links too
            kind, details = "skipped", ""
            reason = (f"its folder holds RDM files linked from outside the data root ({layer_links_out[:5]}); "
                      "they are never read. Copy them into the data root instead")
        entries.append(Entry(_rel(full, root), kind, relative_text(reason, root), details, full))
    order = {k: i for i, k in enumerate(KINDS)}
    return sorted(entries, key=lambda e: (order[e.kind], e.path.lower()))


def _npz_files(folder: Path) -> list[Path]:
    """The visible ``.npz`` entries of ``folder`` that are regular files (links followed)."""
    try:
        return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".npz" and p.is_file()
                      and not p.name.startswith("."))
    except OSError:
        return []


def escaping_files(folder, root) -> list[str]:
    """Names of the entries of ``folder`` that are symbolic links leading outside ``root``.

    A feature folder with any such file is skipped whole (its reader would read them).
    """
    try:
        return sorted(p.name for p in Path(folder).iterdir() if p.is_symlink() and inside(p, root) is None)
    except OSError:
        return []


def _checked(folder: Path) -> bool:
    """Whether every ``.npz`` of ``folder`` is classified one by one (small folders)."""
    return len(_npz_files(folder)) <= MAX_CLASSIFIED_FILES


def _feature_folder_entry(folder: Path, root: Path) -> Entry | None:
    """A ``'features'`` (or ``'skipped'``) entry when ``folder`` holds feature ``.npz`` files, else None."""
    return _feature_folder(folder, root)[0]


def _feature_folder(folder: Path, root: Path) -> tuple:
    """``(entry, covered)``: :func:`_feature_folder_entry`'s entry (or None) and the names of the
    files its reason already reports (damaged ones), which :func:`scan` does not list again."""
    files = [p for p in _npz_files(folder) if inside(p, root) is not None]     # links out: never read
    if not files:
        return None, set()
    judged = files if len(files) <= MAX_CLASSIFIED_FILES else files[:1]
    feature_files = [p for p in judged if classify_file(p)[0] == "features-file"]
    if not feature_files:
        return None, set()
    outside = escaping_files(folder, root)
    if outside:                                 # the feature reader would read them: skip the folder
        return Entry(_rel(folder, root), "skipped",
                     f"the folder holds links to files outside the data root ({outside[:5]}); they are "
                     "never read. Copy the files into the data root instead", "", folder), set()
    if len(feature_files) != len(judged):
        odd = [p for p in judged if p not in set(feature_files)]
        causes = {p.name: unreadable_cause(p) for p in odd}
        damaged = {name: cause for name, cause in causes.items() if cause}
        others = [name for name, cause in causes.items() if not cause][:5]
        mixes = (f"the folder mixes feature files with other .npz files ({others}); "
                 "put the features in a folder of their own") if others else ""
        reason = "; ".join(r for r in (unreadable_reason(damaged) if damaged else "", mixes) if r)
        return Entry(_rel(folder, root), "skipped", relative_text(reason, root), "", folder), set(damaged)
    details, reason = try_features(folder)
    if details is None:
        return Entry(_rel(folder, root), "skipped", relative_text(reason, root), "", folder), set()
    return Entry(_rel(folder, root), "features", "", details, folder), set()


def list_folders(root, max_depth: int = 3) -> list[tuple[str, str]]:
    """``[(relative, absolute)]`` of ``root`` (``"."``) and its sub-folders, depth-limited.

    Hidden folders and symbolically linked folders are not listed (nothing outside ``root``).
    """
    root = Path(root).expanduser().resolve()
    found = [(".", str(root))]
    for dirpath, dirnames, _ in os.walk(root, followlinks=False):
        here = Path(dirpath)
        keep = []
        for d in sorted(dirnames, key=str.lower):
            p = here / d
            if d.startswith((".", "__")) or p.is_symlink() or inside(p, root) is None:
                continue
            keep.append(d)
            found.append((_rel(p, root), str(p)))
        dirnames[:] = keep if len(here.relative_to(root).parts) + 1 < max_depth else []
    return found


def first_entry(root, kind: str = "features", max_depth: int = 3) -> Entry | None:
    """The first entry of ``kind`` in ``root`` or its sub-folders (breadth first), or None."""
    root = Path(root).expanduser().resolve()
    for _, folder in sorted(list_folders(root, max_depth), key=lambda f: (f[0] != ".", f[0].count("/"), f[0])):
        hit = next((e for e in scan(folder, root) if e.kind == kind), None)
        if hit is not None:
            return hit
    return None


def epoch_arrays(path) -> dict[str, list[str]]:
    """``{data key: [label keys]}`` of an epochs ``.npz`` (headers only): see
    :func:`rdm_widgets.eeg._epochs.epoch_arrays`."""
    from .eeg._epochs import epoch_arrays as arrays

    return arrays(path)


def read_epochs_keys(path, data_key: str | None = None):
    """Read epochs with the data array chosen by key: see :func:`rdm_widgets.eeg._epochs.read_epochs_keys`."""
    from .eeg._epochs import read_epochs_keys as read

    return read(path, data_key)
