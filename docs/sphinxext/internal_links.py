"""Check every internal link of the built HTML pages, offline.

After an HTML build, each relative ``href``/``src`` of every page must point
to a file of the build, and each ``#anchor`` to an ``id`` in that file. Broken
links are reported as Sphinx warnings (errors under ``-W``). External links
(``http:``, ``https:``, ``mailto:``...) are not checked: the build is offline.
"""

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sphinx.util import logging

logger = logging.getLogger(__name__)


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        for key in ("href", "src"):
            if attrs.get(key):
                self.links.append(attrs[key])


def _parse(path, cache):
    if path not in cache:
        page = _Page()
        page.feed(path.read_text(encoding="utf-8", errors="replace"))
        cache[path] = page
    return cache[path]


def check_internal_links(app, exception):
    """Warn about each relative link or anchor of the build that resolves to nothing."""
    if exception is not None or app.builder.format != "html":
        return
    root = Path(app.outdir).resolve()
    cache, broken = {}, 0
    for page_path in sorted(root.rglob("*.html")):
        if page_path.relative_to(root).parts[0] in ("_static", "_sources", "_images"):
            continue  # the theme's templates, not pages
        for link in _parse(page_path, cache).links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith("//"):
                continue
            target = (
                (page_path.parent / unquote(parts.path)).resolve()
                if parts.path
                else page_path
            )
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken += 1
                logger.warning(f"{page_path.relative_to(root)}: broken link {link!r}")
                continue
            if parts.fragment and target.suffix == ".html":
                if unquote(parts.fragment) not in _parse(target, cache).ids:
                    broken += 1
                    logger.warning(
                        f"{page_path.relative_to(root)}: missing anchor {link!r}"
                    )
    logger.info(f"internal links checked in {len(cache)} pages: {broken} broken")


def setup(app):
    """Register the check to run when the build has finished."""
    app.connect("build-finished", check_internal_links)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
