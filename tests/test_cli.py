"""The command line (``rdm-widgets`` / ``python -m rdm_widgets``): each command's output equals the
Python API's on the bundled data, progress in a job log is plain lines, errors are one line."""
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from rdm_widgets import (LayerRDM, RDMCreator, TimeResolvedRDM, eeg_rdm, load_rdms, model_brain_table,
                         read_epochs, tiled_rdm)
from rdm_widgets.demo import demo_path
from rdm_widgets.estimate import estimate_eeg_rdm, estimate_features, estimate_tiled
from rdm_widgets.rdm_files import bundled_brain_rdms

FEATURES = str(demo_path("mobilenetv2"))
EVC = str(demo_path("fmri_evc"))
LINE = re.compile(r"^\[\d\d:\d\d:\d\d\] (?P<desc>[^:]+): (?P<done>\d+)/(?P<total>\d+) \((?P<pct>\d+)%\), "
                  r"elapsed [^,]+(, ETA .+)?$")
ERROR = re.compile(r"^rdm-widgets: error: \S.*$")


def cli(*args, cwd=None, env=None, exe=None):
    """Run the command line in a subprocess (stdout and stderr are pipes: not a terminal)."""
    cmd = [exe] if exe else [sys.executable, "-m", "rdm_widgets"]
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=180)


def _meta(rdm) -> dict:
    return {k: v for k, v in rdm.meta.items() if k != "created"}


@pytest.fixture(scope="module")
def cli_rdms(tmp_path_factory):
    """create-rdms on the bundled MobileNetV2 features (progress lines on every update)."""
    out = tmp_path_factory.mktemp("cli") / "mobilenetv2"
    res = cli("create-rdms", FEATURES, out, "--progress-interval", 0)
    assert res.returncode == 0, res.stderr
    return out, res


# ------------------------------------------------------------------------------------------ commands
def test_create_rdms_equals_the_api(cli_rdms, tmp_path):
    out, res = cli_rdms
    assert res.stdout.strip() == str(out)
    api = RDMCreator().create_rdms(FEATURES, tmp_path / "api")
    files = sorted(p.name for p in Path(api).iterdir())
    assert files == sorted(p.name for p in out.iterdir()) and len(files) == 5
    for name in files:
        a, b = LayerRDM.from_file(out / name), LayerRDM.from_file(Path(api) / name)
        assert a.matrix.dtype == b.matrix.dtype and a.matrix.tobytes() == b.matrix.tobytes()   # bit for bit
        assert (a.stimuli, a.layer, _meta(a)) == (b.stimuli, b.layer, _meta(b))


def test_options_reach_the_api(tmp_path):
    res = cli("create-rdms", FEATURES, tmp_path / "cli", "--layers", "avgpool,logits", "--distance", "euclidean",
              "--dtype", "float64", "--chunk-size", 16, "--format", "pt", "-q")
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""                                               # --quiet: no progress
    api = RDMCreator(dtype="float64").create_rdms(FEATURES, tmp_path / "api", "pt", "euclidean", 16,
                                                  layers=["avgpool", "logits"])
    assert sorted(p.name for p in (tmp_path / "cli").iterdir()) == ["RDM_avgpool.pt", "RDM_logits.pt"]
    for name in ("RDM_avgpool.pt", "RDM_logits.pt"):
        a, b = LayerRDM.from_file(tmp_path / "cli" / name), LayerRDM.from_file(Path(api) / name)
        assert a.matrix.dtype == np.float64 and np.array_equal(a.matrix, b.matrix)
        assert _meta(a) == _meta(b)


def test_progress_in_a_log_is_plain_lines(cli_rdms):
    _, res = cli_rdms
    err = res.stderr
    assert "\r" not in err and "\x1b" not in err
    lines = err.splitlines()
    assert len(lines) >= 3
    matches = [LINE.match(line) for line in lines]
    assert all(matches), lines
    assert matches[0]["done"] == "0" and matches[0]["pct"] == "0"
    assert matches[-1]["done"] == matches[-1]["total"] and matches[-1]["pct"] == "100"
    assert "ETA" in lines[1] and "ETA" not in lines[-1]


@pytest.mark.skipif(os.name != "posix", reason="pseudo-terminals")
def test_progress_on_a_terminal_is_the_tqdm_bar(tmp_path):
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "rdm_widgets", "create-rdms", FEATURES, str(tmp_path / "o"),
                             "--layers", "logits"], stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    err = b""
    try:
        while True:                                     # read while it runs: a full terminal would block it
            try:
                chunk = os.read(leader, 65536)
            except OSError:                             # EIO: the process closed the terminal
                break
            if not chunk:
                break
            err += chunk
    finally:
        os.close(leader)
        proc.wait(timeout=180)
    assert proc.returncode == 0
    text = err.decode("utf-8", "replace")
    assert "\r" in text and "RDMs: 100%|" in text and "it/s" in text and not LINE.search(text)


def test_eeg_rdm_equals_the_api(tmp_path):
    with np.load(demo_path("eeg")) as z:                        # S001, 6 time points: fast
        np.savez(tmp_path / "sub.npz", eeg=z["eeg"][:, :, 60:66], labels=z["labels"], target=z["target"],
                 times=z["times"][60:66])
    res = cli("eeg-rdm", tmp_path / "sub.npz", tmp_path / "out.npz", "--labels", "target", "--cv", 4,
              "--random-state", 0)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(tmp_path / "out.npz")
    assert re.search(r"^rdm-widgets: warning: \S", res.stderr, re.M)      # unbalanced: one line, no source
    ep = read_epochs(tmp_path / "sub.npz")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        api = eeg_rdm(ep.eeg, ep.labels["target"], times=ep.times, cv=4, random_state=0)
    got = TimeResolvedRDM.from_file(tmp_path / "out.npz")
    assert np.array_equal(got.data, api.data) and np.array_equal(got.times, api.times)
    assert got.conditions == list(api.conditions) and got.meta["cv"] == 4
    assert json.loads(json.dumps(got.meta)) == json.loads(json.dumps(TimeResolvedRDM.from_file(
        api.save(tmp_path / "api.npz")).meta))
    again = cli("eeg-rdm", tmp_path / "sub.npz", tmp_path / "out.npz")            # exists: refused first
    assert again.returncode == 1 and "--overwrite" in again.stderr and "EEG fits" not in again.stderr


def test_eeg_rdm_generalization_equals_the_api(tmp_path):
    from rdm_widgets.eeg import GeneralizationRDM

    with np.load(demo_path("eeg")) as z:                        # S001, 4 time points: fast
        np.savez(tmp_path / "sub.npz", eeg=z["eeg"][:, :, 60:64], labels=z["labels"], target=z["target"],
                 times=z["times"][60:64])
    res = cli("eeg-rdm", tmp_path / "sub.npz", tmp_path / "gen.npz", "--labels", "target", "--cv", 4,
              "--random-state", 0, "--generalization", "-q")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(tmp_path / "gen.npz")
    ep = read_epochs(tmp_path / "sub.npz")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        api = eeg_rdm(ep.eeg, ep.labels["target"], times=ep.times, cv=4, random_state=0, generalization=True)
    got = GeneralizationRDM.from_file(tmp_path / "gen.npz")
    assert got.shape == (4, 4, 4, 4) and np.array_equal(got.data, api.data)
    assert np.array_equal(got.train_times, api.train_times) and got.meta["generalization"] is True
    again = cli("eeg-rdm", tmp_path / "sub.npz", tmp_path / "gen.npz", "--generalization")
    assert again.returncode == 1 and "--overwrite" in again.stderr
    both = cli("eeg-rdm", tmp_path / "sub.npz", tmp_path / "g2.npz", "--generalization", "--scheduler",
               "tcp://127.0.0.1:1")
    assert both.returncode != 0 and "dask cluster" in both.stderr


def test_eeg_rdm_reads_an_mne_epochs_file(tmp_path):
    mne = pytest.importorskip("mne")
    with np.load(demo_path("eeg")) as z:
        keep = np.flatnonzero(np.isin(z["target"], ["left_fist", "right_fist"]))[:40]
        names = sorted(set(z["target"][keep]))
        info = mne.create_info([str(c) for c in z["ch_names"]], float(z["sfreq"]), "eeg")
        events = np.c_[np.arange(len(keep)) * 200, np.zeros(len(keep), int),
                       [names.index(t) + 1 for t in z["target"][keep]]]
        epochs = mne.EpochsArray(z["eeg"][keep][:, :, 60:64].astype(float) * 1e-6, info, events,
                                 tmin=float(z["times"][60]), event_id={n: i + 1 for i, n in enumerate(names)},
                                 verbose="error")
    epochs.save(tmp_path / "sub-epo.fif", verbose="error")
    res = cli("eeg-rdm", tmp_path / "sub-epo.fif", tmp_path / "out.npz", "--cv", 4, "-q")
    assert res.returncode == 0, res.stderr
    ep = read_epochs(tmp_path / "sub-epo.fif")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        api = eeg_rdm(ep.eeg, ep.labels["event"], times=ep.times, cv=4)
    got = TimeResolvedRDM.from_file(tmp_path / "out.npz")
    assert np.array_equal(got.data, api.data) and np.allclose(got.times, epochs.times)
    assert got.conditions == names                                      # the event names


def test_tiled_rdm_equals_the_api(tmp_path):
    res = cli("tiled-rdm", FEATURES, tmp_path / "cli", "--layer", "avgpool", "--tile-size", 32, "-q")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(tmp_path / "cli")
    api = tiled_rdm(FEATURES, tmp_path / "api", layer="avgpool", tile_size=32)
    assert np.array_equal(np.load(tmp_path / "cli" / "condensed.npy"), np.asarray(api.condensed))
    again = cli("tiled-rdm", FEATURES, tmp_path / "cli", "--layer", "avgpool", "--tile-size", 32)
    assert again.returncode == 1 and ERROR.match(again.stderr) and "--overwrite" in again.stderr


# DNN options of issue 17: time-resolved RDMs and dimensionality reduction (Net2Brain's names)
def _video_features(folder, n=6, clips=3, t=2, seed=0) -> np.ndarray:
    """Per-stimulus files with one [1, clips, T, D] layer; returns the (n, clips, T, D) features."""
    x = np.random.default_rng(seed).normal(size=(n, clips, t, 5)).astype(np.float32)
    folder.mkdir(parents=True)
    for i in range(n):
        np.savez(folder / f"video_{i}.npz", frames=x[i][None])
    return x


@pytest.mark.parametrize("mode", ["clip", "all_timepoints"])
def test_create_rdms_multi_timepoint_equals_the_api(tmp_path, capsys, mode):
    from scipy.spatial.distance import pdist, squareform

    from rdm_widgets.cli import main

    x = _video_features(tmp_path / "video")
    assert main(["create-rdms", str(tmp_path / "video"), str(tmp_path / "cli"), "--multi-timepoint", mode,
                 "-q"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "cli")
    api = RDMCreator().create_rdms(tmp_path / "video", tmp_path / "api", multi_timepoint_rdms=mode)
    got, ref = (TimeResolvedRDM.from_file(Path(d) / "RDM_frames.npz") for d in (tmp_path / "cli", api))
    assert np.array_equal(got.data, ref.data) and got.n_times == (3 if mode == "clip" else 6)
    # independent reference: scipy on the clip (and time point) the RDM belongs to
    last = x[:, 2, 1] if mode == "all_timepoints" else x[:, 2].reshape(6, -1)
    np.testing.assert_allclose(got.data[:, :, -1], squareform(pdist(last.astype(np.float64), "correlation")),
                               atol=1e-5)


def test_create_rdms_dim_reduction_equals_the_api(tmp_path, capsys):
    from rdm_widgets.cli import main

    args = ["create-rdms", FEATURES, str(tmp_path / "cli"), "--layers", "avgpool,logits", "--dim-reduction", "pca",
            "--n-components", "7", "--n-samples-estim", "40", "--random-state", "3", "--max-dim-allowed", "1100",
            "-q"]
    assert main(args) == 0, capsys.readouterr().err
    api = RDMCreator().create_rdms(FEATURES, tmp_path / "api", layers=["avgpool", "logits"], dim_reduction="pca",
                                   n_components=7, n_samples_estim=40, random_state=3, max_dim_allowed=1100)
    plain = RDMCreator().compute_rdms(FEATURES, layers=["logits"])["logits"]
    for name in ("RDM_avgpool.npz", "RDM_logits.npz"):
        a, b = LayerRDM.from_file(tmp_path / "cli" / name), LayerRDM.from_file(Path(api) / name)
        assert a.matrix.tobytes() == b.matrix.tobytes() and _meta(a) == _meta(b)
    # avgpool (1280 wide) is reduced to 7 components; logits (1000 <= 1100) is left as it is
    reduced = LayerRDM.from_file(tmp_path / "cli" / "RDM_avgpool.npz")
    assert reduced.meta["dim_reduction"]["n_components"] == 7
    assert np.array_equal(LayerRDM.from_file(tmp_path / "cli" / "RDM_logits.npz").matrix, plain.matrix)
    # --n-components auto is the API's 'auto' (the Johnson-Lindenstrauss size), srp seeded
    assert main(["create-rdms", FEATURES, str(tmp_path / "srp"), "--layers", "avgpool", "--dim-reduction", "srp",
                 "--n-components", "auto", "--random-state", "1", "-q"]) == 0
    api = RDMCreator().compute_rdms(FEATURES, layers=["avgpool"], dim_reduction="srp", n_components="auto",
                                    random_state=1)["avgpool"]
    assert np.array_equal(LayerRDM.from_file(tmp_path / "srp" / "RDM_avgpool.npz").matrix, api.matrix)


def test_tiled_rdm_dim_reduction_equals_the_api(tmp_path):
    res = cli("tiled-rdm", FEATURES, tmp_path / "cli", "--layer", "avgpool", "--tile-size", 32, "--dim-reduction",
              "srp", "--n-components", 64, "--random-state", 2, "-q")
    assert res.returncode == 0, res.stderr
    api = tiled_rdm(FEATURES, tmp_path / "api", layer="avgpool", tile_size=32, dim_reduction="srp",
                    n_components=64, random_state=2)
    assert np.array_equal(np.load(tmp_path / "cli" / "condensed.npy"), np.asarray(api.condensed))
    plain = tiled_rdm(FEATURES, tmp_path / "plain", layer="avgpool", tile_size=32)
    assert not np.array_equal(np.asarray(api.condensed), np.asarray(plain.condensed))   # it did reduce


@pytest.mark.parametrize("args, words", [
    (("create-rdms", FEATURES, "out", "--dim-reduction", "pcaa"), ("--dim-reduction", "Did you mean 'pca'")),
    (("create-rdms", FEATURES, "out", "--multi-timepoint", "clips"), ("--multi-timepoint", "'clip'")),
    (("create-rdms", FEATURES, "out", "--dim-reduction", "srp", "--srp-before-pca"), ("--srp-before-pca",)),
    (("create-rdms", FEATURES, "out", "--dim-reduction", "pca", "--n-components", "0"), ("--n-components",)),
    (("create-rdms", FEATURES, "out", "--dim-reduction", "pca", "--n-components", "many"), ("--n-components",)),
    (("create-rdms", FEATURES, "out", "--n-components", "5", "--random-state", "1"),
     ("--n-components, --random-state", "--dim-reduction")),
    (("tiled-rdm", FEATURES, "out", "--layer", "avgpool", "--srp-before-pca"), ("--srp-before-pca",)),
])
def test_dnn_option_errors_are_one_line_naming_the_option(tmp_path, monkeypatch, capsys, args, words):
    from rdm_widgets.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(list(args)) == 1
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and ERROR.match(err.strip()), err
    assert all(w in err for w in words), err
    assert not (tmp_path / "out").exists()


def test_compare_equals_model_brain_table(cli_rdms, tmp_path):
    out, _ = cli_rdms
    (tmp_path / "names.txt").write_text("\n".join(f"image_{i:02d}" for i in range(1, 79)) + "\n")
    res = cli("compare", out, EVC, "--out", tmp_path / "t.csv", "--stimuli", tmp_path / "names.txt",
              "--brain-name", "EVC", "--permutations", 50, "--random-state", 3)
    assert res.returncode == 0, res.stderr
    api = model_brain_table({"mobilenetv2": load_rdms(out)}, bundled_brain_rdms()["EVC"], n_permutations=50,
                            random_state=3)
    assert (tmp_path / "t.csv").read_text() == api.to_csv()
    assert "noise_lower" in api.to_csv().splitlines()[0] and "p_permutation" in api.to_csv().splitlines()[0]
    for row in api.rows:                                              # the printed summary
        assert re.search(rf"EVC\s+mobilenetv2\s+{re.escape(row['layer'])}\s+{row['r']:.3f}", res.stdout)
    assert "matched by name (78 stimuli)" in res.stdout


def test_compare_with_bootstrap_equals_model_brain_table(cli_rdms, tmp_path):
    out, _ = cli_rdms
    (tmp_path / "names.txt").write_text("\n".join(f"image_{i:02d}" for i in range(1, 79)) + "\n")
    res = cli("compare", out, EVC, "--out", tmp_path / "t.csv", "--stimuli", tmp_path / "names.txt",
              "--brain-name", "EVC", "--permutations", 0, "--random-state", 4, "--bootstrap", "subjects",
              "--n-bootstrap", 50, "--ci", 0.9)
    assert res.returncode == 0, res.stderr
    api = model_brain_table({"mobilenetv2": load_rdms(out)}, bundled_brain_rdms()["EVC"], n_permutations=0,
                            random_state=4, bootstrap="subjects", n_bootstrap=50, ci=0.9)
    assert (tmp_path / "t.csv").read_text() == api.to_csv()
    for row in api.rows:                                              # the CI in the printed summary
        assert np.isfinite(row["ci_low"]) and row["ci_low"] < row["ci_high"]
        assert f"{row['ci_low']:.3f}..{row['ci_high']:.3f}" in res.stdout
    bad = cli("compare", out, EVC, "--out", tmp_path / "u.csv", "--bootstrap", "subject")
    assert bad.returncode == 2 and "--bootstrap" in bad.stderr and not (tmp_path / "u.csv").exists()


def _lines_after_first(text: str) -> list:
    return text.strip().splitlines()[1:]


def test_estimate_prints_the_cost_estimate(tmp_path):
    res = cli("estimate", "tiled", 200000, 4096, "--tile-size", 8192)
    assert res.returncode == 0, res.stderr
    est = estimate_tiled(200000, 4096, tile_size=8192)
    first = res.stdout.splitlines()[0]
    assert first.startswith("≈ ") and first.split(", ")[1:] == str(est).split(", ")[1:]   # RAM, disk
    assert f"tiles: {est.work['tiles']:,}" in res.stdout and f"device: {est.device}" in res.stdout

    res = cli("estimate", "features", FEATURES, "--layers", "avgpool", "--distance", "euclidean")
    assert res.returncode == 0, res.stderr
    est = estimate_features(FEATURES, layers=["avgpool"], distance="euclidean")
    assert res.stdout.splitlines()[0].split(", ")[1:] == str(est).split(", ")[1:]
    assert f"pairs: {est.work['pairs']:,}" in res.stdout

    with np.load(demo_path("eeg")) as z:
        np.savez(tmp_path / "sub.npz", eeg=z["eeg"][:, :, :10], labels=z["target"])
    res = cli("estimate", "eeg", tmp_path / "sub.npz", "--decim", 2)
    assert res.returncode == 0, res.stderr
    ep = read_epochs(tmp_path / "sub.npz")
    est = estimate_eeg_rdm(ep.eeg, ep.labels["labels"], decim=2)
    assert f"fits: {est.work['fits']:,}" in res.stdout and f"regime: {est.regime}" in res.stdout
    res = cli("estimate", "eeg", tmp_path / "sub.npz", "--decim", 2, "--generalization")
    assert res.returncode == 0, res.stderr
    gen = estimate_eeg_rdm(ep.eeg, ep.labels["labels"], decim=2, generalization=True)
    assert gen.work["evaluations"] > est.work["evaluations"]        # every train x test time
    assert f"evaluations: {gen.work['evaluations']:,}" in res.stdout


def test_estimate_takes_the_time_and_reduction_options(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "video").mkdir()
    for i in range(20):
        np.savez(tmp_path / "video" / f"s{i:02d}.npz", l=rng.normal(size=(1, 3, 500)).astype(np.float32))
    res = cli("estimate", "features", tmp_path / "video", "--multi-timepoint", "clip", "--dim-reduction", "srp",
              "--n-components", 16, "--random-state", 2)
    assert res.returncode == 0, res.stderr
    est = estimate_features(str(tmp_path / "video"), multi_timepoint_rdms="clip", dim_reduction="srp",
                            n_components=16, random_state=2)
    assert res.stdout.splitlines()[0].split(", ")[1:] == str(est).split(", ")[1:]
    assert "time_points: [3]" in res.stdout and "reduced_dims: [16]" in res.stdout
    assert f"pairs: {est.work['pairs']:,}" in res.stdout
    res = cli("estimate", "tiled", 5000, 20000, "--dim-reduction", "pca", "--n-components", 50)
    assert res.returncode == 0, res.stderr
    assert "reduced_dim: 50" in res.stdout and "sampled_rows: 100" in res.stdout
    # the run's validation and the command line's: settings without --dim-reduction, unknown names
    bad = cli("estimate", "tiled", 5000, 20000, "--n-components", 50)
    assert bad.returncode != 0 and "--dim-reduction" in bad.stderr
    bad = cli("estimate", "features", tmp_path / "video", "--multi-timepoint", "clips")
    assert bad.returncode != 0 and "Did you mean 'clip'" in bad.stderr


# ------------------------------------------------------------------------------------------ errors, help
def test_a_bad_path_is_one_line_without_traceback(tmp_path):
    for args, code in ((("create-rdms", "/no/such/features", "out"), 1), (("create-rdms", FEATURES), 2)):
        res = cli(*args, cwd=tmp_path)
        assert res.returncode == code and res.stdout == ""
        assert "Traceback" not in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and ERROR.match(res.stderr.strip()), res.stderr
        assert code == 2 or "Feature path not found: '/no/such/features'" in res.stderr


@pytest.mark.parametrize("args, code", [
    (("compare", "/no/such/rdms", EVC, "--out", "t.csv"), 1),
    (("create-rdms", FEATURES, "out", "--distance", "corelation"), 1),
    (("eeg-rdm", str(demo_path("eeg")), "out.npz", "--labels", "nope"), 1),
    (("tiled-rdm", FEATURES, "out"), 1),                                   # several layers, no --layer
    (("create-rdms", FEATURES, "out", "--chunk-size", "many"), 2),
    (("no-such-command",), 2),
    ((), 2),
])
def test_user_errors_are_one_line(tmp_path, monkeypatch, capsys, args, code):
    from rdm_widgets.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(list(args)) == code
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and ERROR.match(err.strip()), err
    assert not (tmp_path / "out").exists()


def test_errors_name_the_options_not_the_keywords(tmp_path, capsys):
    from rdm_widgets.cli import main

    assert main(["tiled-rdm", FEATURES, str(tmp_path / "s"), "-q"]) == 1
    assert "choose one with --layer" in capsys.readouterr().err
    assert main(["tiled-rdm", FEATURES, str(tmp_path / "s"), "--layer", "avgpool", "--scheduler", "x", "-q"]) == 1
    assert "Invalid value for --scheduler" in capsys.readouterr().err


def test_debug_shows_the_traceback(tmp_path):
    res = cli("create-rdms", "/no/such/features", "out", "--debug", cwd=tmp_path)
    assert res.returncode == 1 and "Traceback" in res.stderr and "FileNotFoundError" in res.stderr
    assert ERROR.match(res.stderr.strip().splitlines()[-1])


def test_help_shows_examples_and_version(capsys):
    res = cli("--help")
    assert res.returncode == 0 and "examples:" in res.stdout and "srun rdm-widgets create-rdms" in res.stdout
    for command in ("create-rdms", "eeg-rdm", "tiled-rdm", "compare", "estimate", "dashboard"):
        assert command in res.stdout
    from rdm_widgets import __version__
    from rdm_widgets.cli import main

    for command in ("create-rdms", "eeg-rdm", "tiled-rdm", "compare", "estimate", "dashboard"):
        assert main([command, "--help"]) == 0
        assert f"examples:\n  rdm-widgets {command} " in capsys.readouterr().out

    res = cli("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"rdm-widgets {__version__}"


def test_console_script():
    exe = Path(sys.executable).parent / ("rdm-widgets.exe" if os.name == "nt" else "rdm-widgets")
    if not exe.is_file():
        pytest.skip("the console script is not installed (pip install -e .)")
    res = cli("estimate", "tiled", 1000, 64, exe=str(exe))
    assert res.returncode == 0 and res.stdout.startswith("≈ "), res.stderr


# ------------------------------------------------------------------------------------------ dashboard
def test_dashboard_runs_voila_on_the_data_folder(tmp_path):
    fake = tmp_path / "bin" / "voila"
    fake.parent.mkdir()
    fake.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                    "json.dump({'argv': sys.argv[1:], 'root': os.environ.get('RDMW_DATA_ROOT')}, "
                    "open(os.environ['FAKE_VOILA_LOG'], 'w'))\n")
    fake.chmod(0o755)
    data = tmp_path / "data"
    data.mkdir()
    env = dict(os.environ, PATH=f"{fake.parent}{os.pathsep}{os.environ['PATH']}",
               FAKE_VOILA_LOG=str(tmp_path / "voila.json"))
    res = cli("dashboard", data, "--port", 8999, env=env)
    assert res.returncode == 0, res.stderr
    seen = json.loads((tmp_path / "voila.json").read_text())
    assert seen["root"] == str(data.resolve())
    notebook = Path(seen["argv"][0])
    assert notebook.name == "dashboard.ipynb" and notebook.is_file()
    assert {"--no-browser", "--port=8999", "--Voila.ip=127.0.0.1"} <= set(seen["argv"])

    res = cli("dashboard", tmp_path / "missing", env=env)
    assert res.returncode == 1 and ERROR.match(res.stderr.strip()) and "missing" in res.stderr


def test_dashboard_without_voila_says_how_to_install(monkeypatch, tmp_path, capsys):
    from rdm_widgets.cli import _dashboard, main

    monkeypatch.setattr(_dashboard.shutil, "which", lambda name: None)
    monkeypatch.setattr(_dashboard.sys, "executable", str(tmp_path / "python"))
    assert main(["dashboard"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'rdm_widgets[dashboard]'" in err


# ------------------------------------------------------------------------------------------ in process
def test_keyboard_interrupt_exits_130(monkeypatch, capsys):
    from rdm_widgets.cli import _dnn, main

    class Interrupted(RDMCreator):
        def create_rdms(self, feature_path, save_path=None, save_format="npz", distance="correlation",
                        chunk_size=None, pooling=None, **kwargs):
            raise KeyboardInterrupt

    monkeypatch.setattr(_dnn, "RDMCreator", Interrupted)
    assert main(["create-rdms", FEATURES, "out"]) == 130
    assert capsys.readouterr().err.strip() == "rdm-widgets: interrupted"


def test_progress_is_a_bar_on_a_terminal_and_lines_otherwise(monkeypatch):
    from rdm_widgets._progress import LineProgress
    from rdm_widgets.cli import build_parser
    from rdm_widgets.cli._common import progress_for

    args = build_parser().parse_args(["create-rdms", "f", "o", "--progress-interval", "5"])
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert progress_for(args, "RDMs") == (None, True)                       # tqdm (verbose=True)
    assert isinstance(progress_for(args, "RSA rows", bar=False)[0], LineProgress)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    progress, verbose = progress_for(args, "RDMs")
    assert isinstance(progress, LineProgress) and progress.interval == 5 and verbose is False
    quiet = build_parser().parse_args(["create-rdms", "f", "o", "-q"])
    assert progress_for(quiet, "RDMs") == (None, False)


def test_line_progress_throttles_and_reports_eta():
    import io

    from rdm_widgets._progress import LineProgress

    now, out = [0.0], io.StringIO()
    progress = LineProgress("RDMs", interval=10, stream=out, clock=lambda: now[0])
    for done in range(201):
        now[0] = done * 0.31
        progress(done, 200)
    progress(200, 200)                                      # 100 % is written once
    lines = out.getvalue().splitlines()
    assert all(LINE.match(line) for line in lines)
    assert [LINE.match(line)["pct"] for line in (lines[0], lines[-1])] == ["0", "100"]
    assert len(lines) == 2 + int(200 * 0.31 // 10)          # 0 %, one every 10 s, 100 %
    assert lines[1].endswith("elapsed 10 s, ETA 52 s")      # 33/200 after 10.2 s: 167 x 0.31 s
    progress(0, 5)                                          # a new count starts a new timer
    assert out.getvalue().splitlines()[-1].endswith("RDMs: 0/5 (0%), elapsed < 0.1 s")
