"""docs/guarantees.md names the test behind each promise: every named test must exist."""
import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _tests_named(text: str) -> list:
    """``(file, test)`` for ``tests/x.py::test_a`` and the ``::test_b`` that follow it in a cell."""
    out = []
    for cell in text.split("|"):
        current = None
        for m in re.finditer(r"(tests/[\w/]+\.py)?::(\w+)", cell):
            current = m.group(1) or current
            assert current, f"'::{m.group(2)}' without a test file before it in: {cell.strip()[:120]}"
            out.append((current, m.group(2)))
    return out


def _defined(path: Path) -> set:
    tree = ast.parse(path.read_text())
    return {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def test_every_test_named_on_the_guarantees_page_exists():
    named = _tests_named((REPO / "docs" / "guarantees.md").read_text())
    assert len(named) >= 30
    missing = [f"{f}::{t}" for f, t in named if not (REPO / f).is_file() or t not in _defined(REPO / f)]
    assert missing == []


def test_the_checker_notices_a_missing_test(tmp_path):
    named = _tests_named("| promise | `tests/test_guarantees_page.py::no_such_test`, `::test_the_checker_notices_a_missing_test` |")
    assert named == [("tests/test_guarantees_page.py", "no_such_test"),
                     ("tests/test_guarantees_page.py", "test_the_checker_notices_a_missing_test")]
    assert "no_such_test" not in _defined(Path(__file__))
