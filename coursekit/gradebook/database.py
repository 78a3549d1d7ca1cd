"""The course's gradebook, read through nbgrader's ``Gradebook`` API only.

Release, class grading, the demo, the export and the reports all come here, so they work the
same on any ``CourseDirectory.db_url`` (SQLite or a server such as PostgreSQL). Reading never
creates a gradebook: one that does not exist yet is an error, or "nothing released" for the
release guard. Opening one for writing (``connect``, ``opened``) is for a gradebook nbgrader made.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from nbgrader.api import Assignment, Grade, Gradebook, MissingEntry, Student, SubmittedAssignment
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url


class GradebookError(RuntimeError):
    """The course's gradebook cannot be used for this run (missing, wrong assignment, ...)."""


def sqlite_url(path: Path | str) -> str:
    """The db_url of the SQLite gradebook file at ``path``."""
    return f"sqlite:///{Path(path).resolve()}"


def is_sqlite(db_url: str) -> bool:
    return db_url.startswith("sqlite")


def safe_url(db_url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(db_url).render_as_string(hide_password=True)
    except Exception:
        return "<db_url>"


def sqlite_file(db_url: str) -> Path | None:
    """The file of a SQLite ``db_url`` (None for other databases and in-memory SQLite)."""
    if not is_sqlite(db_url):
        return None
    try:
        database = make_url(db_url).database
    except Exception as error:
        raise GradebookError(f"the SQLite db_url {safe_url(db_url)} is not a database URL: {error}") from error
    return Path(database) if database and database != ":memory:" else None


def gradebook_exists(db_url: str) -> bool:
    """Whether ``db_url`` holds nbgrader's tables. Never creates a database or a file."""
    path = sqlite_file(db_url)
    if path is not None and not path.is_file():
        return False
    try:
        engine = create_engine(db_url)
    except Exception as error:  # e.g. the database driver is not installed
        raise GradebookError(f"cannot open the gradebook at {safe_url(db_url)}: {error}") from error
    try:
        return "assignment" in inspect(engine).get_table_names()
    except Exception as error:  # a server not answering, a wrong password, ...
        raise GradebookError(f"cannot open the gradebook at {safe_url(db_url)}: {error}") from error
    finally:
        engine.dispose()


@contextmanager
def open_gradebook(db_url: str, course_id: str, assignment: str) -> Iterator[Gradebook]:
    """nbgrader's Gradebook at ``db_url``; GradebookError if there is none yet.

    ``assignment`` only names the command that creates the gradebook, for the message.
    """
    if not gradebook_exists(db_url):
        path = sqlite_file(db_url)
        where = f"there is no gradebook file {path}" if path else f"the gradebook at {safe_url(db_url)} holds no nbgrader tables"
        raise GradebookError(f"{where}: run `nbgrader generate_assignment {assignment}` first")
    with opened(db_url, course_id) as gradebook:
        yield gradebook


def connect(db_url: str, course_id: str) -> Gradebook:
    """nbgrader's Gradebook at ``db_url``, open until the caller closes it; GradebookError if it
    cannot be opened. (nbgrader creates its tables when they are missing.)"""
    try:
        return Gradebook(db_url, course_id)
    except Exception as error:
        raise GradebookError(f"cannot open the gradebook at {safe_url(db_url)}: {error}") from error


@contextmanager
def opened(db_url: str, course_id: str) -> Iterator[Gradebook]:
    """``connect``, closed when the block ends."""
    with connect(db_url, course_id) as gradebook:
        yield gradebook


def check_gradebook(db_url: str, course_id: str, assignment: str) -> list[str]:
    """The assignment's notebook names, after checking that the gradebook knows the assignment."""
    with open_gradebook(db_url, course_id, assignment) as gradebook:
        try:
            names = sorted(notebook.name for notebook in gradebook.find_assignment(assignment).notebooks)
        except MissingEntry:
            names = []
    if not names:
        raise GradebookError(f"the gradebook at {safe_url(db_url)} has no assignment '{assignment}' with "
                             f"notebooks: run `nbgrader generate_assignment {assignment}` first")
    return names


def release_state(db_url: str, course_id: str, assignment: str) -> tuple[int, dict[tuple[str, str], str]]:
    """(number of submissions, {(notebook, grade_id): checksum} of the cells recorded at release).

    No gradebook, or none that knows ``assignment``, is (0, {}): nothing was released yet.
    """
    if not gradebook_exists(db_url):
        return 0, {}
    with opened(db_url, course_id) as gradebook:
        try:
            found = gradebook.find_assignment(assignment)
        except MissingEntry:
            return 0, {}
        checksums = {(notebook.name, cell.name): cell.checksum
                     for notebook in found.notebooks for cell in notebook.source_cells}
        return len(found.submissions), checksums


def cell_scores(db_url: str, course_id: str, assignment: str, notebook: str,
                student: str) -> dict[str, tuple[float | None, float]]:
    """{grade_id: (auto_score, max_score)} of one student's submitted ``notebook``."""
    with open_gradebook(db_url, course_id, assignment) as gradebook:
        try:
            submitted = gradebook.find_submission_notebook(notebook, assignment, student)
        except MissingEntry as error:
            raise GradebookError(f"the gradebook at {safe_url(db_url)} has no submission of "
                                 f"{assignment}/{notebook} by {student}") from error
        return {grade.name: (grade.auto_score, grade.max_score) for grade in submitted.grades}


def is_pending(grade: Grade) -> bool:
    """A cell nbgrader asks to grade by hand (formgrader's "needs manual grade") with no manual score yet."""
    return bool(grade.needs_manual_grade and grade.manual_score is None)


def pending_points(submission: SubmittedAssignment) -> float:
    """The points of ``submission`` that wait for a grader (its pending cells' maxima)."""
    return float(sum(grade.max_score for notebook in submission.notebooks for grade in notebook.grades
                     if is_pending(grade)))


def submission_scores(db_url: str, course_id: str, assignment: str) -> dict[str, tuple[float, float, float]]:
    """{student: (score, max_score, pending points)} of every submission of ``assignment``
    (pending points: see ``pending_points``)."""
    if not gradebook_exists(db_url):
        return {}
    with opened(db_url, course_id) as gradebook:
        try:
            found = gradebook.find_assignment(assignment)
        except MissingEntry:
            return {}
        return {submission.student_id: (float(submission.score), float(submission.max_score),
                                        pending_points(submission))
                for submission in found.submissions}


def held_score(gradebook: Gradebook, assignment: str, student: str) -> tuple[float, float] | None:
    """(score, max score) of ``student``'s submission of ``assignment`` in the open ``gradebook``, or None."""
    try:
        submission = gradebook.find_submission(assignment, student)
    except MissingEntry:
        return None
    return float(submission.score), float(submission.max_score)


def standings(gradebook: Gradebook, assignments: Iterable[str] = (),
              students: Iterable[str] = ()) -> Iterator[tuple[Assignment, Student, SubmittedAssignment | None]]:
    """(assignment, student, submission or None) for every assignment and student of the open
    ``gradebook``, as nbgrader's export walks them; empty filters keep everything."""
    assignments, students = set(assignments), set(students)
    for assignment in gradebook.assignments:
        if assignments and assignment.name not in assignments:
            continue
        for student in gradebook.students:
            if students and student.id not in students:
                continue
            try:
                yield assignment, student, gradebook.find_submission(assignment.name, student.id)
            except MissingEntry:
                yield assignment, student, None

