"""The local executor: a pool of threads, each running ``job.grade`` on one batch of the queue
at a time, and merging each graded submission into the course's gradebook.

A batch spreads one nbgrader start (about 0.18 CPU-seconds) over its submissions; batches
shrink as the queue empties (``auto_batch_size``). Each thread's nbgrader writes to a scratch
SQLite copy of the gradebook of its own (``w<slot>.db``), so workers never contend for a lock;
each submission nbgrader reports graded is merged into the course's gradebook (nbgrader's
``db_url``, SQLite or PostgreSQL) in one transaction, one merge at a time.

Ctrl-C (or SIGTERM): the workers are interrupted, every submission already graded has been
merged (merges are never interrupted), the submissions in flight are dropped (nbgrader removes
their autograded folders; their gradebook entries are untouched); a second Ctrl-C stops them
without waiting. Should the coordinator die without cleaning up, its scratch gradebooks and
event files stay in ``.work/`` for ``recovery.py``.
"""

from __future__ import annotations

import fcntl
import math
import os
import shutil
import signal
import sys
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from pathlib import Path
from typing import Callable

from .. import gradebook as gradebooks
from .job import Job, JobFiles, Stop, Submission, WorkerServerLost, grade
from .run_options import RunOptions
from .status import NBGRADER_FAILED, NOT_STARTED, Attempt
from .submissions import Course
from .worker import close_worker_servers, worker_env, worker_server

POLL_SECONDS = 0.2
MAX_BATCH = 32
MIN_BATCH = 4


def auto_batch_size(remaining: int, workers: int) -> int:
    """Size of the next batch, given the submissions still queued: a share of them, so that
    early batches amortise nbgrader's start-up and later ones shrink to let every worker
    finish at about the same time."""
    share = math.ceil(remaining / (2 * max(1, workers)))
    return max(1, min(remaining, MAX_BATCH, max(MIN_BATCH, share)))


class LocalMerge:
    """``job.Merge`` into the course's gradebook, one merge at a time, each scratch gradebook kept
    open between its submissions."""

    def __init__(self, course: Course) -> None:
        self.course = course
        self.target = gradebooks.Gradebook(course.db_url, course.course_id)
        self.sources: dict[Path, gradebooks.Gradebook] = {}
        self.lock = threading.Lock()

    def __call__(self, database: Path, student: str) -> tuple[float, float] | None:
        with self.lock:
            try:
                source = self.sources.get(database)
                if source is None:
                    source = self.sources[database] = gradebooks.Gradebook(gradebooks.sqlite_url(database),
                                                                           self.course.course_id)
                gradebooks.merge_from(source, self.target, self.course.assignment, student)
            except Exception:
                if database in self.sources:
                    self.sources.pop(database).close()
                raise
            return gradebooks.held_score(self.target, self.course.assignment, student)

    def close(self) -> None:
        for source in self.sources.values():
            source.close()
        self.target.close()


class Scheduler:
    """Grade a queue of submissions with parallel nbgrader workers; ``on_done(student, attempt)``
    is called as each one started is settled (merged, failed, stopped)."""

    def __init__(self, course: Course, options: RunOptions, work_root: Path,
                 on_done: Callable[[str, Attempt], None] = lambda student, attempt: None):
        self.course, self.options, self.on_done = course, options, on_done
        self.work_root = Path(work_root)
        self.logs_dir = self.work_root.parent / "logs"  # where the batch logs are kept after the run
        self.stop = Stop()
        self.attempts: dict[str, Attempt] = {}
        self._settling = threading.Lock()

    @property
    def stop_reason(self) -> str | None:
        return self.stop.reason

    def run(self, students: list[str]) -> dict[str, Attempt]:
        """Grade ``students`` (ids); returns what was done with each of them."""
        if not students:
            return {}
        self.run_dir = self.work_root / f"run-{os.getpid()}-{int(time.time())}"
        self.run_dir.mkdir(parents=True)
        lock = open(self.run_dir / "lock", "w")
        fcntl.flock(lock, fcntl.LOCK_EX)
        previous = {signum: signal.signal(signum, self._on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
        merge = LocalMerge(self.course)
        try:
            # Started here, not in a pool thread: a server that cannot start refuses the run.
            worker_server(str(self.course.root), worker_env(self.run_dir / "server.events", hide=self.work_root.parent))
            self._loop(students, merge)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            merge.close()
            close_worker_servers()
            self._keep_logs()
            lock.close()
            shutil.rmtree(self.run_dir, ignore_errors=True)
        return self.attempts

    def _on_signal(self, signum: int, frame: object) -> None:
        if self.stop.reason is None:
            self.stop.reason = signal.Signals(signum).name
            print(f"\n{self.stop.reason}: stopping the workers; grades already recorded are kept "
                  f"(press again to stop without waiting)", file=sys.stderr, flush=True)
        else:
            print("stopping now", file=sys.stderr, flush=True)
            self.stop.now = True

    def _loop(self, students: list[str], merge: LocalMerge) -> None:
        template = gradebooks.copy_gradebook(self.course.db_url, self.run_dir / "template.db")
        everyone = tuple(self.course.students())
        # nbgrader's student_id_exclude is a comma-separated list: ids with a comma go one by one.
        one_by_one = any("," in student for student in everyone)
        queue, number, workers = deque(students), 0, max(1, self.options.workers)
        running: dict[Future, tuple[int, list[str]]] = {}
        with ThreadPoolExecutor(workers, thread_name_prefix="classgrade") as pool:
            while queue or running:
                busy = {slot for slot, _ in running.values()}
                for slot in range(workers):
                    if slot not in busy and queue and self.stop.reason is None:
                        number += 1
                        size = 1 if one_by_one else self.options.batch_size or auto_batch_size(len(queue), workers)
                        batch = [queue.popleft() for _ in range(min(size, len(queue)))]
                        files = self._files(slot, number, template)
                        future = pool.submit(grade, self._job(batch, everyone), files, merge, self._settle, self.stop)
                        running[future] = (slot, batch)
                if self.stop.reason is not None and not running:
                    break
                done, _ = wait(list(running), timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                for future in done:
                    _, batch = running.pop(future)
                    queue.extendleft(reversed(self._requeue(future, batch)))
        for student in queue:
            self.attempts[student] = Attempt(NOT_STARTED, stop_reason=self.stop.reason)

    def _job(self, students: list[str], everyone: tuple[str, ...]) -> Job:
        course = self.course
        return Job(str(course.root), course.assignment,
                   tuple(Submission(s, str(course.folder("submitted", s)), str(course.folder("autograded", s)))
                         for s in students),
                   everyone, str(self.work_root.parent), self.options.run_notebooks, self.options.timeout)

    def _files(self, slot: int, number: int, template: Path) -> JobFiles:
        database = self.run_dir / f"w{slot}.db"
        if not database.exists():
            shutil.copyfile(template, database)
        return JobFiles(database, self.run_dir / f"w{slot}-b{number:04d}.events",
                        self.run_dir / f"batch-{number:04d}.log")

    def _requeue(self, future: Future, batch: list[str]) -> list[str]:
        """The students of a finished batch to grade again; a server lost midway fails the rest."""
        try:
            return future.result()
        except WorkerServerLost as lost:
            for student in lost.unsettled:
                self._settle(student, Attempt(NBGRADER_FAILED, error=str(lost)))
            return []

    def _settle(self, student: str, attempt: Attempt) -> None:
        if attempt.log is not None:
            attempt = replace(attempt, log=self.logs_dir / attempt.log.name)
        with self._settling:
            self.attempts[student] = attempt
            if attempt.kind != NOT_STARTED:
                self.on_done(student, attempt)

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
