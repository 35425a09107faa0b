"""One writer per store: an OS advisory lock on ``store/.lock``, held for the whole run.

Two runs writing the same store would interleave tiles and progress masks, so a run takes
the lock before it reads, deletes (``overwrite=True``) or writes anything in the store, and
holds it -- an open file with ``fcntl.flock`` on it -- until the run ends. The kernel drops
the lock when the process dies, however it dies, so a killed job (also one that ran as pid 1
in a container) never blocks a resume, and a live run is seen from any process, container or
host that shares the file system: a pid that means nothing in this PID namespace is never
mistaken for a stale owner. The file records host, boot id, pid and start time, only for the
message a second run gets.

On Linux NFS, ``flock`` is mapped to POSIX locks and needs the NFS lock manager (``lockd``,
or NFSv4); a mount with ``nolock``/``local_lock=all`` does not share locks between hosts. On
platforms without ``fcntl`` the lock falls back to the record (see :mod:`rdm_widgets._owner`).
"""
from __future__ import annotations

import contextlib
from pathlib import Path

from .._owner import FileLock

__all__ = ["store_lock", "LOCK_FILE"]

#: the lock file's name inside a store
LOCK_FILE = ".lock"


@contextlib.contextmanager
def store_lock(store: Path):
    """Hold ``store/.lock`` for the duration of the ``with`` block (the file is removed at the end).

    Raises
    ------
    rdm_widgets._owner.LockHeld
        (a ``RuntimeError``) Another live process holds the lock; the message names it.
    """
    lock = FileLock(Path(store) / LOCK_FILE, repr(str(store)))
    lock.acquire()
    try:
        yield
    finally:
        lock.release()
