"""The parallel grading command against a real PostgreSQL server as nbgrader's gradebook.

The test starts a throwaway PostgreSQL cluster (Debian package ``postgresql``, installed by
``make setup`` from .ci/system-packages.txt) in a temporary folder, listening on 127.0.0.1
only, points a course's ``c.CourseDirectory.db_url`` at it, releases the assignment into it
with nbgrader, and grades a class with two commands at once (two students each, two workers
each): four nbgrader workers and two coordinators writing to one server.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from coursekit import classroom

REPO = Path(__file__).resolve().parent.parent
CATALOGUE = classroom.load_catalogue()
CLASS = {"a1": "reference", "a2": "keep-drop-swapped", "b1": "default-rng", "b2": "dropout-not-applied"}
FULL = {"dropout_forward_checks": 10.0, "dropout_backward_checks": 6.0, "fc_net_checks": 9.0}


def server_program(name):
    """A PostgreSQL server program: on PATH, or where Debian installs it."""
    return shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def postgres():
    initdb, pg_ctl = server_program("initdb"), server_program("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL server programs (initdb, pg_ctl) are not installed: Debian package "
                    "'postgresql' (listed in .ci/system-packages.txt; `make setup` installs it)")
    base = Path(tempfile.mkdtemp(prefix="classgrade-postgres-"))
    as_owner = []
    if os.geteuid() == 0:  # initdb refuses to run as root: the cluster belongs to the postgres user
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root, and no 'postgres' user to own the test cluster (the Debian "
                        "package postgresql creates it)")
        os.chown(base, owner.pw_uid, owner.pw_gid)
        as_owner = ["runuser", "-u", "postgres", "--"]
    data, port = base / "data", free_port()

    def run(*command):
        done = subprocess.run([*as_owner, *map(str, command)], cwd=base, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{' '.join(map(str, command))}: {done.stdout}{done.stderr}"

    run(initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
    run(pg_ctl, "-D", data, "-l", base / "server.log", "-w", "-t", "60",
        "-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    try:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                             autocommit=True) as admin:
            admin.execute("CREATE DATABASE gradebook")
        # The driver named in the URL, as README shows: SQLAlchemy's default driver for a plain
        # postgresql:// URL differs between its versions.
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/gradebook"
    finally:
        run(pg_ctl, "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def course(postgres, tmp_path_factory):
    root = classroom.make_course(tmp_path_factory.mktemp("pgcourse"), cell_timeout=10, op_timeout=3, budget=20)
    with open(root / "nbgrader_config.py", "a") as config:
        config.write(f"c.CourseDirectory.db_url = {postgres!r}\n")
    classroom.release_course(root)
    for student, variant in CLASS.items():
        classroom.submit(root, student, CATALOGUE.BY_NAME[variant])
    return root, postgres


def classgrade(root, *args):
    return subprocess.Popen([sys.executable, "-m", "coursekit.classgrade", "dropout", "--course-root", str(root),
                             "--workers", "2", "--batch-size", "1", "--progress", "lines", *args],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_parallel_commands_grade_into_one_postgresql_gradebook(course):
    from nbgrader.api import Gradebook

    root, url = course
    started = time.monotonic()
    commands = [classgrade(root, "--student", "a*", "--report-dir", str(root / "reports" / "a")),
                classgrade(root, "--student", "b*", "--report-dir", str(root / "reports" / "b"))]
    results = [command.communicate(timeout=900) for command in commands]
    seconds = time.monotonic() - started
    for command, (out, err) in zip(commands, results):
        assert command.returncode == 0, out + err[-3000:]
        assert "postgresql+psycopg://postgres@127.0.0.1" in err and "2 to grade with 2 worker(s)" in err
    assert not (root / "gradebook.db").exists()  # nothing went to a SQLite file

    with Gradebook(url, "dropout-from-scratch") as gradebook:
        submissions = gradebook.find_assignment("dropout").submissions
        assert sorted(s.student_id for s in submissions) == sorted(CLASS)  # each exactly once
        autograded = {s.student_id: {g.name: g.auto_score for g in s.notebooks[0].grades if g.name in FULL}
                      for s in submissions}
    assert autograded["a1"] == FULL and autograded["b1"] == FULL
    assert autograded["a2"]["dropout_forward_checks"] < 10 and autograded["b2"]["fc_net_checks"] < 9
    print(f"4 submissions, two commands of two workers each, PostgreSQL gradebook: {seconds:.1f} s")


def test_rerun_against_postgresql_grades_nothing_new_and_plain_nbgrader_exports(course):
    root, url = course
    again = classgrade(root)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, out + err[-3000:]
    assert "0 to grade" in err
    classroom.nbgrader(root, "export")
    grades = classroom.read_grades(root)
    assert {student: float(row["raw_score"]) for student, row in grades.items() if student in ("a1", "b1")} == \
        {"a1": 25.0, "b1": 25.0}
