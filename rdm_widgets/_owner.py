"""Who owns a file: process identity, OS advisory locks, and removing what dead processes left.

A store lock, a staging folder and a temporary file all need the same answer to "is the
process that made this still running?". A bare pid cannot give it: pids are reused, a job
that ran as pid 1 in a container looks alive forever, and a job on another host or in another
PID namespace of the same shared file system has a pid that means nothing here. So:

* **liveness** comes from an OS advisory lock (``fcntl.flock``) held on an open file for as
  long as the owner runs; the kernel releases it when the process dies, whatever killed it.
  On Linux, ``flock`` on NFS is mapped to POSIX byte-range locks and needs the NFS lock
  manager (``lockd``/NLM for NFSv3, built into NFSv4); mounts with ``nolock`` or ``local_lock``
  give locks that other hosts do not see. Without ``fcntl`` (Windows) or where the file
  system refuses locks, the pid record below is the fallback, with its limits.
* **identity** (host name, boot id, pid, process start time) is written into the lock file
  only for messages ("being written by process 4242 on host node7 since ...").
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import time
import warnings
from pathlib import Path

try:                                                     # POSIX
    import fcntl
except ImportError:                                      # pragma: no cover - Windows
    fcntl = None

__all__ = ["owner_record", "owner_tag", "pid_alive", "describe_owner", "LockHeld", "FileLock",
           "lock_free", "remove_stale", "STALE_AFTER"]

#: seconds a leftover (temporary file, staging folder) must be untouched before it may be removed
STALE_AFTER = 60.0


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _start_time() -> str:
    """This process' start time in clock ticks after boot (Linux), else ''."""
    try:
        return Path(f"/proc/{os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def owner_record() -> dict:
    """``{'host', 'boot_id', 'pid', 'start', 'since'}`` of this process (``since``: now, ISO 8601)."""
    return {"host": socket.gethostname(), "boot_id": _boot_id(), "pid": os.getpid(),
            "start": _start_time(), "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def owner_tag() -> str:
    """8 hex digits naming this host and boot: pids are only comparable when the tags match."""
    return hashlib.sha1(f"{socket.gethostname()}|{_boot_id()}".encode()).hexdigest()[:8]


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists here (True when it exists but belongs to another user)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _parse_record(text: str):
    """The record in a lock file: a dict, ``{'pid': n}`` for an old bare-pid file, or None (empty
    or garbled -- never pid 0)."""
    text = text.strip()
    if text.isdigit() and int(text) > 0:
        return {"pid": int(text)}
    with contextlib.suppress(ValueError):
        rec = json.loads(text)
        if isinstance(rec, dict) and isinstance(rec.get("pid"), int) and rec["pid"] > 0:
            return rec
    return None


def describe_owner(record) -> str:
    """'process 4242 on host node7 (since ...)' or a sentence for an empty or garbled record."""
    if not record:
        return "another process (its lock record is empty or unreadable: it is just starting)"
    where = f" on host {record['host']}" if record.get("host") else ""
    since = f" (since {record['since']})" if record.get("since") else ""
    return f"process {record['pid']}{where}{since}"


class LockHeld(RuntimeError):
    """The lock is held by a live owner; ``holder`` is its record (dict) or None."""

    def __init__(self, message: str, holder=None):
        super().__init__(message)
        self.holder = holder


class FileLock:
    """An exclusive lock on the file ``path``, held from :meth:`acquire` to :meth:`release`.

    With ``fcntl``: ``flock`` on the open file (released by the kernel when the process dies,
    so a killed owner never blocks a later run), the owner's record written into it. Without
    (or where the file system refuses locks, with a warning): the file is created exclusively
    and a record from this host and boot whose pid is gone -- or an empty one older than
    :data:`STALE_AFTER` -- is taken over; a record from another host is never taken over.

    Parameters
    ----------
    path : Path
        The lock file (created; removed by :meth:`release`).
    what : str
        What is locked, for messages (``"'/data/store'"``).
    """

    def __init__(self, path, what: str):
        self.path, self.what, self._fd = Path(path), what, None

    def _held(self, record) -> LockHeld:
        return LockHeld(f"{self.what} is being written by {describe_owner(record)}. Wait for it to finish "
                        f"or choose another save_path (if that run is gone, delete {str(self.path)!r}).",
                        record)

    def acquire(self) -> "FileLock":
        """Take the lock or raise :class:`LockHeld` naming the holder."""
        fd = self._flock() if fcntl is not None else None
        if fd is None:
            fd = self._exclusive()
        data = json.dumps(owner_record()).encode()
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, data)
        os.fsync(fd)
        self._fd = fd
        return self

    def _flock(self):
        for _ in range(20):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                record = _parse_record(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
                for _ in range(20):                      # the holder may be writing its record now
                    if record is not None:
                        break
                    time.sleep(0.025)
                    record = _parse_record(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
                os.close(fd)
                raise self._held(record) from None
            except OSError as err:                       # e.g. ENOLCK: NFS without lockd
                os.close(fd)
                warnings.warn(f"The file system of {str(self.path)!r} refuses locks ({err}); falling back "
                              "to a process-id record, which cannot see runs on other hosts.", stacklevel=4)
                return None
            # the holder before us may have removed the file: then our lock is on a dead inode
            with contextlib.suppress(FileNotFoundError):
                st, now = os.fstat(fd), os.stat(self.path)
                if (st.st_ino, st.st_dev) == (now.st_ino, now.st_dev):
                    return fd
            os.close(fd)
        raise RuntimeError(f"Could not lock {self.what}: {str(self.path)!r} keeps being replaced.")

    def _exclusive(self) -> int:
        for _ in range(2):
            try:
                return os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
            except FileExistsError:
                try:
                    text, age = self.path.read_text(errors="replace"), time.time() - self.path.stat().st_mtime
                except FileNotFoundError:
                    continue
                record = _parse_record(text)
                if not _stale(record, age):
                    raise self._held(record) from None
                self.path.unlink(missing_ok=True)
        raise RuntimeError(f"Could not lock {self.what}: {str(self.path)!r} keeps reappearing.")

    def release(self, remove: bool = True) -> None:
        """Remove the lock file (while still holding it) and drop the lock."""
        if self._fd is None:
            return
        if remove:
            self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _stale(record, age: float) -> bool:
    """Fallback liveness from a record alone: only a process of this host and boot can be checked."""
    if record is None:
        return age > STALE_AFTER
    if record.get("host") is not None and (record.get("host"), record.get("boot_id", "")) != (
            socket.gethostname(), _boot_id()):
        return False
    return not pid_alive(int(record["pid"]))


def lock_free(path) -> bool:
    """Whether nobody holds a :class:`FileLock`-style flock on ``path`` (False when unsure)."""
    if fcntl is None:
        return False
    try:
        fd = os.open(path, os.O_RDWR)                    # NFS maps flock to POSIX locks: needs write access
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def remove_stale(folder: Path, prefix: str, suffix: str = "", owner_file: str = None) -> list:
    """Remove entries ``<prefix><pid>-<tag>-...<suffix>`` in ``folder`` left by dead processes.

    An entry is removed only when untouched for :data:`STALE_AFTER` seconds and either its
    ``owner_file`` (a folder's lock file) is not locked, or -- without one -- its tag is this
    host and boot and its pid is gone. Entries of live runs and of other hosts stay.

    Returns
    -------
    list of Path
        What was removed.
    """
    removed = []
    with contextlib.suppress(OSError):
        entries = [e for e in os.scandir(folder) if e.name.startswith(prefix) and e.name.endswith(suffix)]
        for e in entries:
            path = Path(e.path)
            with contextlib.suppress(OSError, ValueError):
                if time.time() - e.stat(follow_symlinks=False).st_mtime < STALE_AFTER:
                    continue
                if owner_file is not None and (path / owner_file).exists():
                    dead = lock_free(path / owner_file)
                else:
                    pid, tag = e.name[len(prefix):].split("-")[:2]
                    dead = tag == owner_tag() and not pid_alive(int(pid))
                if not dead:
                    continue
                if e.is_dir(follow_symlinks=False):
                    shutil.rmtree(path)
                else:
                    path.unlink()
                removed.append(path)
    return removed

