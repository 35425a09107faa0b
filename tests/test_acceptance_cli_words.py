"""Acceptance pass (command line): errors and warnings that the API words with keyword values
(``pooling='mean'``, ``balance=False``, ``pseudo_trials=K``, ``pooling=None``) name the command's
options instead (``--pooling mean|max|first|last``, ``--balance all``, ``--pseudo-trials K``), as
docs/cli.md promises. Bundled MiniLM features and S001 epochs."""
import pytest

from rdm_widgets.cli import main
from rdm_widgets.demo import demo_path


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("rdm-widgets: error: ") and len(err.splitlines()) == 1, err
    return err


def test_varying_sequence_length_names_the_pooling_option(tmp_path, capsys):
    assert main(["create-rdms", str(demo_path("minilm")), str(tmp_path / "out"), "-q"]) == 1
    err = _error(capsys)
    assert "Pass --pooling mean|max|first|last to pool over the sequence axis" in err
    assert "pooling=" not in err
    assert not (tmp_path / "out").exists()


def test_pooling_with_multi_timepoint_says_leave_out_pooling(tmp_path, capsys):
    assert main(["create-rdms", str(demo_path("minilm")), str(tmp_path / "out"), "--multi-timepoint", "clip",
                 "--pooling", "mean", "-q"]) == 1
    err = _error(capsys)
    assert "--pooling mean cannot be combined with --multi-timepoint clip" in err
    assert "Leave out --pooling." in err and "=" not in err.split("error: ", 1)[1]


def test_balance_all_without_pseudo_trials_names_the_options(tmp_path, capsys):
    assert main(["eeg-rdm", str(demo_path("eeg")), str(tmp_path / "e.npz"), "--balance", "all", "-q"]) == 1
    err = _error(capsys)
    assert err.startswith("rdm-widgets: error: --balance all (use every trial) needs --pseudo-trials K")
    assert "--balance first (the default)" in err
    assert "balance=" not in err and "pseudo_trials=" not in err


def test_warnings_name_the_options_too(tmp_path, capsys):
    assert main(["eeg-rdm", str(demo_path("eeg")), str(tmp_path / "e.npz"), "--labels", "target",
                 "--decim", "32", "-q"]) == 0
    warning = [line for line in capsys.readouterr().err.splitlines() if line.startswith("rdm-widgets: warning:")]
    assert len(warning) == 1 and "unequal trial counts" in warning[0]
    assert "--balance random draws them" in warning[0] and "--balance all with --pseudo-trials K" in warning[0]
    assert "balance=" not in warning[0]


@pytest.mark.parametrize("text, expected", [
    ("Pass overwrite=True to replace them", "Pass --overwrite to replace them"),
    ("choose one with layer=...: ['a']", "choose one with --layer: ['a']"),
    ("Invalid value for 'distance': 'x'. Allowed: 'correlation'", "Invalid value for --distance: 'x'. Allowed: 'correlation'"),
    ("no keyword here: pooling is fine", "no keyword here: pooling is fine"),
])
def test_existing_translations_unchanged(text, expected):
    import argparse

    from rdm_widgets.cli._common import _in_cli_words

    p = argparse.ArgumentParser()
    opts = {}
    for dest, flag in (("overwrite", "--overwrite"), ("layer", "--layer"), ("distance", "--distance"),
                       ("pooling", "--pooling")):
        action = p.add_argument(flag, dest=dest, action="store_true" if dest == "overwrite" else "store")
        opts[dest] = (flag, action)
    assert _in_cli_words(text, opts) == expected
