"""The estimators of ``orthokit.linear_model`` against bad input.

The pairs of ``ENTRIES`` x ``CASES`` (``tests/bad_input.py``) of this family.
"""

import pytest
from bad_input import check_bad_input, pairs


@pytest.mark.parametrize("entry, case", pairs("linear_model"))
def test_bad_input(entry, case, tmp_path, record_property):
    check_bad_input(entry, case, tmp_path, record_property)
