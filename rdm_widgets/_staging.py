"""Saving a run's RDM files all or nothing: a staging folder, committed at the end.

:meth:`rdm_widgets.RDMCreator.create_rdms` and :func:`rdm_widgets.create_rdms_many` write
every RDM of a run into a hidden staging folder inside the output folder and move the
files into place only once every layer has succeeded, so a failed or cancelled run leaves
nothing behind (not even a replaced file when ``overwrite=True``)::

    names = file_names(layers, "npz")
    with staged(save_path, list(names.values()), overwrite) as (folder, staging):
        for rdm in ...:
            rdm.save(staging / names[rdm.layer])

The staging folder ``.rdm_staging_<pid>-<host tag>-<random>`` holds an ``.owner`` file locked
(``flock``) for the whole run; a staging folder whose lock is free and that is older than a
minute was left by a killed run and is removed by the next run in that folder. With
``overwrite=True`` the commit keeps the replaced files aside (hard links in the staging
folder) until every file is in place, and puts them back if a move fails.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from pathlib import Path

from ._atomic import rdm_filename
from ._owner import FileLock, owner_tag, remove_stale
from ._layer_rdm_files import SAVE_FORMATS
from ._validate import check_option, check_type

__all__ = ["check_save_format", "FoldedNames", "file_names", "staged", "STAGING_PREFIX"]

#: name prefix of the hidden staging folders (``<prefix><pid>-<host tag>-<random>``)
STAGING_PREFIX = ".rdm_staging_"
_OWNER = ".owner"
_BACKUP = ".replaced"


def check_save_format(save_format) -> str:
    """Validate ``save_format`` against :data:`SAVE_FORMATS` (case-insensitive)."""
    return check_option("save_format", save_format, SAVE_FORMATS)


class FoldedNames(set):
    """File (or folder) names taken so far, compared case-insensitively: on macOS and Windows
    ``RDM_Conv.npz`` and ``RDM_conv.npz`` are the same file."""

    def __contains__(self, name):
        return super().__contains__(str(name).casefold())

    def add(self, name):
        super().add(str(name).casefold())


def file_names(layers, save_format: str) -> dict:
    """``{layer: 'RDM_<layer>.<save_format>'}``, unique even on case-insensitive file systems.

    Parameters
    ----------
    layers : list of str
    save_format : {'npz', 'pt'}

    Returns
    -------
    dict
        One file name per layer, in the order of ``layers``.
    """
    taken = FoldedNames()
    names = {}
    for layer in layers:
        names[layer] = rdm_filename(layer, taken, save_format)
        taken.add(names[layer])
    return names


@contextlib.contextmanager
def staged(save_path, names: list, overwrite: bool):
    """Yield ``(folder, staging)``; files written to ``staging`` named ``names`` are moved
    into ``folder`` when the block ends without error.

    Parameters
    ----------
    save_path : str, Path or None
        The output folder (created with its parents); None: a new ``rdms_YYYYmmdd_HHMMSS``
        folder in the current working directory.
    names : list of str
        The file names the block will write into ``staging``.
    overwrite : bool
        Replace existing files of these names.

    Raises
    ------
    FileExistsError
        Before the block runs, when a name exists and not ``overwrite``. An error or cancel
        in the block leaves neither the staging folder nor any folder this call created.
    """
    folder, created = _make_folder(save_path)
    try:
        existing = [n for n in names if (folder / n).exists()]
        if existing and not overwrite:
            raise FileExistsError(
                f"{len(existing)} RDM file(s) already exist in {str(folder)!r}: {existing[:5]}. "
                "Pass overwrite=True to replace them, or choose another save_path."
            )
        remove_stale(folder, STAGING_PREFIX, owner_file=_OWNER)     # left by killed runs
        staging = folder / f"{STAGING_PREFIX}{os.getpid()}-{owner_tag()}-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        owner = FileLock(staging / _OWNER, f"staging folder {str(staging)!r}")
        try:
            owner.acquire()
            yield folder, staging
            _commit(staging, folder, names, overwrite)
        finally:
            owner.release()
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        for d in reversed(created):  # only folders this run created, and only if empty
            with contextlib.suppress(OSError):
                d.rmdir()
        raise


def _make_folder(save_path):
    """Return (folder, folders created by this call, outermost first)."""
    if save_path is None:
        base = Path.cwd() / time.strftime("rdms_%Y%m%d_%H%M%S")
        for i in range(1, 1000):
            folder = base if i == 1 else base.with_name(f"{base.name}_{i}")
            try:
                folder.mkdir()
                return folder, [folder]
            except FileExistsError:
                continue
        raise FileExistsError(f"Could not create a new folder next to {str(base)!r}.")
    folder = Path(check_type("save_path", save_path, (str, Path, os.PathLike))).expanduser()
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"save_path {str(folder)!r} is a file; give a folder.")
    created = [p for p in [folder, *folder.parents] if not p.exists()][::-1]
    folder.mkdir(parents=True, exist_ok=True)
    return folder, created


def _commit(staging: Path, folder: Path, names: list, overwrite: bool) -> None:
    """Move staged files into ``folder``, all or nothing: if a move fails, the files moved so far
    are removed and the files they replaced are put back."""
    backup = staging / _BACKUP
    backup.mkdir()
    moved, kept = [], {}
    try:
        for n in names:
            src, dst = staging / n, folder / n
            if overwrite:
                if dst.exists() or dst.is_symlink():
                    kept[dst] = _keep(dst, backup / n)
                os.replace(src, dst)
                moved.append(dst)
                continue
            try:
                os.link(src, dst)  # fails atomically if dst appeared meanwhile
            except FileExistsError:
                raise FileExistsError(f"{str(dst)!r} appeared during the run; nothing was saved. "
                                      "Pass overwrite=True to replace it.") from None
            except OSError:
                if dst.exists():
                    raise FileExistsError(f"{str(dst)!r} appeared during the run.") from None
                os.replace(src, dst)
            moved.append(dst)
    except BaseException:
        for dst in reversed(moved):
            with contextlib.suppress(OSError):
                if dst in kept:
                    os.replace(kept[dst], dst)             # the replaced file, back in place
                else:
                    dst.unlink()
        raise


def _keep(dst: Path, aside: Path) -> Path:
    """A second name for ``dst`` in the staging folder (a hard link, else a copy), kept until the
    commit succeeded."""
    try:
        os.link(dst, aside, follow_symlinks=False)
    except OSError:
        shutil.copy2(dst, aside, follow_symlinks=False)
    return aside
