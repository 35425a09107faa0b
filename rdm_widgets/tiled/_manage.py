"""Creating, resuming and deleting a store: the decisions about a ``save_path``.

A run may only continue a store that holds an unfinished run of the same job (same *key*:
stimuli, layer, distance, pooling, dtype, tile size, ...), may only overwrite a store of this
package, and never touches a folder that holds anything else.

Every change of a store's files happens under its lock (:mod:`._lock`) and between the
``.creating`` marker (written first, atomically) and the manifest (written last), so a run
killed at any point leaves either a store (resumable, overwritable, deletable) or a
store-in-creation -- a folder of nothing but the store's own files without a manifest -- which
the next run, ``overwrite=True`` or :func:`delete_store` start from scratch.
"""
from __future__ import annotations

import contextlib
import math
import re
from pathlib import Path

import numpy as np

from .._atomic import temp_prefix
from ._format import CREATING, FORMAT, RUN_FILES, STORE_FILES, NpyFile, level_name, read_json, write_json
from ._lock import LOCK_FILE, store_lock
from ._plan import TilePlan
from ._store import OnDiskRDM

__all__ = ["check_target", "in_creation", "open_store", "create_store", "delete_store"]

_LEVEL = re.compile(r"overview_\d+\.npy")


def _own_name(name: str) -> bool:
    """Whether ``name`` is a file a store consists of (its temporary files included)."""
    if name in STORE_FILES or name == CREATING or _LEVEL.fullmatch(name):
        return True
    return name.startswith(".") and name.endswith(".tmp") and any(
        name.startswith(f".{own}.") for own in (*STORE_FILES, CREATING)) or (
        name.startswith(".overview_") and name.endswith(".tmp"))


def in_creation(store: Path) -> bool:
    """Whether ``store`` is a store-in-creation: no manifest, only store files, and the marker
    (or nothing but the lock, from a run killed before it wrote the marker)."""
    if not store.is_dir() or (store / "manifest.json").exists():
        return False
    names = [p.name for p in store.iterdir()]
    if not names or not all(_own_name(n) for n in names):
        return False
    return CREATING in names or all(n == LOCK_FILE or n.startswith(temp_prefix(store / CREATING))
                                    for n in names)


def check_target(store: Path) -> None:
    """Refuse a ``save_path`` that is a file or a folder holding anything but a store, before the
    run creates its lock there (read-only)."""
    if not store.exists():
        return
    if not store.is_dir():
        raise NotADirectoryError(f"save_path {str(store)!r} is a file; give a folder for the on-disk RDM.")
    if not (store / "manifest.json").is_file() and any(store.iterdir()) and not in_creation(store):
        raise FileExistsError(f"{str(store)!r} exists and is not an on-disk RDM store; choose an empty "
                              "or new folder (nothing in it is touched).")


def _same(name: str, stored, now) -> bool:
    """Whether a resume-key setting matches; the source path compares by the folder or file it
    names, so 'feats' and '/home/me/feats' (a job script and an interactive session) resume."""
    if name == "source" and isinstance(stored, str) and isinstance(now, str) and stored != now:
        return Path(stored).exists() and Path(stored).resolve() == Path(now).resolve()
    return stored == now


def open_store(store: Path, key: dict, resume: bool, overwrite: bool):
    """Return the progress state to continue from, or None for a fresh store (called under the lock).

    Parameters
    ----------
    store : Path
        The ``save_path`` folder (it exists and holds the lock).
    key : dict
        The settings that must match for a resume (stored in the manifest).
    resume, overwrite : bool
        As in :func:`rdm_widgets.tiled_rdm`.

    Raises
    ------
    FileExistsError
        The folder holds something else, a complete RDM, or an unfinished run without ``resume``.
    ValueError
        The unfinished run was started with other settings.
    """
    check_target(store)
    _remove_temp(store)                              # under the lock: left by killed writers
    manifest = store / "manifest.json"
    if not manifest.is_file():                       # empty, or a store-in-creation: start again
        _begin_change(store)
        return None
    old = read_json(manifest)
    if overwrite:
        if old.get("format") != FORMAT:
            raise FileExistsError(f"{str(manifest)!r} is not an rdm_widgets store; not overwriting it.")
        _begin_change(store)
        return None
    state = read_json(store / "progress.json")
    if state.get("complete"):
        if state.get("features_kept") is False:      # a run killed before it removed them
            for f in RUN_FILES:
                (store / f).unlink(missing_ok=True)
        raise FileExistsError(f"{str(store)!r} already holds a complete RDM. Open it with OnDiskRDM(path), "
                              "or pass overwrite=True to compute it again.")
    if not resume:
        raise FileExistsError(f"{str(store)!r} holds an unfinished run. Pass resume=True to continue it or "
                              "overwrite=True to start again.")
    diff = {k: (old.get("key", {}).get(k), v) for k, v in key.items() if not _same(k, old.get("key", {}).get(k), v)}
    if diff:
        listed = "; ".join(f"{k}: stored {a!r}, now {b!r}" for k, (a, b) in diff.items())
        raise ValueError(f"Cannot resume {str(store)!r}: it was started with other settings ({listed}). "
                         "Use the same arguments, overwrite=True, or another save_path.")
    return state


def create_store(store: Path, plan: TilePlan, key: dict, layer: str, meta: dict, stimuli: list) -> dict:
    """Write the files of an empty store (allocated, nothing computed); return its progress state.

    The manifest is written last, then the ``.creating`` marker removed, so a folder with a
    manifest has all the files a run resumes from.
    """
    write_json(store / "stimuli.json", list(stimuli))
    NpyFile.create(store / "condensed.npy", (plan.pairs,), np.float32)
    if plan.factors:
        finest = plan.factors[0]
        NpyFile.create(store / level_name(finest), (math.ceil(plan.n / finest),) * 2, np.float32)
    state = {"features_ready": False, "tiles_done": "0", "degenerate": [], "complete": False}
    write_json(store / "progress.json", state)
    write_json(store / "manifest.json", {"format": FORMAT, "version": 1, "key": key, "layer": layer,
                                         "n_stimuli": plan.n, "distance": meta["distance"],
                                         "tile_size": plan.tile, "n_tiles": plan.n_tiles,
                                         "overview_factors": plan.factors, "meta": meta})
    (store / CREATING).unlink(missing_ok=True)
    return state


def _begin_change(store: Path) -> None:
    """Mark the store as in creation (atomically), then remove its files but the lock and marker."""
    if not (store / CREATING).exists():
        write_json(store / CREATING, {"format": FORMAT})
    _remove_store_files(store, keep=(LOCK_FILE, CREATING))


def _remove_temp(store: Path) -> None:
    """Remove the temporary files of the store's own files (only ever called under its lock)."""
    for p in store.iterdir():
        if p.name.endswith(".tmp") and _own_name(p.name):
            p.unlink(missing_ok=True)


def _remove_store_files(store: Path, keep=()) -> None:
    """Delete the files a store consists of, manifest first (nothing else in the folder)."""
    names = sorted((p.name for p in store.iterdir() if _own_name(p.name) and p.name not in keep),
                   key=lambda n: n != "manifest.json")
    for name in names:
        (store / name).unlink(missing_ok=True)


def delete_store(path) -> None:
    """Remove an on-disk RDM store created by :func:`rdm_widgets.tiled_rdm` (only its own files).

    Also removes a store-in-creation (a run killed before its manifest). Takes the store's
    lock first, so a store being written is never deleted.

    Parameters
    ----------
    path : str or Path
        The store folder; removed too when nothing else is left in it.

    Raises
    ------
    FileNotFoundError
        ``path`` is not a store (nothing is deleted).
    RuntimeError
        A run is writing the store (the message names it).
    """
    store = Path(path).expanduser()
    if not in_creation(store):
        OnDiskRDM(store)                           # refuses folders that are not stores
    with store_lock(store):
        _begin_change(store)
        (store / CREATING).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        store.rmdir()
