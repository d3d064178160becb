r"""Check that the built HTML works offline and that its math is typeset.

Run at the end of every HTML build (``build-finished``, after the bundled
MathJax is copied): a page that loads a script or stylesheet from the network
shows raw LaTeX, or no styling, to a reader without network (a hospital behind
a firewall); a math delimiter outside the elements MathJax typesets stays raw
LaTeX even with the network. Every problem is reported with its page, and the
build fails.

Checked on every page:

- no ``<script src>`` and no ``<link rel="stylesheet">`` with an absolute URL
  (``http:``, ``https:``, ``//``), and every local one exists in the build;
- a page with math loads the bundled MathJax (``_static/mathjax/``);
- outside the math elements (``class="math"``, which MathJax typesets),
  scripts, styles and code blocks, no ``\[``, ``\(``, ``$$``, ``\begin{``
  or ``:math:`` is left: math that Sphinx did not turn into a math element.
"""

import posixpath
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

_TAG = re.compile(r"<(script|link)\b([^>]*)>", re.IGNORECASE)
_ATTR = re.compile(r"""([\w-]+)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)""")
_MATH_ELEMENT = re.compile(
    r"<(div|span)\b[^>]*\bclass=\"[^\"]*\bmath\b[^\"]*\"[^>]*>.*?</\1>",
    re.DOTALL,
)
_SKIPPED = re.compile(
    r"<(script|style|pre|code|textarea)\b[^>]*>.*?</\1>", re.DOTALL | re.IGNORECASE
)
_RAW_MATH = re.compile(r"\\\[|\\\(|\$\$|\\begin\{|:math:`")
_MATHJAX = "_static/mathjax/"


def _attributes(text):
    return {name.lower(): value.strip("\"'") for name, value in _ATTR.findall(text)}


def _is_external(url):
    """Whether ``url`` names another host (``https://...``, ``//cdn...``)."""
    return bool(re.match(r"^(?:[a-z][a-z0-9+.-]*:)?//", url, re.IGNORECASE))


def page_problems(html, page, outdir):
    """Return the problems of one built page (``page`` relative to ``outdir``)."""
    problems = []
    folder = posixpath.dirname(page)
    loads_mathjax = False
    for tag, attributes in _TAG.findall(html):
        attrs = _attributes(attributes)
        if tag.lower() == "script":
            url = attrs.get("src")
        elif "stylesheet" in attrs.get("rel", "").lower().split():
            url = attrs.get("href")
        else:
            continue
        if not url:
            continue
        if url.lower().startswith("data:"):
            continue
        if _is_external(url) or urlsplit(url).scheme:
            problems.append(f"loads {tag} {url} from the network")
            continue
        local = posixpath.normpath(posixpath.join(folder, unquote(urlsplit(url).path)))
        if not (Path(outdir) / local).is_file():
            problems.append(f"loads {tag} {url}, which is not in the build")
        if local.startswith(_MATHJAX):
            loads_mathjax = True
    has_math = bool(_MATH_ELEMENT.search(html))
    if has_math and not loads_mathjax:
        problems.append("has math but does not load the bundled MathJax")
    text = _SKIPPED.sub("", _MATH_ELEMENT.sub("", html))
    for match in _RAW_MATH.finditer(text):
        start = max(match.start() - 40, 0)
        context = " ".join(text[start : match.end() + 40].split())
        problems.append(f"unrendered math {match.group(0)!r} in ...{context}...")
    return problems


def check_build(app, exc):
    """Check every HTML page of a successful build; fail on any problem."""
    if exc is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    count = 0
    for path in sorted(outdir.rglob("*.html")):
        page = path.relative_to(outdir).as_posix()
        if page.startswith("_static/"):  # the theme's templates, not pages
            continue
        for problem in page_problems(path.read_text(encoding="utf-8"), page, outdir):
            logger.warning("%s: %s", page, problem)
            count += 1
    if count:
        raise ExtensionError(
            f"{count} problem(s) in the built HTML: it would not render offline."
        )


def setup(app):
    """Run the check after the bundled MathJax is copied (priority 900)."""
    app.connect("build-finished", check_build, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
