"""The hidden checks of dropout2's tasks judge the instructor edition and every dropout2 entry of
the fault catalogue (tests/faults/dropout2.py) right, through the judge.

Each entry is written out as a submission and judged as the grader does (a pytest process of
the checks, student code in runner processes).
"""

import json

import pytest

from coursekit import sandbox
from coursekit.grading.judge import judge
from coursekit.manifest import COURSE
from coursekit.paths import REPO_ROOT
from faults.catalogue import (DROPOUT2_ALL, DROPOUT2_CORRECT_MC, DROPOUT2_CORRECT_SPATIAL, DROPOUT2_FAULTS_MC,
                              DROPOUT2_FAULTS_SPATIAL, Variant, check_names)
from faults.messages import hidden_numbers

# The MC checks run many passes of the net: more time than the suite's short limits give one task.
DROPOUT2_LIMITS = {"op_timeout": 20.0, "budget": 90.0}
FOLDERS = {task.id: task.checks_path for task in COURSE.assignment_named("dropout2").tasks}
# What each entry earns per grade cell (tests/faults/record.py dropout2); the routes test grades against it.
RECORDED = json.loads((REPO_ROOT / "tests" / "faults" / "points_dropout2.json").read_text())


def _untouched(task):
    """The released stubs: every check of the task fails, naming no mistake."""
    return Variant("student-edition", "the release, untouched", kind="student-edition",
                   expected=dict.fromkeys(check_names(FOLDERS[task])), points={task: 0})


CASES = ([("spatial_dropout", v) for v in [Variant("reference", "the instructor edition")] + DROPOUT2_CORRECT_SPATIAL
          + DROPOUT2_FAULTS_SPATIAL + [_untouched("spatial_dropout")]]
         + [("mc_dropout", v) for v in [Variant("reference", "the instructor edition")] + DROPOUT2_CORRECT_MC
            + DROPOUT2_FAULTS_MC + [_untouched("mc_dropout")]])
CONFINED = [(task, name) for task in FOLDERS for name in ("reference", "student-edition")]


@pytest.mark.parametrize("task, variant", CASES, ids=[f"{task}-{v.name}" for task, v in CASES])
def test_variant_fails_exactly_the_expected_checks(task, variant, tmp_path):
    verdict = judge(variant.build(tmp_path / variant.name), tasks=(task,), **DROPOUT2_LIMITS)
    task_verdict = verdict.tasks[task]
    failed = {check.check: check.mistake for check in task_verdict.checks if not check.passed}
    report = {check.check: check.message for check in task_verdict.checks if not check.passed}
    assert failed == variant.expected, report
    for check in task_verdict.checks:
        assert not hidden_numbers(check.message), (check.check, check.message)
    if variant.points is not None:
        assert task_verdict.points == variant.points[task], report
    if variant.name in RECORDED:
        assert task_verdict.points == RECORDED[variant.name][COURSE.task(task).grade_cell], report
    if "drops-nothing" in failed.values() or "mc-dropout-off" in failed.values():
        assert task_verdict.points <= 2  # the credit rule for a layer that drops nothing


@pytest.mark.skipif(sandbox.probe() is not None, reason=f"bwrap unusable: {sandbox.probe()}")
@pytest.mark.parametrize("task, name", CONFINED, ids=[f"{task}-{name}" for task, name in CONFINED])
def test_confined_runner_judges_the_same(task, name, tmp_path):
    """In the sandbox the runner sees the task's calls.py (never its checks) and judges alike."""
    variant = next(v for t, v in CASES if t == task and v.name == name)
    verdict = judge(variant.build(tmp_path / name), tasks=(task,), confine=True, **DROPOUT2_LIMITS)
    assert {c.check: c.mistake for c in verdict.tasks[task].checks if not c.passed} == variant.expected


def test_the_recorded_points_cover_every_entry_and_agree_with_what_each_states():
    assert set(RECORDED) == {variant.name for variant in DROPOUT2_ALL}
    for variant in DROPOUT2_ALL:
        for task, points in (variant.points or {}).items():
            assert RECORDED[variant.name][COURSE.task(task).grade_cell] == points, variant.name
