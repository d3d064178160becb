"""Every path a file of the repository cites exists in the repository.

A reader of a clone has only the repository: a docstring, page or result that
points to a file which is not in it (a document that was never committed, a
folder outside the project) is a dead end. Build outputs named in
``.gitignore`` (``docs/_build/...``) count as existing: the build makes them.
"""

import fnmatch
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
THIS = pathlib.Path(__file__).resolve().relative_to(ROOT).as_posix()


def tracked_files():
    """Return the repository's files (git's list; a walk outside a checkout)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
        files = [name for name in out.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        files = [
            path.relative_to(ROOT).as_posix()
            for path in ROOT.rglob("*")
            if path.is_file() and not is_ignored(path.relative_to(ROOT).as_posix())
        ]
    return sorted(name for name in files if (ROOT / name).is_file())


def ignore_patterns():
    lines = (ROOT / ".gitignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and line[0] != "#"]


def is_ignored(path):
    """Whether ``path`` (relative to the root) is under a .gitignore pattern."""
    parts = path.strip("/").split("/")
    for pattern in ignore_patterns():
        anchored = "/" in pattern.rstrip("/")
        pattern = pattern.strip("/")
        for end in range(1, len(parts) + 1):
            if anchored and fnmatch.fnmatch("/".join(parts[:end]), pattern):
                return True
            if not anchored and fnmatch.fnmatch(parts[end - 1], pattern):
                return True
    return False


FILES = tracked_files()
FILE_SET = set(FILES)
DIRS = {"/".join(f.split("/")[:i]) for f in FILES for i in range(1, f.count("/") + 1)}
BASENAMES = {f.rsplit("/", 1)[-1] for f in FILES}
TOP_DIRS = sorted(d for d in DIRS if "/" not in d)


def text_files():
    for name in FILES:
        if name == THIS:  # the patterns below would cite themselves
            continue
        data = (ROOT / name).read_bytes()
        if b"\0" in data:
            continue
        try:
            yield name, data.decode("utf-8")
        except UnicodeDecodeError:
            continue


def exists(path):
    """Whether a repository-relative path (maybe a glob) names a file or folder."""
    path = path.rstrip("/.")
    if not path or path in FILE_SET or path in DIRS or is_ignored(path):
        return True
    if any(char in path for char in "*?["):
        return any(
            fnmatch.fnmatch(f, path) or fnmatch.fnmatch(f, path + "/*") for f in FILES
        )
    # ``examples/NAME.py``: an upper-case placeholder stands for any name.
    placeholder = re.sub(r"(?<=/)[A-Z][A-Z_]+(?=\.\w+$)", "*", path)
    return placeholder != path and exists(placeholder)


def resolve(base, target):
    """Normalize ``target`` relative to the folder ``base``; None if it leaves."""
    parts = [p for p in base.split("/") if p] if base else []
    for part in target.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


# A path rooted at a top-level folder of the repository: ``docs/api.rst``,
# ``benchmarks/results/glm.md``, ``tests/*``.
TOP = "|".join(map(re.escape, TOP_DIRS))
ROOTED = re.compile(rf"(?<![\w./-])(?:\./)?((?:{TOP})/[\w.*/-]*)")
# A path that climbs out of its folder: ``../shared/x``.
CLIMBING = re.compile(r"(?<![\w./-])((?:\.\./)+[\w.-][\w.*/-]*)")
# A document named without a folder: ``ALGORITHMS.md``, ``STYLE.md``.
BARE_DOCUMENT = re.compile(r"(?<![\w./-])([\w-]+\.(?:md|rst))(?![\w/-])")
# A Markdown link target: ``[text](results/glm.md#anchor)``.
MARKDOWN_LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)\s]*)?\)")
# Documents that were never part of the repository (the "ALGORITHMS" notes),
# files of the machine the project was written on, the papers' source texts
# by number: the user guide holds the maths and cites the papers by title.
OUTSIDE = re.compile(
    r"\bALGORITHMS\b(?!\.md)|/work/|(?<![\w./-])(?:shared|seeds)/|\bseeds?[ _]+0\d\d\b"
)


def cited_paths(name, text):
    """Return (line number, citation, problem) for every dead citation."""
    dead = {}
    for number, line in enumerate(text.splitlines(), 1):
        for citation, problem in dead_citations(name, line):
            dead.setdefault((number, citation), problem)
    return [(number, citation, problem) for (number, citation), problem in dead.items()]


def dead_citations(name, line):
    """Yield (citation, problem) for the dead citations of one line."""
    folder = name.rsplit("/", 1)[0] if "/" in name else ""
    for match in ROOTED.finditer(line):
        path = match.group(1).rstrip(".,;:")
        if not exists(path):
            yield path, "no such path in the repository"
    for match in CLIMBING.finditer(line):
        target = match.group(1).rstrip(".,;:")
        path = resolve(folder, target)
        if path is None:
            yield target, "points outside the repository"
        elif not exists(path):
            yield target, "no such path in the repository"
    for match in BARE_DOCUMENT.finditer(line):
        document = match.group(1)
        if document not in BASENAMES and not exists(resolve(folder, document)):
            yield document, "no such document in the repository"
    if name.endswith(".md"):
        for match in MARKDOWN_LINK.finditer(line):
            target = match.group(1)
            if re.match(r"[a-z][a-z+.-]*:", target):  # https:, mailto:
                continue
            path = resolve(folder, target)
            if path is None:
                yield target, "link points outside the repository"
            elif not exists(path):
                yield target, "link to a missing file"
    for match in OUTSIDE.finditer(line):
        yield match.group(0), "cites a file outside the repository"


def test_the_scan_sees_the_repository():
    names = dict(text_files())
    assert "README.md" in names and "orthokit/__init__.py" in names
    assert {"docs", "orthokit", "tests"} <= set(TOP_DIRS)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("see ALGORITHMS.md section 2", ["ALGORITHMS.md"]),
        ("in docs/user_guide/nothing.rst", ["docs/user_guide/nothing.rst"]),
        ("results in benchmarks/results/none.md.", ["benchmarks/results/none.md"]),
        ("[x](../../outside.md)", ["../../outside.md"]),
        ("the text is in ../shared/seeds/004.txt", ["../shared/seeds/004.txt"]),
        ("the method of seed 004", ["seed 004"]),
        ("(ALGORITHMS §3)", ["ALGORITHMS"]),
        ("docs/user_guide/glm.rst, tests/linear_model/test_glm.py, README.md", []),
        ("docs/_build/html/index.html and tests/*", []),
        ("python examples/NAME.py --help", []),
        ("[ok](https://example.org/a.md) StratifiedKFold, seed 0", []),
    ],
)
def test_the_scan_finds_dead_citations(line, expected):
    found = [citation for _, citation, _ in cited_paths("README.md", line)]
    assert found == expected


def test_every_cited_path_exists():
    dead = [
        f"{name}:{number}: {citation} ({problem})"
        for name, text in text_files()
        for number, citation, problem in cited_paths(name, text)
    ]
    assert not dead, "\n".join(dead)
