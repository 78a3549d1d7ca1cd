"""The queue of submissions, the nbgrader workers that grade it in batches, and the merge of each
graded submission into the course's gradebook.

Each of N worker slots runs ``nbgrader autograde ASSIGNMENT --force`` on one batch at a time,
in the course root, with the course's configuration (``worker.py``), forked from a server that
imported nbgrader once (``forkserver.py``), or with the speed-ups off (``--simple``) as a new
``python -m nbgrader`` process. A batch spreads the rest of nbgrader's start (about
0.08 CPU-seconds) over its submissions; batches shrink as the queue empties.

Each slot's nbgrader writes to a scratch SQLite copy of the gradebook, so workers never contend
for a lock. nbgrader's convert hooks (``hooks.py``) report each submission started and fully
graded; the scheduler then merges that one submission into the course's gradebook in a single
transaction. The scheduler records what it did with each submission (an ``Attempt``: facts,
no status; ``status.decide`` makes the status of them).

Ctrl-C (or SIGTERM): the workers are interrupted, every submission already graded has been
merged (merges are never interrupted), the submissions in flight are dropped (nbgrader removes
their autograded folders; their gradebook entries are untouched). Should the coordinator die
without cleaning up, its scratch gradebooks and event files stay in ``.work/`` for
``recovery.py``.
"""

from __future__ import annotations

import fcntl
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .. import gradebook as gradebooks
from . import hooks
from .status import (FINISHED, INTERRUPTED_MIDWAY, NBGRADER_FAILED, NOT_STARTED, REFUSED, STOPPED_AFTER_TIMEOUT,
                     Attempt)
from .run_options import RunOptions, discard_partial
from .submissions import Course
from ..speedups import speedups_on
from .forkserver import ForkedWorker, WorkerServer
from .worker import die_with_parent, failure_reason, start_nbgrader, worker_arguments, worker_env

POLL_SECONDS = 0.2
STOP_GRACE_SECONDS = 10.0
MAX_BATCH = 32
MIN_BATCH = 4


def auto_batch_size(remaining: int, workers: int) -> int:
    """Size of the next batch, given the submissions still queued: a share of them, so that
    early batches amortise nbgrader's start-up and later ones shrink to let every worker
    finish at about the same time."""
    share = math.ceil(remaining / (2 * max(1, workers)))
    return max(1, min(remaining, MAX_BATCH, max(MIN_BATCH, share)))


@dataclass
class Batch:
    """The students one worker's nbgrader grades, and what its events said so far."""

    number: int
    slot: int
    students: list[str]
    events: Path
    log: Path
    process: ForkedWorker | subprocess.Popen | None = None
    offset: int = 0
    started: dict[str, float] = field(default_factory=dict)  # student -> time its grading started
    finished: set[str] = field(default_factory=set)
    current: str | None = None
    timed_out: str | None = None  # student whose grading the watchdog stopped


class Scheduler:
    """Grade a queue of submissions with parallel nbgrader workers; ``on_done(student, attempt)``
    is called as each one started is settled (merged, failed, stopped)."""

    def __init__(self, course: Course, options: RunOptions, work_root: Path,
                 on_done: Callable[[str, Attempt], None] = lambda student, attempt: None):
        self.course, self.options, self.on_done = course, options, on_done
        self.work_root = Path(work_root)
        self.logs_dir = self.work_root.parent / "logs"  # where the batch logs are kept after the run
        self.stop_reason: str | None = None
        self.attempts: dict[str, Attempt] = {}
        self.running: dict[int, Batch] = {}
        self.server: WorkerServer | None = None
        self.sources: dict[int, gradebooks.Gradebook] = {}  # each slot's scratch gradebook, open for merging

    def run(self, students: list[str]) -> dict[str, Attempt]:
        """Grade ``students`` (ids); returns what was done with each of them."""
        if not students:
            return {}
        self.run_dir = self.work_root / f"run-{os.getpid()}-{int(time.time())}"
        self.run_dir.mkdir(parents=True)
        lock = open(self.run_dir / "lock", "w")
        fcntl.flock(lock, fcntl.LOCK_EX)
        previous = {signum: signal.signal(signum, self._on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
        self.target = gradebooks.Gradebook(self.course.db_url, self.course.course_id)
        try:
            self._loop(students)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            for source in self.sources.values():
                source.close()
            self.target.close()
            if self.server is not None:
                self.server.close()
            self._keep_logs()
            lock.close()
            shutil.rmtree(self.run_dir, ignore_errors=True)
        return self.attempts

    def _on_signal(self, signum: int, frame: object) -> None:
        if self.stop_reason is None:
            self.stop_reason = signal.Signals(signum).name
            print(f"\n{self.stop_reason}: stopping the workers; grades already recorded are kept "
                  f"(press again to stop without waiting)", file=sys.stderr, flush=True)
        else:
            print("stopping now", file=sys.stderr, flush=True)
            for batch in self.running.values():
                _signal_group(batch, signal.SIGKILL)

    def _loop(self, students: list[str]) -> None:
        self.template = gradebooks.copy_gradebook(self.course.db_url, self.run_dir / "template.db")
        self.everyone = set(self.course.students())
        # nbgrader's student_id_exclude is a comma-separated list: ids with a comma go one by one.
        one_by_one = any("," in student for student in self.everyone)
        queue, number, workers = deque(students), 0, max(1, self.options.workers)
        while (queue or self.running) and self.stop_reason is None:
            for slot in range(workers):
                if slot not in self.running and queue and self.stop_reason is None:
                    number += 1
                    size = 1 if one_by_one else self.options.batch_size or auto_batch_size(len(queue), workers)
                    self.running[slot] = self._launch(number, slot, [queue.popleft()
                                                                     for _ in range(min(size, len(queue)))])
            for slot, batch in list(self.running.items()):
                self._read_events(batch)
                if batch.process.poll() is not None:
                    _signal_group(batch, signal.SIGKILL)  # no stray kernel or checker
                    self._read_events(batch)
                    queue.extendleft(reversed(self._close(batch)))
                    del self.running[slot]
                elif self._overdue(batch):
                    batch.timed_out = batch.current
                    _signal_group(batch, signal.SIGKILL)
            time.sleep(POLL_SECONDS)
        if self.stop_reason is not None:
            self._stop_all()
            for student in queue:
                self._record(student, Attempt(NOT_STARTED, stop_reason=self.stop_reason), settled=False)

    def _launch(self, number: int, slot: int, students: list[str]) -> Batch:
        database = self.run_dir / f"w{slot}.db"
        if not database.exists():
            shutil.copyfile(self.template, database)
        batch = Batch(number=number, slot=slot, students=list(students),
                      events=self.run_dir / f"w{slot}-b{number:04d}.events",
                      log=self.run_dir / f"batch-{number:04d}.log")
        batch.events.touch()
        arguments = worker_arguments(self.course.assignment, gradebooks.sqlite_url(database), batch.students,
                                     self.everyone, self.options.run_notebooks)
        # The grading sandbox hides the course root; hide the report folder too (scratch
        # gradebooks, other students' scores) wherever --report-dir puts it.
        env = worker_env(batch.events, hide=self.work_root.parent)
        batch.log.write_text(f"# nbgrader {' '.join(arguments[:3])} ... ({', '.join(students)})\n")
        if speedups_on() and (self.server is None or not self.server.alive()):
            self.server = WorkerServer(self.course.root, env, self.run_dir / "worker-server.log", die_with_parent)
        batch.process = start_nbgrader(self.server, arguments, env, self.course.root, batch.log)
        return batch

    def _overdue(self, batch: Batch) -> bool:
        if not self.options.timeout or batch.current is None or batch.timed_out:
            return False
        return time.time() - batch.started[batch.current] > self.options.timeout

    def _read_events(self, batch: Batch) -> None:
        events, batch.offset = hooks.read_events(batch.events, batch.offset)
        for event in events:
            student = self.course.student_of(event["notebooks"])
            if student is None:
                continue
            if event["event"] == "started":
                batch.current = student
                batch.started[student] = event.get("time", time.time())
            elif event["event"] == "finished" and student not in batch.finished:
                batch.finished.add(student)
                batch.current = None
                self._merge(batch, student)

    def _merge(self, batch: Batch, student: str) -> None:
        try:
            source = self.sources.get(batch.slot)
            if source is None:
                database = gradebooks.sqlite_url(self.run_dir / f"w{batch.slot}.db")
                source = self.sources[batch.slot] = gradebooks.Gradebook(database, self.course.course_id)
            gradebooks.merge_from(source, self.target, self.course.assignment, student)
        except Exception as error:  # the gradebook refused the grade: say so, never a silent 0
            if batch.slot in self.sources:
                self.sources.pop(batch.slot).close()
            self._record(student, Attempt(REFUSED, error=str(error)))
        else:
            self._record(student, Attempt(FINISHED, merged=self._held_grade(student)))

    def _held_grade(self, student: str) -> tuple[float, float] | None:
        """(score, max score) the course's gradebook holds for ``student`` now, or None."""
        try:
            submission = self.target.find_submission(self.course.assignment, student)
            return float(submission.score), float(submission.max_score)
        except Exception:
            return None

    def _record(self, student: str, attempt: Attempt, settled: bool = True) -> None:
        self.attempts[student] = attempt
        if settled:
            self.on_done(student, attempt)

    def _close(self, batch: Batch) -> list[str]:
        """After a batch's nbgrader has exited: record the students it did not finish. Returns
        the students to grade again (those a watchdog stop kept from starting)."""
        requeue = []
        for student in batch.students:
            if student in batch.finished:
                continue
            if student == batch.timed_out:
                self._discard_partial(student)
                self._record(student, Attempt(STOPPED_AFTER_TIMEOUT, timeout=self.options.timeout))
            elif batch.timed_out and student not in batch.started:
                requeue.append(student)
            elif self.stop_reason is not None:
                if student in batch.started:
                    self._discard_partial(student)
                    self._record(student, Attempt(INTERRUPTED_MIDWAY, stop_reason=self.stop_reason))
                else:
                    self._record(student, Attempt(NOT_STARTED, stop_reason=self.stop_reason), settled=False)
            else:
                server_died = self.server is not None and not self.server.alive()
                reason = (f"the nbgrader worker server stopped ({self.server.why()})" if server_died
                          else failure_reason(batch.log, self.course.folder("submitted", student)))
                self._discard_partial(student)
                self._record(student, Attempt(NBGRADER_FAILED, exit_code=batch.process.returncode, error=reason,
                                              log=self.logs_dir / batch.log.name))
        return requeue

    def _discard_partial(self, student: str) -> None:
        discard_partial(self.course.folder("autograded", student))

    def _stop_all(self) -> None:
        # SIGINT to nbgrader alone: it abandons the submission in flight (and removes its
        # autograded folder). Signalled too, the kernel or the checks would fail the notebook
        # first, and nbgrader could record that failure as the submission's grade.
        for batch in self.running.values():
            try:
                batch.process.send_signal(signal.SIGINT)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while any(b.process.poll() is None for b in self.running.values()) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        for batch in self.running.values():
            _signal_group(batch, signal.SIGKILL)  # whatever is left of the batch
            batch.process.wait()
        for batch in list(self.running.values()):
            self._read_events(batch)
            self._close(batch)
        self.running = {}

    def _keep_logs(self) -> None:
        """Move this run's batch logs to ``logs_dir``, replacing an earlier run's."""
        batch_logs = sorted(self.run_dir.glob("batch-*.log"))
        if not batch_logs:
            return
        if self.logs_dir.exists():
            shutil.rmtree(self.logs_dir, ignore_errors=True)
        self.logs_dir.mkdir(parents=True)
        for path in batch_logs:
            shutil.move(str(path), self.logs_dir / path.name)


def _signal_group(batch: Batch, signum: int) -> None:
    try:
        os.killpg(batch.process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass
