"""Browserless tests of the RSA panel (model vs brain): selectors, Run in the background,
bars with the noise ceiling, the table, the matching note and the CSV download."""
import csv
import threading

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform
from scipy.stats import spearmanr

from _widget_helpers import MIME, TIMEOUT, _all_widgets, _fig
from rdm_widgets.model_rsa import BY_ORDER_NOTE, model_brain_table
from rdm_widgets.rdm import LayerRDM
from rdm_widgets.rdm_files import RDMSet
from rdm_widgets.widgets._download import DownloadButton
from rdm_widgets.widgets.rsa_panel import RSAPanel, bundled_rsa_panel

N = 10
NAMES = [f"s{i}" for i in range(N)]


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, 4)) + 3.0 * (np.arange(N) % 2)[:, None]
    subj = np.stack([squareform(pdist(x + 0.5 * rng.normal(size=x.shape))) for _ in range(5)])
    models = {"good": LayerRDM(squareform(pdist(x)), NAMES, "good"),
              "noise": LayerRDM(squareform(pdist(rng.normal(size=(N, 4)))), NAMES, "noise")}
    return models, subj


def _run(panel):
    panel.run_button.click()
    assert panel.join(TIMEOUT)
    return panel


def test_run_shows_bars_table_note_and_csv():
    models, subj = _data()
    panel = RSAPanel(models={"net": models}, brains={"roi": RDMSet(subj, NAMES, "roi")}, n_permutations=100)
    classes = {c for w in _all_widgets(panel) for c in getattr(w, "_dom_classes", ())}
    assert {"rdmw-rsa-models", "rdmw-rsa-brain", "rdmw-rsa-method", "rdmw-rsa-run", "rdmw-rsa-figure",
            "rdmw-rsa-table", "rdmw-rsa-status", "rdmw-download"} <= classes
    assert panel.models_select.value == ("net",) and panel.brain_select.value == ("roi",)
    panel.method_dropdown.value = "pearson"
    _run(panel)
    assert panel.status.startswith("Done: 2 layer comparisons"), panel.status
    ref = model_brain_table({"net": models}, {"roi": RDMSet(subj, NAMES, "roi")}, method="pearson",
                            n_permutations=100, random_state=0)
    assert panel.table.rows == ref.rows
    fig = _fig(panel.figure)
    bars = [t for t in fig["data"] if t["type"] == "bar"]
    assert [b["name"] for b in bars] == ["net"] and list(bars[0]["x"]) == ["good", "noise"]
    rect = [s for s in fig["layout"]["shapes"] if s["type"] == "rect"][0]
    assert rect["y0"] == pytest.approx(ref.rows[0]["noise_lower"])
    assert "pearson" in fig["layout"]["title"]["text"]
    assert "by name (10 stimuli)" in panel.note_html.value
    assert "<table" in panel.table_html.value and "good" in panel.table_html.value
    # the CSV offered for download is the table's, and its numbers are the API's
    assert panel.download.filename == "rsa_table.csv" and panel.download.data == ref.to_csv().encode()
    rows = list(csv.DictReader(panel.download.data.decode().splitlines()))
    assert float(rows[0]["r"]) == ref.rows[0]["r"]
    # figure download format: the modebar's camera button
    assert panel.figure.outputs[0]["data"][MIME]["config"]["toImageButtonOptions"]["format"] == "png"
    panel.format_dropdown.value = "svg"
    assert panel.figure.outputs[0]["data"][MIME]["config"]["toImageButtonOptions"]["format"] == "svg"


def test_add_models_and_brains_and_matching_messages():
    models, subj = _data()
    panel = RSAPanel(n_permutations=0)
    panel.run()
    assert panel.status == "Error: choose at least one model and one brain RDM."
    panel.add_models("net", models)
    panel.add_brain("anon", RDMSet(subj, None, "anon"))          # no names: by order, said so
    panel.add_brain("single", LayerRDM(subj[0], NAMES, "single"))
    assert panel.brain_select.options[0] == ("anon (5 × 10)", "anon")
    _run(panel)
    assert BY_ORDER_NOTE in panel.note_html.value
    assert panel.table.brains == ["anon", "single"]
    iu = np.triu_indices(N, 1)
    single = panel.table.select(brain="single")[0]
    assert single["r"] == pytest.approx(spearmanr(models["good"].matrix[iu], subj[0][iu])[0])
    # a model whose names differ: skipped with the core's message, the others still shown
    panel.add_models("other", {"x": LayerRDM(models["good"].matrix, [f"x{i}" for i in range(N)], "x")})
    panel.brain_select.value = ("single",)
    _run(panel)
    assert "skipped 1 model/brain pair" in panel.status
    assert "Skipped single ~ other" in panel.note_html.value and "not in the model" in panel.note_html.value
    assert panel.table.models == ["net"]
    # only the mismatching model: an error, not an empty table
    panel.models_select.value = ("other",)
    _run(panel)
    assert panel.status.startswith("Error: No model matches"), panel.status


def test_compute_is_injected_and_stop_works():
    models, subj = _data()
    started, release = threading.Event(), threading.Event()
    calls = []

    def compute(models, brains, *, method, n_permutations, random_state, progress):
        calls.append((sorted(models), sorted(brains), method, n_permutations))
        started.set()
        release.wait(TIMEOUT)
        progress(1, 2)      # raises Cancelled after Stop
        raise AssertionError("not reached")

    panel = RSAPanel({"net": models}, {"roi": RDMSet(subj, NAMES)}, compute=compute, n_permutations=7)
    panel.run_button.click()
    assert started.wait(TIMEOUT) and panel.running and panel.run_button.disabled
    panel.stop_button.click()
    release.set()
    assert panel.join(TIMEOUT)
    assert panel.status == "Stopped: no table was computed." and panel.table is None
    assert calls == [(["net"], ["roi"], "spearman", 7)]


def test_bundled_panel_opens_on_mobilenet_vs_evc_it():
    panel = bundled_rsa_panel(n_permutations=50)
    assert panel.status.startswith("Done"), panel.status
    tab = panel.table
    assert tab.brains == ["EVC", "IT"] and tab.models == ["MobileNetV2"] and len(tab) == 10
    assert {r["matched"] for r in tab.rows} == {"by name (78 stimuli)"}
    fig = _fig(panel.figure)
    assert len([s for s in fig["layout"]["shapes"] if s["type"] == "rect"]) == 2      # two noise ceilings
    assert isinstance(panel.download, DownloadButton) and panel.download.size > 0


def test_bootstrap_ci_option_passed_and_drawn():
    """The "Bootstrap CI" choice goes to a compute function that takes it; the CIs become the error bars."""
    from dataclasses import replace

    models, subj = _data()
    calls = []

    def compute(models, brains, *, method, n_permutations, random_state, progress, bootstrap=None):
        calls.append(bootstrap)
        table = model_brain_table(models, brains, method=method, n_permutations=n_permutations,
                                  random_state=random_state)
        rows = [dict(r, ci_low=r["r"] - 0.1, ci_high=r["r"] + 0.05 * (i + 1), bootstrap=bootstrap)
                if bootstrap else dict(r, ci_low=float("nan"), ci_high=float("nan"), bootstrap=None)
                for i, r in enumerate(table.rows)]
        return replace(table, rows=rows)

    panel = RSAPanel(models={"net": models}, brains={"roi": RDMSet(subj, NAMES, "roi")}, compute=compute,
                     n_permutations=50)
    assert not panel.bootstrap_dropdown.disabled and panel.bootstrap_dropdown.value is None
    _run(panel)
    assert calls == [None]
    assert _fig(panel.figure)["layout"]["meta"]["error"] == "SEM"
    panel.bootstrap_dropdown.value = "both"
    _run(panel)
    assert calls == [None, "both"]
    fig = _fig(panel.figure)
    bar = [t for t in fig["data"] if t["type"] == "bar"][0]
    from _widget_helpers import _decode

    rows = panel.table.rows
    np.testing.assert_allclose(_decode(bar["error_y"]["array"]), [r["ci_high"] - r["r"] for r in rows])
    np.testing.assert_allclose(_decode(bar["error_y"]["arrayminus"]), [r["r"] - r["ci_low"] for r in rows])
    assert fig["layout"]["meta"]["error"] == "bootstrap CI"
    assert "bootstrap CI" in panel.table_html.value and "(both)" in panel.table_html.value


def test_bootstrap_dropdown_disabled_for_a_compute_without_it():
    models, subj = _data()
    seen = []

    def compute(models, brains, *, method, n_permutations, random_state, progress):
        seen.append(method)
        return model_brain_table(models, brains, method=method, n_permutations=n_permutations)

    panel = RSAPanel(models={"net": models}, brains={"roi": RDMSet(subj, NAMES, "roi")}, compute=compute,
                     n_permutations=20)
    assert panel.bootstrap_dropdown.disabled and "bootstrap" not in panel.options()
    _run(panel)
    assert seen == ["spearman"] and panel.table is not None
    # the default compute function passes the choice on only where the core has the parameter
    from rdm_widgets.model_rsa import model_brain_table as mbt
    from rdm_widgets.widgets.rsa_panel import accepts, default_compute

    assert accepts(default_compute, "bootstrap")
    brains = {"roi": RDMSet(subj, NAMES, "roi")}
    if not accepts(mbt, "bootstrap"):
        with pytest.raises(ValueError, match="bootstrap"):
            default_compute({"net": models}, brains, method="spearman",
                            n_permutations=0, random_state=0, progress=None, bootstrap="stimuli")
    else:   # the panel's default gives the core's CIs
        got = default_compute({"net": models}, brains, method="spearman", n_permutations=0, random_state=0,
                              progress=None, bootstrap="subjects")
        want = mbt({"net": models}, brains, method="spearman", n_permutations=0, random_state=0,
                   bootstrap="subjects")
        assert [(r["ci_low"], r["ci_high"]) for r in got.rows] == [(r["ci_low"], r["ci_high"]) for r in want.rows]
        assert all(np.isfinite(r["ci_low"]) for r in got.rows)
        panel = RSAPanel(models={"net": models}, brains=brains, n_permutations=0)
        assert not panel.bootstrap_dropdown.disabled
        panel.bootstrap_dropdown.value = "subjects"
        _run(panel)
        assert [(r["ci_low"], r["ci_high"]) for r in panel.table.rows] == \
            [(r["ci_low"], r["ci_high"]) for r in want.rows]
        assert _fig(panel.figure)["layout"]["meta"]["error"] == "bootstrap CI"
