"""Grading on a Dask distributed cluster: ``--scheduler tcp://host:8786``.

Each student's grading is one Dask task (``grade_submission``), run by whichever worker is
free: the worker runs the same ``nbgrader autograde`` as a local worker slot (``worker.py``),
forked like theirs from a server that imported nbgrader once per Dask worker
(``forkserver.py``), in the course root (a folder every machine shares, NFS or similar), so
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
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

from .. import gradebook as gradebooks
from . import hooks
from .forkserver import ForkedWorker, WorkerServer, WorkerServerError
from .run_options import RunOptions, discard_partial
from .status import FINISHED, NBGRADER_FAILED, NOT_STARTED, REFUSED, STOPPED_AFTER_TIMEOUT, Attempt
from .submissions import Course
from ..speedups import speedups_on
from .worker import die_with_parent, failure_reason, start_nbgrader, worker_arguments, worker_env

TASK_RETRIES = 2
CONNECT_SECONDS = 30.0


class ClusterError(RuntimeError):
    """The cluster cannot grade this course; the message says why and what to change."""


@dataclass(frozen=True)
class SubmissionTask:
    """What a worker needs to grade one submission (plain data, sent to the worker)."""

    root: str  # the course root, shared by every machine
    assignment: str
    student: str
    db_url: str
    course_id: str
    submitted: str  # the student's submitted and autograded folders
    autograded: str
    hide: str  # the report folder, hidden from the sandbox
    run_notebooks: bool = False
    timeout: float | None = None


def grade_submission(task: SubmissionTask, template: bytes) -> dict:
    """The Dask task: grade ``task.student``'s submission with nbgrader on this worker and merge
    it into the gradebook at ``task.db_url`` (``template``: the scratch gradebook's first
    content). Returns plain data: {"kind", "merged", "error", ...}."""
    root, assignment, student = task.root, task.assignment, task.student
    host = socket.gethostname()
    with tempfile.TemporaryDirectory(prefix="classgrade-task-") as scratch:
        database, events, log = Path(scratch) / "gradebook.db", Path(scratch) / "events", Path(scratch) / "nbgrader.log"
        database.write_bytes(template)
        events.touch()
        arguments = worker_arguments(assignment, gradebooks.sqlite_url(database), [student], {student},
                                     task.run_notebooks)
        env = worker_env(events, hide=Path(task.hide))
        log.touch()
        server = worker_server(root, env) if speedups_on() else None
        process = start_nbgrader(server, arguments, env, Path(root), log)
        try:
            process.wait(timeout=task.timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
        _kill_group(process)  # no stray kernel or checker
        finished = any(event["event"] == "finished" for event in hooks.read_events(str(events))[0])
        if not finished and server is not None and not server.alive():  # not the submission's doing: the task is tried again
            discard_partial(Path(task.autograded))
            raise WorkerServerError(f"the nbgrader worker server on {host} stopped ({server.why()})")
        if timed_out or not finished:
            discard_partial(Path(task.autograded))
            if timed_out:
                return {"kind": STOPPED_AFTER_TIMEOUT, "host": host}
            return {"kind": NBGRADER_FAILED, "exit_code": process.returncode, "host": host,
                    "error": failure_reason(log, Path(task.submitted)),
                    "log": log.read_text(errors="replace")[-20000:]}
        try:
            merged = gradebooks.merge_once(gradebooks.sqlite_url(database), task.db_url, task.course_id, assignment, student)
        except Exception as error:  # the gradebook refused the grade: say so, never a silent 0
            return {"kind": REFUSED, "error": f"{type(error).__name__}: {error}", "host": host}
    return {"kind": FINISHED, "merged": merged, "host": host}


_SERVERS: dict[str, WorkerServer] = {}
_SERVERS_LOCK = threading.Lock()


def worker_server(root: str, env: dict[str, str]) -> WorkerServer:
    """This Dask worker's nbgrader worker server for the course in ``root``: started by its first
    task, it forks every later task's nbgrader, whose imports it paid once (forkserver.py)."""
    with _SERVERS_LOCK:
        server = _SERVERS.get(root)
        if server is None or not server.alive():
            log = Path(tempfile.mkdtemp(prefix="classgrade-worker-server-")) / "server.log"
            server = _SERVERS[root] = WorkerServer(Path(root), env, log, die_with_parent)
        return server


def _kill_group(process: ForkedWorker) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


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
        return {student: client.submit(grade_submission, self.task(student), shared, key=f"classgrade-{run}/{student}",
                                       pure=False, retries=TASK_RETRIES) for student in students}

    def task(self, student: str) -> SubmissionTask:
        """The task that grades ``student``'s submission."""
        course = self.course
        return SubmissionTask(str(course.root), course.assignment, student, course.db_url, course.course_id,
                              str(course.folder("submitted", student)), str(course.folder("autograded", student)),
                              str(self.work_root.parent), self.options.run_notebooks, self.options.timeout)

    def _settle(self, student: str, future) -> None:
        try:
            result = future.result()
        except Exception as error:  # the task itself failed on every try (worker lost too often)
            attempt = Attempt(NBGRADER_FAILED, error=f"the cluster lost this task: {type(error).__name__}: {error}")
        else:
            self.hosts[student] = result.get("host", "")
            attempt = self._attempt(student, result)
        self.attempts[student] = attempt
        self.on_done(student, attempt)

    def _attempt(self, student: str, result: dict) -> Attempt:
        kind = result["kind"]
        if kind == FINISHED:
            return Attempt(FINISHED, merged=tuple(result["merged"]))
        if kind == STOPPED_AFTER_TIMEOUT:
            return Attempt(STOPPED_AFTER_TIMEOUT, timeout=self.options.timeout)
        log = None
        if result.get("log"):
            self.logs_dir.mkdir(parents=True, exist_ok=True)
            log = self.logs_dir / f"{student}.log"
            log.write_text(result["log"])
        return Attempt(kind, exit_code=result.get("exit_code"), error=result.get("error", ""), log=log)
