"""``nbgrader export`` for this course: a column per task, what is still pending, LMS layouts.

Selected in ``assignments/nbgrader_config.py`` (``c.ExportApp.plugin_class``); the layout is
``c.CourseExportPlugin.layout`` or ``--CourseExportPlugin.layout=canvas`` on the command line:

- ``full`` (default, ``grades.csv``): a row per student and assignment; nbgrader's columns, then
  one per task and one per part graded by hand of every assignment of the manifest (empty in
  the rows of the other assignments), ``needs_manual_grading`` (yes/no) and ``pending_points``;
- ``canvas``: Canvas's gradebook import columns (Student, ID, SIS User ID, SIS Login ID,
  Section, then one per assignment) with its "Points Possible" row;
- ``moodle``: Moodle's grade import (ID number, First name, Last name, Email address, then one
  per assignment), to be mapped on "ID number" or "Email address".

In the LMS layouts a score waiting for hand grading is left empty (an import then leaves the
LMS's grade alone) rather than exported without the points still to come. Names and emails come
from the gradebook: import a roster first (``nbgrader db student import roster.csv``).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field

from nbgrader.plugins import ExportPlugin, LateSubmissionPlugin
from traitlets import Enum, Float

from .gradebook import Gradebook, is_pending, pending_points, standings
from .manifest import COURSE

LAYOUTS = ("full", "canvas", "moodle")
NOT_SUBMITTED, PENDING, COMPLETE = "not submitted", "pending manual grading", "complete"


@dataclass
class Row:
    """One student's standing on one assignment, as the gradebook holds it."""

    assignment: str
    student_id: str
    first_name: str
    last_name: str
    email: str
    max_score: float
    duedate: str = ""
    timestamp: str = ""
    raw_score: float = 0.0
    penalty: float = 0.0
    cells: dict[str, float | None] = field(default_factory=dict)  # grade cell -> score (None: pending)
    pending_points: float = 0.0
    submitted: bool = False

    @property
    def score(self) -> float:
        """nbgrader's score: raw score minus the late penalty, never below 0."""
        return max(0.0, self.raw_score - self.penalty)

    @property
    def status(self) -> str:
        """Not submitted, pending manual grading, or complete."""
        if not self.submitted:
            return NOT_SUBMITTED
        return PENDING if self.pending_points else COMPLETE


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def gradebook_rows(gradebook: Gradebook, assignments: list[str] = (), students: list[str] = ()) -> list[Row]:
    """A Row for every (assignment, student) of the gradebook, filtered like nbgrader's export; the
    manifest's assignments first, in its order (the LMS layouts' columns), then any other."""
    order = {name: index for index, name in enumerate(COURSE.assignment_names)}
    rows = []
    for assignment, student, submission in standings(gradebook, assignments, students):
        row = Row(assignment.name, student.id, _text(student.first_name), _text(student.last_name),
                  _text(student.email), assignment.max_score, duedate=_text(assignment.duedate))
        if submission is not None:
            row.submitted, row.timestamp = True, _text(submission.timestamp)
            row.raw_score, row.penalty = submission.score, submission.late_submission_penalty or 0.0
            row.pending_points = pending_points(submission)
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    row.cells[grade.name] = None if is_pending(grade) else grade.score
        rows.append(row)
    return sorted(rows, key=lambda row: order.get(row.assignment, len(order)))  # stable: students keep their order


def part_columns() -> list[tuple[str, str]]:
    """(column, grade cell) of every task and hand-graded part, assignment by assignment."""
    columns = []
    for assignment in COURSE.assignments:
        columns += [(task.id, task.grade_cell) for task in assignment.tasks]
        columns += [(part.grade_cell, part.grade_cell) for part in assignment.manual]
    return columns


def full_table(rows: list[Row]) -> list[list[str]]:
    """nbgrader's columns, a column per task and hand-graded part of every assignment, and what is pending."""
    parts = part_columns()
    header = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
              *[name for name, _ in parts], "raw_score", "late_submission_penalty", "score", "max_score",
              "needs_manual_grading", "pending_points", "status"]
    table = [header]
    for r in rows:
        cells = [_number(r.cells.get(cell)) if r.submitted else "" for _, cell in parts]
        table.append([r.assignment, r.duedate, r.timestamp, r.student_id, r.last_name, r.first_name, r.email,
                      *cells, _number(r.raw_score), _number(r.penalty), _number(r.score), _number(r.max_score),
                      "yes" if r.pending_points else "no", _number(r.pending_points), r.status])
    return table


def _lms_score(row: Row) -> str:
    return "" if row.status == PENDING else _number(row.score)


def canvas_table(rows: list[Row]) -> list[list[str]]:
    """Canvas's gradebook import: one column per assignment, a row per student."""
    assignments = list(dict.fromkeys(r.assignment for r in rows))
    header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *assignments]
    maxima = {r.assignment: r.max_score for r in rows}
    table = [header, ["Points Possible", "", "", "", "", *[_number(maxima[a]) for a in assignments]]]
    for student in dict.fromkeys(r.student_id for r in rows):
        mine = {r.assignment: r for r in rows if r.student_id == student}
        first = next(iter(mine.values()))
        name = ", ".join(part for part in (first.last_name, first.first_name) if part) or student
        table.append([name, "", student, first.email or student, "",
                      *[_lms_score(mine[a]) if a in mine else "" for a in assignments]])
    return table


def moodle_table(rows: list[Row]) -> list[list[str]]:
    """Moodle's grade import: identify students by ID number or email; one column per assignment."""
    assignments = list(dict.fromkeys(r.assignment for r in rows))
    table = [["ID number", "First name", "Last name", "Email address", *assignments]]
    for student in dict.fromkeys(r.student_id for r in rows):
        mine = {r.assignment: r for r in rows if r.student_id == student}
        first = next(iter(mine.values()))
        table.append([student, first.first_name, first.last_name, first.email,
                      *[_lms_score(mine[a]) if a in mine else "" for a in assignments]])
    return table


TABLES = {"full": full_table, "canvas": canvas_table, "moodle": moodle_table}
DEFAULT_FILES = {"full": "grades.csv", "canvas": "grades-canvas.csv", "moodle": "grades-moodle.csv"}


class CourseExportPlugin(ExportPlugin):
    """nbgrader's export with per-task columns, pending manual grades, and LMS layouts."""

    layout = Enum(LAYOUTS, default_value="full", help="full, canvas or moodle").tag(config=True)

    def export(self, gradebook: Gradebook) -> None:
        """Write the chosen layout to ``--to`` (default: grades.csv, grades-canvas.csv, grades-moodle.csv)."""
        dest = self.to or DEFAULT_FILES[self.layout]
        rows = gradebook_rows(gradebook, [str(a) for a in self.assignment], [str(s) for s in self.student])
        with open(dest, "w", newline="", encoding="utf-8") as file:
            csv.writer(file).writerows(TABLES[self.layout](rows))
        pending = [r.student_id for r in rows if r.status == PENDING]
        self.log.info("Exported %d row(s) in the %s layout to %s", len(rows), self.layout, dest)
        if pending:
            self.log.warning("%d submission(s) still need manual grading (%s): their scores lack those points%s",
                             len(pending), ", ".join(pending[:10]),
                             "" if self.layout == "full" else "; left empty in this layout")


class PointsPerDayLate(LateSubmissionPlugin):
    """A late penalty of ``points_per_day`` for each started day after the due date.

    nbgrader applies it at autograde (``c.AssignLatePenalties.plugin_class``), caps it at the
    notebook's score, and ``nbgrader export`` subtracts it; points are fixed rather than a share
    of the score because the hand-graded points arrive after autograde.
    """

    points_per_day = Float(1.0, help="points taken off per started day late").tag(config=True)

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float | None:
        """``points_per_day`` times the started days late (None when on time)."""
        if total_seconds_late <= 0:
            return None
        return self.points_per_day * math.ceil(total_seconds_late / 86400)
