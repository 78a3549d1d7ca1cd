"""``nbgrader export`` through the course's ExportPlugin (coursekit/export.py), on a small class
graded by plain nbgrader on both assignments of the course: a roster with names; on dropout one
student complete, one pending hand grading, one late with nbgrader's LateSubmissionPlugin (the
example in docs/instructors.md); on dropout2 one complete, one pending, one not submitted."""

from __future__ import annotations

import csv

import pytest
from nbgrader.api import Gradebook

from coursekit import classroom, sandbox
from coursekit.manifest import COURSE
from coursekit.release import course_settings

DROPOUT = COURSE.assignment_named("dropout")  # the assignments these tests grade
DROPOUT2 = COURSE.assignment_named("dropout2")

pytestmark = pytest.mark.skipif(sandbox.probe() is not None, reason=f"bwrap unusable: {sandbox.probe()}")

CATALOGUE = classroom.load_catalogue()
ASSIGNMENT = DROPOUT.name
ROSTER = [("ada", "Lovelace", "Ada", "ada@example.edu"), ("bob", "Brown", "Bob", "bob@example.edu"),
          ("cid", "Çelik", "Cid", "cid@example.edu")]
LATE_POINTS_PER_DAY = 2.0


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.reader(file))



@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = classroom.make_course(tmp_path_factory.mktemp("export") / "course", op_timeout=5, budget=30)
    with open(root / "nbgrader_config.py", "a") as config:
        config.write('c.AssignLatePenalties.plugin_class = "coursekit.export.PointsPerDayLate"\n'
                     f"c.PointsPerDayLate.points_per_day = {LATE_POINTS_PER_DAY}\n")
    classroom.release_course(root)
    (root / "roster.csv").write_text("id,last_name,first_name,email\n"
                                     + "".join(",".join(row) + "\n" for row in ROSTER), encoding="utf-8")
    classroom.nbgrader(root, "db", "student", "import", "roster.csv")
    classroom.nbgrader(root, "db", "assignment", "add", ASSIGNMENT, "--duedate=2026-01-10 12:00:00 UTC")
    for student, variant in (("ada", "bool-mask"), ("bob", "stubs"), ("cid", "bool-mask")):
        folder = classroom.submit(root, student, CATALOGUE.BY_NAME[variant])
        stamp = "2026-01-11 18:00:00 UTC" if student == "cid" else "2026-01-09 09:00:00 UTC"
        (folder / "timestamp.txt").write_text(stamp)
        classroom.answer_inline_questions(folder)
    for student, variant in (("ada", "d2-binomial-maps"), ("bob", "d2-student-edition")):  # cid hands nothing in
        classroom.answer_inline_questions(classroom.submit(root, student, CATALOGUE.DROPOUT2_BY_NAME[variant]))
    for assignment in (ASSIGNMENT, DROPOUT2.name):
        classroom.nbgrader(root, "autograde", assignment, "--ResilientExecute.run_notebook=False")
    settings = course_settings(root)
    with Gradebook(settings.db_url, course_id=settings.course_id) as gradebook:  # ada's hand grading
        for assignment in (DROPOUT, DROPOUT2):
            for part in assignment.manual:
                grade = gradebook.find_grade(part.grade_cell, assignment.notebook, assignment.name, "ada")
                grade.manual_score = part.points - 1
        gradebook.db.commit()
    for layout in ("full", "canvas", "moodle"):
        classroom.nbgrader(root, "export", f"--CourseExportPlugin.layout={layout}")
    return root


def full_rows(course, assignment=ASSIGNMENT):
    """student -> the full export's row of ``assignment``."""
    table = read_csv(course / "grades.csv")
    return {row["student_id"]: row for row in (dict(zip(table[0], line)) for line in table[1:])
            if row["assignment"] == assignment}


def test_full_export_has_task_columns_names_and_pending_flags(course):
    rows = full_rows(course)
    auto = sum(task.points for task in DROPOUT.tasks)
    manual = sum(part.points for part in DROPOUT.manual)
    ada, bob, cid = rows["ada"], rows["bob"], rows["cid"]
    assert (ada["first_name"], ada["last_name"], ada["email"]) == ("Ada", "Lovelace", "ada@example.edu")
    assert cid["last_name"] == "Çelik"
    assert {task.id: float(ada[task.id]) for task in DROPOUT.tasks} == {task.id: task.points for task in DROPOUT.tasks}
    assert float(ada["score"]) == auto + manual - len(DROPOUT.manual)
    assert (ada["needs_manual_grading"], ada["status"]) == ("no", "complete")
    for row in (bob, cid):
        assert (row["needs_manual_grading"], float(row["pending_points"])) == ("yes", manual)
        assert row["status"] == "pending manual grading"
        assert all(row[part.grade_cell] == "" for part in DROPOUT.manual)
    assert float(bob["score"]) == sum(float(bob[task.id]) for task in DROPOUT.tasks) < auto
    assert float(cid["raw_score"]) == auto


def test_full_export_carries_both_assignments_a_column_per_task(course):
    header = read_csv(course / "grades.csv")[0]
    for assignment in (DROPOUT, DROPOUT2):
        assert set(assignment.task_ids) | {part.grade_cell for part in assignment.manual} <= set(header)
    rows = full_rows(course, DROPOUT2.name)
    ada, bob, cid = rows["ada"], rows["bob"], rows["cid"]
    assert {task.id: float(ada[task.id]) for task in DROPOUT2.tasks} == {t.id: t.points for t in DROPOUT2.tasks}
    assert float(ada["score"]) == DROPOUT2.total_points - len(DROPOUT2.manual)
    assert ada["status"] == "complete" and all(ada[task.id] == "" for task in DROPOUT.tasks)
    assert {task.id: float(bob[task.id]) for task in DROPOUT2.tasks} == dict.fromkeys(DROPOUT2.task_ids, 0.0)
    assert bob["status"] == "pending manual grading"
    assert cid["status"] == "not submitted"
    assert {row["assignment"] for row in full_rows(course, ASSIGNMENT).values()} == {ASSIGNMENT}


def test_late_penalty_per_started_day(course):
    rows = full_rows(course)
    assert float(rows["ada"]["late_submission_penalty"]) == 0.0
    assert float(rows["cid"]["late_submission_penalty"]) == 2 * LATE_POINTS_PER_DAY  # 1 day 5.5 h late
    assert float(rows["cid"]["score"]) == float(rows["cid"]["raw_score"]) - 2 * LATE_POINTS_PER_DAY


def test_canvas_layout(course):
    table = read_csv(course / "grades-canvas.csv")
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *COURSE.assignment_names]
    first, second = 5, 5 + COURSE.assignment_names.index(DROPOUT2.name)
    assert table[1][0] == "Points Possible" and float(table[1][first]) == DROPOUT.total_points
    assert float(table[1][second]) == DROPOUT2.total_points
    rows = {row[2]: row for row in table[2:]}
    assert rows["ada"][:4] == ["Lovelace, Ada", "", "ada", "ada@example.edu"]
    assert float(rows["ada"][first]) == DROPOUT.total_points - len(DROPOUT.manual)
    assert rows["bob"][first] == "" and rows["cid"][first] == ""  # pending hand grading: not exported as final
    assert float(rows["ada"][second]) == DROPOUT2.total_points - len(DROPOUT2.manual)
    assert rows["bob"][second] == "" and rows["cid"][second] == "0"  # pending; not submitted: 0, as nbgrader's


def test_moodle_layout(course):
    table = read_csv(course / "grades-moodle.csv")
    assert table[0] == ["ID number", "First name", "Last name", "Email address", *COURSE.assignment_names]
    first, second = 4, 4 + COURSE.assignment_names.index(DROPOUT2.name)
    rows = {row[0]: row for row in table[1:]}
    assert rows["ada"][1:4] == ["Ada", "Lovelace", "ada@example.edu"]
    assert float(rows["ada"][first]) == DROPOUT.total_points - len(DROPOUT.manual) and rows["bob"][first] == ""
    assert float(rows["ada"][second]) == DROPOUT2.total_points - len(DROPOUT2.manual)
    assert rows["bob"][second] == "" and rows["cid"][second] == "0"


def test_class_report_and_scores_csv_flag_pending_hand_grading(course, tmp_path):
    """The class command's table and report agree with the export: bob and cid wait for a grader."""
    from coursekit.classgrade.cli import format_table
    from coursekit.classgrade.grader import grade_class

    result = grade_class(course, ASSIGNMENT, report_dir=tmp_path, progress="none", log=lambda *_: None)
    assert result.graded == 0  # plain nbgrader graded them all: the class command only reports
    manual = sum(part.points for part in DROPOUT.manual)
    status = {o.student: (o.status, o.detail) for o in result.outcomes}
    assert status["ada"] == ("graded", "")
    for student in ("bob", "cid"):
        assert status[student] == ("pending", f"hand grading pending: {manual:g} point(s) without a score")
    table = format_table(result.outcomes)
    assert [line.split()[2] for line in table.splitlines()[1:]] == ["graded", "pending", "pending"]
    scores = {row[0]: row for row in read_csv(result.report["scores"])[1:]}
    assert {student: row[1] for student, row in scores.items()} == {"ada": "graded", "bob": "pending",
                                                                   "cid": "pending"}
    assert result.report["png"].stat().st_size > 10_000


# What the LMS import documentation asks of a file (not imported into a real LMS here):
# - Canvas, Gradebook CSV import ("Import CSV File for Carmen Grades", Ohio State's Canvas guide,
#   https://teaching.resources.osu.edu/toolsets/carmencanvas/guides/calculating-final-grades/import-csv-file-carmen-grades,
#   and Canvas's CSV rules, https://developerdocs.instructure.com/services/canvas/sis/file.sis_csv): a header row;
#   Student Name ("last name, first name") or Student ID or SIS User ID, then SIS Login ID, Section and one
#   column per assignment named as in Canvas; UTF-8; a field holding a comma is double-quoted.
# - Moodle, CSV grade import (https://docs.moodle.org/311/en/Grade_import): a header row; each grade column
#   is mapped to a grade item and each student found by mapping "ID number" to useridnumber or "Email
#   address" to useremail (emails compared case-sensitively).
def _numeric_or_empty(value):
    if value == "":
        return True
    try:
        return float(value) >= 0
    except ValueError:
        return False


def test_canvas_file_follows_the_gradebook_import_format(course):
    raw = (course / "grades-canvas.csv").read_bytes()
    text = raw.decode("utf-8")  # UTF-8, and no byte-order mark in front of "Student"
    assert text.startswith("Student,ID,SIS User ID,SIS Login ID,Section,")
    assert '"Çelik, Cid"' in text  # the name's comma is quoted
    table = read_csv(course / "grades-canvas.csv")
    header, possible, *students = table
    assert len(set(header)) == len(header) and header[5:] == list(COURSE.assignment_names)
    assert all(len(row) == len(header) for row in table)
    assert possible[0] == "Points Possible" and all(_numeric_or_empty(v) and v for v in possible[5:])
    for row in students:
        assert row[0] or row[1] or row[2], row  # one identifier Canvas matches students by
        assert ", " in row[0] and row[3]  # "last, first" and the SIS Login ID
        assert all(_numeric_or_empty(value) for value in row[5:]), row
    assert {row[2] for row in students} == {student for student, *_ in ROSTER}


def test_moodle_file_follows_the_csv_grade_import_format(course):
    table = read_csv(course / "grades-moodle.csv")
    header, *students = table
    assert header[:4] == ["ID number", "First name", "Last name", "Email address"]
    assert len(set(header)) == len(header) and all(len(row) == len(header) for row in table)
    emails = {student: email for student, _, _, email in ROSTER}
    for row in students:
        assert row[0] and row[3] == emails[row[0]], row  # both mapping keys, the email exactly as in the roster
        assert all(_numeric_or_empty(value) for value in row[4:]), row
    assert len({row[0] for row in students}) == len(students)  # one row per student: no ambiguous mapping
