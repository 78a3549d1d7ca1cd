"""A second assignment is a manifest entry, its task's folder, its notebook and its stub.

In a temporary copy of the repository an `[[assignment]]` and its `[[task]]` are appended to
coursekit/course.toml, with the task's hidden checks, a notebook in assignments/source/<name>/
and a stubbed function in source_pkg; nothing else is edited. In a course root made from the
copy, the release command then releases both assignments, plain `nbgrader autograde` grades a
submission of each, `nbgrader export` has a column per task of both, the Canvas and Moodle
layouts a grade column per assignment, and the class command and the feedback page work on
the new assignment by its name.
"""

import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from coursekit.manifest import COURSE
from coursekit.paths import REPO_ROOT

DROPOUT = COURSE.assignment_named("dropout")  # the assignment already there, unchanged in the copy
DROPOUT_COLUMNS = (*DROPOUT.task_ids, *(part.grade_cell for part in DROPOUT.manual))
ASSIGNMENT, TASK, CELL = "extra", "extra_scale", "extra_scale_checks"
TITLE = "A task of a second assignment"
ASSIGNMENT_ENTRY = f"""
[[assignment]]
name = "{ASSIGNMENT}"
notebook = "{ASSIGNMENT}"
title = "An assignment added in a test"
"""
TASK_ENTRY = """
[[task]]
id = "{task}"
assignment = "{assignment}"
title = "{title}"
grade_cell = "{cell}"
points = 3
{where}
stubs = ["extra.py:scale"]
book = "book/fc-net#fc-net"
mistakes = ["seed-ignored"]
"""
# Reads the submission's file as text (it runs nothing of it): enough to tell two submissions apart.
CHECKS = '''"""Hidden checks of a task that exists only in this test."""

from coursekit.grading.checks import fail, points


@points(2)
def test_scale_is_written(submission):
    if "NotImplementedError" in (submission / "source_pkg" / "extra.py").read_text():
        fail("scale is still the stub handed out.", "seed-ignored")


@points(1)
def test_always_passes():
    pass
'''
STUB = '''"""The exercise of a second assignment, added by a test."""


def scale(x, factor):
    """Return ``x`` times ``factor``."""
    # Task: extra_scale. Multiply x by factor.
    ### BEGIN SOLUTION
    return x * factor
    ### END SOLUTION
'''
SUBMIT = """
import sys
from pathlib import Path
from coursekit import classroom
root, catalogue = Path(sys.argv[1]), classroom.load_catalogue()
classroom.submit(root, "ana", catalogue.BY_NAME["reference"], "dropout")
classroom.submit(root, "ana", catalogue.BY_NAME["reference"], sys.argv[2])
classroom.submit(root, "bo", catalogue.BY_NAME["student-edition"], sys.argv[2])
"""


def notebook():
    """The new assignment's notebook: a cell that uses the stub, and the task's grade cell."""
    def meta(**nbgrader):
        return {"nbgrader": {"schema_version": 3, "solution": False, "task": False, **nbgrader}}

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# An assignment added in a test\n\nComplete `source_pkg/extra.py`."),
        nbformat.v4.new_code_cell("from source_pkg.extra import scale\nprint(scale(2, 3))",
                                  metadata=meta(grade=False, locked=True, grade_id="extra_use")),
        nbformat.v4.new_code_cell("# Graded by the hidden checks.\nassert scale(2, 3) == 6",
                                  metadata=meta(grade=True, locked=True, points=3, grade_id=CELL)),
    ]
    for index, cell in enumerate(nb.cells):
        cell.id = f"cell-{index}"
    return nb


def add_task_folder(copy):
    """The task's folder in the copy: its checks, the calls they may make (none) and __init__.py."""
    folder = copy / "tests" / "hidden" / TASK
    folder.mkdir()
    (folder / f"test_{TASK}.py").write_text(CHECKS)
    (folder / "calls.py").write_text('"""The checks of this task call no student code."""\n')
    (folder / "__init__.py").write_text("")
    return f'folder = "tests/hidden/{TASK}"'


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    skip = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints")
    course_output = shutil.ignore_patterns("__pycache__", "release", "submitted", "autograded", "feedback",
                                           "reports", "gradebook.db", "grades*.csv")
    for folder in ("coursekit", "tests", "source_pkg", "book"):
        shutil.copytree(REPO_ROOT / folder, root / folder, ignore=skip)
    shutil.copytree(REPO_ROOT / "assignments", root / "assignments", ignore=course_output)
    for name in ("pyproject.toml", "_toc.yml", "_config.yml"):
        shutil.copy2(REPO_ROOT / name, root / name)
    where = add_task_folder(root)
    manifest = root / "coursekit" / "course.toml"
    manifest.write_text(manifest.read_text() + ASSIGNMENT_ENTRY + TASK_ENTRY.format(
        task=TASK, assignment=ASSIGNMENT, title=TITLE, cell=CELL, where=where))
    (root / "source_pkg" / "extra.py").write_text(STUB)
    (root / "assignments" / "source" / ASSIGNMENT).mkdir()
    nbformat.write(notebook(), root / "assignments" / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    return root


def run(copy, *args, cwd=None, nbgrader=False):
    """``python ARGS`` with the copy's code: on PYTHONPATH, or, for nbgrader, named by DROPOUT_COURSE_REPO."""
    env = {**os.environ, "PYTHONPATH": str(copy), "DROPOUT_COURSE_REPO": str(copy)}
    if nbgrader:  # as the course runs nbgrader: its bin/ first on PATH, nothing importable by accident
        env.pop("PYTHONPATH")
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    done = subprocess.run([sys.executable, *args], cwd=cwd or copy, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, f"{args}: {(done.stdout + done.stderr)[-4000:]}"
    return done


@pytest.fixture(scope="module")
def course(copy):
    """A course root made from the copy: both assignments released, submitted, autograded, exported."""
    root = copy / "course"
    run(copy, "-c", f"from coursekit import classroom; classroom.make_course({str(root)!r})")
    released = run(copy, "-m", "coursekit.release", "--course-root", str(root))
    run(copy, "-c", SUBMIT, str(root), ASSIGNMENT)
    run(copy, "-m", "nbgrader", "autograde", "dropout", "--ResilientExecute.run_notebook=False", cwd=root, nbgrader=True)
    run(copy, "-m", "nbgrader", "autograde", ASSIGNMENT, cwd=root, nbgrader=True)
    for layout in ("full", "canvas", "moodle"):
        run(copy, "-m", "nbgrader", "export", f"--CourseExportPlugin.layout={layout}", f"--to={layout}.csv",
            cwd=root, nbgrader=True)
    return root, released.stdout


def table(path):
    with open(path, newline="") as file:
        return list(csv.reader(file))


def test_the_release_command_releases_every_assignment(copy, course):
    root, said = course
    assert f"Released 'dropout' to {root / 'release' / 'dropout'}" in said
    assert f"Released '{ASSIGNMENT}' to {root / 'release' / ASSIGNMENT}" in said
    release = root / "release" / ASSIGNMENT
    assert (release / f"{ASSIGNMENT}.ipynb").is_file()
    assert "raise NotImplementedError" in (release / "source_pkg" / "extra.py").read_text()
    assert "return x * factor" not in (release / "source_pkg" / "extra.py").read_text()
    assert f"# {ASSIGNMENT}: set-up" in (release / "README.md").read_text()
    assert f"jupyter notebook {ASSIGNMENT}.ipynb" in (release / "README.md").read_text()
    listed = run(copy, "-m", "nbgrader", "db", "assignment", "list", cwd=root, nbgrader=True)
    assert re.search(r"^\s*dropout\b", listed.stdout + listed.stderr, re.M)
    assert re.search(rf"^\s*{ASSIGNMENT}\b", listed.stdout + listed.stderr, re.M)


def test_one_release_by_name(copy, tmp_path):
    root = tmp_path / "course"
    run(copy, "-c", f"from coursekit import classroom; classroom.make_course({str(root)!r})")
    said = run(copy, "-m", "coursekit.release", ASSIGNMENT, "--course-root", str(root)).stdout
    assert f"Released '{ASSIGNMENT}'" in said and "Released 'dropout'" not in said
    assert not (root / "release" / "dropout").exists()


def test_plain_nbgrader_grades_a_submission_of_each_assignment(course):
    root, _ = course
    rows = {(r[0], r[3]): r for r in table(root / "full.csv")[1:]}
    header = table(root / "full.csv")[0]
    column = {name: header.index(name) for name in header}
    ana_dropout, ana_extra, bo_extra = rows["dropout", "ana"], rows[ASSIGNMENT, "ana"], rows[ASSIGNMENT, "bo"]
    assert [ana_dropout[column[t.id]] for t in DROPOUT.tasks] == [f"{t.points:g}" for t in DROPOUT.tasks]
    assert ana_extra[column[TASK]] == "3" and bo_extra[column[TASK]] == "1"
    assert float(ana_extra[column["max_score"]]) == 3 and ana_extra[column["status"]] == "complete"
    assert rows["dropout", "bo"][column["status"]] == "not submitted"


def test_export_has_a_column_per_task_of_every_assignment(course):
    root, _ = course
    header, *rows = table(root / "full.csv")
    for name in (*DROPOUT_COLUMNS, TASK):
        assert header.count(name) == 1, name
    column = {name: header.index(name) for name in header}
    for row in rows:  # a task's column is empty in the rows of the other assignment
        other = DROPOUT_COLUMNS if row[0] == ASSIGNMENT else [TASK]
        assert all(row[column[name]] == "" for name in other), row


@pytest.mark.parametrize("layout, first", [("canvas", 5), ("moodle", 4)])
def test_lms_layouts_have_a_grade_column_per_assignment(course, layout, first):
    root, _ = course
    header, *rows = table(root / f"{layout}.csv")
    assert sorted(header[first:]) == sorted([*COURSE.assignment_names, ASSIGNMENT])
    column = {name: header.index(name) for name in header[first:]}
    if layout == "canvas":
        possible, *rows = rows
        assert possible[0] == "Points Possible"
        assert float(possible[column["dropout"]]) == DROPOUT.total_points and float(possible[column[ASSIGNMENT]]) == 3
    by_student = {row[2] if layout == "canvas" else row[0]: row for row in rows}
    assert by_student["ana"][column[ASSIGNMENT]] == "3" and by_student["bo"][column[ASSIGNMENT]] == "1"
    assert by_student["ana"][column["dropout"]] == f"{DROPOUT.auto_points:g}"  # questions left as handed out: 0
    assert by_student["bo"][column["dropout"]] == "0"  # not submitted: 0, as nbgrader's export counts it


def test_the_class_command_grades_the_new_assignment_and_reports_on_it(copy, course):
    root, _ = course
    run(copy, "-m", "coursekit.classgrade", ASSIGNMENT, "--course-root", str(root), "--force", "--workers", "1",
        "--progress", "none")
    with open(root / "reports" / ASSIGNMENT / "scores.csv", newline="") as file:
        reader = csv.DictReader(file)
        rows = {row["student"]: row for row in reader}
    assert reader.fieldnames == ["student", "status", "score", "max_score", TASK, "this_run", "detail"]
    assert (rows["ana"][TASK], rows["bo"][TASK]) == ("3", "1")
    assert (root / "reports" / ASSIGNMENT / "class_report.png").is_file()
    refused = subprocess.run([sys.executable, "-m", "coursekit.classgrade", "no-such", "--course-root", str(root)],
                             cwd=copy, env={**os.environ, "PYTHONPATH": str(copy)}, capture_output=True, text=True)
    assert refused.returncode == 2 and "invalid choice: 'no-such'" in refused.stderr


def test_the_feedback_page_names_the_new_assignments_task(copy, course):
    root, _ = course
    run(copy, "-m", "nbgrader", "generate_feedback", ASSIGNMENT, "--student=bo", cwd=root, nbgrader=True)
    page = (root / "feedback" / "bo" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert re.findall(r'<h2 id="task-([^"]+)">', page) == [TASK]  # only this assignment's task
    assert f"<h1>{ASSIGNMENT}: 1 / 3 points</h1>" in page
    assert f"{TITLE}: 1 / 3 points" in page
    assert "scale is still the stub handed out." in page
