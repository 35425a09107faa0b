"""Build the import graph of a package from its source (no import is executed).

Every ``import`` and ``from ... import`` statement counts, also the lazy ones inside
functions: a cycle closed by a lazy import is still a cycle a reader must untangle.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Graph:
    modules: dict = field(default_factory=dict)      # name -> Path
    edges: dict = field(default_factory=dict)        # name -> {imported internal module: [lineno]}
    external: dict = field(default_factory=dict)     # name -> {top-level package: [(lineno, lazy)]}
    private_imports: list = field(default_factory=list)  # (importer, source module, name, lineno)


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(importer: str, is_pkg: bool, level: int, module: str | None) -> str:
    if level == 0:
        return module or ""
    base = importer.split(".") if is_pkg else importer.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def build(root: Path, exclude=("demo_data",)) -> Graph:
    """Graph of the package whose ``__init__.py`` is in folder ``root``."""
    g = Graph()
    files = [p for p in sorted(root.rglob("*.py")) if not set(p.relative_to(root).parts) & set(exclude)]
    for p in files:
        g.modules[module_name(root, p)] = p
    pkg = root.name
    for name, path in g.modules.items():
        is_pkg = path.name == "__init__.py"
        tree = ast.parse(path.read_text(), str(path))
        lazy_nodes = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                      for n in ast.walk(f)}
        edges, ext = g.edges.setdefault(name, {}), g.external.setdefault(name, {})
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [(a.name, None) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_pkg, node.level, node.module)
                targets = []
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    # "from . import x" imports the submodule x when it is one
                    targets.append((sub, None) if sub in g.modules else (base, a.name))
            else:
                continue
            lazy = id(node) in lazy_nodes
            for target, imported in targets:
                if target == pkg or target.startswith(pkg + "."):
                    mod = target
                    while mod not in g.modules and "." in mod:
                        mod = mod.rsplit(".", 1)[0]
                    if mod != name:
                        edges.setdefault(mod, []).append(node.lineno)
                    if imported and imported.startswith("_") and not imported.startswith("__"):
                        g.private_imports.append((name, mod, imported, node.lineno))
                else:
                    ext.setdefault(target.split(".")[0], []).append((node.lineno, lazy))
    return g


def cycles(g: Graph) -> list:
    """Strongly connected components with more than one module (Tarjan), sorted."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g.modules):
        if v not in index:
            visit(v)
    return sorted(out)


def parent_package(g: Graph, module: str) -> str:
    return module if g.modules[module].name == "__init__.py" else module.rsplit(".", 1)[0]


def bad_private_imports(g: Graph) -> list:
    """Private names imported from a public module, or from another (sub)package.

    A private name may come only from a private module (``_x.py``) of the importer's own
    package: e.g. ``eeg/_lda.py`` may take ``_helmert`` from ``eeg/_lda_base.py``, but
    nothing may take ``_staged`` from ``creator.py`` or anything private from ``eeg`` into
    ``estimate``.
    """
    out = []
    for importer, source, name, line in g.private_imports:
        same_pkg = parent_package(g, importer) == parent_package(g, source)
        private_module = source.rsplit(".", 1)[-1].startswith("_") and g.modules[source].name != "__init__.py"
        if not (same_pkg and private_module):
            out.append(f"{importer}:{line} imports {name} from {source}")
    return out
