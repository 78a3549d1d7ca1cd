"""The class command on a Dask cluster: a real ``dask scheduler`` and two ``dask worker``
processes (loopback only, free ports, one thread each), a real PostgreSQL gradebook.

The class is graded on the cluster and every cell score is compared with serial
``nbgrader autograde`` of the same submissions (in a copy of the course). The same submission
graded on both workers, or merged four times at once, leaves one row; a worker killed while it
grades loses no submission.
"""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from dask_cluster import cluster_env, dask_cluster
from postgres import postgres_server

from coursekit import classroom, gradebook
from coursekit.manifest import COURSE
from coursekit.paths import REPO_ROOT

DROPOUT = COURSE.assignment_named("dropout")  # the assignment these tests grade

distributed = pytest.importorskip("distributed", reason="the 'cluster' extra (distributed) is not installed")

from coursekit.classgrade.cluster import (ClusterError, ClusterScheduler, check_gradebook_for_cluster,  # noqa: E402
                                          check_address, grade_on_worker, worker_problem)
from coursekit.classgrade.run_options import RunOptions  # noqa: E402
from coursekit.classgrade.submissions import load_course  # noqa: E402
from coursekit.classgrade.worker import CHECKS_ONLY  # noqa: E402

CATALOGUE = classroom.load_catalogue()
CLASS = {"a1": "reference", "a2": "keep-drop-swapped", "b1": "dropout-not-applied"}
TWICE = ("c1", "reference")  # graded by two tasks at once


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(scheduler address, {worker name: process}) of a scheduler and two workers."""
    with dask_cluster(tmp_path_factory.mktemp("dask"), workers=2) as running:
        yield running


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """(course root on PostgreSQL, its db_url, {student: cell scores of serial nbgrader autograde})."""
    with postgres_server() as server:
        url = server.create_database("gradebook")
        root = classroom.make_course(tmp_path_factory.mktemp("dask course"), cell_timeout=10, op_timeout=3, budget=20)
        with open(root / "nbgrader_config.py", "a") as config:
            config.write(f"c.CourseDirectory.db_url = {url!r}\n")
        classroom.release_course(root)
        for student, variant in [*CLASS.items(), TWICE]:
            classroom.submit(root, student, CATALOGUE.BY_NAME[variant])
        yield root, url, _serial_scores(root, url, tmp_path_factory.mktemp("serial"))


def _serial_scores(root: Path, url: str, where: Path) -> dict[str, dict]:
    """Cell scores of serial ``nbgrader autograde`` of the same submissions (the hidden checks
    grade, cells not run, as the class command's default), in a copy of the course with a SQLite
    copy of the released gradebook."""
    serial = classroom.make_course(where / "serial", cell_timeout=10, op_timeout=3, budget=20)
    for folder in ("release", "submitted"):
        shutil.copytree(root / folder, serial / folder)
    gradebook.copy_gradebook(url, serial / "gradebook.db")
    classroom.nbgrader(serial, "autograde", DROPOUT.name, CHECKS_ONLY)
    return {student: classroom.cell_scores(serial, student) for student in [*CLASS, TWICE[0]]}


def _classgrade(root: Path, address: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "coursekit.classgrade", DROPOUT.name, "--course-root",
                             str(root), "--scheduler", address, "--progress", "lines", *args],
                            cwd=REPO_ROOT, env=cluster_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _rows(url: str) -> dict[str, tuple[int, int]]:
    """{student: (submission rows, grade rows)} in the PostgreSQL gradebook."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as db:
        found = db.execute("""SELECT s.student_id, COUNT(DISTINCT s.id), COUNT(g.id) FROM submitted_assignment s
                              JOIN submitted_notebook n ON n.assignment_id = s.id
                              LEFT JOIN grade g ON g.notebook_id = n.id GROUP BY s.student_id""").fetchall()
    return {student: (submissions, grades) for student, submissions, grades in found}


def test_cluster_grades_the_class_as_serial_nbgrader_does(cluster, course):
    address, _ = cluster
    root, url, serial = course
    started = time.monotonic()
    command = _classgrade(root, address, "--student", "[ab]*")
    out, err = command.communicate(timeout=300)
    assert command.returncode == 0, out + err[-3000:]
    assert f"to grade with the Dask cluster at {address}" in err
    assert {student: classroom.cell_scores(root, student) for student in CLASS} == \
        {student: serial[student] for student in CLASS}
    grade_cells = len(serial["a1"])
    assert _rows(url) == {student: (1, grade_cells) for student in CLASS}
    assert not (root / "gradebook.db").exists()
    print(f"{len(CLASS)} submissions on a 2-worker Dask cluster: {time.monotonic() - started:.1f} s")


def test_one_submission_graded_on_both_workers_leaves_one_row(cluster, course):
    address, _ = cluster
    root, url, serial = course
    student = TWICE[0]
    pool = ClusterScheduler(load_course(root, DROPOUT.name), RunOptions(1, address=address),
                            root / "reports" / DROPOUT.name / ".work")
    template = gradebook.copy_gradebook(url, root / "twice-template.db").read_bytes()
    results = []
    with distributed.Client(address, set_as_default=False) as client:
        for worker in client.scheduler_info()["workers"]:  # one after the other: they share autograded/
            results.append(client.submit(grade_on_worker, pool.task(student), template, url, COURSE.course_id,
                                         pure=False, workers=[worker], allow_other_workers=False).result())
    attempts = [result["attempts"][student] for result in results]
    assert [attempt.kind for attempt in attempts] == ["finished", "finished"], results
    assert attempts[0].merged == attempts[1].merged
    assert classroom.cell_scores(root, student) == serial[student]
    assert _rows(url)[student] == (1, len(serial[student]))


def test_merges_of_one_new_submission_at_once_leave_one_row(course, tmp_path, monkeypatch):
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import IntegrityError

    root, url, serial = course
    student = TWICE[0]
    graded = gradebook.sqlite_url(gradebook.copy_gradebook(url, tmp_path / "graded.db"))  # holds its grading
    with Gradebook(url, COURSE.course_id) as held:
        held.remove_submission(DROPOUT.name, student)
    assert student not in _rows(url)
    lost, merge = [], gradebook.merge_submission

    def counted(*args, **kwargs):
        try:
            merge(*args, **kwargs)
        except IntegrityError:
            lost.append(1)
            raise

    monkeypatch.setattr(gradebook, "merge_submission", counted)
    start = threading.Barrier(4)

    def merge_now(_):
        start.wait()
        return gradebook.merge_once(graded, url, COURSE.course_id, DROPOUT.name, student)

    with ThreadPoolExecutor(4) as threads:
        merged = list(threads.map(merge_now, range(4)))
    print(f"4 merges at once: {len(lost)} lost the insert race and merged again as an update")
    assert len(set(merged)) == 1
    assert _rows(url)[student] == (1, len(serial[student]))
    assert classroom.cell_scores(root, student) == serial[student]


def _children(pid: int) -> list[int]:
    found = []
    for path in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in path.read_text().split()]
    return found


def test_a_worker_killed_midway_loses_no_submission_and_writes_no_row_twice(cluster, course):
    address, workers = cluster
    root, url, serial = course
    command = _classgrade(root, address, "--force")
    victim = workers["w0"]
    deadline, grading = time.monotonic() + 120, []
    while not grading and time.monotonic() < deadline and command.poll() is None:
        grading = _children(victim.pid)  # its nbgrader: a submission in flight on this worker
        time.sleep(0.05)
    assert grading, "worker w0 never started grading"
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    out, err = command.communicate(timeout=300)
    assert command.returncode == 0, out + err[-3000:]
    everyone = [*CLASS, TWICE[0]]
    table = {line.split()[0]: line for line in out.splitlines()[1:] if line.split() and line.split()[0] in everyone}
    assert sorted(table) == sorted(everyone) and all(" graded " in line for line in table.values()), out
    assert {student: classroom.cell_scores(root, student) for student in everyone} == serial
    assert _rows(url) == {student: (1, len(serial[student])) for student in everyone}
    time.sleep(1)
    assert not [pid for pid in grading if Path(f"/proc/{pid}").exists()], "the killed worker's nbgrader lives on"


def test_sqlite_gradebook_is_refused_when_a_worker_is_on_another_machine(tmp_path):
    config, url = tmp_path / "nbgrader_config.py", f"sqlite:///{tmp_path}/gradebook.db"
    check_gradebook_for_cluster(url, ["tcp://127.0.0.1:40001"], config, "tcp://127.0.0.1:8786")
    check_gradebook_for_cluster("postgresql+psycopg://u@db/g", ["tcp://10.1.2.3:40001"], config, "tcp://x:8786")
    with pytest.raises(ClusterError) as refusal:
        check_gradebook_for_cluster(url, ["tcp://127.0.0.1:40001", "tcp://10.1.2.3:40001"], config, "tcp://x:8786")
    message = str(refusal.value)
    assert str(config) in message and "c.CourseDirectory.db_url" in message and url in message
    assert "10.1.2.3" in message and "PostgreSQL" in message


def test_a_worker_that_does_not_see_the_course_folder_is_named(tmp_path):
    assert "does not see the course folder" in worker_problem(str(tmp_path / "elsewhere"))
    (tmp_path / "nbgrader_config.py").write_text("")
    assert worker_problem(str(tmp_path)) is None  # bwrap works on this machine


@pytest.mark.parametrize("address", ["not an address", "sched.example.edu:8786", "tcp://sched.example.edu",
                                     "http://sched.example.edu:8786", "tcp://:8786"])
def test_a_scheduler_address_dask_cannot_read_is_refused_naming_it(address):
    with pytest.raises(ClusterError, match="is not a Dask scheduler address") as refusal:
        check_address(address)
    assert repr(address) in str(refusal.value)
    assert check_address("tcp://10.0.0.5:8786") == "tcp://10.0.0.5:8786"
