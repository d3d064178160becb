"""The bad-input tables as a whole (``tests/bad_input.py``).

Each family's test folder runs the pairs of its entry points; this file checks
what holds across the families.
"""

import pathlib

from bad_input import FAMILIES, applies
from bad_input_cases import CASES
from bad_input_entries import ENTRIES

TESTS = pathlib.Path(__file__).parent


def test_every_entry_meets_every_kind_of_case():
    for entry in ENTRIES:
        names = {case.name for case in CASES if applies(entry, case)}
        assert "nan_in_X" in names and "empty" in names, entry.name
        # and a test file runs the entry's pairs
        runner = TESTS / FAMILIES[entry.family]
        assert f'pairs("{entry.family}")' in runner.read_text(), entry.name
