"""Browserless tests of the timecourse viewer: time slider, clicked pair, RSA per layer, chance line."""
import numpy as np
import pytest

from _widget_helpers import MIME, _all_widgets, _decode, _fake_result, _fig, _title, _z
from rdm_widgets.rdm import LayerRDM
from rdm_widgets.widgets import ClickGrid, TimecourseViewer


def test_time_slider_drives_heatmap_and_title():
    res = _fake_result(n=4, t=12)
    viewer = TimecourseViewer(res)
    assert viewer.time_slider.max == 11
    for k in (3, 7):
        viewer.time_slider.value = k
        assert viewer.time_index == k
        assert f"t = {res.times[k]:.3f} s" in _title(viewer.eeg_heatmap)
        np.testing.assert_allclose(_z(viewer.eeg_heatmap), res.data[:, :, k])
        assert f"t = {res.times[k]:.3f} s" in viewer.time_label.value
    # mean timecourse with chance line and a marker at the slider's time
    fig = _fig(viewer.timecourse)
    np.testing.assert_allclose(_decode(fig["data"][0]["y"]), res.mean_timecourse())
    shapes = fig["layout"]["shapes"]
    assert any(s.get("y0") == 0.5 and s.get("y1") == 0.5 for s in shapes)       # chance
    assert any(s.get("x0") == pytest.approx(res.times[7]) for s in shapes)      # time marker


def test_pair_dropdowns_select_pair_timecourse():
    res = _fake_result(n=4, t=10, seed=5)
    viewer = TimecourseViewer(res)
    viewer.pair = [1, 3]
    assert (viewer.pair_a.value, viewer.pair_b.value) == (1, 3)
    fig = _fig(viewer.pair_timecourse)
    assert fig["layout"]["title"]["text"] == "cond1 vs cond3"
    np.testing.assert_allclose(_decode(fig["data"][0]["y"]), res.data[1, 3, :])
    # keyboard-accessible: the dropdowns
    viewer.pair_a.value = 2
    assert viewer.pair == [2, 3]
    np.testing.assert_allclose(_decode(_fig(viewer.pair_timecourse)["data"][0]["y"]), res.data[2, 3, :])
    # the pair's time marker follows the time slider
    viewer.time_index = 6
    shapes = _fig(viewer.pair_timecourse)["layout"].get("shapes", [])
    assert any(s.get("x0") == pytest.approx(res.times[6]) for s in shapes)
    # a condition with itself: a message, not a flat line at 0
    viewer.pair_b.value = 2
    assert viewer.pair == [2, 2]
    assert "with itself" in viewer.pair_timecourse.outputs[0]["data"]["text/plain"]


def test_matrix_drawn_once_labelled_with_what_the_values_are():
    res = _fake_result(n=4, t=6, meta={"method": "lda", "score": "accuracy", "chance": 0.5,
                                       "dissimilarity": "decoding accuracy"})
    viewer = TimecourseViewer(res)
    # one matrix: the labelled heatmap (no second, unlabelled click grid)
    assert not [w for w in _all_widgets(viewer) if isinstance(w, ClickGrid)]
    hm = _fig(viewer.eeg_heatmap)["data"][0]
    assert list(hm["x"]) == res.conditions and hm["colorbar"]["title"]["text"] == "decoding accuracy"
    # the colour range is fixed over time and ignores the zero diagonal
    iu = np.triu_indices(4, 1)
    off = res.data[iu[0], iu[1], :]
    assert (hm["zmin"], hm["zmax"]) == pytest.approx((off.min(), off.max()))
    crossnobis = _fake_result(meta={"method": "crossnobis", "chance": 0.0,
                                    "dissimilarity": "cross-validated squared distance per channel"})
    viewer.result = crossnobis
    title = _fig(viewer.eeg_heatmap)["data"][0]["colorbar"]["title"]["text"]
    assert title == "cross-validated squared distance per channel"


def test_new_labels_reset_the_pair():
    """The defect: after re-running with other labels the pair plot showed "X vs X" (flat 0)."""
    from _widget_helpers import FakeTimeResolved

    first = _fake_result(n=8, t=6, seed=1)
    first.conditions = [f"task{i}" for i in range(8)]
    viewer = TimecourseViewer(first)
    viewer.pair = [5, 7]
    second = _fake_result(n=4, t=6, seed=2)
    second.conditions = ["both_feet_imagined", "both_fists_imagined", "left_real", "right_real"]
    viewer.result = second
    assert viewer.pair == [0, 1] and (viewer.pair_a.value, viewer.pair_b.value) == (0, 1)
    fig = _fig(viewer.pair_timecourse)
    assert fig["layout"]["title"]["text"] == "both_feet_imagined vs both_fists_imagined"
    np.testing.assert_allclose(_decode(fig["data"][0]["y"]), second.data[0, 1, :])
    # the same pair index in a third result: still redrawn with the new data and names
    third = FakeTimeResolved(second.data[::-1, ::-1, :].copy(), second.times, ["a", "b", "c", "d"], second.meta)
    viewer.result = third
    fig = _fig(viewer.pair_timecourse)
    assert fig["layout"]["title"]["text"] == "a vs b"
    np.testing.assert_allclose(_decode(fig["data"][0]["y"]), third.data[0, 1, :])


def test_download_the_time_resolved_rdm(tmp_path):
    from rdm_widgets.eeg import TimeResolvedRDM

    res = TimeResolvedRDM(_fake_result(n=3, t=5).data, np.linspace(0, 0.4, 5), ["a", "b", "c"],
                          {"method": "lda", "chance": 0.5})
    viewer = TimecourseViewer(res)
    assert viewer.download.filename == "eeg_rdm_lda.npz" and "rdmw-eeg-download" in viewer.download._dom_classes
    (tmp_path / "x.npz").write_bytes(viewer.download.data)
    back = TimeResolvedRDM.from_file(tmp_path / "x.npz")
    np.testing.assert_array_equal(back.data, res.data)
    assert back.conditions == ["a", "b", "c"]


def test_rsa_timecourse_per_layer_when_models_loaded():
    from scipy.stats import spearmanr

    res = _fake_result(n=5, t=8, seed=2)
    rng = np.random.default_rng(9)
    conds = res.conditions
    a = rng.random((5, 5))
    a = (a + a.T) / 2 * (1 - np.eye(5))
    big = np.zeros((6, 6))
    big[1:, 1:] = a
    big[0, 1:] = big[1:, 0] = 0.5
    models = {
        "by_name": LayerRDM(a, conds, "by_name").reorder([4, 3, 2, 1, 0]),   # matched by names
        "superset": LayerRDM(big, ["extra"] + conds, "superset"),             # the conditions among more
        "by_count": LayerRDM(2 * a, [f"s{i}" for i in range(5)], "by_count"),  # 5 stimuli, other names
        "mismatch": LayerRDM(np.ones((3, 3)) - np.eye(3), None, "mismatch"),
        "array": 2 * a,                                                       # no names: by position
    }
    viewer = TimecourseViewer(res, model_rdms=models)
    # stimuli are matched to conditions by name (in the core), never by count
    assert set(viewer.rsa) == {"by_name", "superset", "array"}
    iu = np.triu_indices(5, 1)
    ref = np.array([spearmanr(a[iu], res.data[:, :, t][iu])[0] for t in range(8)])
    np.testing.assert_allclose(viewer.rsa["by_name"], ref, atol=1e-10)
    np.testing.assert_allclose(viewer.rsa["superset"], ref, atol=1e-10)
    np.testing.assert_allclose(viewer.rsa["array"], ref, atol=1e-10)
    note = viewer.rsa_note.value
    assert "by_count (5 stimuli)" in note and "mismatch (3 stimuli)" in note
    # the core's message names both lists
    assert "model stimuli [&#x27;s0&#x27;" in note and "EEG conditions [&#x27;cond0&#x27;" in note
    assert len(viewer.timecourse.outputs) == 2
    rsa_fig = _fig(viewer.timecourse, 1)
    assert [tr["name"] for tr in rsa_fig["data"]] == ["by_name", "superset", "array"]
    np.testing.assert_allclose(_decode(rsa_fig["data"][0]["y"]), ref, atol=1e-10)
    # names that match: only the caution about 5 conditions stays
    viewer.model_rdms = {"by_name": models["by_name"]}
    assert set(viewer.rsa) == {"by_name"}
    assert "No model–EEG RSA" not in viewer.rsa_note.value and "fewer than 6 conditions" in viewer.rsa_note.value


def _chance_lines(out, k=0):
    return [s["y0"] for s in _fig(out, k)["layout"].get("shapes", []) if s.get("y0") == s.get("y1")]


def test_chance_level_comes_from_the_result_meta():
    from rdm_widgets.widgets.timecourse import chance_level

    # the core's value wins over anything the method name suggests
    res = _fake_result(n=4, t=6, meta={"method": "lda", "score": "accuracy", "chance": 0.25})
    assert chance_level(res) == 0.25
    viewer = TimecourseViewer(res)
    assert _chance_lines(viewer.timecourse) == [0.25] and _chance_lines(viewer.pair_timecourse) == [0.25]
    # results without meta['chance'] (files of older versions): the core's method registry
    assert chance_level(_fake_result(meta={"method": "cv_euclidean", "score": "accuracy"})) == 0.0
    assert chance_level(_fake_result(meta={"method": "crossnobis"})) == 0.0
    assert chance_level(_fake_result(meta={"method": "lda_shrinkage", "score": "decision"})) == 0.5
    # nothing known: no chance line
    unknown = _fake_result(meta={"method": "my_distance", "score": "accuracy"})
    assert chance_level(unknown) is None
    assert _chance_lines(TimecourseViewer(unknown).timecourse) == []


def test_value_label_from_the_result_meta():
    res = _fake_result(meta={"method": "crossnobis", "chance": 0.0,
                             "dissimilarity": "cross-validated squared distance per channel"})
    fig = _fig(TimecourseViewer(res).timecourse)
    assert fig["layout"]["yaxis"]["title"]["text"] == "cross-validated squared distance per channel"
    old = _fake_result(meta={"method": "lda", "score": "accuracy"})      # older result: from the chance
    assert _fig(TimecourseViewer(old).timecourse)["layout"]["yaxis"]["title"]["text"] == "decoding accuracy"


def test_rsa_significance_and_caution():
    from rdm_widgets.model_rsa import rsa_timecourse_test

    res = _fake_result(n=7, t=8, seed=3)
    rng = np.random.default_rng(0)
    m = rng.random((7, 7))
    model = LayerRDM((m + m.T) * (1 - np.eye(7)), res.conditions, "conv")
    res.data[:, :, 4:] = model.matrix[:, :, None] + 0.01 * res.data[:, :, 4:]   # planted from t = 4
    viewer = TimecourseViewer(res, model_rdms={"conv": model}, rsa_permutations=200)
    ref = rsa_timecourse_test(model, res, n_permutations=200, random_state=0)
    test = viewer.rsa_tests["conv"]
    np.testing.assert_allclose(test.p, ref.p)
    np.testing.assert_allclose(test.p_fdr, ref.p_fdr)
    assert test.significant()[4:].all()
    fig = _fig(viewer.timecourse, 1)
    assert [t["name"] for t in fig["data"]] == ["conv", "conv p_FDR ≤ 0.05"]
    np.testing.assert_allclose(_decode(fig["data"][1]["x"]), res.times[test.significant()])
    assert viewer.rsa_note.value == ""            # 7 conditions: no caution
    # fewer than 6 conditions: the caution is shown
    small = _fake_result(n=4, t=5)
    viewer.result = small
    viewer.model_rdms = {"m": LayerRDM(small.data[:, :, 0], small.conditions, "m")}
    assert "fewer than 6 conditions" in viewer.rsa_note.value
    assert viewer.timecourse.outputs[1]["data"][MIME]["layout"]["yaxis"]["title"]["text"] == "spearman r"


# ---------------------------------------------------------------------- several subjects
def _group_fn(calls):
    """A stand-in for rdm_widgets.cluster.group_timecourse: the mean timecourses, mean ± SEM, one span."""
    from types import SimpleNamespace

    def fn(results):
        calls.append(sorted(results))
        values = np.stack([np.asarray(r.mean_timecourse(), float) for r in results.values()])
        times = next(iter(results.values())).times
        spans = [(float(times[3]), float(times[6]), 0.012)]
        test = SimpleNamespace(spans=lambda alpha=0.05: spans if alpha >= 0.012 else [])
        return SimpleNamespace(times=times, values=values, subjects=list(results), mean=values.mean(0),
                               sem=values.std(0, ddof=1) / np.sqrt(len(values)), chance=0.5,
                               label="decoding accuracy", test=test)
    return fn


def test_group_of_subjects_mean_sem_and_clusters():
    subjects = {f"S{i}": _fake_result(n=4, t=10, seed=i) for i in range(3)}
    calls = []
    viewer = TimecourseViewer(group=subjects, group_fn=_group_fn(calls))
    assert calls == [["S0", "S1", "S2"]]                       # the viewer only displays: computed once
    assert viewer.group_box.layout.display is None
    fig = _fig(viewer.group_timecourse)
    means = np.stack([r.mean_timecourse() for r in subjects.values()])
    line = next(tr for tr in fig["data"] if tr["name"] == "mean decoding accuracy")
    np.testing.assert_allclose(_decode(line["y"]), means.mean(0))
    band = _decode(fig["data"][0]["y"])
    sem = means.std(0, ddof=1) / np.sqrt(3)
    np.testing.assert_allclose(band[:10], means.mean(0) + sem)
    rects = [s for s in fig["layout"]["shapes"] if s["type"] == "rect"]
    t = subjects["S0"].times
    assert [(r["x0"], r["x1"]) for r in rects] == [pytest.approx((t[3], t[6]))]
    assert "p = 0.012" in viewer.group_note.value and "3 subjects" in viewer.group_note.value
    # each subject's lines, and the subject dropdown drives the RDM viewer part
    assert {tr["name"] for tr in fig["data"]} >= {"S0", "S1", "S2"}
    assert viewer.subject == "S0" and viewer.result is subjects["S0"]
    viewer.subject_dropdown.value = "S2"
    assert viewer.result is subjects["S2"]
    np.testing.assert_allclose(_z(viewer.eeg_heatmap), subjects["S2"].data[:, :, viewer.time_index])
    # the time marker of the group figure follows the slider
    viewer.time_index = 2
    assert any(s.get("x0") == pytest.approx(t[2]) and s["type"] == "line"
               for s in _fig(viewer.group_timecourse)["layout"]["shapes"])


def test_group_given_as_a_summary_and_errors():
    subjects = {f"S{i}": _fake_result(n=4, t=10, seed=i) for i in range(2)}
    summary = _group_fn([])(subjects)
    viewer = TimecourseViewer(group=summary, group_alpha=0.01)
    assert viewer.group_summary is summary and viewer.result is None
    assert viewer.subject_dropdown.layout.display == "none"
    assert not [s for s in _fig(viewer.group_timecourse)["layout"].get("shapes", []) if s["type"] == "rect"]
    assert "no cluster with p ≤ 0.01" in viewer.group_note.value

    def failing(results):
        raise ValueError("subjects have different times")
    viewer = TimecourseViewer(group=subjects, group_fn=failing)
    assert viewer.group_summary is None and "different times" in viewer.group_note.value
    viewer.group = None
    assert viewer.group_box.layout.display == "none"
