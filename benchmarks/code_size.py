"""Lines of code of the package, and of the input layer against what it replaced.

A line counts when it holds part of a Python token other than a comment, a
docstring or layout (blank lines, line breaks, indentation): what is left is the
code a reader has to read. The same rule is applied to any git revision, read
with ``git show`` so that the working tree is not touched.

1. The whole package ``orthokit/`` at the base revision and at the other one.
2. The input readers that issue 28 replaced, at the base revision (whole files,
   and single functions where they stood in larger files), against the input
   layer ``orthokit/_inputs/`` at the other revision, with and without the
   features that other work added to it (:data:`FEATURES`); the group means
   module ``orthokit/_groups.py``, a feature issue 28 asked for, is listed apart.

    python benchmarks/code_size.py [--base ff60ebf] [--rev WORKTREE]

``--rev WORKTREE`` (the default) reads the files as they are on disk.
"""

import argparse
import ast
import io
import subprocess
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: The readers replaced by the input layer (issue 28 and its part 2), at ff60ebf:
#: a file, or ``file::name`` for every function or method of that name in it;
#: paths within the package (most of these files are gone now).
REPLACED = [
    "_protected.py",
    "evaluation/_inputs.py",
    "mixed/_clusters.py",
    "_base.py::_split_protected",
    "_base.py::_encode_target",
    "linear_model/_glm.py::_encode_y",
    "linear_model/_glm.py::_check_weights",
    "evaluation/_dcor.py::_as_features",
    "evaluation/_audit.py::_protected_frame",
    "evaluation/_audit.py::_check_predictions",
    "_dask.py::protected_levels",
    "nn/_skorch.py::_as_float32",
    "nn/_skorch.py::_inputs",
    "nn/_skorch.py::_class_index",
    "nn/_layers.py::_as_columns",
    "mixed/_estimators.py::_read_X",
    "mixed/_estimators.py::_read_y",
]
PACKAGE = "orthokit"
LAYER = "orthokit/_inputs/"
GROUPS = "orthokit/_groups.py"
#: Features inside the layer that replace no reader (paths within the package):
#: what they do, and where they came from.
FEATURES = {
    "_inputs/_basis.py": "basis= of the transformers (1934787)",
    "_inputs/_frames.py::ColumnStack": "frames read without a copy (issue 33, f9dde7d)",
    "_inputs/_frames.py::numeric_columns": "same",
    "_inputs/_frames.py::_strided_view": "same",
    "_inputs/_frames.py::_root": "same",
}
LAYOUT = {
    tokenize.COMMENT,
    tokenize.NL,
    tokenize.NEWLINE,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENCODING,
    tokenize.ENDMARKER,
}


def docstring_lines(tree):
    """Return the line numbers taken by the docstrings of ``tree``."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(
            node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
        ):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                lines.update(range(body[0].lineno, body[0].end_lineno + 1))
    return lines


def code_lines(source):
    """Return the set of line numbers of ``source`` that hold code."""
    lines = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in LAYOUT:
            lines.update(range(token.start[0], token.end[0] + 1))
    return lines - docstring_lines(ast.parse(source))


def count(source, name=None):
    """Count the code lines of ``source``, or of its definitions called ``name``."""
    lines = code_lines(source)
    if name is None:
        return len(lines)
    spans = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name == name:
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            spans.update(range(first, node.end_lineno + 1))
    if not spans:
        raise LookupError(f"no definition {name!r}")
    return len(lines & spans)


def read(rev, path):
    """Return the text of ``path`` at ``rev`` (``WORKTREE``: on disk)."""
    if rev == "WORKTREE":
        return (ROOT / path).read_text()
    return subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def python_files(rev, folder):
    """Return the ``.py`` files under ``folder`` at ``rev``."""
    if rev == "WORKTREE":
        return sorted(str(p.relative_to(ROOT)) for p in (ROOT / folder).rglob("*.py"))
    listing = subprocess.run(
        ["git", "-C", str(ROOT), "ls-tree", "-r", "--name-only", rev, folder],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return [p for p in listing if p.endswith(".py")]


def tree_size(rev, folder):
    """Return ``{file: code lines}`` for the Python files under ``folder``."""
    return {path: count(read(rev, path)) for path in python_files(rev, folder)}


def specs_size(rev, specs):
    """Return ``{spec: code lines}`` for ``file`` or ``file::name`` specs.

    The files are named within :data:`PACKAGE`.
    """
    sizes = {}
    for spec in specs:
        path, _, name = spec.partition("::")
        sizes[spec] = count(read(rev, f"{PACKAGE}/{path}"), name or None)
    return sizes


def table(title, sizes):
    print(f"\n{title}\n")
    print("| code | lines |\n|---|---:|")
    for name, lines in sizes.items():
        print(f"| `{name}` | {lines:,} |")
    print(f"| **total** | **{sum(sizes.values()):,}** |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="ff60ebf")
    parser.add_argument("--rev", default="WORKTREE")
    args = parser.parse_args()

    base_package = sum(tree_size(args.base, "orthokit").values())
    package = sum(tree_size(args.rev, "orthokit").values())
    print(
        f"Code lines (no docstrings, comments or blank lines), {args.base} vs "
        f"{args.rev}\n"
    )
    print(f"| | {args.base} | {args.rev} |\n|---|---:|---:|")
    print(f"| package `orthokit/` | {base_package:,} | {package:,} |")
    replaced = specs_size(args.base, REPLACED)
    layer = tree_size(args.rev, LAYER)
    features = specs_size(args.rev, FEATURES)
    groups = count(read(args.rev, GROUPS))
    total, extra = sum(layer.values()), sum(features.values())
    print(
        f"| readers replaced (at {args.base}) vs `{LAYER}` | "
        f"{sum(replaced.values()):,} | {total:,} |"
    )
    print(
        f"| the same, without the layer's features from other work | "
        f"{sum(replaced.values()):,} | {total - extra:,} |"
    )
    print(f"| `{GROUPS}` (group means, new) | - | {groups:,} |")
    table(f"Readers replaced, at {args.base}", replaced)
    table(f"`{LAYER}` at {args.rev}", layer)
    print(f"\nFeatures from other work inside `{LAYER}` at {args.rev}\n")
    print("| code | what | lines |\n|---|---|---:|")
    for spec, lines in features.items():
        print(f"| `{spec}` | {FEATURES[spec]} | {lines:,} |")


if __name__ == "__main__":
    main()
