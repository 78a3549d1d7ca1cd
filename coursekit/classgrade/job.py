"""The one unit of grading that both executors run: ``grade(job, files, merge, settle, stop)``.

``grade`` grades the submissions of a ``Job`` with one ``nbgrader autograde`` (``worker.py``:
forked by the worker server, or with the speed-ups off a new process) in the course root, into
a scratch copy of the gradebook. As nbgrader reports each submission fully graded
(``hooks.py``) it merges that submission into the course's gradebook (``merge``) and settles it
(``settle(student, attempt)``); a submission that fails, runs over ``job.timeout`` or is cut
short by a stop is settled too, with what happened (an ``Attempt``: facts, no status). It
returns the students it never started because the watchdog stopped one before them: the
executor queues them again.

The local pool (``scheduler.py``) runs ``grade`` in threads, one batch of submissions each
(one nbgrader start, about 0.18 CPU-seconds, spread over the batch); the Dask executor
(``cluster.py``) runs it as a task of one submission on whichever worker is free. Both pass the
same plain-data ``Job``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .. import gradebook as gradebooks
from . import hooks
from .forkserver import ForkedWorker, WorkerServerError
from .run_options import discard_partial
from .status import (FINISHED, INTERRUPTED_MIDWAY, NBGRADER_FAILED, NOT_STARTED, REFUSED, STOPPED_AFTER_TIMEOUT,
                     Attempt)
from .worker import failure_reason, start_nbgrader, worker_arguments, worker_env, worker_server

POLL_SECONDS = 0.2
STOP_GRACE_SECONDS = 10.0
INTERRUPT_AGAIN_SECONDS = 1.0


@dataclass(frozen=True)
class Submission:
    """One student's submission: the folder nbgrader reads and the one it writes."""

    student: str
    submitted: str
    autograded: str


@dataclass(frozen=True)
class Job:
    """What grading some submissions needs, as plain data (sent as it is to a Dask worker)."""

    root: str  # the course root, where nbgrader runs
    assignment: str
    submissions: tuple[Submission, ...]
    everyone: tuple[str, ...]  # every student of the course (nbgrader selects by exclusion)
    hide: str  # the report folder, hidden from the grading sandbox
    run_notebooks: bool = False
    timeout: float | None = None  # seconds one submission may take; None: no limit


@dataclass(frozen=True)
class JobFiles:
    """Where a job's nbgrader writes: its scratch gradebook (a copy of the course's), the events
    of its hooks and its log."""

    database: Path
    events: Path
    log: Path


class Stop:
    """An executor's request to stop, read by ``grade`` as it runs: ``reason`` (the signal's
    name) once the run should stop, ``now`` when nbgrader should not be waited for."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.now = False


class WorkerServerLost(WorkerServerError):
    """The worker server stopped while its nbgrader graded: not the submissions' doing."""

    def __init__(self, reason: str, unsettled: list[str]) -> None:
        super().__init__(reason)
        self.unsettled = unsettled


Merge = Callable[[Path, str], "tuple[float, float] | None"]  # (scratch gradebook, student) -> grade held
Settle = Callable[[str, Attempt], None]


@dataclass
class _Progress:
    """What a job's events said so far."""

    offset: int = 0
    started: dict[str, float] = field(default_factory=dict)  # student -> when its grading started
    finished: set[str] = field(default_factory=set)
    current: str | None = None
    timed_out: str | None = None


def grade(job: Job, files: JobFiles, merge: Merge, settle: Settle, stop: Stop) -> list[str]:
    """Grade ``job``'s submissions (see the module's docstring); returns the students to queue again."""
    students = [submission.student for submission in job.submissions]
    if stop.reason is not None:  # stopped before its turn
        for student in students:
            settle(student, Attempt(NOT_STARTED, stop_reason=stop.reason))
        return []
    arguments = worker_arguments(job.assignment, gradebooks.sqlite_url(files.database), students,
                                 set(job.everyone), job.run_notebooks)
    env = worker_env(files.events, hide=Path(job.hide))
    files.events.touch()
    files.log.write_text(f"# nbgrader {' '.join(arguments[:3])} ... ({', '.join(students)})\n")
    server = worker_server(job.root, env)
    process = start_nbgrader(server, arguments, env, Path(job.root), files.log)
    by_folder = {Path(s.submitted).resolve(): s.student for s in job.submissions}
    progress, interrupted_at, last_interrupt = _Progress(), None, 0.0
    while process.poll() is None:
        _read_events(files, by_folder, progress, merge, settle)
        if stop.now:
            _kill_group(process)
        elif stop.reason is not None:
            # SIGINT to nbgrader alone: it abandons the submission in flight (and removes its
            # autograded folder). Signalled too, the kernel or the checks would fail the notebook
            # first, and nbgrader could record that failure as the submission's grade.
            now = time.monotonic()
            if interrupted_at is None:
                interrupted_at = last_interrupt = now
                _signal(process, signal.SIGINT)
            elif now - interrupted_at > STOP_GRACE_SECONDS:
                _kill_group(process)
            elif now - last_interrupt >= INTERRUPT_AGAIN_SECONDS:
                # A SIGINT that reaches a forked nbgrader before its handler is set is lost.
                last_interrupt = now
                _signal(process, signal.SIGINT)
        elif _overdue(progress, job.timeout):
            progress.timed_out = progress.current
            _kill_group(process)
        time.sleep(POLL_SECONDS)
    _kill_group(process)  # no stray kernel or checker
    _read_events(files, by_folder, progress, merge, settle)
    if server is not None and not server.alive():
        unsettled = [s for s in job.submissions if s.student not in progress.finished]
        if unsettled:
            for submission in unsettled:
                discard_partial(Path(submission.autograded))
            raise WorkerServerLost(f"the nbgrader worker server stopped ({server.why()})",
                                   [s.student for s in unsettled])
    return _close(job, files, process, progress, settle, stop)


def _read_events(files: JobFiles, by_folder: dict[Path, str], progress: _Progress, merge: Merge,
                 settle: Settle) -> None:
    events, progress.offset = hooks.read_events(str(files.events), progress.offset)
    for event in events:
        student = next((by_folder[folder] for folder in (Path(n).resolve().parent for n in event["notebooks"])
                        if folder in by_folder), None)
        if student is None:
            continue
        if event["event"] == "started":
            progress.current = student
            progress.started[student] = event.get("time", time.time())
        elif event["event"] == "finished" and student not in progress.finished:
            progress.finished.add(student)
            progress.current = None
            try:
                held = merge(files.database, student)
            except Exception as error:  # the gradebook refused the grade: say so, never a silent 0
                settle(student, Attempt(REFUSED, error=f"{type(error).__name__}: {error}"))
            else:
                settle(student, Attempt(FINISHED, merged=held))


def _overdue(progress: _Progress, timeout: float | None) -> bool:
    if not timeout or progress.current is None or progress.timed_out:
        return False
    return time.time() - progress.started[progress.current] > timeout


def _close(job: Job, files: JobFiles, process: ForkedWorker | subprocess.Popen, progress: _Progress,
           settle: Settle, stop: Stop) -> list[str]:
    """Settle the submissions nbgrader did not finish; returns those to grade again (the ones a
    watchdog stop kept from starting)."""
    requeue = []
    for submission in job.submissions:
        student = submission.student
        if student in progress.finished:
            continue
        if student == progress.timed_out:
            discard_partial(Path(submission.autograded))
            settle(student, Attempt(STOPPED_AFTER_TIMEOUT, timeout=job.timeout))
        elif progress.timed_out and student not in progress.started:
            requeue.append(student)
        elif stop.reason is not None:
            if student in progress.started:
                discard_partial(Path(submission.autograded))
                settle(student, Attempt(INTERRUPTED_MIDWAY, stop_reason=stop.reason))
            else:
                settle(student, Attempt(NOT_STARTED, stop_reason=stop.reason))
        else:
            discard_partial(Path(submission.autograded))
            settle(student, Attempt(NBGRADER_FAILED, exit_code=process.returncode, log=files.log,
                                    error=failure_reason(files.log, Path(submission.submitted))))
    return requeue


def _signal(process: ForkedWorker | subprocess.Popen, signum: int) -> None:
    try:
        process.send_signal(signum)
    except ProcessLookupError:
        pass


def _kill_group(process: ForkedWorker | subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()
