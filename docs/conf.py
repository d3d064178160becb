"""Sphinx configuration of the orthokit documentation.

Build (offline; warnings are errors, internal references checked)::

    python -m sphinx -W --keep-going -n -b html docs docs/_build/html
"""

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # document the orthokit of this checkout
sys.path.insert(0, str(DOCS / "sphinxext"))

# The gallery runs the examples in this process: one BLAS thread (see the
# benchmarks' README), quick sizes, figures into the build folder.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("ORTHOKIT_QUICK", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ORTHOKIT_DOCS_OUT", str(DOCS / "_build" / "gallery_files"))

import orthokit  # noqa: E402

project = "orthokit"
author = "the orthokit developers"
copyright = "2026, the orthokit developers"  # noqa: A001
version = release = orthokit.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    # MathJax 3 bundled with the build (_static/mathjax), not loaded from a CDN:
    # the pages render their equations offline.
    "sphinx-mathjax-offline",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "internal_links",  # docs/sphinxext: every relative link and anchor resolves
    "offline_html",  # docs/sphinxext: no network asset, no unrendered math
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
default_role = "literal"

# -- API reference: autosummary stubs, numpydoc sections ---------------------
autosummary_generate = True
autodoc_default_options = {"members": True}
autodoc_typehints = "none"
numpydoc_show_class_members = False  # the class template lists members
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

# -- Internal references are checked (-n); external ones cannot be offline --
# No intersphinx: the build needs no network. References to other projects'
# objects (numpy, scikit-learn, torch, skorch, pandas...) are left unlinked.
nitpicky = True
nitpick_ignore_regex = [
    (
        r"py:.*",
        r"(numpy|np|scipy|sklearn|torch|skorch|pandas|pd|polars|dask|"
        r"statsmodels|matplotlib|joblib|dcor|narwhals|pyarrow)(\..*)?",
    ),
    (r"py:.*", r"(ndarray|DataFrame|Series|array-like|callable|optional)"),
    # Private helpers named in docstrings are not part of the API pages.
    (r"py:.*", r"orthokit(\.\w+)*\._\w+(\.\w+)*"),
    (r"py:.*", r"_\w+"),
    (r"py:class", r"ARMEDModule"),  # the torch module behind ARMED's ``module_``
]

# -- HTML ---------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"orthokit {release}"
html_static_path = []
html_theme_options = {
    "navbar_end": ["theme-switcher", "navbar-icon-links"],
    "show_prev_next": False,
    "icon_links": [],
}
html_show_sourcelink = False

# -- Gallery: every example runs at build time, at its quick size ------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": (
        r"/(plot_\w+|tabular_fairness|embedding_posthoc|cv_benchmark)\.py$"
    ),
    "within_subsection_order": "FileNameSortKey",
    "reset_argv": "gallery_hooks.reset_argv",
    "image_scrapers": ("matplotlib", "gallery_hooks.png_scraper"),
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    # The execution-times pages load jQuery and DataTables from CDNs: not built,
    # so that every page works offline (docs/sphinxext/offline_html.py).
    "write_computation_times": False,
    "capture_repr": ("_repr_html_", "__repr__"),
    "doc_module": ("orthokit",),
    "backreferences_dir": "gen_modules/backreferences",
}


def _skip_foreign_members(app, what, name, obj, skip, options):
    """Leave out members that classes inherit from scikit-learn, torch, skorch.

    Their docstrings belong to those projects (and refer to their glossaries);
    the members defined or overridden by orthokit are documented.
    """
    target = getattr(obj, "fget", obj)
    module = getattr(target, "__module__", None) or ""
    if what == "class" and module and not module.startswith("orthokit"):
        return True
    return None


def _write_cli_help(app):
    """Write ``orthokit [COMMAND] --help`` to generated/cli_*.txt for cli.rst."""
    import contextlib
    import io

    from orthokit.cli import build_parser

    out = DOCS / "generated"
    out.mkdir(exist_ok=True)
    for command in ("", "demo", "audit", "bench"):
        text = io.StringIO()
        with contextlib.redirect_stdout(text), contextlib.suppress(SystemExit):
            build_parser().parse_args([command, "--help"] if command else ["--help"])
        (out / f"cli_{command or 'main'}.txt").write_text(text.getvalue())


def setup(app):
    """Connect the member filter and the command-line help writer."""
    app.connect("autodoc-skip-member", _skip_foreign_members)
    app.connect("builder-inited", _write_cli_help)
