"""A new task is a folder, a manifest entry and the student code it grades; nothing else changes.

In a temporary copy of the repository a task is added that grades a new student function: the
function (with its solution region) in the copy's ``source_pkg/layers.py``, the task's folder
``tests/hidden/<id>/`` (its checks, the calls they make into the function, ``__init__.py``) and a
``[[task]]`` entry appended to coursekit/course.toml; no grading code, runner, report or test is
edited. The copy's judge must then grade the function (a right and a wrong one score
differently), and its pytest plugin, nbgrader plugin, class report and test suite must know the
new task.
"""

import csv
import filecmp
import json
import os
import shutil
import subprocess
import sys

import pytest

from coursekit.paths import REPO_ROOT

TASK = "dummy_task"
CELL = "dummy_task_checks"
FUNCTION = "dummy_double"
ENTRY = f"""
[[task]]
id = "{TASK}"
assignment = "dropout"
title = "A task added in a test"
grade_cell = "{CELL}"
points = 3
folder = "tests/hidden/{TASK}"
stubs = ["layers.py:{FUNCTION}"]
book = "book/fc-net#fc-net"
mistakes = ["seed-ignored"]
"""
# The new student function, appended to the copy's source_pkg/layers.py.
STUDENT_FUNCTION = f'''

def {FUNCTION}(x):
    """Return twice x.

    Inputs:
    - x: Array of any shape.

    Returns:
    - out: Array of the same shape, 2 * x.
    """
    # Task: return x doubled.
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION
'''
CALLS = f'''"""The calls the checks of the task added in a test make into student code."""


def double(student, op, arrays, facts):
    """One call of {FUNCTION} on the judge's input."""
    arrays["out"] = student.module("layers").{FUNCTION}(student.input(op["x"]))
'''
CHECKS = f'''"""Hidden checks of a task that exists only in this test."""

import numpy as np
import pytest

from coursekit.grading.checks import fail, points
from coursekit.grading.client import Plan, run_plan

PLAN = Plan("{TASK}")
PLAN.array("x", np.arange(6.0).reshape(2, 3) + 1)
PLAN.add("double", {{"op": "double", "x": "x"}}, "a call of {FUNCTION}")


@pytest.fixture(scope="module")
def run(submission, runner_limits):
    return run_plan(PLAN, submission, **runner_limits)


@points(2)
def test_dummy_doubles(run):
    if not np.array_equal(run["double"]["out"], 2 * PLAN.inputs["x"]):
        fail("{FUNCTION}(x) does not return 2 x.")


@points(1)
def test_dummy_names_a_mistake():
    fail("The dummy check always fails.", "seed-ignored")
'''
# Run inside the copy: everything it prints comes from the copy's own modules.
PROBE = """
import json, sys, tempfile
from pathlib import Path
from coursekit.manifest import COURSE
from coursekit.grading.judge import judge
from coursekit.grading.nbgrader_plugin import JudgeCells
from coursekit.grading.task_report import task_report
from coursekit.classgrade.report import write_report
from coursekit.classgrade.status import GRADED, Outcome

task, wrong = sys.argv[1], Path(sys.argv[2])
dropout = COURSE.assignment_named("dropout")
verdict = judge(Path.cwd(), dropout.task_ids, op_timeout=10, budget=60, confine=True)
wrong_verdict = judge(wrong, (task,), op_timeout=10, budget=60, confine=True)
verdict.notebook = dropout.notebook
report_dir = Path(tempfile.mkdtemp())
outcome = Outcome("s1", GRADED, score=verdict.points, max_score=verdict.max_points)
paths = write_report([outcome], {"s1": {dropout.notebook: verdict}}, report_dir, dropout.name)
print(json.dumps({
    "tasks": list(dropout.task_ids),
    "task_cells": JudgeCells().task_cells,
    "points": {task: [v.points, v.max_points] for task, v in verdict.tasks.items()},
    "wrong": {task: [v.points, v.max_points] for task, v in wrong_verdict.tasks.items()},
    "wrong_failed": [c.message for c in wrong_verdict.tasks[task].failed],
    "report": task_report(verdict.tasks[task]),
    "scores_csv": str(paths["scores"]),
    "checks_csv": str(paths["checks"]),
}))
"""
COPIED = ("coursekit", "tests", "source_pkg", "book", "assignments")
SKIP = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints")
# nbgrader's own folders in the course root (not coursekit/feedback, which shares a name).
COURSE_OUTPUT = shutil.ignore_patterns("__pycache__", "release", "submitted", "autograded", "feedback",
                                       "reports", "gradebook.db", "grades*.csv")


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    for folder in COPIED:
        shutil.copytree(REPO_ROOT / folder, root / folder, ignore=COURSE_OUTPUT if folder == "assignments" else SKIP)
    for name in ("pyproject.toml", "_toc.yml", "_config.yml"):
        shutil.copy2(REPO_ROOT / name, root / name)
    # The three edits a new task takes: its manifest entry, its student function, its folder.
    manifest = root / "coursekit" / "course.toml"
    manifest.write_text(manifest.read_text() + ENTRY)
    layers = root / "source_pkg" / "layers.py"
    layers.write_text(layers.read_text() + STUDENT_FUNCTION)
    folder = root / "tests" / "hidden" / TASK
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "calls.py").write_text(CALLS)
    (folder / f"test_{TASK}.py").write_text(CHECKS)
    return root


@pytest.fixture(scope="module")
def wrong_submission(copy, tmp_path_factory):
    """The copy's package with the new function wrong (it triples x)."""
    submission = tmp_path_factory.mktemp("wrong")
    shutil.copytree(copy / "source_pkg", submission / "source_pkg", ignore=SKIP)
    layers = submission / "source_pkg" / "layers.py"
    layers.write_text(layers.read_text().replace("    return 2 * x\n", "    return 3 * x\n"))
    return submission


def run(copy, *args):
    env = {**os.environ, "PYTHONPATH": str(copy)}
    return subprocess.run([sys.executable, *args], cwd=copy, env=env, capture_output=True, text=True, timeout=600)


def changes(left, right):
    """Files that differ between two trees, and files only in the second, relative to it."""
    compared = filecmp.dircmp(left, right, ignore=["__pycache__"])
    found = [(right / name).relative_to(right) for name in compared.diff_files + compared.right_only]
    for name, sub in compared.subdirs.items():
        found += [name / path for path in changes(left / name, right / name)]
    return found


def test_the_task_is_its_folder_its_entry_and_its_function(copy):
    edited = sorted(f"{folder}/{path.as_posix()}" for folder in COPIED
                    for path in changes(REPO_ROOT / folder, copy / folder))
    assert edited == ["coursekit/course.toml", "source_pkg/layers.py", f"tests/hidden/{TASK}"]


def test_the_judge_grades_the_new_function_and_the_report_sees_the_task(copy, wrong_submission):
    done = run(copy, "-c", PROBE, TASK, str(wrong_submission))
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["tasks"][-1] == TASK
    assert seen["task_cells"][CELL] == TASK
    assert seen["points"][TASK] == [2, 3]  # the right function: only the check that always fails
    assert seen["wrong"] == {TASK: [0, 3]}  # the wrong one loses the check that calls it
    assert f"{FUNCTION}(x) does not return 2 x." in seen["wrong_failed"]
    assert seen["points"]["fc_net"] == [9, 9]  # the others are unchanged
    assert "A task added in a test: 2 / 3 points" in seen["report"]
    assert "book/mistakes.html#seed-ignored" in seen["report"]
    assert "book/fc-net.html#fc-net" in seen["report"]
    with open(seen["scores_csv"], newline="") as file:
        row = next(csv.DictReader(file))
    assert row[TASK] == "2"
    with open(seen["checks_csv"], newline="") as file:
        checks = {(r["task"], r["check"]) for r in csv.DictReader(file)}
    assert (TASK, "test_dummy_names_a_mistake") in checks


def test_the_student_edition_stubs_the_new_function_for_its_task(copy, tmp_path):
    done = run(copy, "-m", "coursekit.editions", str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"[task {TASK}]" in (tmp_path / "source_pkg" / "layers.py").read_text()


def test_the_new_task_is_a_pytest_marker(copy):
    done = run(copy, "-m", "pytest", "--markers", "-p", "no:cacheprovider")
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"@pytest.mark.{TASK}:" in done.stdout
    selected = run(copy, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only", "tests/hidden", "-m", TASK)
    assert "2 tests collected" in selected.stdout or "2/" in selected.stdout, selected.stdout[-2000:]


def test_the_projects_tests_are_parametrised_with_it(copy):
    done = run(copy, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_manifest.py")
    assert done.returncode == 0, done.stdout[-3000:]
    listed = run(copy, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only", "tests/test_manifest.py")
    assert f"test_a_tasks_hidden_checks_add_up_to_its_points[{TASK}]" in listed.stdout
    assert f"test_a_tasks_book_section_is_a_label_of_its_page[{TASK}]" in listed.stdout
