"""The gradebook module on SQLite and on a real PostgreSQL server, and the re-release guard on both;
class grading's copies and merges, including two processes merging into one SQLite file at once.

One throwaway PostgreSQL server (tests/postgres.py) serves the whole module. The unit tests
read the same small gradebook, built with nbgrader's API, from a SQLite file and from a
PostgreSQL database. The end-to-end test releases, submits and autogrades with the real
nbgrader into PostgreSQL, then changes a graded cell: release must refuse without --force.
"""

import nbformat
import pytest
from nbgrader.api import MissingEntry
from postgres import postgres_server

from coursekit import classroom
from coursekit.gradebook import (GradebookError, cell_scores, check_gradebook, connect, copy_gradebook, held_score,
                                 merge_from, merge_once, opened, release_state, sqlite_url, standings,
                                 submission_scores)
from coursekit.manifest import COURSE
from coursekit.release import ReleaseError, release, source_cell_checksums

DROPOUT = COURSE.assignment_named("dropout")  # the assignment these tests grade
ASSIGNMENT, NOTEBOOK, COURSE_ID = DROPOUT.name, DROPOUT.notebook, COURSE.course_id
SCORES = {task.grade_cell: task.points / 2 for task in DROPOUT.tasks}  # what "ana" got, per cell
# nbgrader's add_submission triggers SQLAlchemy autoflush warnings inside nbgrader itself.
pytestmark = pytest.mark.filterwarnings("ignore:Object of type")


@pytest.fixture(scope="module")
def postgres():
    with postgres_server() as server:
        yield server


def build_gradebook(url):
    """A released assignment with one autograded submission, written through nbgrader's API."""
    from nbgrader.api import Gradebook

    with Gradebook(url, COURSE_ID) as gradebook:
        gradebook.add_assignment(ASSIGNMENT)
        gradebook.add_notebook(NOTEBOOK, ASSIGNMENT)
        for cell, points in DROPOUT.cell_points.items():
            gradebook.add_grade_cell(cell, NOTEBOOK, ASSIGNMENT, max_score=points,
                                     cell_type="code" if cell in SCORES else "markdown")
            gradebook.add_source_cell(cell, NOTEBOOK, ASSIGNMENT, cell_type="code", checksum=f"sum-{cell}")
        gradebook.update_or_create_student("ana")
        gradebook.add_submission(ASSIGNMENT, "ana")
        for cell, score in SCORES.items():
            grade = gradebook.find_grade(cell, NOTEBOOK, ASSIGNMENT, "ana")
            grade.auto_score, grade.needs_manual_grade = score, False
        gradebook.db.commit()
    return url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def url(request, tmp_path_factory):
    if request.param == "sqlite":
        return build_gradebook(sqlite_url(tmp_path_factory.mktemp("gradebook") / "gradebook.db"))
    return build_gradebook(request.getfixturevalue("postgres").create_database("units"))


def test_check_gradebook_names_the_notebooks(url):
    assert check_gradebook(url, COURSE_ID, ASSIGNMENT) == [NOTEBOOK]
    with pytest.raises(GradebookError, match=r"no assignment 'other'.*nbgrader generate_assignment other"):
        check_gradebook(url, COURSE_ID, "other")


def test_release_state_counts_submissions_and_reads_the_recorded_checksums(url):
    assert release_state(url, COURSE_ID, ASSIGNMENT) == (
        1, {(NOTEBOOK, cell): f"sum-{cell}" for cell in DROPOUT.cell_points})
    assert release_state(url, COURSE_ID, "other") == (0, {})


def test_cell_scores_and_submission_scores(url):
    assert cell_scores(url, COURSE_ID, ASSIGNMENT, NOTEBOOK, "ana") == {
        cell: (SCORES.get(cell), points) for cell, points in DROPOUT.cell_points.items()}
    with pytest.raises(GradebookError, match=r"no submission of .* by bo"):
        cell_scores(url, COURSE_ID, ASSIGNMENT, NOTEBOOK, "bo")
    manual = sum(part.points for part in DROPOUT.manual)  # the written answers wait for a grader
    assert submission_scores(url, COURSE_ID, ASSIGNMENT) == {"ana": (sum(SCORES.values()), DROPOUT.total_points, manual)}


def test_a_hand_score_ends_pending(tmp_path):
    from nbgrader.api import Gradebook

    url = build_gradebook(sqlite_url(tmp_path / "gradebook.db"))
    first, *rest = DROPOUT.manual
    with Gradebook(url, COURSE_ID) as gradebook:
        gradebook.find_grade(first.grade_cell, NOTEBOOK, ASSIGNMENT, "ana").manual_score = 0
        gradebook.db.commit()
    assert submission_scores(url, COURSE_ID, ASSIGNMENT)["ana"][2] == sum(part.points for part in rest)


def test_a_missing_sqlite_gradebook_is_never_created(tmp_path):
    path = tmp_path / "gradebook.db"
    assert release_state(sqlite_url(path), COURSE_ID, ASSIGNMENT) == (0, {})
    assert submission_scores(sqlite_url(path), COURSE_ID, ASSIGNMENT) == {}
    for read in (lambda: check_gradebook(sqlite_url(path), COURSE_ID, ASSIGNMENT),
                 lambda: cell_scores(sqlite_url(path), COURSE_ID, ASSIGNMENT, NOTEBOOK, "ana")):
        with pytest.raises(GradebookError, match=rf"no gradebook file {path}.*nbgrader generate_assignment {ASSIGNMENT}"):
            read()
    assert not path.exists()


def test_an_empty_postgresql_database_gets_no_tables(postgres):
    from sqlalchemy import create_engine, inspect

    empty = postgres.create_database("empty")
    assert release_state(empty, COURSE_ID, ASSIGNMENT) == (0, {})
    with pytest.raises(GradebookError, match=r"holds no nbgrader tables.*generate_assignment"):
        check_gradebook(empty, COURSE_ID, ASSIGNMENT)
    engine = create_engine(empty)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_an_unreachable_server_is_named_without_its_password():
    with pytest.raises(GradebookError) as error:
        release_state("postgresql+psycopg://grader:s3cret@127.0.0.1:1/gradebook", COURSE_ID, ASSIGNMENT)
    assert "postgresql+psycopg://grader:***@127.0.0.1:1/gradebook" in str(error.value)
    assert "s3cret" not in str(error.value)


def test_release_refuses_to_change_graded_cells_of_a_postgresql_class(postgres, tmp_path):
    """The real pipeline on PostgreSQL: release, submit, autograde, edit a graded cell, release."""
    db_url = postgres.create_database("course", password="s3cret")
    root = classroom.make_course(tmp_path / "course", op_timeout=5, budget=30)
    with open(root / "nbgrader_config.py", "a") as config:
        config.write(f"c.CourseDirectory.db_url = {db_url!r}\n")
    classroom.release_course(root)
    classroom.submit(root, "ana", classroom.load_catalogue().BY_NAME["reference"])
    classroom.nbgrader(root, "autograde", ASSIGNMENT)
    assert not (root / "gradebook.db").exists()  # everything went to PostgreSQL

    scores = classroom.cell_scores(root, "ana")
    assert {cell: scores[cell] for cell in DROPOUT.cell_tasks} == {
        task.grade_cell: (task.points, task.points) for task in DROPOUT.tasks}
    source = root / "source" / ASSIGNMENT
    assert release_state(db_url, COURSE_ID, ASSIGNMENT) == (1, source_cell_checksums(source))

    notebook = source / f"{NOTEBOOK}.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    net_cell = COURSE.task("fc_net").grade_cell
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == net_cell)
    cell.source += "\nassert True"
    nbformat.write(nb, notebook)
    with pytest.raises(ReleaseError, match=rf"1 submission.*{NOTEBOOK}\.ipynb:{net_cell}.*--force") as refused:
        release(root, ASSIGNMENT, log=lambda *_: None)
    assert "s3cret" not in str(refused.value)
    assert "assert True" not in (root / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").read_text()

    release(root, ASSIGNMENT, force=True, log=lambda *_: None)
    assert "assert True" in (root / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").read_text()
    assert release_state(db_url, COURSE_ID, ASSIGNMENT) == (1, source_cell_checksums(source))


# --- class grading's copies and merges (coursekit/gradebook/merge.py) ---

def released_gradebook(path):
    """A SQLite gradebook of the released assignment with no submission yet (a course before autograde)."""
    from nbgrader.api import Gradebook

    url = sqlite_url(path)
    with Gradebook(url, COURSE_ID) as gradebook:
        gradebook.add_assignment(ASSIGNMENT)
        gradebook.add_notebook(NOTEBOOK, ASSIGNMENT)
        for cell, points in DROPOUT.cell_points.items():
            gradebook.add_grade_cell(cell, NOTEBOOK, ASSIGNMENT, max_score=points,
                                     cell_type="code" if cell in SCORES else "markdown")
            gradebook.add_source_cell(cell, NOTEBOOK, ASSIGNMENT, cell_type="code", checksum=f"sum-{cell}")
    return url


def autograde_into(url, scores_by_student):
    """Write what nbgrader autograde writes for each student (student, submission, auto scores)."""
    from nbgrader.api import Gradebook

    with Gradebook(url, COURSE_ID) as gradebook:
        for student, scores in scores_by_student.items():
            gradebook.update_or_create_student(student, first_name=student.title(), email=f"{student}@example.edu")
            gradebook.add_submission(ASSIGNMENT, student)
            for cell, score in scores.items():
                grade = gradebook.find_grade(cell, NOTEBOOK, ASSIGNMENT, student)
                grade.auto_score, grade.needs_manual_grade = score, False
        gradebook.db.commit()


def auto_scores(url, student):
    return {cell: auto for cell, (auto, _) in cell_scores(url, COURSE_ID, ASSIGNMENT, NOTEBOOK, student).items()
            if cell in SCORES}


def scores_of(number):
    """Distinct auto scores for the ``number``-th student, so a merge of the wrong one shows."""
    return {cell: min(points, (number % 4) / 4 * points) for cell, points in
            ((task.grade_cell, task.points) for task in DROPOUT.tasks)}


def test_copy_gradebook_copies_every_table_and_the_schema_version(url, tmp_path):
    from sqlalchemy import create_engine, text

    copy = copy_gradebook(url, tmp_path / "copy.db")
    copied = sqlite_url(copy)
    assert release_state(copied, COURSE_ID, ASSIGNMENT) == release_state(url, COURSE_ID, ASSIGNMENT)
    assert submission_scores(copied, COURSE_ID, ASSIGNMENT) == submission_scores(url, COURSE_ID, ASSIGNMENT)
    engine = create_engine(copied)
    try:
        with engine.connect() as connection:
            version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            mode = connection.execute(text("PRAGMA journal_mode")).scalar()
    finally:
        engine.dispose()
    from nbgrader.api import get_alembic_version
    assert (version, mode) == (get_alembic_version(), "wal")  # nbgrader will run no migration on it
    copy_gradebook(url, copy)  # a copy left by an earlier run is replaced, not added to
    assert submission_scores(copied, COURSE_ID, ASSIGNMENT) == submission_scores(url, COURSE_ID, ASSIGNMENT)


def test_merge_from_creates_the_student_then_updates_auto_scores_and_keeps_hand_grades(tmp_path):
    from nbgrader.api import Gradebook

    course = released_gradebook(tmp_path / "course.db")
    scratch = sqlite_url(copy_gradebook(course, tmp_path / "w0.db"))
    autograde_into(scratch, {"ana": SCORES})
    with connect(scratch, COURSE_ID) as source, connect(course, COURSE_ID) as target:
        merge_from(source, target, ASSIGNMENT, "ana")
        assert held_score(target, ASSIGNMENT, "ana") == (sum(SCORES.values()), DROPOUT.total_points)
        assert held_score(target, ASSIGNMENT, "bo") is None
    with opened(course, COURSE_ID) as gradebook:
        student = gradebook.find_student("ana")
        assert (student.first_name, student.email) == ("Ana", "ana@example.edu")
        first_cell = COURSE.tasks[0].grade_cell
        gradebook.find_grade(first_cell, NOTEBOOK, ASSIGNMENT, "ana").manual_score = 0.5  # a grader's
        gradebook.db.commit()

    regraded = {cell: 0.0 for cell in SCORES}
    with Gradebook(scratch, COURSE_ID) as gradebook:  # the same submission graded again in the copy
        for cell, score in regraded.items():
            gradebook.find_grade(cell, NOTEBOOK, ASSIGNMENT, "ana").auto_score = score
        gradebook.db.commit()
    with connect(scratch, COURSE_ID) as source, connect(course, COURSE_ID) as target:
        merge_from(source, target, ASSIGNMENT, "ana")
    assert auto_scores(course, "ana") == regraded
    with opened(course, COURSE_ID) as gradebook:
        grade = gradebook.find_grade(first_cell, NOTEBOOK, ASSIGNMENT, "ana")
        assert (grade.manual_score, grade.needs_manual_grade) == (0.5, True)  # kept, and asks for a review
        assert len(gradebook.find_assignment(ASSIGNMENT).submissions) == 1


def test_merge_from_changes_nothing_when_the_student_was_not_graded(tmp_path):
    course = released_gradebook(tmp_path / "course.db")
    scratch = sqlite_url(copy_gradebook(course, tmp_path / "w0.db"))
    with connect(scratch, COURSE_ID) as source, connect(course, COURSE_ID) as target:
        with pytest.raises(MissingEntry):
            merge_from(source, target, ASSIGNMENT, "nobody")
    assert submission_scores(course, COURSE_ID, ASSIGNMENT) == {}


def _merge_all(source_url, db_url, students, start):
    """In a child process: wait for the other merger, then merge ``students`` one by one."""
    start.wait(timeout=60)
    for student in students:
        merge_once(source_url, db_url, COURSE_ID, ASSIGNMENT, student)


def test_merges_that_race_into_one_sqlite_gradebook_lose_nothing(tmp_path):
    """Two processes merge at once into one SQLite file, different students and the same ones
    (both insert each shared student at about the same moment, then update it): every grade
    arrives, one submission per student, no "database is locked" failure."""
    import multiprocessing

    course = released_gradebook(tmp_path / "course.db")
    students = {f"s{number:02d}": scores_of(number) for number in range(16)}
    shared = {f"both{number}": scores_of(number + 1) for number in range(8)}
    names = sorted(students)
    sources = []
    for worker, mine in enumerate((names[0::2], names[1::2])):
        scratch = sqlite_url(copy_gradebook(course, tmp_path / f"w{worker}.db"))
        autograde_into(scratch, {**{name: students[name] for name in mine}, **shared})
        sources.append((scratch, [*shared, *mine, *shared]))
    context = multiprocessing.get_context("fork")
    start = context.Barrier(len(sources))
    workers = [context.Process(target=_merge_all, args=(scratch, course, order, start)) for scratch, order in sources]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
    assert [process.exitcode for process in workers] == [0, 0]
    expected = {**students, **shared}
    assert {student: auto_scores(course, student) for student in expected} == expected
    assert sorted(submission_scores(course, COURSE_ID, ASSIGNMENT)) == sorted(expected)
    with opened(course, COURSE_ID) as gradebook:  # one submission each: none was added twice
        assert len(gradebook.find_assignment(ASSIGNMENT).submissions) == len(expected)


def test_merge_once_gives_up_on_a_gradebook_that_stays_locked(tmp_path, monkeypatch):
    import sqlite3

    from coursekit.gradebook import merge

    course = released_gradebook(tmp_path / "course.db")
    scratch = sqlite_url(copy_gradebook(course, tmp_path / "w0.db"))
    autograde_into(scratch, {"ana": SCORES})
    monkeypatch.setattr(merge, "MERGE_TRIES", 2)
    monkeypatch.setattr(merge, "RETRY_SECONDS", 0.01)
    holder = sqlite3.connect(tmp_path / "course.db", timeout=0)
    holder.execute("BEGIN EXCLUSIVE")  # another program keeps the file locked throughout
    try:
        with pytest.raises(GradebookError, match="locked"):
            merge_once(scratch, course, COURSE_ID, ASSIGNMENT, "ana")
    finally:
        holder.rollback()
        holder.close()
    assert merge_once(scratch, course, COURSE_ID, ASSIGNMENT, "ana") == (sum(SCORES.values()), DROPOUT.total_points)


def test_standings_walk_every_assignment_and_student_with_filters(url):
    with opened(url, COURSE_ID) as gradebook:
        walked = [(a.name, s.id, submission is not None) for a, s, submission in standings(gradebook)]
        assert walked == [(ASSIGNMENT, "ana", True)]
        assert list(standings(gradebook, students=["bo"])) == []
        assert list(standings(gradebook, assignments=["other"])) == []
