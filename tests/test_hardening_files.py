"""Hostile and damaged files (issue 14, items 4, 7 and 10): bounded pickle reading, special files,
links out of the data root, damaged files named in errors, zip bombs, unreachable schedulers."""
from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from rdm_widgets import _npy, _rdm_readers, _safe_load
from rdm_widgets.data_root import list_folders, scan
from rdm_widgets.eeg import read_epochs
from rdm_widgets.features import open_features
from rdm_widgets.rdm import LayerRDM
from rdm_widgets.rdm_files import read_rdm_file

posix_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs need a POSIX system")


# ----------------------------------------------------------------------------- item 4: pickles
def _shared_nesting(depth: int, width: int = 3):
    """``[x, x, x]`` nested ``depth`` times: a few hundred bytes that expand to width**depth objects."""
    x: list = []
    for _ in range(depth):
        x = [x] * width
    return x


def _net2brain_file(path: Path, meta) -> Path:
    np.savez(path, rdm=np.zeros((3, 3)), stimuli_name=np.array(["a", "b", "c"], dtype=object),
             meta=np.array(meta, dtype=object))
    return path


def test_shared_reference_pickle_is_refused_with_linear_work(tmp_path):
    depth = 25                                         # 3**25 paths: the old reader walked every one
    path = _net2brain_file(tmp_path / "RDM_bomb.npz", {"a": _shared_nesting(depth), "distance": "x"})
    assert path.stat().st_size < 2000
    raw = zipfile.ZipFile(path).read("meta.npy")
    budget = _safe_load.PickleBudget()
    assert _safe_load._object_array_content(raw, budget) is None       # refused: too many objects
    assert budget.visits <= 3 * depth and budget.opcodes <= 20 * depth  # each shared list measured once
    # the whole load (run in a child process: a regression must not hang the test run) keeps the RDM
    code = ("from rdm_widgets.rdm import LayerRDM; r = LayerRDM.from_file(r'%s'); "
            "print(r.meta, r.stimuli)" % path)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "'skipped_pickled_keys': ['meta']" in out.stdout and "['a', 'b', 'c']" in out.stdout


def test_small_shared_references_are_recovered(tmp_path):
    x = [1, "two", 3.0]
    path = _net2brain_file(tmp_path / "RDM_ok.npz", {"a": [x, x, {"k": x}], "distance": "euclidean"})
    r = LayerRDM.from_file(path)
    assert r.meta == {"a": [x, x, {"k": x}], "distance": "euclidean"} and r.stimuli == ["a", "b", "c"]


@pytest.mark.parametrize("case", ["cycle", "deep", "tuple-key", "opcodes"])
def test_pickle_limits_refuse(case, monkeypatch):
    if case == "cycle":
        value: object = []
        value.append(value)
    elif case == "deep":
        value = []
        for _ in range(_safe_load.MAX_DEPTH + 5):
            value = [value]
    elif case == "tuple-key":
        value = {(1, 2): "a"}
    else:
        monkeypatch.setattr(_safe_load, "MAX_OPCODES", 50)
        value = list(range(100))
    data = pickle.dumps(value, protocol=2)
    budget = _safe_load.PickleBudget()
    assert _safe_load._literal_from_pickle(data, budget) is _safe_load._FAIL
    assert budget.opcodes <= 2 * len(data)


# ----------------------------------------------------------------------------- item 10: special files
def _finishes(fn, fifo: Path, timeout: float = 60):
    """Run ``fn`` in a thread; if it blocks on the FIFO, unblock it (a writer) and fail."""
    box: dict = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)   # lets the blocked open() return
        os.close(fd)
        t.join(5)
        pytest.fail(f"{fn} blocked on the FIFO {fifo.name}")
    if "error" in box:
        raise box["error"]
    return box.get("value")


@posix_only
@pytest.mark.parametrize("name", ["trap.npz", "trap.csv", "trap-epo.fif", "trap.h5"])
def test_fifo_in_the_data_root_is_skipped_never_opened(tmp_path, name):
    fifo = tmp_path / name
    os.mkfifo(fifo)
    entries = _finishes(lambda: scan(tmp_path), fifo)
    (entry,) = [e for e in entries if e.path == name]
    assert entry.kind == "skipped" and "FIFO" in entry.reason


@posix_only
def test_fifo_refused_by_every_reader(tmp_path):
    from rdm_widgets.widgets._paths import list_feature_sources, list_files

    for name, read in [("x.npz", _npy.npz_headers), ("e.npz", read_epochs), ("RDM_l.npy", LayerRDM.from_file),
                       ("f.h5", open_features), ("RDM_p.pt", LayerRDM.from_file), ("RDM_q.npz", LayerRDM.from_file),
                       ("b.csv", _rdm_readers._read_csv), ("b.mat", _rdm_readers._read_mat),
                       ("b.npy", _rdm_readers._read_npy), ("b.npz", _rdm_readers._read_npz)]:
        fifo = tmp_path / name
        os.mkfifo(fifo)
        with pytest.raises(ValueError, match=f"{name}.*FIFO"):
            _finishes(lambda: read(fifo, None) if read.__module__ == _rdm_readers.__name__ else read(fifo), fifo)
    with pytest.raises(ValueError, match="b.csv.*FIFO"):      # the public reader too (not "does not exist")
        _finishes(lambda: read_rdm_file(tmp_path / "b.csv"), tmp_path / "b.csv")
    feats = tmp_path / "feats"
    feats.mkdir()
    np.savez(feats / "s1.npz", conv=np.ones(4))
    os.mkfifo(feats / "a0.npz")                          # sorts first: the folder check must not open it
    listed = _finishes(lambda: list_files(tmp_path, (".npz", ".csv", ".h5")), feats / "a0.npz")
    assert [rel for rel, _ in listed] == ["feats/s1.npz"]
    sources = _finishes(lambda: list_feature_sources(tmp_path), feats / "a0.npz")
    assert [rel for rel, _ in sources] == ["feats"]


# ----------------------------------------------------------------------------- item 7: links out of the root
def _features(folder: Path, n: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        np.savez(folder / f"s{i}.npz", conv=np.arange(4.0) + i)
    return folder


@pytest.fixture
def opened():
    """Paths opened while the test runs (an audit hook: every open, whichever library makes it)."""
    seen: list = []
    state = {"on": True}

    def hook(event, args):
        if state["on"] and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
            seen.append(os.path.realpath(os.fsdecode(args[0])))

    sys.addaudithook(hook)
    yield seen
    state["on"] = False


def test_folder_of_links_out_of_the_root_is_neither_offered_nor_read(tmp_path, opened):
    from rdm_widgets.widgets._paths import list_feature_sources

    outside = _features(tmp_path / "outside")
    root = tmp_path / "root"
    linked = root / "linked"
    linked.mkdir(parents=True)
    for f in outside.iterdir():
        os.symlink(f, linked / f.name)                 # the FILES are links, the folder is not
    mixed = _features(root / "mixed", 2)
    os.symlink(outside / "s2.npz", mixed / "s9.npz")
    _features(root / "fine")
    opened.clear()                                     # what the scan opens, not the set-up
    assert [p for p, _ in list_folders(root)] == [".", "fine", "linked", "mixed"]
    entries = {e.path: e for e in scan(root, root)}
    assert entries["fine"].kind == "features"
    assert "linked" not in entries or entries["linked"].kind != "features"
    assert entries["mixed"].kind == "skipped" and "outside the data root" in entries["mixed"].reason
    assert not [e for e in scan(linked, root) if e.kind == "features"]
    assert [rel for rel, _ in list_feature_sources(root)] == ["fine"]
    out = os.path.realpath(outside)
    assert not [p for p in opened if p.startswith(out + os.sep)]


def test_check_file_refuses_a_link_out_of_the_root(tmp_path):
    outside = _features(tmp_path / "outside")
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(outside / "s0.npz", root / "s0.npz")
    with pytest.raises(ValueError, match="s0.npz' leads outside the data root"):
        _npy.open_npz(root / "s0.npz", root=root)
    with pytest.raises(ValueError, match="outside the data root"):
        _safe_load.load_npz_safe(root / "s0.npz", root=root)
    assert _npy.check_file(outside / "s0.npz", root=tmp_path) == outside / "s0.npz"


# ----------------------------------------------------------------------------- item 10: damaged files
def _bad_crc(path: Path, marker: bytes) -> Path:
    data = bytearray(path.read_bytes())
    i = data.index(marker)
    data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


_MARK = np.full(4, 7.25).tobytes()


def _readers(tmp_path: Path):
    """``(file that is damaged, read)`` for features (both layouts), RDM files and epochs."""
    per_stim = tmp_path / "per_stim"
    per_stim.mkdir()
    for i in range(3):                                 # s2 is the one damaged (not the first file)
        np.savez(per_stim / f"s{i}.npz", conv=np.full(16, 7.25) + (i != 2))
    per_layer = tmp_path / "per_layer"
    per_layer.mkdir()
    np.savez(per_layer / "conv.npz", features=np.full((2, 16), 7.25), stimuli=np.array(["a", "b"]))
    rdm = tmp_path / "RDM_l.npz"
    m = np.full((4, 4), 7.25)
    np.fill_diagonal(m, 0)
    np.savez(rdm, rdm=m)
    brain = tmp_path / "brain.npz"
    np.savez(brain, rdm=m)
    eeg = tmp_path / "eeg.npz"
    np.savez(eeg, eeg=np.full((2, 2, 16), 7.25), labels=np.array([0, 1]))
    return [(per_stim / "s2.npz", lambda: list(open_features(per_stim).iter_layers())),
            (per_layer / "conv.npz", lambda: list(open_features(per_layer).iter_layers())),
            (per_layer / "conv.npz", lambda: list(open_features(per_layer).iter_row_blocks("conv", rows=1))),
            (rdm, lambda: LayerRDM.from_file(rdm)),
            (brain, lambda: read_rdm_file(brain)),
            (eeg, lambda: read_epochs(eeg))]


@pytest.mark.parametrize("index", range(6))
def test_bad_crc_error_names_the_file(tmp_path, index):
    path, read = _readers(tmp_path)[index]
    _bad_crc(path, _MARK)
    with pytest.raises(ValueError, match=f"{path.name}.*(CRC|damaged)"):
        read()


@pytest.mark.parametrize("index", [0, 3, 4, 5])
def test_empty_file_error_names_the_file(tmp_path, index):
    path, read = _readers(tmp_path)[index]
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=f"{path.name}"):
        read()


@pytest.mark.parametrize("read", [LayerRDM.from_file, read_rdm_file])
def test_empty_npy_error_names_the_file(tmp_path, read):
    path = tmp_path / "RDM_x.npy"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="RDM_x.npy' \\(it is empty: 0 bytes\\)"):
        read(path)


# ----------------------------------------------------------------------------- item 10: zip bombs
def test_zip_bomb_refused_before_decompression(tmp_path, monkeypatch):
    folder = tmp_path / "feats"
    folder.mkdir()
    np.savez(folder / "a.npz", conv=np.zeros(8))
    np.savez_compressed(folder / "b.npz", conv=np.zeros(8 * 1024 ** 2 // 8 * 4))   # 32 MB of zeros
    assert (folder / "b.npz").stat().st_size < 100_000
    monkeypatch.setattr(_npy, "MAX_MEMBER_BYTES", 1024 ** 2)
    decompressed = []
    real = zipfile.ZipExtFile.read
    monkeypatch.setattr(zipfile.ZipExtFile, "read",
                        lambda self, n=-1: decompressed.append(n) or real(self, n))
    with pytest.raises(ValueError, match="b.npz.*would decompress to 33,554,560 bytes"):
        open_features(folder)._scan()
    assert all(0 <= n <= 1024 for n in decompressed)     # headers only, never the 32 MB


def test_member_size_must_match_its_npy_header(tmp_path):
    path = tmp_path / "lie.npz"
    header = np.lib.format.header_data_from_array_1_0(np.zeros(1000))
    buf = __import__("io").BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("conv.npy", buf.getvalue() + np.zeros(10).tobytes())
    with pytest.raises(ValueError, match="lie.npz.*describes 8,128"):
        _npy.npz_headers(path)
    with pytest.raises(ValueError, match="lie.npz"):
        open_features([path])
    # the reading path skips the header check of stored (uncompressed) members -- they cannot
    # expand -- and finds the lie when it reads the array, naming the file
    with pytest.raises(ValueError, match="lie.npz"), _npy.open_npz(path) as npz:
        _npy.read_member(npz, "conv", path)


@pytest.mark.parametrize("kind, name", [("epochs", "e.npz"), ("features", "f.zip")])
def test_upload_of_a_zip_bomb_npz_is_refused(tmp_path, monkeypatch, kind, name):
    from rdm_widgets.widgets import _upload
    from rdm_widgets.widgets._upload import UploadArea, store_upload

    monkeypatch.setattr(_upload, "MAX_UNZIPPED_BYTES", 1024 ** 2)   # stands for the 2 GiB limit
    buf = __import__("io").BytesIO()
    np.savez_compressed(buf, eeg=np.zeros((4, 4, 1024 * 16)), labels=np.zeros(4, int))  # 2 MiB
    if name.endswith(".zip"):                      # the bomb inside an uploaded feature folder
        inner, buf = buf, __import__("io").BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("feats/s1.npz", inner.getvalue())
    assert len(buf.getvalue()) < 100_000
    area = UploadArea()
    try:
        with pytest.raises(ValueError, match="decompress"):
            store_upload(kind, name, buf.getvalue(), area, 100 * 1024 ** 2)
        assert not list(area.folder(kind).iterdir())
    finally:
        area.cleanup()


# ----------------------------------------------------------------------------- item 10: dask scheduler
def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"tcp://127.0.0.1:{port}"


def test_unreachable_scheduler_fails_before_anything_is_written(tmp_path):
    pytest.importorskip("distributed")
    from rdm_widgets import RDMCreator
    from rdm_widgets._dask import check_client, resolve_client

    address = _closed_port()
    with pytest.raises(ConnectionError, match=f"scheduler at '{address}' is not reachable"):
        resolve_client(address)
    with pytest.raises(ConnectionError, match="not reachable"):
        check_client(address)
    feats = _features(tmp_path / "feats")
    out = tmp_path / "out"
    with pytest.raises(ConnectionError, match="not reachable"):
        RDMCreator().create_rdms(feats, out, client=address)
    assert not out.exists()
    from rdm_widgets import tiled_rdm

    with pytest.raises(ConnectionError, match="not reachable"):
        tiled_rdm(feats, tmp_path / "store", client=address)
    assert not (tmp_path / "store").exists()
    from rdm_widgets import eeg_rdm, eeg_rdms

    x, y = np.random.default_rng(0).normal(size=(8, 2, 3)), np.repeat([0, 1], 4)
    with pytest.raises(ConnectionError, match="not reachable"):
        eeg_rdm(x, y, client=address)
    with pytest.raises(ConnectionError, match="not reachable"):
        eeg_rdms({"S1": (x, y)}, client=address)
    with pytest.raises(ValueError, match="Invalid value for 'client'"):
        check_client("nonsense")


def test_model_folder_with_rdm_links_out_of_the_root_is_not_offered(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    LayerRDM(np.ones((3, 3)) - np.eye(3), layer="secret").save(outside / "RDM_secret.npz")
    model = tmp_path / "root" / "model"
    model.mkdir(parents=True)
    LayerRDM(np.ones((3, 3)) - np.eye(3), layer="conv").save(model / "RDM_conv.npz")
    entries = {e.path: e for e in scan(model, tmp_path / "root")}
    assert entries["model/RDM_conv.npz"].kind == "rdm"             # nothing linked: offered
    os.symlink(outside / "RDM_secret.npz", model / "RDM_secret.npz")
    entries = {e.path: e for e in scan(model, tmp_path / "root")}
    assert "model/RDM_secret.npz" not in entries                    # the link itself: never listed
    assert entries["model/RDM_conv.npz"].kind == "skipped"          # load_rdms(model) would read it
    assert "outside the data root" in entries["model/RDM_conv.npz"].reason
