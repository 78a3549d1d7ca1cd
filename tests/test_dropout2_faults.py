"""The hidden checks of dropout2's tasks judge the instructor edition and every dropout2 entry of
the fault catalogue (tests/faults/dropout2.py) right, through the judge.

Each entry is written out as a submission and judged as the grader does (a pytest process of
the checks, student code in runner processes). Until the manifest lists dropout2's tasks, that
pytest process is started by a small wrapper that first merges the draft manifest fragment
(``dropout2.merge_draft``), and so does this process while these tests run.
"""

import os
import shlex
import sys

import pytest

from coursekit.grading.judge import judge
from coursekit.paths import REPO_ROOT
from faults.catalogue import (DROPOUT2, DROPOUT2_CORRECT_MC, DROPOUT2_CORRECT_SPATIAL, DROPOUT2_FAULTS_MC,
                              DROPOUT2_FAULTS_SPATIAL, Variant)
from faults.messages import hidden_numbers

LIMITS = {"op_timeout": 20.0, "budget": 90.0}
CASES = ([("spatial_dropout", v) for v in [Variant("reference", "the instructor edition")] + DROPOUT2_CORRECT_SPATIAL
          + DROPOUT2_FAULTS_SPATIAL]
         + [("mc_dropout", v) for v in [Variant("reference", "the instructor edition")] + DROPOUT2_CORRECT_MC
            + DROPOUT2_FAULTS_MC])


@pytest.fixture(scope="module", autouse=True)
def draft_tasks():
    """dropout2's tasks in this process's manifest while these tests run, and only then."""
    restore = DROPOUT2.merge_draft()
    yield
    restore()


@pytest.fixture(scope="module")
def python(tmp_path_factory):
    """An interpreter for the judge that merges the draft manifest before it runs pytest."""
    path = tmp_path_factory.mktemp("python") / "python"
    code = (f"import sys; sys.path.insert(0, {str(REPO_ROOT / 'tests')!r}); "
            "from faults.dropout2 import merge_draft; merge_draft(); import pytest; sys.exit(pytest.main(sys.argv[3:]))")
    path.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -c {shlex.quote(code)} \"$@\"\n")
    os.chmod(path, 0o755)
    return str(path)


@pytest.mark.parametrize("task, variant", CASES, ids=[f"{task}-{v.name}" for task, v in CASES])
def test_variant_fails_exactly_the_expected_checks(task, variant, python, tmp_path):
    verdict = judge(variant.build(tmp_path / variant.name), tasks=(task,), python=python, **LIMITS)
    task_verdict = verdict.tasks[task]
    failed = {check.check: check.mistake for check in task_verdict.checks if not check.passed}
    report = {check.check: check.message for check in task_verdict.checks if not check.passed}
    assert failed == variant.expected, report
    for check in task_verdict.checks:
        assert not hidden_numbers(check.message), (check.check, check.message)
    if variant.points is not None:
        assert task_verdict.points == variant.points[task], report
    if "drops-nothing" in failed.values() or "mc-dropout-off" in failed.values():
        assert task_verdict.points <= 2  # the credit rule for a layer that drops nothing
