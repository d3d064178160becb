"""orthokit extends skorch only through its public API.

skorch's documentation extends ``NeuralNet`` through ``initialize_module``,
``initialize_optimizer``, ``get_loss``, ``train_step_single``,
``get_iterator``, ``get_dataset`` and ``on_*`` callbacks. Its private methods
and attributes (``_validate_params``, ``_set_training``, ``_optimizers``,
``_initialize_module``, ``_register_virtual_param``, ...) may change in any
release, so no module of orthokit may name one: not by calling it, overriding
it, or reading it by its string name.
"""

import pathlib
import re

import pytest
from skorch import NeuralNet, NeuralNetClassifier, NeuralNetRegressor

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: Files still waiting for their own rewrite, with the reason.
PENDING = {}


def private_skorch_names():
    """Every ``_name`` (not dunder) that skorch's nets define on the class."""
    names = set()
    for cls in (NeuralNet, NeuralNetClassifier, NeuralNetRegressor):
        names |= {n for n in vars(cls) if n.startswith("_") and not n.startswith("__")}
    return sorted(names)


def uses(text, names):
    """Return ``(line, name)`` of each use of one of ``names`` in ``text``.

    A use is an attribute (``.name``), a definition (``def name``) or a string
    (``"name"``, for ``getattr``); a module path (``orthokit.nn._modules``)
    is not one.
    """
    alternatives = "|".join(map(re.escape, names))
    pattern = re.compile(rf"(?:\.|\bdef\s+|[\"'])({alternatives})\b(?![\w.])")
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith(("from ", "import ")):
            continue
        found += [(number, match.group(1)) for match in pattern.finditer(line)]
    return found


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("        self._set_training(True)", ["_set_training"]),
        ("    def _validate_params(self):", ["_validate_params"]),
        ("        super()._initialize_module()", ["_initialize_module"]),
        ('    for name in getattr(self, "_optimizers", []):', ["_optimizers"]),
        ("        NeuralNet._validate_params(self)", ["_validate_params"]),
        ("from orthokit.mixed._modules import ARMEDModule", []),
        ('    "orthokit.nn._modules.MetadataMLP",', []),
        ("        self.initialize_module()", []),
    ],
)
def test_the_scan_finds_private_names(line, expected):
    assert [name for _, name in uses(line, private_skorch_names())] == expected


def test_the_list_holds_the_names_the_issue_names():
    names = set(private_skorch_names())
    assert {
        "_validate_params",
        "_set_training",
        "_optimizers",
        "_initialize_module",
        "_initialize_optimizer",
        "_register_virtual_param",
        "_get_param_names",
    } <= names


def test_no_private_skorch_name_in_the_package():
    names = private_skorch_names()
    offenders = {}
    for path in sorted((ROOT / "orthokit").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        found = uses(path.read_text(encoding="utf-8"), names)
        if found and relative not in PENDING:
            offenders[relative] = found
    assert not offenders, f"private skorch names used: {offenders}"
