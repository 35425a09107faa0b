"""Every widget documents its traitlets in a numpydoc ``Attributes`` section (what the API reference
shows: numpydoc drops a section it does not know, such as "Attributes (traitlets)").

The rule: every public class of ``rdm_widgets.widgets`` (its modules, private ones included) that
has traits lists, under ``Attributes``, each public trait (no leading ``_``) that the class or one
of its ``rdm_widgets`` bases declares (synced ``tag(sync=True)`` ones or not). Traits inherited
from ipywidgets / anywidget (``layout``, ``children``, ...) are documented there. Every entry,
traitlet or not, has the form ``name : type`` with an indented description, and the docstring
parses without a numpydoc warning."""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import warnings

import pytest

pytest.importorskip("ipywidgets")
docscrape = pytest.importorskip("numpydoc.docscrape")

from traitlets import HasTraits  # noqa: E402

import rdm_widgets.widgets as widgets_pkg  # noqa: E402


def _widget_classes() -> list:
    found = {}
    for info in pkgutil.iter_modules(widgets_pkg.__path__):
        module = importlib.import_module(f"{widgets_pkg.__name__}.{info.name}")
        for name, cls in vars(module).items():
            if (inspect.isclass(cls) and cls.__module__ == module.__name__ and not name.startswith("_")
                    and issubclass(cls, HasTraits)):
                found[f"{module.__name__}.{name}"] = cls
    return [found[k] for k in sorted(found)]


CLASSES = _widget_classes()


def own_traits(cls) -> set:
    """Public traits declared in the body of ``cls`` or of one of its rdm_widgets bases."""
    out = set()
    for name in cls.class_traits():
        if name.startswith("_"):
            continue
        owner = next(c for c in cls.__mro__ if name in vars(c))
        if owner.__module__.split(".")[0] == "rdm_widgets":
            out.add(name)
    return out


def _attributes(cls) -> list:
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # e.g. "Unknown section Attributes (traitlets)"
        doc = docscrape.ClassDoc(cls, config={"show_class_members": False})
    return doc["Attributes"]


def test_the_widgets_are_found():
    names = {cls.__name__ for cls in CLASSES}
    assert {"RDMViewer", "RDMCreationPanel", "EEGPanel", "RSAPanel", "TimecourseViewer", "Dashboard",
            "OnDiskRDMViewer", "GeneralizationViewer", "ModelTimeViewer", "ClickGrid",
            "DownloadButton"} <= names
    # the rule is not empty: the synced traitlets of the anywidgets are among the checked ones
    grid = next(cls for cls in CLASSES if cls.__name__ == "ClickGrid")
    synced = {n for n, t in grid.class_traits().items() if t.metadata.get("sync") and not n.startswith("_")}
    assert {"matrix", "selected"} <= own_traits(grid) <= synced


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_traitlet_is_under_attributes(cls):
    documented = set()
    for entry in _attributes(cls):
        names = [n.strip() for n in entry.name.split(",")]
        documented.update(names)
        assert entry.type.strip(), f"{cls.__name__}.{entry.name}: no type ('name : type')"
        assert " ".join(entry.desc).strip(), f"{cls.__name__}.{entry.name}: no description"
    missing = own_traits(cls) - documented
    assert not missing, f"{cls.__name__}: traitlets missing from its Attributes section: {sorted(missing)}"


def test_no_heading_numpydoc_would_drop():
    for cls in CLASSES:
        lines = [line.strip() for line in (cls.__doc__ or "").splitlines()]
        for heading, rule in zip(lines, lines[1:]):
            if rule and set(rule) == {"-"} and heading.startswith("Attributes"):
                assert heading == "Attributes", f"{cls.__name__}: {heading!r}"
