"""Stores under attack (issue 14, items 1-3, 9, 10): racing processes, kill -9 at any point,
foreign lock records, a commit failing halfway, leftovers of killed runs, long layer names."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import pdist

import rdm_widgets
import rdm_widgets._owner as owner_mod
from rdm_widgets import OnDiskRDM, RDMCreator, load_rdms, tiled_rdm
from rdm_widgets._owner import FileLock, owner_tag
from rdm_widgets.eeg import TimeResolvedRDM
from rdm_widgets.tiled import delete_store

pytestmark = pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "darwin",
                                reason="kill -9 and flock tests need a Linux-like fork")
PKG_ROOT = str(Path(rdm_widgets.__file__).resolve().parents[1])
ENV = {**os.environ, "PYTHONPATH": PKG_ROOT}
#: the os calls a writer makes on its way; a child is killed at the k-th one
EVENTS = ("open", "replace", "fsync", "unlink", "link", "write", "ftruncate", "rename", "mkdir", "rmdir")


def _features(n=100, d=16, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def _count_events(fn) -> int:
    """How many EVENTS calls ``fn()`` makes (run here, uninterrupted)."""
    count, orig = [0], {e: getattr(os, e) for e in EVENTS}

    def wrap(f):
        def counted(*a, **k):
            count[0] += 1
            return f(*a, **k)
        return counted

    try:
        for e in EVENTS:
            setattr(os, e, wrap(orig[e]))
        fn()
    finally:
        for e, f in orig.items():
            setattr(os, e, f)
    return count[0]


def _killed_at(k: int, fn) -> bool:
    """Run ``fn`` in a forked child that SIGKILLs itself at its k-th EVENTS call; True when killed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)          # fork of a threaded process
        pid = os.fork()
    if pid == 0:                                                      # pragma: no cover - child
        try:
            import torch
            torch.set_num_threads(1)
            count = [0]

            def wrap(f):
                def maybe_die(*a, **kw):
                    count[0] += 1
                    if count[0] == k:
                        os.kill(os.getpid(), signal.SIGKILL)
                    return f(*a, **kw)
                return maybe_die

            for e in EVENTS:
                setattr(os, e, wrap(getattr(os, e)))
            fn()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def _kill_points(total: int, seed: int) -> list:
    """Seeded kill points: the first moments (1-3), the last call but one, and a handful at random."""
    rng = np.random.default_rng(seed)
    return sorted({1, 2, 3, total - 1, *rng.integers(4, total, 4).tolist()})


@pytest.fixture
def no_grace(monkeypatch):
    """Leftovers count as stale at once (the minute of grace is for live runs elsewhere)."""
    monkeypatch.setattr(owner_mod, "STALE_AFTER", -1.0)


# ------------------------------------------------------------------ item 1: racing processes
RACER = textwrap.dedent("""
    import sys, time, numpy as np
    from pathlib import Path
    from rdm_widgets import tiled_rdm
    store, distance, me, other = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
    x = np.random.default_rng(0).normal(size=(100, 16)).astype(np.float32)
    first = []

    def inside(done, total):
        # the first progress call is under the lock: stay until the other run has given up
        # (or is inside too: without a working lock both are, and both go on)
        if not first:
            first.append(1)
            Path(f"{me}.inside").touch()
            deadline = time.time() + 60
            while not (Path(f"{other}.done").exists() or Path(f"{other}.inside").exists()):
                assert time.time() < deadline, "the other run neither finished nor got in"
                time.sleep(0.005)

    me.touch()
    while not other.exists():
        time.sleep(0.001)
    try:
        tiled_rdm(x, store, tile_size=16, distance=distance, overwrite=True, progress=inside)
        print("OK")
    except RuntimeError as err:
        print("REFUSED", err)
    finally:
        Path(f"{me}.done").touch()
""")



def test_two_processes_overwriting_one_store_one_wins(tmp_path):
    x = _features()
    store = tmp_path / "s"
    tiled_rdm(x, store, tile_size=16, distance="cosine")
    procs = [subprocess.Popen([sys.executable, "-c", RACER, str(store), d, str(tmp_path / f"r{i}"),
                               str(tmp_path / f"r{1 - i}")], stdout=subprocess.PIPE, text=True, env=ENV)
             for i, d in enumerate(["euclidean", "correlation"])]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    ok = [i for i, o in enumerate(outs) if o.startswith("OK")]
    assert len(ok) == 1, outs
    assert "being written by process" in outs[1 - ok[0]] and "on host" in outs[1 - ok[0]]
    won = ["euclidean", "correlation"][ok[0]]
    rdm = OnDiskRDM(store)
    assert rdm.complete and rdm.meta["distance"] == won and not (store / ".lock").exists()
    np.testing.assert_allclose(np.asarray(rdm.condensed), pdist(x.astype(np.float64), won), atol=2e-5)


# ------------------------------------------------------------------ items 2: the lock
HOLDER = textwrap.dedent("""
    import fcntl, os, sys
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.ftruncate(fd, 0)
    os.write(fd, sys.argv[2].encode())
    print("held", flush=True)
    sys.stdin.read()
""")


def _hold(lock: Path, record: str, prefix=()):
    """A process (maybe in another PID namespace) holding ``lock`` with ``record`` written in it."""
    p = subprocess.Popen([*prefix, sys.executable, "-c", HOLDER, str(lock), record], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, env=ENV)
    assert p.stdout.readline().strip() == "held"
    return p


def _unfinished(store: Path, x):
    with pytest.raises(rdm_widgets.Cancelled):
        tiled_rdm(x, store, tile_size=32,
                  progress=lambda d, t: (_ for _ in ()).throw(rdm_widgets.Cancelled()) if d > 2 else None)


@pytest.mark.parametrize("record", ["1", "", "\x00garbage", json.dumps(
    {"host": "node-b", "boot_id": "x", "pid": 1, "start": "5", "since": "yesterday"})])
def test_a_dead_owner_of_any_record_never_blocks_a_resume(tmp_path, record):
    """pid 1 of a killed container job, an empty file (never 'pid 0'), garbage, another host."""
    x = _features()
    store = tmp_path / "s"
    _unfinished(store, x)
    (store / ".lock").write_text(record)
    done = tiled_rdm(x, store, tile_size=32)
    assert done.complete and not (store / ".lock").exists()


@pytest.mark.parametrize("record, named", [
    (json.dumps({"host": "node-b", "boot_id": "b", "pid": 4194301, "start": "9", "since": "noon"}),
     "process 4194301 on host node-b (since noon)"),
    ("4194301", "process 4194301"),                                   # a pid meaningless here
    ("", "another process (its lock record is empty")])
def test_a_live_owner_elsewhere_is_refused_and_named(tmp_path, record, named):
    x = _features()
    store = tmp_path / "s"
    tiled_rdm(x, store, tile_size=32, distance="cosine")
    before = (store / "condensed.npy").read_bytes()
    holder = _hold(store / ".lock", record)
    try:
        with pytest.raises(RuntimeError, match="being written by " + named.replace("(", r"\(").replace(")", r"\)")) as err:
            tiled_rdm(x, store, tile_size=32, overwrite=True)           # taken before anything is deleted
        assert "process 0" not in str(err.value)
        with pytest.raises(RuntimeError, match="being written by"):
            delete_store(store)
        assert OnDiskRDM(store).complete and (store / "condensed.npy").read_bytes() == before
    finally:
        holder.communicate("")
    assert tiled_rdm(x, store, tile_size=32, overwrite=True).meta["distance"] == "correlation"


def test_a_live_owner_in_another_pid_namespace(tmp_path):
    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "--pid", "--fork", "--map-root-user", "true"], capture_output=True).returncode:
        pytest.skip("unshare --pid is not available here")
    x = _features()
    store = tmp_path / "s"
    _unfinished(store, x)
    script = ("import sys; from pathlib import Path; from rdm_widgets.tiled._lock import store_lock\n"
              "with store_lock(Path(sys.argv[1])):\n    print('held', flush=True); sys.stdin.read()")
    p = subprocess.Popen(["unshare", "--pid", "--fork", "--map-root-user", sys.executable, "-c", script, str(store)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert p.stdout.readline().strip() == "held"
        assert json.loads((store / ".lock").read_text())["pid"] == 1          # pid 1 in its namespace
        with pytest.raises(RuntimeError, match="being written by process 1 on host"):
            tiled_rdm(x, store, tile_size=32)
    finally:
        p.communicate("")
    assert tiled_rdm(x, store, tile_size=32).complete


# ------------------------------------------------------------------ item 3 + kill -9 at any point
def _files(folder: Path) -> dict:
    """Every file's bytes (the manifest without its creation time)."""
    files = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
    manifest = json.loads(files.pop("manifest.json"))
    del manifest["meta"]["created"]
    return {**files, "manifest": manifest}


@pytest.mark.parametrize("overwrite", [False, True])
def test_tiled_run_killed_anywhere_resumes_bit_identically(tmp_path, overwrite):
    x = _features()
    ref = tmp_path / "ref"
    run = lambda store: tiled_rdm(x, store, tile_size=32, overwrite=overwrite)   # noqa: E731
    if overwrite:
        tiled_rdm(x, ref, tile_size=32, distance="euclidean")
    total = _count_events(lambda: run(ref))
    killed = 0
    for k in _kill_points(total, seed=14 + overwrite):
        store = tmp_path / f"k{k}"
        if overwrite:
            tiled_rdm(x, store, tile_size=32, distance="euclidean")
        killed += _killed_at(k, lambda: run(store))
        try:                                                  # a resume (or overwrite) of what is left
            run(store)
        except FileExistsError as err:                        # killed after it was complete
            assert "complete RDM" in str(err) and not overwrite
        assert _files(store) == _files(ref), k
        assert OnDiskRDM(store).complete
    assert killed >= 5


def test_a_store_killed_before_its_manifest_can_be_resumed_overwritten_or_deleted(tmp_path):
    x = _features()
    ref = tiled_rdm(x, tmp_path / "ref", tile_size=32)
    for what in ("resume", "overwrite", "delete"):
        store = tmp_path / what
        store.mkdir()
        (store / ".lock").write_text("")                           # killed right after taking the lock
        if what == "delete":
            (store / ".creating").write_text('{"format": "rdm_widgets.ondisk"}')
            (store / "stimuli.json").write_text("[]")
            delete_store(store)
            assert not store.exists()
            continue
        done = tiled_rdm(x, store, tile_size=32, overwrite=what == "overwrite")
        np.testing.assert_array_equal(np.asarray(done.condensed), np.asarray(ref.condensed))
        assert sorted(os.listdir(store)) == sorted(os.listdir(tmp_path / "ref"))


def test_create_rdms_killed_anywhere_then_restarted(tmp_path, no_grace):
    rng = np.random.default_rng(2)
    feats = {f"l{i}": rng.normal(size=(12, 7)) for i in range(3)}
    ref = tmp_path / "ref"
    run = lambda out: RDMCreator().create_rdms(feats, out, overwrite=True)     # noqa: E731
    total = _count_events(lambda: run(ref))
    killed = 0
    for k in _kill_points(total, seed=3):
        out = tmp_path / f"k{k}"
        killed += _killed_at(k, lambda: run(out))
        run(out)                                                          # a clean restart
        assert sorted(os.listdir(out)) == sorted(os.listdir(ref)), k      # no staging, no temp files
        got, want = load_rdms(out), load_rdms(ref)
        for layer in feats:
            np.testing.assert_array_equal(got[layer].matrix, want[layer].matrix)
    assert killed >= 5


def test_time_resolved_save_killed_anywhere_leaves_no_tmp(tmp_path, no_grace):
    trdm = TimeResolvedRDM(np.random.default_rng(1).random((4, 4, 6)), conditions=list("abcd"))
    ref = trdm.save(tmp_path / "ref.npz")
    total = _count_events(lambda: trdm.save(tmp_path / "count.npz"))
    for k in range(1, total + 1):
        target = tmp_path / f"k{k}" / "t.npz"
        target.parent.mkdir()
        _killed_at(k, lambda: trdm.save(target))
        trdm.save(target, overwrite=True)                                  # the restart
        assert os.listdir(target.parent) == ["t.npz"], k
        with np.load(target) as got, np.load(ref) as want:
            assert {key: got[key].tobytes() for key in got.files} == {key: want[key].tobytes() for key in want.files}


# ------------------------------------------------------------------ item 9: all or nothing
def test_overwrite_commit_failing_halfway_restores_the_old_files(tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    feats = {f"l{i}": rng.normal(size=(8, 5)) for i in range(3)}
    out = RDMCreator().create_rdms(feats, tmp_path / "o")
    before = {f: (Path(out) / f).read_bytes() for f in os.listdir(out)}
    real, calls = os.replace, []

    def second_fails(src, dst, *a, **k):
        if Path(dst).parent == Path(out) and Path(src).parent.name.startswith(".rdm_staging_"):  # commit moves
            calls.append(dst)
            if len(calls) == 2:
                raise OSError(28, "No space left on device")
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", second_fails)
    with pytest.raises(OSError, match="No space left"):
        RDMCreator().create_rdms(feats, out, distance="euclidean", overwrite=True)
    monkeypatch.undo()
    assert len(calls) == 2
    assert {f: (Path(out) / f).read_bytes() for f in os.listdir(out)} == before


# ------------------------------------------------------------------ item 10: leftovers, long names
def test_stale_staging_folders_are_cleaned_but_never_a_live_one(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    old = time.time() - 3600
    dead = out / f".rdm_staging_4194301-{owner_tag()}-dead0000"
    young = out / f".rdm_staging_4194302-{owner_tag()}-young000"
    live = out / f".rdm_staging_{os.getpid()}-ffffffff-live0000"           # another host's, locked
    for d in (dead, young, live):
        d.mkdir()
        (d / "RDM_x.npz").write_bytes(b"partial")
        (d / ".owner").write_text("{}")
    lock = FileLock(live / ".owner", "test").acquire()
    try:
        for d in (dead, live):
            os.utime(d, (old, old))
        RDMCreator().create_rdms({"x": np.random.default_rng(0).normal(size=(5, 3))}, out)
        assert sorted(os.listdir(out)) == sorted(["RDM_x.npz", young.name, live.name])
    finally:
        lock.release(remove=False)


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path):
    old = time.time() - 3600
    names = {"dead": f".t.npz.rdmtmp-4194301-{owner_tag()}-abc.tmp",
             "alive": f".t.npz.rdmtmp-{os.getpid()}-{owner_tag()}-abc.tmp",
             "other_host": ".t.npz.rdmtmp-4194301-ffffffff-abc.tmp"}
    for n in names.values():
        (tmp_path / n).write_bytes(b"half")
        os.utime(tmp_path / n, (old, old))
    TimeResolvedRDM(np.zeros((2, 2, 3))).save(tmp_path / "t.npz")
    assert sorted(os.listdir(tmp_path)) == sorted(["t.npz", names["alive"], names["other_host"]])


def test_a_300_character_layer_name(tmp_path):
    rng = np.random.default_rng(6)
    long_a, long_b = "block." * 50, "block." * 49 + "other"
    out = RDMCreator().create_rdms({long_a: rng.normal(size=(6, 4)), long_b: rng.normal(size=(6, 4))},
                                   tmp_path / "o")
    files = sorted(os.listdir(out))
    assert len(files) == 2 and all(len(f.encode()) <= 210 for f in files)
    rdms = load_rdms(out)
    assert sorted(rdms) == sorted([long_a, long_b])                          # the full names, from the files
    again = RDMCreator().create_rdms({long_a: rng.normal(size=(6, 4))}, tmp_path / "p")
    assert os.listdir(again)[0] in files                                     # stable across runs


def test_without_fcntl_the_pid_record_decides(tmp_path, monkeypatch):
    """The fallback (Windows, file systems refusing locks): only this host's dead pids are stale."""
    monkeypatch.setattr(owner_mod, "fcntl", None)
    lock = tmp_path / ".lock"
    here = {"host": owner_mod.socket.gethostname(), "boot_id": owner_mod._boot_id(), "since": "noon"}
    for record, free in [(json.dumps({**here, "pid": 4194301}), True), ("4194301", True),
                         (json.dumps({**here, "pid": os.getpid()}), False),
                         (json.dumps({"host": "node-b", "pid": 4194301}), False), ("", False)]:
        lock.write_text(record)
        if free:
            with FileLock(lock, "'s'"):
                assert json.loads(lock.read_text())["pid"] == os.getpid()
            assert not lock.exists()
        else:
            with pytest.raises(RuntimeError, match="being written by") as err:
                FileLock(lock, "'s'").acquire()
            assert "process 0" not in str(err.value)
    old = time.time() - 3600
    os.utime(lock, (old, old))                                             # an empty record, long ago
    with FileLock(lock, "'s'"):
        pass
