"""Every public name imports from ``orthokit``, lazily, and the docs' imports work."""

import importlib
import pathlib
import re
import subprocess
import sys

import pytest

import orthokit

ROOT = pathlib.Path(__file__).resolve().parents[1]
SUBPACKAGES = ["preprocessing", "linear_model", "evaluation", "datasets", "mixed", "nn"]
HEAVY = ["torch", "skorch", "dask", "statsmodels"]


def modules_after(code):
    """Return the top-level modules loaded by running ``code`` in a new process."""
    result = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return {name.partition(".")[0] for name in result.stdout.split()}


@pytest.mark.parametrize(
    "code",
    [
        "import orthokit",
        "import orthokit; dir(orthokit)",
        "from orthokit import OrthogonalProjector, RecursiveResidualizer",
        "from orthokit import OrthogonalGLM, check_orthogonality, load_adult",
    ],
)
def test_import_stays_light(code):
    loaded = modules_after(code)
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_bare_import_loads_no_subpackage():
    assert "sklearn" not in modules_after("import orthokit")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, orthokit\n"
            "print(sorted(m for m in sys.modules if m.startswith('orthokit.')))",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("subpackage", SUBPACKAGES)
def test_every_public_name_is_exported(subpackage):
    module = importlib.import_module(f"orthokit.{subpackage}")
    assert sorted(orthokit._SUBPACKAGE_NAMES[subpackage]) == sorted(module.__all__)
    for name in module.__all__:
        assert getattr(orthokit, name) is getattr(module, name)
        assert name in dir(orthokit)
    assert getattr(orthokit, subpackage) is module


def test_star_import_needs_no_torch():
    assert not {
        name for name in orthokit.__all__ if orthokit._LAZY_NAMES.get(name) == "nn"
    }
    loaded = modules_after("from orthokit import *")
    assert not loaded & set(HEAVY)


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'OrthogonalThing'"):
        orthokit.OrthogonalThing  # noqa: B018
    with pytest.raises(ImportError, match="OrthogonalThing"):
        exec("from orthokit import OrthogonalThing", {})


# ``from orthokit[.sub] import a, b`` or ``import (a,\n b)``, in prose, code
# blocks and doctests (the prompts are removed first).
IMPORT = re.compile(
    r"from\s+(orthokit(?:\.\w+)*)\s+import\s+(\([^)]*\)|[^\n`]+)", re.MULTILINE
)


def documented_imports():
    """Return (file, module, name) for every ``from orthokit... import`` shown."""
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.rst"))]
    files = [f for f in files if "_build" not in f.parts and f.is_file()]
    found = []
    for path in files:
        text = re.sub(r"^\s*(>>>|\.\.\.) ?", "", path.read_text(), flags=re.M)
        for module, names in IMPORT.findall(text):
            for item in names.strip("()").split(","):
                item = item.split("#")[0].split(" as ")[0].strip()
                if re.fullmatch(r"[A-Za-z_]\w*", item):
                    found.append((path.relative_to(ROOT).as_posix(), module, item))
    return found


def test_documented_imports_are_found():
    found = documented_imports()
    assert ("README.md", "orthokit", "OrthogonalProjector") in found
    assert len({(module, name) for _, module, name in found}) >= 5


@pytest.mark.parametrize(
    ("module", "name"),
    sorted({(module, name) for _, module, name in documented_imports()}),
)
def test_documented_import_works(module, name):
    value = getattr(importlib.import_module(module), name, None)
    assert value is not None, f"from {module} import {name} fails"
