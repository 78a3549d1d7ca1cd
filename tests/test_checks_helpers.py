"""What the hidden checks share (coursekit/grading/checks.py): measurements kept for one run."""

import pytest

from coursekit.grading.checks import CheckFailure, fail, once_per_run


def test_a_measurement_is_made_once_per_run_and_a_failing_one_is_not_kept():
    calls = []

    @once_per_run
    def measured(run):
        calls.append(run)
        if run[0] == "bad":
            fail("the measurement fails the check")
        return {"value": len(calls)}

    first, second = ("plan", {}), ("plan", {})  # equal, but two runs
    assert measured(first) == measured(first) == {"value": 1}
    assert measured(second) == {"value": 2}  # a new run is measured again
    assert measured(first) == {"value": 3}  # only the last run is kept
    bad = ("bad", {})
    for _ in range(2):
        with pytest.raises(CheckFailure):
            measured(bad)
    assert len(calls) == 5
