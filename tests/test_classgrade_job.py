"""The one unit of grading (coursekit/classgrade/job.py), called directly as both executors call it."""

from __future__ import annotations

import shutil
import threading
import time

import pytest

from conftest import make_class
from coursekit import classroom, gradebook
from coursekit.classgrade.job import Job, JobFiles, Stop, Submission, grade
from coursekit.classgrade.status import FINISHED, INTERRUPTED_MIDWAY, NOT_STARTED, REFUSED, STOPPED_AFTER_TIMEOUT
from coursekit.classgrade.submissions import load_course
from coursekit.classgrade.worker import close_worker_servers
from coursekit.manifest import COURSE

# nbgrader grades a job's submissions in the order of their ids: abe first.
STUDENTS = {"abe": "forward-hangs", "ada": "reference", "bo": "survivors-not-scaled"}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = make_class(tmp_path_factory.mktemp("job") / "course", STUDENTS)
    yield root
    close_worker_servers()


def run(root, tmp_path, students, merge=None, stop=None, timeout=None):
    """``grade`` on a job of ``students``: (settled attempts in order, students to queue again, merges)."""
    course = load_course(root, "dropout")
    database = tmp_path / "scratch.db"
    shutil.copyfile(gradebook.copy_gradebook(course.db_url, tmp_path / "template.db"), database)
    job = Job(str(root), "dropout", tuple(Submission(s, str(course.folder("submitted", s)),
                                                     str(course.folder("autograded", s))) for s in students),
              tuple(STUDENTS), str(tmp_path / "reports"), timeout=timeout)
    merged, settled = [], []

    def into_course(scratch, student):
        merged.append(student)
        return gradebook.merge_once(gradebook.sqlite_url(scratch), course.db_url, COURSE.course_id, "dropout", student)

    files = JobFiles(database, tmp_path / "events", tmp_path / "nbgrader.log")
    requeue = grade(job, files, merge or into_course, lambda s, a: settled.append((s, a)), stop or Stop())
    return settled, requeue, merged


def test_each_submission_is_merged_and_settled_as_nbgrader_grades_it(root, tmp_path):
    settled, requeue, merged = run(root, tmp_path, ["ada", "bo"])
    assert [(student, attempt.kind) for student, attempt in settled] == [("ada", FINISHED), ("bo", FINISHED)]
    assert requeue == [] and merged == ["ada", "bo"]
    scores = gradebook.submission_scores(f"sqlite:///{root / 'gradebook.db'}", COURSE.course_id, "dropout")
    for student, attempt in settled:
        assert attempt.merged == scores[student][:2]
    assert settled[0][1].merged[0] > settled[1][1].merged[0]  # the reference scores more than the fault
    assert classroom.cell_scores(root, "ada")


def test_a_merge_the_gradebook_refuses_is_settled_with_its_error_and_the_rest_go_on(root, tmp_path):
    def refuse_ada(scratch, student):
        if student == "ada":
            raise RuntimeError("database is locked")
        return (1.0, 2.0)

    settled = dict(run(root, tmp_path, ["ada", "bo"], merge=refuse_ada)[0])
    assert settled["ada"].kind == REFUSED and "RuntimeError: database is locked" in settled["ada"].error
    assert settled["bo"].kind == FINISHED and settled["bo"].merged == (1.0, 2.0)


def test_the_watchdog_stops_a_hanging_submission_and_hands_back_the_ones_after_it(root, tmp_path):
    started = time.monotonic()
    settled, requeue, merged = run(root, tmp_path, ["abe", "ada"], timeout=1.0)
    assert [(student, attempt.kind) for student, attempt in settled] == [("abe", STOPPED_AFTER_TIMEOUT)]
    assert settled[0][1].timeout == 1.0
    assert requeue == ["ada"] and merged == []
    assert not (root / "autograded" / "abe" / "dropout").exists()  # nothing half-graded left behind
    assert time.monotonic() - started < 60


def test_a_stop_before_the_job_starts_grades_nothing(root, tmp_path):
    stop = Stop()
    stop.reason = "SIGTERM"
    settled, requeue, merged = run(root, tmp_path, ["ada", "bo"], stop=stop)
    assert [(student, attempt.kind, attempt.stop_reason) for student, attempt in settled] == [
        ("ada", NOT_STARTED, "SIGTERM"), ("bo", NOT_STARTED, "SIGTERM")]
    assert requeue == [] and merged == [] and not (tmp_path / "nbgrader.log").exists()


def test_a_stop_midway_interrupts_the_submission_in_flight_and_starts_no_other(root, tmp_path):
    stop, events = Stop(), tmp_path / "events"

    def stop_once_grading_started():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (events.exists() and '"started"' in events.read_text()):
            time.sleep(0.05)
        stop.reason = "SIGINT"

    threading.Thread(target=stop_once_grading_started, daemon=True).start()
    settled, requeue, merged = run(root, tmp_path, ["abe", "ada"], stop=stop)
    assert [(student, attempt.kind, attempt.stop_reason) for student, attempt in settled] == [
        ("abe", INTERRUPTED_MIDWAY, "SIGINT"), ("ada", NOT_STARTED, "SIGINT")]
    assert requeue == [] and merged == []
    assert not (root / "autograded" / "abe" / "dropout").exists()
