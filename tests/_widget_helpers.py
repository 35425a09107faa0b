"""Shared helpers of the browserless widget tests (tests/test_widgets_*.py): fake compute
functions, small data files, and readers of the Plotly figures the widgets put in their Outputs.

Compute functions are injected fakes (they call progress and return known data) except in the
tests marked "real core", which run the real creator / EEG core on small inputs.
"""
import base64
from pathlib import Path

import numpy as np

from rdm_widgets.rdm import LayerRDM

MIME = "application/vnd.plotly.v1+json"
TIMEOUT = 60


def _decode(value):
    """Plotly >= 6 encodes numpy arrays as {'dtype', 'bdata', 'shape'}; return an ndarray either way."""
    if isinstance(value, dict) and "bdata" in value:
        arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        if "shape" in value:
            arr = arr.reshape([int(s) for s in str(value["shape"]).split(",")])
        return arr
    return np.asarray(value, dtype=np.float64)


def _fig(out, k=0):
    return out.outputs[k]["data"][MIME]


def _title(out, k=0):
    title = _fig(out, k)["layout"]["title"]
    return title["text"] if isinstance(title, dict) else title


def _z(out, k=0):
    return _decode(_fig(out, k)["data"][0]["z"])


def _feature_folder(folder: Path, n=8, seed=0, seq=False) -> np.ndarray:
    """Per-stimulus npz folder with a planted 2-group structure; returns the (n, D) features."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    base = np.where(np.arange(n)[:, None] < n // 2, 1.0, -1.0) * rng.normal(size=(1, 12))
    x = base + 0.3 * rng.normal(size=(n, 12))
    for i in range(n):
        arrays = {"layer_a": x[i][None].astype(np.float32), "layer_b": (2 * x[i][None]).astype(np.float32)}
        if seq:
            arrays = {"tokens": rng.normal(size=(3 + i % 3, 4)).astype(np.float32)}
        np.savez(folder / f"stim_{i + 1:02d}.npz", **arrays)
    return x


def _fake_create(rdm_matrix, stimuli, calls=None):
    """Fake compute: reports 4 steps and returns one layer's RDM (the panel then saves it)."""
    def compute(feature_path, *, distance, chunk_size, pooling, device, progress):
        if calls is not None:
            calls.append(dict(feature_path=feature_path, distance=distance, chunk_size=chunk_size,
                              pooling=pooling, device=device))
        for i in range(5):
            progress(i, 4)
        return {"fake_layer": LayerRDM(rdm_matrix, stimuli, "fake_layer", {"distance": distance})}
    return compute


def FakeTimeResolved(data, times, conditions, meta):
    """A real TimeResolvedRDM built from given numbers (no decoding run)."""
    from rdm_widgets.eeg import TimeResolvedRDM

    return TimeResolvedRDM(data, times=np.asarray(times), conditions=list(conditions), meta=meta)


def _fake_result(n=4, t=12, seed=0, meta=None):
    rng = np.random.default_rng(seed)
    d = rng.random((n, n, t))
    d = (d + d.transpose(1, 0, 2)) / 2
    for k in range(t):
        np.fill_diagonal(d[:, :, k], 0)
    times = np.linspace(-0.2, 0.8, t)
    return FakeTimeResolved(d, times, [f"cond{i}" for i in range(n)],
                            meta or {"method": "lda", "score": "accuracy", "chance": 0.5})


def _fake_eeg(calls=None, fail=None):
    def compute(eeg, labels, *, progress, times=None, **options):
        if calls is not None:
            calls.append(dict(options, n_trials=len(labels), times=times))
        if fail is not None:
            raise fail
        for i in range(4):
            progress(i + 1, 4)
        conds = sorted(set(labels))
        res = _fake_result(len(conds), len(times), meta={"method": options["method"], "score": "accuracy",
                                                          "chance": 0.5})
        res.times, res.conditions = np.asarray(times), conds
        return res
    return compute


def _all_widgets(w):
    yield w
    for child in getattr(w, "children", ()):
        yield from _all_widgets(child)
