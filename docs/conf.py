"""Sphinx configuration of the rdm_widgets documentation (``make docs``).

Why these tools: see ``docs/README.md``. The notebooks of ``notebooks/`` are copied into
``docs/examples/_generated/`` at the start of every build (git-ignored) and executed by
myst-nb with a cache, so the Plotly figures in the pages are live and a rebuild without
changes executes nothing.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

from rdm_widgets._version import __version__  # noqa: E402

project = "rdm_widgets"
author = "rdm_widgets developers"
copyright = "rdm_widgets developers"
release = __version__
version = __version__

extensions = [
    "myst_nb",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx_copybutton",
]

# ---------------------------------------------------------------------------- Binder
# ONE setting: the GitHub "owner/name" of the public repository. Empty (the default while the
# repository has no public address): no Binder link is rendered anywhere; docs/binder.md says
# how to set it (RDMW_BINDER_REPO=owner/rdm_widgets make docs).
binder_repo = os.environ.get("RDMW_BINDER_REPO", "").strip().strip("/")
binder_branch = os.environ.get("RDMW_BINDER_BRANCH", "HEAD")


def binder_url(urlpath: str) -> str:
    """The mybinder.org launch address of ``urlpath`` ('' when ``binder_repo`` is unset)."""
    if not binder_repo:
        return ""
    return f"https://mybinder.org/v2/gh/{binder_repo}/{binder_branch}?urlpath={urlpath}"


if binder_repo:
    BINDER_LINKS = (
        f"[![Dashboard on Binder](https://mybinder.org/badge_logo.svg)]"
        f"({binder_url('voila%2Frender%2Fnotebooks%2Fdashboard.ipynb')}) "
        f"[![JupyterLab on Binder](https://img.shields.io/badge/launch-JupyterLab-orange)]"
        f"({binder_url('lab')})")
else:
    BINDER_LINKS = ("*No Binder link in this build: the repository's public address is not set "
                    "(`RDMW_BINDER_REPO=<owner>/<name> make docs`, see below).*")

# ---------------------------------------------------------------------------- notebooks
EXAMPLES = DOCS / "examples" / "_generated"
# the dashboard is a Voila app (widgets waiting for clicks): linked, with a screenshot, not run
NOT_EXECUTED = ["dashboard.ipynb"]


def copy_notebooks() -> list[str]:
    """Copy ``notebooks/*.ipynb`` (not the dashboard) into ``examples/_generated``.

    Files are rewritten only when their content changed, so that Sphinx and the execution
    cache see an unchanged notebook as unchanged. The notebooks read their data through
    :func:`rdm_widgets.demo.demo_path`, so they run from any folder.
    """
    EXAMPLES.mkdir(parents=True, exist_ok=True)
    names = []
    for src in sorted((ROOT / "notebooks").glob("*.ipynb")):
        if src.name in NOT_EXECUTED:
            continue
        dst = EXAMPLES / src.name
        data = src.read_bytes()
        if not dst.exists() or dst.read_bytes() != data:
            dst.write_bytes(data)
        names.append(src.name)
    for stale in EXAMPLES.glob("*.ipynb"):
        if stale.name not in names:
            stale.unlink()
    return names


copy_notebooks()

# ---------------------------------------------------------------------------- sources
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "Thumbs.db", ".DS_Store", "api/generated/*.md"]
myst_enable_extensions = ["colon_fence", "dollarmath", "deflist", "substitution"]
myst_heading_anchors = 3
myst_substitutions = {"version": __version__, "binder_links": BINDER_LINKS}

# executed pages: the example notebooks and the user-guide pages (MyST-NB text notebooks)
nb_execution_mode = os.environ.get("RDMW_DOCS_EXECUTE", "cache")
nb_execution_cache_path = str(DOCS / "_build" / ".jupyter_cache")
nb_execution_timeout = 300
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_excludepatterns = NOT_EXECUTED
nb_merge_streams = True


# ---------------------------------------------------------------------------- Plotly figures
# The kernels that execute the pages render Plotly figures as an HTML div plus the call that
# draws it; plotly.js itself is loaded once per page from _static (copied from the installed
# plotly package, so the site works offline). The renderer is registered by an IPython startup
# file in a private IPYTHONDIR that the executing kernels inherit; the pages stay plain code.
IPYTHONDIR = DOCS / "_build" / "ipython"
PLOTLY_STARTUP = """\
try:
    import plotly.io as _pio
    from plotly.io._base_renderers import MimetypeRenderer as _MimetypeRenderer
except ImportError:  # no plotly: nothing to set up
    pass
else:
    class _DocsRenderer(_MimetypeRenderer):
        # a div and the Plotly.newPlot call; plotly.js comes from the page, MathJax from Sphinx
        def to_mimebundle(self, fig_dict):
            return {"text/html": _pio.to_html(fig_dict, include_plotlyjs=False, include_mathjax=False,
                                              full_html=False, default_height="450px",
                                              config={"responsive": True, "displaylogo": False})}

    _pio.renderers["rdmw_docs"] = _DocsRenderer()
    _pio.renderers.default = "rdmw_docs"
"""


def setup_plotly() -> None:
    """Write the kernels' startup file and copy plotly.js into ``_static`` (both git-ignored)."""
    import plotly

    startup = IPYTHONDIR / "profile_default" / "startup" / "00-rdmw-docs-plotly.py"
    startup.parent.mkdir(parents=True, exist_ok=True)
    if not startup.exists() or startup.read_text() != PLOTLY_STARTUP:
        startup.write_text(PLOTLY_STARTUP)
    os.environ["IPYTHONDIR"] = str(IPYTHONDIR)
    source = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    target = DOCS / "_static" / "plotly.min.js"
    if not target.exists() or target.stat().st_size != source.stat().st_size:
        shutil.copyfile(source, target)


setup_plotly()

# ---------------------------------------------------------------------------- API
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"            # numpydoc's Parameters carry the types
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set = set()

# nitpicky: every reference to this package's objects must resolve. Only third-party
# objects (no intersphinx: the build runs offline) are ignored here.
nitpicky = True
_THIRD_PARTY = r"(numpy|np|torch|scipy|sklearn|pandas|pd|mne|rsatoolbox|dask|distributed|h5py|" \
               r"plotly|ipywidgets|traitlets|anywidget|tqdm|IPython|pathlib|os|typing|collections|" \
               r"concurrent|threading|json|io|argparse|dataclasses|enum|abc)"
nitpick_ignore_regex = [
    (r"py:.*", _THIRD_PARTY + r"(\..*)?"),
    (r"py:class", r"(array-like|array_like|path-like|file-like|callable|optional|default.*)"),
]

# ---------------------------------------------------------------------------- HTML
html_theme = "pydata_sphinx_theme"
html_title = f"rdm_widgets {__version__}"
html_static_path = ["_static"]
html_js_files = ["plotly.min.js"]
html_css_files = ["rdmw.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc", "binder-link"],
}
html_context = {"binder_repo": binder_repo, "binder_branch": binder_branch}
html_sidebars = {"**": ["sidebar-nav-bs"]}
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True
# myst.header: notebook 05 uses H3 under its H1 (a notebook's choice, harmless in a page)
suppress_warnings = ["myst.header"]


def _binder_context(app, pagename, templatename, context, doctree):
    """Per page: the Binder address of the notebook it was made from (or nothing)."""
    notebook = None
    if pagename.startswith("examples/_generated/"):
        notebook = pagename.rsplit("/", 1)[1] + ".ipynb"
    context["binder_notebook_url"] = (
        binder_url(f"lab%2Ftree%2Fnotebooks%2F{notebook}") if notebook else "")
    context["binder_dashboard_url"] = binder_url(
        "voila%2Frender%2Fnotebooks%2Fdashboard.ipynb")


def _resolve_own_reference(app, env, node, contnode):
    """Resolve a reference to this package's objects that Sphinx could not place.

    Docstrings name objects the way a reader of the source sees them (``RDMCreator.create_rdms``,
    ``rdm_widgets.tiled_rdm``, ``FeatureSource.iter_layers``), while each object has exactly one
    page, under the module that defines it. A reference is linked to the documented object whose
    full name ends with the target (the shortest such name when several do). Targets with a
    private part (``_lda``, ``rdm_widgets._cost``) are implementation notes, not API: they stay
    literal text. Anything else that does not resolve still fails the build (nitpicky).
    """
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "").lstrip(".~")
    parts = target.split(".")
    if any(p.startswith("_") and not (p.startswith("__") and p.endswith("__")) for p in parts):
        return contnode
    objects = env.get_domain("py").objects
    index = getattr(env, "_rdmw_suffix_index", None)
    if index is None or index[0] != len(objects):
        suffixes: dict[str, list[str]] = {}
        for full in objects:
            if not full.startswith("rdm_widgets"):
                continue
            pieces = full.split(".")
            for i in range(len(pieces)):
                suffixes.setdefault(".".join(pieces[i:]), []).append(full)
        index = (len(objects), suffixes)
        env._rdmw_suffix_index = index
    candidates = None
    for start in range(len(parts)):        # rdm_widgets.RDMCreator.create_rdms -> RDMCreator.create_rdms
        candidates = index[1].get(".".join(parts[start:]))
        if candidates:
            break
    if not candidates:
        if _private_only(parts[0]):
            return contnode
        return None
    full = min(candidates, key=lambda c: (len(c), c))
    entry = objects[full]
    from sphinx.util.nodes import make_refnode
    return make_refnode(app.builder, node.get("refdoc", ""), entry.docname, entry.node_id,
                        contnode, full)


def _private_only(name: str) -> bool:
    """True when ``name`` exists in this package but in no public ``__all__`` (not API)."""
    found = False
    for modname, module in list(sys.modules.items()):
        if not modname.startswith("rdm_widgets") or module is None:
            continue
        if name in getattr(module, "__all__", ()) and \
                not any(p.startswith("_") for p in modname.split(".")):
            return False
        found = found or name in vars(module)
    return found


def setup(app):
    app.connect("html-page-context", _binder_context)
    app.connect("missing-reference", _resolve_own_reference)
