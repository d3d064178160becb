"""Shared test set-up: seeds, and the reliability summary per entry point."""

import collections

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)


def pytest_terminal_summary(terminalreporter):
    """Print how many bad-input cases each entry point passed.

    The bad-input tests (``bad_input.py`` and the tests that run its tables)
    record the entry point of every case as a ``user_property``; see
    ``tests/README.md``.
    """
    counts = collections.defaultdict(lambda: [0, 0, 0])  # passed, total, xfail
    for outcome in ("passed", "failed", "xfailed"):
        for report in terminalreporter.stats.get(outcome, []):
            if report.when != "call":
                continue
            entry = dict(getattr(report, "user_properties", ())).get("entry")
            if entry is None:
                continue
            counts[entry][0] += outcome == "passed"
            counts[entry][1] += 1
            counts[entry][2] += outcome == "xfailed"
    if counts:
        terminalreporter.section("bad-input cases passed per entry point")
        for entry, (passed, total, known) in sorted(counts.items()):
            note = f"  ({known} known failure, xfail)" if known else ""
            terminalreporter.write_line(f"{entry:50s} {passed:3d} / {total:3d}{note}")
        passed = sum(c[0] for c in counts.values())
        total = sum(c[1] for c in counts.values())
        terminalreporter.write_line(
            f"{'all entry points':50s} {passed:3d} / {total:3d}"
        )
