"""The course's gradebook, read and written through nbgrader's ``Gradebook`` API only.

Release, class grading, the demo and the reports all come here, so they work the same on any
``CourseDirectory.db_url`` (SQLite or a server such as PostgreSQL). Reading never creates a
gradebook: one that does not exist yet is an error, or "nothing released" for the release guard.

Class grading: each worker's nbgrader writes to a SQLite copy of the course's gradebook (its
own file, so concurrent workers never wait on each other's locks). When a worker reports a
submission graded, the coordinator copies what ``nbgrader autograde`` writes for that
submission into the course's gradebook in one transaction, which therefore only ever holds
complete gradings. What autograde writes, and so what is merged (nbgrader 0.9): the student
(created if new), the submission and its timestamp, per notebook the late-submission penalty,
per grade the ``auto_score`` and ``needs_manual_grade``, per comment the ``auto_comment``.
Manual scores, manual comments, extra credit, flags and extensions are the graders' and are kept.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nbgrader.api import (Assignment, Base, Comment, Grade, Gradebook, MissingEntry, Student, SubmittedAssignment,
                          SubmittedNotebook)
from sqlalchemy import create_engine, insert, inspect, select, text
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
    with _opened(db_url, course_id) as gradebook:
        yield gradebook


@contextmanager
def _opened(db_url: str, course_id: str) -> Iterator[Gradebook]:
    try:
        gradebook = Gradebook(db_url, course_id)
    except Exception as error:
        raise GradebookError(f"cannot open the gradebook at {safe_url(db_url)}: {error}") from error
    with gradebook:
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
    with _opened(db_url, course_id) as gradebook:
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


def copy_gradebook(db_url: str, path: Path | str) -> Path:
    """Write a SQLite copy of the gradebook at ``db_url`` (any backend) to ``path``.

    Every table of nbgrader's schema is copied row by row, and the alembic version with it, so
    nbgrader sees an up-to-date gradebook and runs no migration.
    """
    path = Path(path)
    if path.exists():
        path.unlink()
    source = create_engine(db_url)
    target = create_engine(sqlite_url(path))
    try:
        Base.metadata.create_all(bind=target)
        with source.connect() as reader, target.begin() as writer:
            for table in Base.metadata.sorted_tables:
                rows = [dict(row) for row in reader.execute(select(table)).mappings()]
                if rows:
                    writer.execute(insert(table), rows)
            version = reader.execute(text("SELECT version_num FROM alembic_version")).scalar()
            writer.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
            writer.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": version})
    finally:
        source.dispose()
        target.dispose()
    # Write-ahead logging: the coordinator reads a copy while its worker writes the next grade.
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()
    return path


def merge_submission(source_url: str, target: Gradebook, course_id: str, assignment: str,
                     student: str) -> None:
    """Copy ``student``'s autograded submission of ``assignment`` from the gradebook at
    ``source_url`` into the open Gradebook ``target``, in one transaction."""
    with Gradebook(source_url, course_id) as source:
        merge_from(source, target, assignment, student)


def merge_from(source: Gradebook, target: Gradebook, assignment: str, student: str) -> None:
    """``merge_submission`` from a Gradebook kept open across merges (each new Gradebook makes
    a new engine, which checks the tables and compiles every query again). The read
    transaction on ``source`` ends here, so the next merge sees what was written since."""
    try:
        graded = source.find_submission(assignment, student)
        db = target.db
        try:
            try:
                target_student = target.find_student(student)
            except MissingEntry:
                origin = graded.student
                target_student = Student(id=student, first_name=origin.first_name, last_name=origin.last_name,
                                         email=origin.email, lms_user_id=origin.lms_user_id)
                db.add(target_student)
            try:
                submission = target.find_submission(assignment, student)
            except MissingEntry:
                submission = _new_submission(target, target.find_assignment(assignment), target_student)
            submission.timestamp = graded.timestamp
            notebooks = {notebook.name: notebook for notebook in submission.notebooks}
            for graded_notebook in graded.notebooks:
                notebook = notebooks[graded_notebook.name]
                notebook.late_submission_penalty = graded_notebook.late_submission_penalty
                grades = {grade.name: grade for grade in notebook.grades}
                for graded_grade in graded_notebook.grades:
                    grade = grades[graded_grade.name]
                    grade.auto_score = graded_grade.auto_score
                    # A manual score given in the real gradebook while the copy was grading
                    # still asks for a review, as nbgrader's SaveAutoGrades would.
                    grade.needs_manual_grade = bool(graded_grade.needs_manual_grade or (
                        grade.manual_score is not None and graded_grade.manual_score is None
                        and graded_grade.auto_score is not None))
                comments = {comment.name: comment for comment in notebook.comments}
                for graded_comment in graded_notebook.comments:
                    comments[graded_comment.name].auto_comment = graded_comment.auto_comment
            db.commit()
        except BaseException:
            db.rollback()
            raise
    finally:
        source.db.rollback()


def _new_submission(gradebook: Gradebook, assignment: Assignment, student: Student) -> SubmittedAssignment:
    """A submission with the whole structure of the assignment, as nbgrader's add_submission
    builds it, not yet committed."""
    # Built whole, then added: the session takes the notebooks, grades and comments along with
    # the submission (SQLAlchemy 2 does not cascade along back-references).
    with gradebook.db.no_autoflush:
        submission = SubmittedAssignment(assignment=assignment, student=student)
        for notebook in assignment.notebooks:
            submitted = SubmittedNotebook(notebook=notebook, assignment=submission)
            for cell in notebook.grade_cells:
                Grade(cell=cell, notebook=submitted)
            for cell in notebook.solution_cells:
                Comment(cell=cell, notebook=submitted)
            for cell in notebook.task_cells:
                Comment(cell=cell, notebook=submitted)
                Grade(cell=cell, notebook=submitted)
        gradebook.db.add(submission)
    return submission


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
    with _opened(db_url, course_id) as gradebook:
        try:
            found = gradebook.find_assignment(assignment)
        except MissingEntry:
            return {}
        return {submission.student_id: (float(submission.score), float(submission.max_score),
                                        pending_points(submission))
                for submission in found.submissions}
