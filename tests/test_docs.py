"""The documentation's promises that can be checked without building it (``make docs`` builds it).

- every name of every public ``__all__`` is on an API page (``docs/api/<module>.rst``);
- the Examples in the docstrings run and print what they show (doctest);
- no placeholder Binder owner in any link of the README or the docs.
"""
from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import rdm_widgets

ROOT = Path(__file__).resolve().parents[1]
API = ROOT / "docs" / "api"
OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

# the main public functions, each with a runnable Examples section
WITH_EXAMPLES = [
    "rdm_widgets.creator.RDMCreator.create_rdms",
    "rdm_widgets.distances.pairwise_distances",
    "rdm_widgets.features._open.open_features",
    "rdm_widgets.rdm.LayerRDM.from_file",
    "rdm_widgets.eeg._api.eeg_rdm",
    "rdm_widgets.rsa.compare_rdms",
    "rdm_widgets.rsa.noise_ceiling",
    "rdm_widgets.tiled._run.tiled_rdm",
    "rdm_widgets.model_rsa.model_brain_table",
    "rdm_widgets.rdm_files.read_rdm_file",
]


def _all_modules(public_only: bool) -> list[str]:
    names = ["rdm_widgets"]
    for info in pkgutil.walk_packages(rdm_widgets.__path__, "rdm_widgets."):
        parts = info.name.split(".")[1:]
        if "demo_data" in parts or (public_only and any(p.startswith("_") for p in parts)):
            continue
        names.append(info.name)
    return sorted(names)


PUBLIC = _all_modules(public_only=True)


def _api_entries(module: str) -> set[str]:
    """Names listed on a module's API page: autosummary entries and the links to re-exports."""
    page = API / f"{module}.rst"
    assert page.exists(), (f"No API page for the public module {module}: run "
                           f"'.venv/bin/python docs/api/_make_api_pages.py' (docs/api/{module}.rst).")
    text = page.read_text()
    entries = set(re.findall(r"^   ([A-Za-z_][\w.]*)\s*$", text, flags=re.M))
    entries |= set(re.findall(r"^- :py:obj:`([\w.]+) <", text, flags=re.M))
    return entries


@pytest.mark.parametrize("module", PUBLIC)
def test_every_public_name_has_an_api_entry(module):
    mod = importlib.import_module(module)
    listed = _api_entries(module)
    missing = [name for name in getattr(mod, "__all__", []) if name not in listed]
    assert not missing, (f"{module}.__all__ names without an API entry: {missing}. Run "
                         f"'.venv/bin/python docs/api/_make_api_pages.py' and commit docs/api/.")


def test_api_index_lists_every_public_module():
    index = (API / "index.rst").read_text()
    listed = set(re.findall(r"^   (rdm_widgets[\w.]*)\s*$", index, flags=re.M))
    assert listed == set(PUBLIC)


def test_api_pages_name_no_stale_objects():
    """An entry that no longer exists would fail the Sphinx build; catch it here first."""
    for page in API.glob("rdm_widgets*.rst"):
        module = page.stem
        mod = importlib.import_module(module)
        for name in _api_entries(module):
            if name == module.split(".")[-1]:
                continue
            assert name in getattr(mod, "__all__", []), f"{page.name} lists {name}, not in {module}.__all__"


def _doctests():
    finder = doctest.DocTestFinder()
    tests = {}
    for module in _all_modules(public_only=False):  # public functions live in private modules
        mod = importlib.import_module(module)
        for test in finder.find(mod, module):
            if test.examples:
                tests[test.name] = test
    return tests


DOCTESTS = _doctests()


def test_the_main_functions_have_examples():
    counts = {name: len(DOCTESTS[name].examples) if name in DOCTESTS else 0 for name in WITH_EXAMPLES}
    assert all(n >= 3 for n in counts.values()), counts
    assert sum(len(t.examples) for t in DOCTESTS.values()) >= 60


@pytest.mark.parametrize("name", sorted(DOCTESTS))
def test_docstring_examples_run(name):
    test = DOCTESTS[name]
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    report = []
    result = runner.run(test, out=report.append)
    assert result.failed == 0, "".join(report)


def test_doctest_catches_a_wrong_output():
    """The runner above fails on a wrong result (so the test cannot pass vacuously)."""
    parser = doctest.DocTestParser()
    test = parser.get_doctest(">>> 1 + 1\n3\n", {}, "wrong", "wrong.py", 0)
    result = doctest.DocTestRunner(optionflags=OPTIONS).run(test, out=lambda s: None)
    assert result.failed == 1


def _markdown_files():
    files = [ROOT / "README.md"]
    files += [p for p in (ROOT / "docs").rglob("*.md") if "_build" not in p.parts and "_generated" not in p.parts]
    return files


def test_no_placeholder_binder_owner():
    for path in _markdown_files():
        text = path.read_text()
        assert "OWNER" not in text, f"{path.relative_to(ROOT)} still has the placeholder OWNER"
        for url in re.findall(r"\]\((https://mybinder\.org/v2/gh/[^)\s]+)\)", text):  # links only
            owner = url.split("/")[5]
            assert owner and not re.fullmatch(r"<?(owner|user|OWNER|USER)>?", owner), url
