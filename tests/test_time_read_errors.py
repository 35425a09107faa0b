"""Every read of features whose clip count / sequence length differs between stimulus files gives
the advice of its own kind of read, however often and in whatever order the source is read:

- a time-resolved read (``multi_timepoint_rdms``): both files, both shapes, "a different number
  of clips / time points", and no pooling advice (pooling is not the fix there);
- a read without time axes: the pooling advice ("sequences of different lengths ... pooling=").

Before the fix a second time-resolved read of the same source (or one after a pooled read) was
refused from the length the first read had cached, with the pooled read's message."""
from __future__ import annotations

import numpy as np
import pytest

from rdm_widgets.creator import RDMCreator
from rdm_widgets.features import open_features

N, ODD = 6, 3            # files v_0 .. v_5; v_3 has the other clip count

#: layer -> (shape of every file but v_ODD, shape of v_ODD): one clip / time step more
SHAPES = {
    "clips": ((1, 4, 10), (1, 5, 10)),      # [1, clips, D]: a sequence shape
    "steps": ((4, 10), (5, 10)),            # [T, D]: a sequence shape without batch axis
    "video": ((1, 4, 3, 10), (1, 5, 3, 10)),  # [1, clips, T, D]: not a token sequence
}
#: how a time-resolved run reads: whole layers, streamed blocks (SRP), a PCA sample and blocks
READS = {"whole": {}, "srp": dict(dim_reduction="srp", n_components=4),
         "pca": dict(dim_reduction="pca", n_components=2)}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """One folder per layer (a header scan checks every layer of a folder, whichever is read)."""
    rng = np.random.default_rng(7)
    out = {}
    for layer, shapes in SHAPES.items():
        out[layer] = tmp_path_factory.mktemp(layer)
        for i in range(N):
            np.savez(out[layer] / f"v_{i}.npz", **{layer: rng.normal(size=shapes[i == ODD])})
    return out


def _message(fn) -> str:
    with pytest.raises(ValueError) as err:
        fn()
    return str(err.value)


def _assert_time_message(msg, layer):
    ref, odd = SHAPES[layer]
    assert f"Layer {layer!r} has shape {odd} in 'v_{ODD}.npz' but {ref} in 'v_0.npz'" in msg, msg
    assert "a different number of clips / time points" in msg and "multi_timepoint_rdms" in msg, msg
    assert "pooling" not in msg, msg


def _time_read(src, layer, kw):
    return lambda: RDMCreator().compute_rdms(src, layers=layer, multi_timepoint_rdms="clip", **kw)


def _pooled_read(src, layer):
    return lambda: RDMCreator().compute_rdms(src, layers=layer)


@pytest.mark.parametrize("how", list(READS))
@pytest.mark.parametrize("layer", list(SHAPES))
def test_every_time_resolved_read_gives_the_time_resolved_message(folders, layer, how):
    src = open_features(folders[layer])
    for _ in range(3):               # the first read finds the difference, later ones know it
        _assert_time_message(_message(_time_read(src, layer, READS[how])), layer)


@pytest.mark.parametrize("how", list(READS))
@pytest.mark.parametrize("layer", ["clips", "steps"])
def test_pooled_and_time_resolved_reads_keep_their_own_messages(folders, layer, how):
    """Interleaved on one source, starting with either kind of read."""
    ref, odd = SHAPES[layer]
    for first_pooled in (True, False):
        src = open_features(folders[layer])
        order = [True, False, True, False] if first_pooled else [False, True, False, True]
        for pooled in order:
            if pooled:
                msg = _message(_pooled_read(src, layer))
                assert f"Layer {layer!r} has sequences of different lengths: shape {odd} in " \
                       f"'v_{ODD}.npz' but {ref} in 'v_0.npz'" in msg, msg
                assert "Pass pooling='mean'" in msg, msg
            else:
                _assert_time_message(_message(_time_read(src, layer, READS[how])), layer)
        # pooling is the fix for the pooled read: it still works on the same source
        out = RDMCreator(dtype="float64").compute_rdms(src, layers=layer, pooling="mean")[layer]
        assert out.data.shape == (N, N)


@pytest.mark.parametrize("layer", list(SHAPES))
def test_feature_source_time_reads_after_a_failed_read(folders, layer):
    """The FeatureSource methods themselves: refused at the call (a length already seen to vary)
    or while reading (a 4-d layer's shapes are only compared file by file)."""
    src = open_features(folders[layer])
    reads = [lambda: list(src.iter_time_layers([layer], "clip")),
             lambda: list(src.iter_time_blocks(layer, "clip", rows=2))]
    for read in reads + reads:
        _assert_time_message(_message(read), layer)
    if layer != "video":
        # the count of a run's reads is refused too (a 4-d layer's count needs no file but the first)
        _assert_time_message(_message(lambda: src.count_time_reads([layer], "clip")), layer)
        # and the read without time axes of the same source gives the pooling advice
        assert "Pass pooling=" in _message(lambda: list(src.iter_layers([layer])))


def test_time_axes_decide_what_counts_as_a_time_point(tmp_path):
    """[1, clips, T, D] whose T differs: a time point count in 'all_timepoints' (both files named),
    a feature shape in 'clip' (where T is part of each clip's features; the message of any read)."""
    rng = np.random.default_rng(3)
    for i in range(N):
        np.savez(tmp_path / f"v_{i}.npz", frames=rng.normal(size=(1, 4, 2 if i == ODD else 3, 10)))
    src = open_features(tmp_path)
    for _ in range(2):
        msg = _message(lambda: RDMCreator().compute_rdms(src, multi_timepoint_rdms="all_timepoints"))
        assert "(1, 4, 2, 10) in 'v_3.npz' but (1, 4, 3, 10) in 'v_0.npz': a different number of " \
               "clips / time points" in msg, msg
        msg = _message(lambda: RDMCreator().compute_rdms(src, multi_timepoint_rdms="clip"))
        assert "(1, 4, 2, 10) in 'v_3.npz' but (1, 4, 3, 10) in 'v_0.npz'. Every stimulus must have " \
               "the same feature shape" in msg, msg
