"""Write one API page per public module of rdm_widgets (``docs/api/<module>.rst``).

Run it after adding a public module or name: ``.venv/bin/python docs/api/_make_api_pages.py``.
``tests/test_docs.py`` fails while a name of any public ``__all__`` is missing from these pages.
Each name gets its stub page (autosummary ``:toctree:``) in the module it is defined in; other
modules re-exporting it list it with a link to that page.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

HERE = Path(__file__).resolve().parent


def public_modules() -> list[str]:
    """Every importable module of rdm_widgets without a private part in its name."""
    import rdm_widgets

    names = ["rdm_widgets"]
    for info in pkgutil.walk_packages(rdm_widgets.__path__, "rdm_widgets."):
        parts = info.name.split(".")[1:]
        if any(p.startswith("_") for p in parts) or "demo_data" in parts:
            continue
        names.append(info.name)
    return sorted(names)


def canonical(name: str, obj, candidates: list[str]) -> str:
    """The module whose page holds ``name``: where it is defined, else the first listing it."""
    defined = getattr(obj, "__module__", None) if (inspect.isclass(obj) or callable(obj)) else None
    if defined:
        owners = [m for m in candidates if defined == m or defined.startswith(m + "._")]
        if owners:
            return max(owners, key=len)
    return sorted(candidates, key=lambda m: (m == "rdm_widgets", m))[0]


def main() -> None:
    modules = {m: importlib.import_module(m) for m in public_modules()}
    listed: dict[tuple[int, str], list[str]] = {}
    for m, mod in modules.items():
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            listed.setdefault((id(obj), name), []).append(m)
    home = {}
    for m, mod in modules.items():
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            home[(m, name)] = canonical(name, obj, listed[(id(obj), name)])
    for old in HERE.glob("rdm_widgets*.rst"):
        old.unlink()
    for m, mod in modules.items():
        names = list(getattr(mod, "__all__", []))
        own = [n for n in names if home[(m, n)] == m]
        other = [n for n in names if home[(m, n)] != m]
        lines = [f"``{m}``", "=" * (len(m) + 4), "", f".. automodule:: {m}", "   :no-members:", "",
                 f".. currentmodule:: {m}", ""]
        if own:
            lines += [".. autosummary::", "   :toctree: generated/", "   :nosignatures:", ""]
            lines += [f"   {n}" for n in own] + [""]
        if other:
            lines += ["Also available here (documented where they are defined):", ""]
            lines += [f"- :py:obj:`{n} <{home[(m, n)]}.{n}>`" for n in other] + [""]
        if not names:
            lines += ["This module has no public names of its own (``__all__`` is empty).", ""]
        (HERE / f"{m}.rst").write_text("\n".join(lines))
    index = ["API reference", "=============", "",
             "Every public name of every public module (the ``__all__`` lists), generated from",
             "the docstrings. ``import rdm_widgets`` gives the most used names; the modules",
             "below hold the rest.", "", ".. toctree::", "   :maxdepth: 1", ""]
    index += [f"   {m}" for m in modules] + [""]
    (HERE / "index.rst").write_text("\n".join(index))


if __name__ == "__main__":
    main()
