"""Shared test set-up: seeds, and the reliability summary per entry point."""

import collections

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)


def pytest_terminal_summary(terminalreporter):
    """Print how many bad-input cases each entry point passed (issue: reliability)."""
    counts = collections.defaultdict(lambda: [0, 0])
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, []):
            if "test_reliability.py::test_bad_input[" not in report.nodeid:
                continue
            if report.when != "call":
                continue
            entry = report.nodeid.split("[", 1)[1].rsplit("-", 1)[0]
            counts[entry][0] += outcome == "passed"
            counts[entry][1] += 1
    if counts:
        terminalreporter.section("bad-input cases passed per entry point")
        for entry, (passed, total) in sorted(counts.items()):
            terminalreporter.write_line(f"{entry:50s} {passed:3d} / {total:3d}")
