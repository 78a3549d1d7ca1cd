"""The parallel grading command against a real PostgreSQL server as nbgrader's gradebook.

The test starts a throwaway PostgreSQL cluster (tests/postgres.py), points a course's
``c.CourseDirectory.db_url`` at it, releases the assignment into it with nbgrader, and grades a class with two commands at once (two students each, two workers
each): four nbgrader workers and two coordinators writing to one server.
"""

import time

import pytest
from postgres import postgres_server

from coursekit import classroom
from coursekit.limits import SHORT
from coursekit.manifest import COURSE
from conftest import classgrade, make_class

DROPOUT = COURSE.assignment_named("dropout")  # the assignment these tests grade
CLASS = {"a1": "reference", "a2": "keep-drop-swapped", "b1": "default-rng", "b2": "dropout-not-applied"}
FULL = {task.grade_cell: task.points for task in DROPOUT.tasks}
TWO_WORKERS = ("--workers", "2", "--batch-size", "1")


@pytest.fixture(scope="module")
def postgres():
    with postgres_server() as server:
        yield server.create_database("gradebook")


@pytest.fixture(scope="module")
def course(postgres, tmp_path_factory):
    root = make_class(tmp_path_factory.mktemp("pgcourse"), CLASS, config=f"c.CourseDirectory.db_url = {postgres!r}",
                      **SHORT)  # the demo's limits: a machine loaded by four workers needs the margin
    return root, postgres


def test_two_parallel_commands_grade_into_one_postgresql_gradebook(course):
    from nbgrader.api import Gradebook

    root, url = course
    started = time.monotonic()
    commands = [classgrade(root, *TWO_WORKERS, "--student", f"{group}*", "--report-dir", str(root / "reports" / group),
                           background=True) for group in ("a", "b")]
    results = [command.communicate(timeout=900) for command in commands]
    seconds = time.monotonic() - started
    for command, (out, err) in zip(commands, results):
        assert command.returncode == 0, out + err[-3000:]
        assert "postgresql+psycopg://postgres@127.0.0.1" in err and "2 to grade with 2 worker(s)" in err
    assert not (root / "gradebook.db").exists()  # nothing went to a SQLite file

    with Gradebook(url, COURSE.course_id) as gradebook:
        submissions = gradebook.find_assignment(DROPOUT.name).submissions
        assert sorted(s.student_id for s in submissions) == sorted(CLASS)  # each exactly once
    # Read back through the course's settings: the gradebook module finds the PostgreSQL gradebook.
    autograded = {student: {cell: score for cell, (score, _) in classroom.cell_scores(root, student).items()
                            if cell in FULL} for student in CLASS}
    assert autograded["a1"] == FULL and autograded["b1"] == FULL
    forward, net = COURSE.task("dropout_forward").grade_cell, COURSE.task("fc_net").grade_cell
    assert autograded["a2"][forward] < FULL[forward]
    assert autograded["b2"][net] < FULL[net]
    print(f"4 submissions, two commands of two workers each, PostgreSQL gradebook: {seconds:.1f} s")


def test_rerun_against_postgresql_grades_nothing_new_and_plain_nbgrader_exports(course):
    root, url = course
    again = classgrade(root, *TWO_WORKERS, background=True)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, out + err[-3000:]
    assert "0 to grade" in err
    classroom.nbgrader(root, "export")
    grades = classroom.read_grades(root)
    assert {student: float(row["raw_score"]) for student, row in grades.items() if student in ("a1", "b1")} == \
        {"a1": DROPOUT.auto_points, "b1": DROPOUT.auto_points}
