"""Class grading's side of the gradebook: scratch copies, and merging graded submissions back.

Each worker's nbgrader writes to a SQLite copy of the course's gradebook (its own file, so
concurrent workers never wait on each other's locks). When a worker reports a submission
graded, the coordinator copies what ``nbgrader autograde`` writes for that submission into the
course's gradebook in one transaction, which therefore only ever holds complete gradings. What
autograde writes, and so what is merged (nbgrader 0.9): the student (created if new), the
submission and its timestamp, per notebook the late-submission penalty, per grade the
``auto_score`` and ``needs_manual_grade``, per comment the ``auto_comment``. Manual scores,
manual comments, extra credit, flags and extensions are the graders' and are kept.

``merge_once`` is the merge for processes that write to the course's gradebook at the same
time (a cluster's tasks, a run recovering another's grades): a writer that loses a race (the
same student inserted first by another, SQLite's "database is locked") tries again.
"""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

from nbgrader.api import Assignment, Base, Comment, Grade, Gradebook, MissingEntry, Student, SubmittedAssignment, \
    SubmittedNotebook
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from .database import GradebookError, connect, held_score, is_sqlite, safe_url, sqlite_url

MERGE_TRIES = 20  # a lost race costs one retry; twenty in a row means something else is wrong
RETRY_SECONDS = 0.05  # the first pause after a lost race, doubled each time (with jitter), up to 1 s


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


def _lost_race(error: Exception, db_url: str) -> bool:
    """Whether ``error`` is another writer having got there first, so that trying again can succeed."""
    if isinstance(error, IntegrityError):  # the same student's submission inserted by another writer
        return True
    cause = error.__cause__ if isinstance(error, GradebookError) else error
    return isinstance(cause, OperationalError) and is_sqlite(db_url) and "locked" in str(cause.orig)


def merge_once(source_url: str, db_url: str, course_id: str, assignment: str, student: str) -> tuple[float, float]:
    """Merge ``student``'s graded submission from the gradebook at ``source_url`` into the one at
    ``db_url``, which other processes may be writing to at the same moment; the same merge done
    twice (or at once) leaves one submission. Returns the (score, max score) it then holds."""
    for attempt in range(MERGE_TRIES):
        try:
            with connect(db_url, course_id) as target:
                merge_submission(source_url, target, course_id, assignment, student)
                held = held_score(target, assignment, student)
        except (IntegrityError, OperationalError, GradebookError) as error:
            if attempt == MERGE_TRIES - 1 or not _lost_race(error, db_url):
                raise
            time.sleep(min(1.0, RETRY_SECONDS * 2 ** attempt) * random.uniform(0.5, 1.5))
            continue
        if held is None:
            raise GradebookError(f"the gradebook at {safe_url(db_url)} lost {student}'s submission of {assignment}")
        return held
    raise AssertionError("unreachable")
