"""Hooks that let sphinx-gallery run the example scripts as they are.

They are referenced by name from ``conf.py`` (``"gallery_hooks.reset_argv"``)
so that Sphinx can pickle the configuration.
"""

import ast
import os
import shutil
from pathlib import Path

from sphinx_gallery.scrapers import figure_rst

#: Command-line arguments of the scripts that take them (their quick sizes).
QUICK_ARGV = {
    "tabular_fairness.py": ["--quick"],
    "embedding_posthoc.py": ["--quick"],
    "cv_benchmark.py": ["--quick", "--folds", "2", "--repeats", "1", "--n-jobs", "1"],
}

#: Scripts that write their figures to ``--out`` instead of leaving them open.
WRITES_FILES = {"tabular_fairness.py"}


def _out_dir(src_file):
    """Folder where a script writes its figure files during the build."""
    return Path(os.environ.get("ORTHOKIT_DOCS_OUT", "/tmp")) / Path(src_file).stem


def reset_argv(gallery_conf, script_vars):
    """Return the script's arguments and give it its module docstring.

    sphinx-gallery runs a script with ``__doc__ = ""``; the story scripts build
    their ``argparse`` description from ``__doc__``, so it is restored here.
    """
    src_file = script_vars["src_file"]
    source = Path(src_file).read_text(encoding="utf-8")
    script_vars["example_globals"]["__doc__"] = ast.get_docstring(ast.parse(source))
    name = Path(src_file).name
    argv = list(QUICK_ARGV.get(name, []))
    if name in WRITES_FILES:
        out = _out_dir(src_file)
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        argv += ["--out", str(out)]
    return argv


def png_scraper(block, block_vars, gallery_conf):
    """Collect the PNG files a script wrote to its ``--out`` folder.

    The pattern of sphinx-gallery's "custom image scraper" documentation:
    each file is moved to the path sphinx-gallery hands out, once.
    """
    if Path(block_vars["src_file"]).name not in WRITES_FILES:
        return ""
    out = _out_dir(block_vars["src_file"])
    image_names = []
    for png in sorted(out.glob("*.png")):
        target = block_vars["image_path_iterator"].next()
        shutil.move(png, target)
        image_names.append(target)
    return figure_rst(image_names, gallery_conf["src_dir"])
