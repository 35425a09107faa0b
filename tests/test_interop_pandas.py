"""pandas: RDMs to and from DataFrames with stimulus names on both axes; results, noise ceilings and
EEG time courses as tidy tables; CSV export from every result object (without pandas)."""
import io

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from rdm_widgets import LayerRDM, RDMSet, compare_rdms, model_brain_table, noise_ceiling  # noqa: E402
from rdm_widgets.eeg import TimeResolvedRDM  # noqa: E402
from rdm_widgets.model_rsa import rsa_timecourse_test  # noqa: E402
from rdm_widgets.rdm_files import bundled_brain_rdms, read_rdm_file  # noqa: E402


def _rdm(n=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, n))
    x = x + x.T
    np.fill_diagonal(x, 0)
    return LayerRDM(x, [f"s{i}" for i in range(n)], "fc")


def test_layer_rdm_square_frame_round_trip():
    rdm = _rdm()
    df = rdm.to_frame()
    assert list(df.index) == list(df.columns) == rdm.stimuli and df.index.name == "stimulus"
    np.testing.assert_array_equal(df.to_numpy(), rdm.matrix)
    kept = LayerRDM(df)                                       # the issue: names were lost
    assert kept.stimuli == rdm.stimuli
    np.testing.assert_array_equal(kept.matrix, rdm.matrix)
    shuffled = df[list(reversed(df.columns))]                 # columns aligned to the index
    np.testing.assert_array_equal(LayerRDM.from_frame(shuffled, layer="x").matrix, rdm.matrix)
    assert LayerRDM(df, stimuli=list("abcde")).stimuli == list("abcde")
    with pytest.raises(ValueError, match="square with the same stimulus names"):
        LayerRDM(pd.DataFrame(rdm.matrix, index=list("abcde"), columns=list("vwxyz")))
    with pytest.raises(TypeError, match="Expected a pandas DataFrame"):
        LayerRDM.from_frame(rdm.matrix)


def test_layer_rdm_long_frame_round_trip():
    rdm = _rdm()
    long = rdm.to_frame(tidy=True)
    assert list(long.columns) == ["stimulus_a", "stimulus_b", "value"] and len(long) == 10
    np.testing.assert_array_equal(long["value"].to_numpy(), rdm.condensed())
    back = LayerRDM.from_frame(long)
    assert back.stimuli == rdm.stimuli
    np.testing.assert_array_equal(back.matrix, rdm.matrix)
    with pytest.raises(ValueError, match="no value for 1 pair"):
        LayerRDM.from_frame(long.iloc[1:])
    bad = pd.concat([long, long.iloc[:1].assign(value=9.0)])
    with pytest.raises(ValueError, match="two values for the pair"):
        LayerRDM.from_frame(bad)


def test_layer_rdm_csv(tmp_path):
    rdm = _rdm()
    text = rdm.to_csv(tmp_path / "fc.csv")
    assert text.startswith("stimulus,s0,s1") and (tmp_path / "fc.csv").read_text() == text
    back = read_rdm_file(tmp_path / "fc.csv")
    np.testing.assert_array_equal(back.rdms[0], rdm.matrix)
    with pytest.raises(FileExistsError):
        rdm.to_csv(tmp_path / "fc.csv")


def test_rsa_result_and_noise_ceiling_tables(tmp_path):
    a, b = _rdm(seed=1), _rdm(seed=2)
    res = compare_rdms(a, b, n_permutations=20, random_state=0)
    df = res.to_frame()
    assert df.to_dict("records") == [{"method": "spearman", "r": res.r, "p": res.p, "n_permutations": 20}]
    assert pd.read_csv(io.StringIO(res.to_csv(tmp_path / "r.csv"))).equals(df)
    evc = bundled_brain_rdms()["EVC"]
    nc = noise_ceiling(evc.rdms, "pearson")
    lower, upper = nc                                           # still a tuple
    assert nc == (lower, upper) and (nc.lower, nc.upper) == (lower, upper)
    row = nc.to_frame().iloc[0]
    assert (row["method"], row["convention"], row["n_subjects"], row["upper"]) == ("pearson", "rdm_widgets", 15, upper)
    assert nc.to_csv().splitlines()[1] == f"pearson,rdm_widgets,15,{lower!r},{upper!r}"


def test_rsa_table_frame_equals_rows_and_csv(tmp_path):
    evc = bundled_brain_rdms()["EVC"]
    model = {"a": LayerRDM(evc.rdms[0], evc.stimuli, "a"), "b": LayerRDM(evc.rdms[1], evc.stimuli, "b")}
    table = model_brain_table(model, {"EVC": evc}, n_permutations=10)
    df = table.to_frame()
    records = df.to_dict("records")
    assert len(records) == len(table.rows)
    for rec, row in zip(records, table.rows):              # NaN (e.g. no bootstrap CI) equals NaN
        assert list(rec) == list(row)
        assert all(a == b or (isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b))
                   for a, b in zip(rec.values(), row.values())), (rec, row)
    back = pd.read_csv(io.StringIO(table.to_csv(tmp_path / "t.csv")))
    np.testing.assert_array_equal(back["r"].to_numpy(), df["r"].to_numpy())       # floats round-trip
    assert (tmp_path / "t.csv").is_file()


def test_time_resolved_tidy_table(tmp_path):
    rng = np.random.default_rng(3)
    d = rng.random((3, 3, 4))
    d = d + d.transpose(1, 0, 2)
    tr = TimeResolvedRDM(d, times=[0.0, 0.1, 0.2, 0.3], conditions=["x", "y", "z"])
    df = tr.to_frame()
    assert list(df.columns) == ["time", "condition_a", "condition_b", "value"] and len(df) == 4 * 3
    assert df.iloc[0].tolist() == [0.0, "x", "y", d[0, 1, 0]]
    assert df.iloc[-1].tolist() == [0.3, "y", "z", d[1, 2, 3]]
    wide = df.pivot_table(index="time", columns=["condition_a", "condition_b"], values="value")
    np.testing.assert_array_equal(wide[("x", "z")].to_numpy(), d[0, 2])
    back = pd.read_csv(io.StringIO(tr.to_csv(tmp_path / "tr.csv")))
    np.testing.assert_array_equal(back["value"].to_numpy(), df["value"].to_numpy())
    test = rsa_timecourse_test(LayerRDM(d[:, :, 0], ["x", "y", "z"]), tr, n_permutations=0)
    tdf = test.to_frame()
    assert list(tdf.columns) == ["time", "r", "p", "p_fdr", "method", "n_permutations"]
    np.testing.assert_array_equal(tdf["r"].to_numpy(), test.r)
    assert test.to_csv().count("\n") == 5


def test_rdm_set_tidy_table():
    evc = bundled_brain_rdms()["EVC"]
    small = RDMSet(evc.rdms[:2, :4, :4], evc.stimuli[:4], "EVC")
    df = small.to_frame()
    assert list(df.columns) == ["subject", "stimulus_a", "stimulus_b", "value"] and len(df) == 12
    assert df.iloc[0].tolist() == [0, "image_01", "image_02", small.rdms[0, 0, 1]]
    assert small.to_csv().splitlines()[0] == "subject,stimulus_a,stimulus_b,value"
