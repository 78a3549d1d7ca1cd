"""Adding a task to the manifest is the only edit the grading code, the report and the tests need.

In a temporary copy of the repository, a `[[task]]` entry is appended to coursekit/course.toml
together with the task's own checks module; nothing else is edited. The copy's pytest plugin,
judge, nbgrader plugin, class report and test suite must then all know the new task.
"""

import csv
import json
import os
import shutil
import subprocess
import sys

import pytest

from coursekit.paths import REPO_ROOT

TASK = "dummy_task"
CELL = "dummy_task_checks"
ENTRY = f"""
[[task]]
id = "{TASK}"
assignment = "dropout"
title = "A task added in a test"
grade_cell = "{CELL}"
points = 3
checks = "tests/hidden/test_{TASK}.py"
stubs = []
book = "book/fc-net#fc-net"
mistakes = ["seed-ignored"]
"""
CHECKS = '''"""Hidden checks of a task that exists only in this test."""

from coursekit.grading.checks import fail, points


@points(2)
def test_dummy_passes():
    pass


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

dropout = COURSE.assignment_named("dropout")
verdict = judge(Path.cwd(), dropout.task_ids, op_timeout=10, budget=60)
verdict.notebook = dropout.notebook
report_dir = Path(tempfile.mkdtemp())
outcome = Outcome("s1", GRADED, score=verdict.points, max_score=verdict.max_points)
paths = write_report([outcome], {"s1": {dropout.notebook: verdict}}, report_dir, dropout.name)
print(json.dumps({
    "tasks": list(dropout.task_ids),
    "task_cells": JudgeCells().task_cells,
    "points": {task: [v.points, v.max_points] for task, v in verdict.tasks.items()},
    "report": task_report(verdict.tasks[sys.argv[1]]),
    "scores_csv": str(paths["scores"]),
    "checks_csv": str(paths["checks"]),
}))
"""


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    skip = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints")
    # nbgrader's own folders in the course root (not coursekit/feedback, which shares a name).
    course_output = shutil.ignore_patterns("__pycache__", "release", "submitted", "autograded", "feedback",
                                           "reports", "gradebook.db", "grades*.csv")
    for folder in ("coursekit", "tests", "source_pkg", "book"):
        shutil.copytree(REPO_ROOT / folder, root / folder, ignore=skip)
    shutil.copytree(REPO_ROOT / "assignments", root / "assignments", ignore=course_output)
    for name in ("pyproject.toml", "_toc.yml", "_config.yml"):
        shutil.copy2(REPO_ROOT / name, root / name)
    manifest = root / "coursekit" / "course.toml"
    manifest.write_text(manifest.read_text() + ENTRY)
    (root / "tests" / "hidden" / f"test_{TASK}.py").write_text(CHECKS)
    return root


def run(copy, *args):
    env = {**os.environ, "PYTHONPATH": str(copy)}
    return subprocess.run([sys.executable, *args], cwd=copy, env=env, capture_output=True, text=True, timeout=600)


def test_the_judge_plugin_and_report_see_the_new_task(copy):
    done = run(copy, "-c", PROBE, TASK)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["tasks"][-1] == TASK
    assert seen["task_cells"][CELL] == TASK
    assert seen["points"][TASK] == [2, 3]
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
