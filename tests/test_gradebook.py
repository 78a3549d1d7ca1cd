"""The gradebook module on SQLite and on a real PostgreSQL server, and the re-release guard on both.

One throwaway PostgreSQL server (tests/postgres.py) serves the whole module. The unit tests
read the same small gradebook, built with nbgrader's API, from a SQLite file and from a
PostgreSQL database. The end-to-end test releases, submits and autogrades with the real
nbgrader into PostgreSQL, then changes a graded cell: release must refuse without --force.
"""

import nbformat
import pytest
from postgres import postgres_server

from coursekit import classroom
from coursekit.gradebook import (GradebookError, cell_scores, check_gradebook, release_state, sqlite_url,
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
