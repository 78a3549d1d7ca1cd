"""The whole grading pipeline from a symlinked clone, a symlinked venv and a symlinked course
folder, with a space and non-ASCII characters in every path (issue 14, item 1), and from a venv
created inside a symlinked folder (its ``sys.prefix`` keeps the link).

Python is named through the links (``sys.executable`` keeps them), the way an instructor on a
university file system runs it. A correct submission must get its full autograded points from
plain ``nbgrader autograde`` and from the class command (cells run and not run); a sandbox that
cannot start must be a refusal naming the cause, never 0 points.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from coursekit import classroom, sandbox
from coursekit.classgrade.status import WITH_GRADE
from coursekit.gradebook import GradebookError
from coursekit.manifest import COURSE
from coursekit.paths import REPO_ROOT
from coursekit.release import nbgrader_env

DROPOUT = COURSE.assignment_named("dropout")  # the assignment these tests grade

pytestmark = pytest.mark.skipif(sandbox.probe() is not None, reason=f"bwrap unusable: {sandbox.probe()}")

CATALOGUE = classroom.load_catalogue()
FULL = {task.grade_cell: task.points for task in DROPOUT.tasks}
VENV = Path(os.environ.get("VIRTUAL_ENV") or REPO_ROOT / ".venv")


def run(links: dict, *args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``PYTHON ARGS`` in the linked course folder, Python named through the venv link."""
    environment = nbgrader_env()
    environment["PATH"] = f"{links['venv'] / 'bin'}{os.pathsep}{environment['PATH']}"
    environment["DROPOUT_COURSE_REPO"] = str(links["clone"])
    environment.update(env or {})
    return subprocess.run([str(links["venv"] / "bin" / "python"), *args], cwd=links["course"], env=environment,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def linked(tmp_path_factory):
    if not (VENV / "bin" / "python").exists():
        pytest.skip(f"no virtual environment at {VENV}")
    base = tmp_path_factory.mktemp("links") / "cours é ü"
    base.mkdir()
    real_course = classroom.make_course(base / "real course ö", cell_timeout=60, op_timeout=5, budget=30)
    links = {"clone": base / "clone link ä", "venv": base / "venv link ß", "course": base / "course link ø"}
    links["clone"].symlink_to(REPO_ROOT, target_is_directory=True)
    links["venv"].symlink_to(VENV.resolve(), target_is_directory=True)
    links["course"].symlink_to(real_course, target_is_directory=True)
    links["made"] = made_venv_under_link(base)
    classroom.release_course(real_course)
    for student in ("notrun", "run", "classcmd", "classrun", "refused", "madenotrun", "maderun"):
        classroom.submit(real_course, student, CATALOGUE.BY_NAME["bool-mask"])
    made = {**links, "venv": links["made"]}
    results = {
        "notrun": run(links, "-m", "nbgrader", "autograde", DROPOUT.name, "--student", "notrun",
                      "--ResilientExecute.run_notebook=False"),
        "run": run(links, "-m", "nbgrader", "autograde", DROPOUT.name, "--student", "run"),
        "classcmd": run(links, "-m", "coursekit.classgrade", DROPOUT.name, "--course-root", str(links["course"]),
                        "--student", "classcmd", "--workers", "1",
                        env={"PYTHONPATH": str(links["clone"])}),
        "classrun": run(links, "-m", "coursekit.classgrade", DROPOUT.name, "--course-root", str(links["course"]),
                        "--student", "classrun", "--workers", "1", "--run-notebooks",
                        env={"PYTHONPATH": str(links["clone"])}),
        "madenotrun": run(made, "-m", "nbgrader", "autograde", DROPOUT.name, "--student", "madenotrun",
                          "--ResilientExecute.run_notebook=False"),
        "maderun": run(made, "-m", "nbgrader", "autograde", DROPOUT.name, "--student", "maderun"),
    }
    return links, real_course, results


def made_venv_under_link(base: Path) -> Path:
    """A venv created through a symlinked folder, with the project venv's packages in it.

    Like ``python -m venv ~/course-env`` where the home folder is a link: Python then reports a
    ``sys.prefix`` through the link, which the sandbox must bind by that name. The packages are
    hard links to the project venv's files (a copy would take gigabytes and minutes).
    """
    real_home = base / "real home þ"
    real_home.mkdir()
    home = base / "home link þ"
    home.symlink_to(real_home, target_is_directory=True)
    made = home / "made venv"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(made)], check=True)
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    theirs, mine = (Path(subprocess.run([str(python), "-c", purelib], capture_output=True, text=True,
                                        check=True).stdout.strip())
                    for python in (VENV / "bin" / "python", made / "bin" / "python"))
    shutil.rmtree(mine)
    linked = subprocess.run(["cp", "-al", str(theirs), str(mine)], capture_output=True, text=True)
    if linked.returncode != 0:
        pytest.skip(f"cannot hard-link the project venv's packages: {linked.stderr.strip()}")
    return made


@pytest.mark.parametrize("student", ["notrun", "run", "classcmd", "classrun", "madenotrun", "maderun"])
def test_correct_submission_gets_full_points_through_links(linked, student):
    links, root, results = linked
    done = results[student]
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    scores = {cell: score for cell, (score, _) in classroom.cell_scores(root, student).items() if cell in FULL}
    assert scores == FULL, done.stderr[-3000:]


def test_python_is_named_through_the_links(linked):
    links, _, _ = linked
    done = run(links, "-c", "import sys; print(sys.executable)")
    assert done.stdout.strip() == str(links["venv"] / "bin" / "python")
    made = run({**links, "venv": links["made"]}, "-c", "import sys, nbgrader; print(sys.prefix)")
    assert made.stdout.strip() == str(links["made"]), made.stderr  # the prefix keeps the link


def test_the_start_up_check_runs_the_command_grading_runs(linked, tmp_path):
    """Where the sandboxed Python cannot start, the check says so (a probe of '/' would pass)."""
    links, _, _ = linked
    code = "from coursekit import sandbox; sandbox._symlinked_names = lambda paths, bound=(): []; print(sandbox.probe())"
    done = run(links, "-c", code, env={"PYTHONPATH": str(links["clone"])})
    assert "could not start under bwrap" in done.stdout and "No such file or directory" in done.stdout, done.stderr


def test_a_sandbox_that_cannot_start_is_a_refusal_not_zero_points(linked, tmp_path):
    links, root, _ = linked
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: execvp /nowhere/python: No such file or directory' >&2\nexit 1\n")
    fake.chmod(0o755)
    broken = {sandbox.BWRAP_ENV: str(fake)}
    plain = run(links, "-m", "nbgrader", "autograde", DROPOUT.name, "--student", "refused", env=broken)
    assert plain.returncode != 0
    assert "execvp /nowhere/python: No such file or directory" in plain.stderr
    assert "refuses" in plain.stderr
    classcmd = run(links, "-m", "coursekit.classgrade", DROPOUT.name, "--course-root", str(links["course"]),
                   "--student", "refused", "--workers", "1", env={**broken, "PYTHONPATH": str(links["clone"])})
    assert classcmd.returncode == 2
    assert "execvp /nowhere/python: No such file or directory" in classcmd.stderr
    with pytest.raises(GradebookError, match="has no submission"):  # no grade at all, never a 0
        classroom.cell_scores(root, "refused")


def test_a_run_for_one_student_keeps_the_whole_class_in_scores_csv(linked):
    import csv

    _, root, _ = linked
    with open(root / "reports" / DROPOUT.name / "scores.csv", newline="") as file:
        rows = {row["student"]: row for row in csv.DictReader(file)}
    assert set(rows) >= {"notrun", "run", "classcmd", "classrun", "refused"}
    for student in ("notrun", "run", "classcmd", "classrun"):  # graded (a loaded machine may time a check out)
        assert rows[student]["status"] in WITH_GRADE and float(rows[student]["score"]) > 0
    assert rows["refused"]["status"] == "not graded" and rows["refused"]["score"] == ""
