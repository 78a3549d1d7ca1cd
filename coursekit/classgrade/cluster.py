"""Grading on a Dask distributed cluster: ``--scheduler tcp://host:8786``.

Each student's grading is one Dask task (``grade_on_worker``), run by whichever worker is
free: the worker runs ``job.grade``, the same function the local executor runs, on a job of
that one submission: its ``nbgrader autograde`` is forked from a server that imported nbgrader
once per Dask worker (``forkserver.py``), in the course root (a folder every machine shares, NFS or similar), so
the grading sandbox and its limits apply on every worker. nbgrader writes to a scratch SQLite
copy of the gradebook on the worker's own disk; the task then merges that one submission into
the course's gradebook (``db_url``), PostgreSQL when workers run on several machines.

Tasks are submitted with ``pure=False`` and retries: a task whose worker dies is run again on
another worker. Its merge may then happen twice; ``gradebook.merge_once`` makes it idempotent per
(student, assignment): the second merge updates the same rows, and a concurrent first insert
of the same submission loses on the gradebook's unique constraint and becomes an update.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

from .. import gradebook as gradebooks
from .job import Job, JobFiles, Stop, Submission, grade
from .run_options import RunOptions
from .status import NBGRADER_FAILED, NOT_STARTED, Attempt
from .submissions import Course

TASK_RETRIES = 2
CONNECT_SECONDS = 30.0


class ClusterError(RuntimeError):
    """The cluster cannot grade this course; the message says why and what to change."""


def grade_on_worker(job: Job, template: bytes, db_url: str, course_id: str) -> dict:
    """The Dask task: ``job.grade`` on this worker, into a scratch gradebook on its own disk
    (``template``: its first content), each graded submission merged once into the gradebook at
    ``db_url``. Returns plain data: {"attempts": {student: Attempt}, "host", "log" (nbgrader's
    log when a submission failed)}. A worker server lost midway raises: Dask runs the task again."""
    attempts: dict[str, Attempt] = {}

    def merge(database: Path, student: str) -> tuple[float, float]:
        return gradebooks.merge_once(gradebooks.sqlite_url(database), db_url, course_id, job.assignment, student)

    with tempfile.TemporaryDirectory(prefix="classgrade-task-") as scratch:
        files = JobFiles(Path(scratch) / "gradebook.db", Path(scratch) / "events", Path(scratch) / "nbgrader.log")
        files.database.write_bytes(template)
        grade(job, files, merge, attempts.__setitem__, Stop())
        failed = any(attempt.kind == NBGRADER_FAILED for attempt in attempts.values())
        log = files.log.read_text(errors="replace")[-20000:] if failed else ""
    return {"attempts": {student: replace(attempt, log=None) for student, attempt in attempts.items()},
            "host": socket.gethostname(), "log": log}


def check_address(address: str) -> str:
    """``address`` if it reads as a Dask scheduler's (tcp:// or tls://, host and port); else
    ClusterError naming the option and the value."""
    parsed = urlparse(address)
    try:
        port = parsed.port
    except ValueError:
        port = None
    if parsed.scheme not in ("tcp", "tls") or not parsed.hostname or port is None:
        raise ClusterError(f"--scheduler {address!r} is not a Dask scheduler address: expected "
                           f"tcp://HOST:PORT (e.g. tcp://sched.example.edu:8786)")
    return address


def local_hosts() -> set[str]:
    """Names and addresses of this machine."""
    names = {"localhost", "127.0.0.1", "::1", socket.gethostname(), socket.getfqdn()}
    try:
        names.update(info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None))
    except OSError:
        pass
    return names


def check_gradebook_for_cluster(db_url: str, worker_addresses: list[str], config_file: Path, address: str) -> None:
    """Refuse a SQLite gradebook when a worker runs on another machine: each would write its own
    file (or lock a shared one over NFS). ClusterError names the setting to change."""
    if not gradebooks.is_sqlite(db_url):
        return
    remote = sorted({urlparse(worker).hostname or worker for worker in worker_addresses} - local_hosts())
    if remote:
        raise ClusterError(
            f"{config_file}: c.CourseDirectory.db_url = {gradebooks.safe_url(db_url)!r} is a SQLite file, but the "
            f"Dask scheduler {address} has workers on other machines ({', '.join(remote)}). Set db_url to a "
            f"PostgreSQL gradebook every worker reaches (postgresql+psycopg://user@host/gradebook; "
            f"docs/grading-a-class.md, 'Grading on a cluster').")


def worker_problem(root: str) -> str | None:
    """Run on each worker before grading: why this worker cannot grade the course, or None."""
    from .. import sandbox

    if not Path(root, "nbgrader_config.py").is_file():
        return f"does not see the course folder {root} (share it at the same path on every machine)"
    try:
        sandbox.require()
    except sandbox.SandboxUnavailable as refusal:
        return str(refusal)
    return None


class ClusterScheduler:
    """Grade a queue of submissions as tasks on the Dask scheduler at ``options.address``;
    the same interface as ``scheduler.Scheduler``."""

    def __init__(self, course: Course, options: RunOptions, work_root: Path,
                 on_done: Callable[[str, Attempt], None] = lambda student, attempt: None):
        self.course, self.options, self.on_done = course, options, on_done
        self.work_root = Path(work_root)
        self.logs_dir = self.work_root.parent / "logs"
        self.stop_reason: str | None = None
        self.attempts: dict[str, Attempt] = {}
        self.hosts: dict[str, str] = {}  # student -> the worker's machine that graded it

    def run(self, students: list[str]) -> dict[str, Attempt]:
        """Grade ``students`` (ids) on the cluster; returns what was done with each of them."""
        if not students:
            return {}
        try:
            from distributed import Client, as_completed
        except ImportError as error:
            raise ClusterError("--scheduler needs the 'distributed' package: pip install '.[cluster]'") from error
        address = check_address(self.options.address)
        try:
            client = Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
        except OSError as error:
            raise ClusterError(f"--scheduler {address}: no Dask scheduler answered ({error})") from error
        previous = {signum: signal.signal(signum, self._on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._check(client, address)
            futures = self._submit(client, students)
            student_of = {future.key: student for student, future in futures.items()}
            pending = set(futures.values())
            for future in as_completed(list(futures.values()), loop=client.loop):
                pending.discard(future)
                self._settle(student_of[future.key], future)
                if self.stop_reason is not None:
                    break
            if self.stop_reason is not None:
                client.cancel(list(pending))
                for student, future in futures.items():
                    if future in pending:
                        self.attempts[student] = Attempt(NOT_STARTED, stop_reason=self.stop_reason)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            client.close()
        return self.attempts

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stop_reason = signal.Signals(signum).name
        print(f"\n{self.stop_reason}: cancelling the cluster's queued tasks; grades already recorded are kept",
              file=sys.stderr, flush=True)

    def _check(self, client, address: str) -> None:
        try:
            client.wait_for_workers(1, timeout=CONNECT_SECONDS)
        except TimeoutError as error:
            raise ClusterError(f"--scheduler {address}: no worker joined within {CONNECT_SECONDS:g} s") from error
        workers = list(client.scheduler_info()["workers"])
        check_gradebook_for_cluster(self.course.db_url, workers, self.course.root / "nbgrader_config.py", address)
        problems = {worker: problem for worker, problem in client.run(worker_problem, str(self.course.root)).items()
                    if problem}
        if problems:
            raise ClusterError(f"--scheduler {address}: " + "; ".join(
                f"worker {worker} {problem}" for worker, problem in sorted(problems.items())))

    def _submit(self, client, students: list[str]) -> dict:
        work = self.work_root / f"cluster-{os.getpid()}-{int(time.time())}"
        work.mkdir(parents=True)
        try:
            template = gradebooks.copy_gradebook(self.course.db_url, work / "template.db").read_bytes()
        finally:
            for path in work.iterdir():
                path.unlink()
            work.rmdir()
        [shared] = client.scatter([template], broadcast=True, hash=False)
        run = f"{os.getpid()}-{time.time_ns()}"
        return {student: client.submit(grade_on_worker, self.task(student), shared, self.course.db_url,
                                       self.course.course_id, key=f"classgrade-{run}/{student}",
                                       pure=False, retries=TASK_RETRIES) for student in students}

    def task(self, student: str) -> Job:
        """The job that grades ``student``'s submission."""
        course = self.course
        submission = Submission(student, str(course.folder("submitted", student)),
                                str(course.folder("autograded", student)))
        return Job(str(course.root), course.assignment, (submission,), (student,), str(self.work_root.parent),
                   self.options.run_notebooks, self.options.timeout)

    def _settle(self, student: str, future) -> None:
        try:
            result = future.result()
        except Exception as error:  # the task itself failed on every try (worker lost too often)
            attempt = Attempt(NBGRADER_FAILED, error=f"the cluster lost this task: {type(error).__name__}: {error}")
        else:
            self.hosts[student] = result.get("host", "")
            attempt = result["attempts"][student]
            if result.get("log"):
                self.logs_dir.mkdir(parents=True, exist_ok=True)
                attempt = replace(attempt, log=self.logs_dir / f"{student}.log")
                attempt.log.write_text(result["log"])
        self.attempts[student] = attempt
        self.on_done(student, attempt)
