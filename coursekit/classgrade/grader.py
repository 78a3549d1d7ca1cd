"""Grade every submission of an assignment with N workers, each running the real nbgrader.

How the work is split: the submissions that need grading (new, newer than their autograded
copy, or missing from the gradebook) are queued; each of N worker slots runs
``nbgrader autograde ASSIGNMENT --force`` on one batch at a time (``--student`` for a batch of
one, ``--CourseDirectory.student_id_exclude`` for the others), in the course root, with the
course's own configuration (nbgrader's own command line, started without one slow import:
``worker.py``). A batch amortises nbgrader's start-up (about 1.4 CPU-seconds) over its
submissions; batches shrink as the queue empties so that the workers finish together.
By default the notebooks' cells are not run (``--ResilientExecute.run_notebook=False``): the
grades come from the hidden checks either way, and running the cells took three quarters
of the time.

Where grades go: each slot's nbgrader writes to a scratch SQLite copy of the course's
gradebook (``--CourseDirectory.db_url``), so workers never contend for a lock. nbgrader's
pre/post convert hooks (``hooks.py``) report each submission started and fully graded; the
coordinator then merges that one submission into the course's gradebook (nbgrader's
``db_url``, SQLite or PostgreSQL) in a single transaction (``gradebooks.py``). The course's
gradebook is written by this process alone and only ever receives complete gradings.

Ctrl-C (or SIGTERM): the workers are interrupted, every submission already graded has been
merged (merges are never interrupted), the submissions in flight are dropped (nbgrader
removes their autograded folders; their gradebook entries are untouched), and the table and
report cover what was graded. The next run grades what is still missing. Should this process
die without cleaning up, its scratch gradebooks and event files stay in the report folder's
``.work/`` and the next run merges the submissions they hold before it starts.
"""

import argparse
import ctypes
import fcntl
import json
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

from ..release import nbgrader_env
from ..sandbox import HIDE_ENV
from .. import gradebook as gradebooks
from . import hooks, report, submissions
from .submissions import FAILED, GRADED, INTERRUPTED, MISSING, NOT_GRADED, TIMED_OUT
from .worker import NBGRADER_MAIN

POLL_SECONDS = 0.2
STOP_GRACE_SECONDS = 10.0
HOOKS = ("--Autograde.pre_convert_hook=coursekit.classgrade.hooks.started",
         "--Autograde.post_convert_hook=coursekit.classgrade.hooks.finished")
# Grades come from the hidden checks, not from the notebook's kernel: by default the workers
# leave the cells unrun, which takes about three quarters of the time off each submission.
CHECKS_ONLY = "--ResilientExecute.run_notebook=False"


@dataclass
class Outcome:
    student: str
    status: str
    detail: str = ""
    run: str = ""  # what this run did: graded, up to date, not run
    graded: bool = True  # the gradebook holds a grade of this very submission
    score: float = None
    max_score: float = None


@dataclass
class Batch:
    number: int
    slot: int
    students: list
    process: subprocess.Popen = None
    events: Path = None
    log: Path = None
    offset: int = 0
    started: dict = field(default_factory=dict)  # student -> time its grading started
    finished: set = field(default_factory=set)
    current: str = None
    timed_out: str = None  # student whose grading the watchdog stopped


def worker_count():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


MAX_BATCH = 32
MIN_BATCH = 4


def auto_batch_size(remaining, workers):
    """Size of the next batch, given the submissions still queued: a share of them, so that
    early batches amortise nbgrader's start-up and later ones shrink to let every worker
    finish at about the same time."""
    share = math.ceil(remaining / (2 * max(1, workers)))
    return max(1, min(remaining, MAX_BATCH, max(MIN_BATCH, share)))


def _die_with_parent():
    """In each nbgrader worker: a session of its own (the terminal's Ctrl-C reaches only the
    coordinator, which stops the workers itself), and SIGTERM when the coordinator dies."""
    os.setsid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (AttributeError, OSError):
        pass


class Progress:
    """Count done, failures so far and time left: a bar on a terminal, one line per submission
    otherwise (logs, CI)."""

    def __init__(self, total, mode="auto", stream=None):
        self.total, self.done, self.failures = total, 0, 0
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        if mode == "auto":
            mode = "bar" if self.stream.isatty() else "lines"
        self.mode = mode if total else "none"
        self.bar = None
        if self.mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="submission", file=self.stream, dynamic_ncols=True,
                            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]")
            self.bar.set_postfix_str("failures 0")

    def eta(self):
        if not self.done:
            return "?"
        seconds = (time.monotonic() - self.started) / self.done * (self.total - self.done)
        return time.strftime("%H:%M:%S", time.gmtime(seconds))

    def update(self, outcome):
        self.done += 1
        if outcome.status != GRADED:
            self.failures += 1
        if self.mode == "bar":
            self.bar.set_postfix_str(f"failures {self.failures}", refresh=False)
            self.bar.update(1)
        elif self.mode == "lines":
            print(f"[{self.done:>{len(str(self.total))}}/{self.total}] {outcome.student}: {outcome.status}"
                  f" | failures so far {self.failures} | time left {self.eta()}", file=self.stream, flush=True)

    def note(self, text):
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        elif self.mode != "none":
            print(text, file=self.stream, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


class ClassGrader:
    def __init__(self, course, workers, batch_size=None, timeout=None, progress="auto", work_root=None,
                 log=print, run_notebooks=False):
        self.course, self.workers, self.timeout, self.log = course, max(1, workers), timeout, log
        self.run_notebooks = run_notebooks
        self.batch_size, self.progress_mode = batch_size, progress
        self.work_root = Path(work_root or course.root / "reports" / course.assignment / ".work")
        self.stop_reason = None
        self.outcomes = {}
        self.target = None
        self.running = {}
        self.folders = {}

    # -- signals -------------------------------------------------------------------------------
    def _on_signal(self, signum, frame):
        if self.stop_reason is None:
            self.stop_reason = signal.Signals(signum).name
            print(f"\n{self.stop_reason}: stopping the workers; grades already recorded are kept "
                  f"(press again to stop without waiting)", file=sys.stderr, flush=True)
        else:
            print("stopping now", file=sys.stderr, flush=True)
            for batch in self.running.values():
                self._signal_group(batch, signal.SIGKILL)

    # -- main loop -----------------------------------------------------------------------------
    def run(self, students):
        """Grade ``students`` (ids); returns {student: Outcome} for them."""
        self.running = {}
        self.work_root.mkdir(parents=True, exist_ok=True)
        from nbgrader.api import Gradebook

        self.target = Gradebook(self.course.db_url, self.course.course_id)
        previous = {signum: signal.signal(signum, self._on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            if students:
                self._run(students)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            self.target.close()
        return self.outcomes

    def _run(self, students):
        self.run_dir = self.work_root / f"run-{os.getpid()}-{int(time.time())}"
        self.run_dir.mkdir(parents=True)
        self.lock = open(self.run_dir / "lock", "w")
        fcntl.flock(self.lock, fcntl.LOCK_EX)
        self.template = gradebooks.copy_gradebook(self.course.db_url, self.run_dir / "template.db")
        self.everyone = set(self.course.students())
        # nbgrader's student_id_exclude is a comma-separated list: ids with a comma go one by one.
        one_by_one = any("," in student for student in self.everyone)
        queue = deque(students)
        self.progress = Progress(len(students), self.progress_mode)
        number = 0
        try:
            while (queue or self.running) and self.stop_reason is None:
                for slot in range(self.workers):
                    if slot not in self.running and queue and self.stop_reason is None:
                        number += 1
                        size = 1 if one_by_one else self.batch_size or auto_batch_size(len(queue), self.workers)
                        batch = [queue.popleft() for _ in range(min(size, len(queue)))]
                        self.running[slot] = self._launch(number, slot, batch)
                for slot, batch in list(self.running.items()):
                    self._read_events(batch)
                    if batch.process.poll() is not None:
                        self._signal_group(batch, signal.SIGKILL)  # no stray kernel or checker
                        self._read_events(batch)
                        requeue = self._close(batch)
                        queue.extendleft(reversed(requeue))
                        del self.running[slot]
                    elif self._overdue(batch):
                        batch.timed_out = batch.current
                        self._signal_group(batch, signal.SIGKILL)
                time.sleep(POLL_SECONDS)
            if self.stop_reason is not None:
                self._stop_all()
                for student in queue:
                    self._record(Outcome(student, NOT_GRADED, f"not started: grading was stopped "
                                         f"({self.stop_reason})", run="not run", graded=False), count=False)
        finally:
            self.progress.close()
            self._keep_logs()
            self.lock.close()
            shutil.rmtree(self.run_dir, ignore_errors=True)

    # -- workers -------------------------------------------------------------------------------
    def _launch(self, number, slot, students):
        database = self.run_dir / f"w{slot}.db"
        if not database.exists():
            shutil.copyfile(self.template, database)
        batch = Batch(number=number, slot=slot, students=list(students),
                      events=self.run_dir / f"w{slot}-b{number:04d}.events",
                      log=self.run_dir / f"batch-{number:04d}.log")
        batch.events.touch()
        command = [sys.executable, "-c", NBGRADER_MAIN, "autograde", self.course.assignment, "--force",
                   f"--CourseDirectory.db_url={gradebooks.sqlite_url(database)}", *HOOKS]
        if not self.run_notebooks:
            command.append(CHECKS_ONLY)
        if len(students) == 1:
            command.append(f"--CourseDirectory.student_id={students[0]}")
        else:
            others = sorted(self.everyone - set(students))
            command.append(f"--CourseDirectory.student_id_exclude={','.join(others)}")
        env = nbgrader_env()
        env[hooks.EVENTS_ENV] = str(batch.events)
        # The grading sandbox hides the course root; hide the report folder too (scratch
        # gradebooks, other students' scores) wherever --report-dir puts it.
        env[HIDE_ENV] = os.pathsep.join(filter(None, [env.get(HIDE_ENV, ""), str(self.work_root.parent)]))
        with open(batch.log, "w") as log:
            log.write(f"# nbgrader {' '.join(command[3:6])} ... ({', '.join(students)})\n")
            log.flush()
            batch.process = subprocess.Popen(command, cwd=self.course.root, env=env, stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        return batch

    def _signal_group(self, batch, signum):
        try:
            os.killpg(batch.process.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def _overdue(self, batch):
        if not self.timeout or batch.current is None or batch.timed_out:
            return False
        return time.time() - batch.started[batch.current] > self.timeout

    def _read_events(self, batch):
        with open(batch.events, encoding="utf-8") as file:
            file.seek(batch.offset)
            data = file.read()
        complete = data[:data.rfind("\n") + 1]
        batch.offset += len(complete.encode("utf-8"))
        for line in complete.splitlines():
            try:
                event = json.loads(line)
                student = self._student_of(event["notebooks"])
            except (ValueError, KeyError):
                continue
            if student is None:
                continue
            if event["event"] == "started":
                batch.current = student
                batch.started[student] = event.get("time", time.time())
            elif event["event"] == "finished" and student not in batch.finished:
                batch.finished.add(student)
                batch.current = None
                self._merge(batch, student)

    def _student_of(self, notebooks):
        if len(self.folders) != len(self.everyone):
            self.folders = {self.course.folder("submitted", s).resolve(): s for s in self.everyone}
        for notebook in notebooks:
            student = self.folders.get(Path(notebook).resolve().parent)
            if student is not None:
                return student
        return None

    def _merge(self, batch, student):
        database = gradebooks.sqlite_url(self.run_dir / f"w{batch.slot}.db")
        try:
            gradebooks.merge_submission(database, self.target, self.course.course_id, self.course.assignment, student)
        except Exception as error:  # the gradebook refused the grade: say so, never a silent 0
            outcome = Outcome(student, FAILED, f"graded, but the gradebook did not take the grade: {error}",
                              run="graded", graded=False)
        else:
            status, detail = submissions.classify(submissions.records(self.course, student),
                                                  submissions.missing_files(self.course, student))
            outcome = Outcome(student, status, detail, run="graded")
        self._record(outcome)

    def _record(self, outcome, count=True):
        self.outcomes[outcome.student] = outcome
        if count:
            self.progress.update(outcome)

    def _close(self, batch):
        """After a batch's nbgrader has exited: the students it did not finish. Returns the
        students to grade again (those a watchdog stop kept from starting)."""
        code = batch.process.returncode
        requeue = []
        for student in batch.students:
            if student in batch.finished:
                continue
            if student == batch.timed_out:
                self._discard_partial(student)
                self._record(Outcome(student, TIMED_OUT, f"grading stopped after {self.timeout:g} s; "
                                     "no grade recorded", run="not graded", graded=False))
            elif batch.timed_out and student not in batch.started:
                requeue.append(student)
            elif self.stop_reason is not None:
                if student in batch.started:
                    self._discard_partial(student)
                    self._record(Outcome(student, INTERRUPTED, f"grading interrupted ({self.stop_reason}); "
                                         "no grade recorded", run="not graded", graded=False))
                else:
                    self._record(Outcome(student, NOT_GRADED, f"not started: grading was stopped "
                                         f"({self.stop_reason})", run="not run", graded=False), count=False)
            else:
                reason = _error_line(batch.log, self.course.folder("submitted", student))
                self._discard_partial(student)
                self._record(Outcome(student, FAILED, f"nbgrader could not grade it (exit code {code}): "
                                     f"{reason} (log: {{logs}}/{batch.log.name})", run="not graded", graded=False))
        return requeue

    def _discard_partial(self, student):
        """Remove what a stopped nbgrader left in the autograded folder, as nbgrader does for
        a submission it fails to grade, so the next run grades it again."""
        folder = self.course.folder("autograded", student)
        if folder.exists():
            for path in [folder, *folder.rglob("*")]:
                try:
                    path.chmod(0o755 if path.is_dir() else 0o644)
                except OSError:
                    pass
            shutil.rmtree(folder, ignore_errors=True)

    def _stop_all(self):
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
            self._signal_group(batch, signal.SIGKILL)  # whatever is left of the batch
            batch.process.wait()
        for batch in list(self.running.values()):
            self._read_events(batch)
            self._close(batch)
        self.running = {}

    def _keep_logs(self):
        logs = self.work_root.parent / "logs"
        batch_logs = sorted(self.run_dir.glob("batch-*.log"))
        if not batch_logs:
            return
        if logs.exists():
            shutil.rmtree(logs, ignore_errors=True)
        logs.mkdir(parents=True)
        for path in batch_logs:
            shutil.move(str(path), logs / path.name)
        for outcome in self.outcomes.values():
            outcome.detail = outcome.detail.replace("{logs}", str(logs))

    # -- recovery ------------------------------------------------------------------------------
    def recover(self):
        """Merge the submissions that a run which died without cleaning up had finished;
        returns their students."""
        from nbgrader.api import Gradebook

        recovered = []
        run_dirs = sorted(self.work_root.glob("run-*"))
        if not run_dirs:
            return recovered
        self.target = Gradebook(self.course.db_url, self.course.course_id)
        try:
            for run_dir in run_dirs:
                recovered.extend(self._recover(run_dir))
        finally:
            self.target.close()
            self.target = None
        return sorted(set(recovered))

    def _recover(self, run_dir):
        try:
            lock = open(run_dir / "lock", "a")
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return []  # a run still going on
        recovered = []
        try:
            self.everyone = set(self.course.students())
            for events in sorted(run_dir.glob("w*-b*.events")):
                database = run_dir / f"{events.name.split('-')[0]}.db"
                for line in events.read_text(encoding="utf-8").splitlines():
                    try:
                        event = json.loads(line)
                    except ValueError:
                        continue
                    student = self._student_of(event.get("notebooks", []))
                    if (event.get("event") != "finished" or student is None or not database.exists()
                            or not submissions.records(self.course, student)):
                        continue
                    gradebooks.merge_submission(gradebooks.sqlite_url(database), self.target,
                                                self.course.course_id, self.course.assignment, student)
                    recovered.append(student)
        finally:
            lock.close()
        shutil.rmtree(run_dir, ignore_errors=True)
        return recovered


def _error_line(log_path, submitted_folder):
    """The last error nbgrader logged for a submission, in one line."""
    try:
        lines = Path(log_path).read_text(errors="replace").splitlines()
    except OSError:
        return "see the log"
    marker = f"There was an error processing assignment: {submitted_folder}"
    for index, line in enumerate(lines):
        if marker in line:
            tail = [l.strip() for l in lines[index + 1:index + 60] if l.strip() and not l.startswith("[")]
            errors = [l for l in tail if "Error" in l or "Exception" in l]
            return (errors[-1] if errors else "see the log")[:300]
    errors = [l.strip() for l in lines if "ERROR" in l or "Error:" in l]
    return (errors[-1] if errors else "see the log")[:300]


# -- the whole command ---------------------------------------------------------------------------

def grade_class(course_root, assignment, workers=None, pattern="*", force=False, batch_size=None, timeout=None,
                report_dir=None, progress="auto", log=print, run_notebooks=False):
    """Grade the class; returns (outcomes sorted by student, report paths, interrupted reason or None)."""
    course = submissions.load_course(course_root, assignment)
    course.notebooks = tuple(gradebooks.check_gradebook(course.db_url, course.course_id, assignment))
    report_dir = Path(report_dir or course.root / "reports" / assignment).resolve()
    workers = workers or worker_count()
    students = course.students(pattern)
    grader = ClassGrader(course, workers, batch_size=batch_size, timeout=timeout, progress=progress,
                         work_root=report_dir / ".work", log=log, run_notebooks=run_notebooks)
    recovered = grader.recover()
    if recovered:
        log(f"merged {len(recovered)} grade(s) left by an interrupted run: {', '.join(recovered)}")
    in_gradebook = gradebooks.submission_scores(course.db_url, course.course_id, assignment)

    outcomes, to_grade = {}, []
    for student in students:
        if not submissions.has_notebook(course, student):
            missing = submissions.missing_files(course, student)
            outcomes[student] = Outcome(student, MISSING, f"missing: {', '.join(missing)}; nbgrader grades "
                                        "nothing without the notebook", run="not run", graded=False)
            continue
        reason = submissions.grading_reason(course, student, student in in_gradebook, force)
        if reason is None:
            status, detail = submissions.classify(submissions.records(course, student),
                                                  submissions.missing_files(course, student))
            outcomes[student] = Outcome(student, status, detail, run="up to date")
        else:
            to_grade.append(student)

    log(f"{assignment}: {len(students)} submission(s) in {course.root}; {len(to_grade)} to grade with "
        f"{min(workers, max(1, len(to_grade)))} worker(s), {len(students) - len(to_grade)} up to date or "
        f"without a notebook; gradebook {gradebooks.safe_url(course.db_url)}; notebook cells "
        f"{'run' if run_notebooks else 'not run (the hidden checks grade; --run-notebooks runs them)'}")
    started = time.monotonic()
    outcomes.update(grader.run(to_grade))
    seconds = time.monotonic() - started

    scores = gradebooks.submission_scores(course.db_url, course.course_id, assignment)
    for student, outcome in outcomes.items():
        if student in scores:
            score, max_score, _ = scores[student]
            if outcome.graded:
                outcome.score, outcome.max_score = score, max_score
            else:
                outcome.detail += f"; the gradebook keeps an earlier grade ({score:g}/{max_score:g})"
        elif outcome.graded:
            outcome.status, outcome.graded = FAILED, False
            outcome.detail = "; ".join(filter(None, [outcome.detail, "no grade in the gradebook"]))
    ordered = [outcomes[s] for s in sorted(outcomes)]
    records = {student: submissions.records(course, student) for student in outcomes}
    paths = report.write_report(ordered, records, report_dir, assignment)
    return ordered, paths, grader.stop_reason, seconds, len(to_grade)


def format_table(outcomes):
    width = max([len("student"), *(len(o.student) for o in outcomes)])
    lines = [f"{'student':<{width}}  {'score':>11}  {'status':<13}  {'this run':<10}  detail"]
    for o in outcomes:
        score = f"{o.score:g}/{o.max_score:g}" if o.score is not None else "-"
        lines.append(f"{o.student:<{width}}  {score:>11}  {o.status:<13}  {o.run:<10}  {o.detail}".rstrip())
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m coursekit.classgrade",
        description="Autograde every submission of an assignment with parallel workers, each running "
                    "nbgrader autograde; then a score table and a class report.")
    parser.add_argument("assignment", nargs="?", default="dropout", help="assignment name (default: dropout)")
    parser.add_argument("--course-root", type=Path, default=Path.cwd(),
                        help="nbgrader course root, the folder holding nbgrader_config.py (default: here)")
    parser.add_argument("--workers", "-j", type=int, default=None,
                        help=f"worker processes (default: the number of cores, {worker_count()})")
    parser.add_argument("--student", default="*", help="only students whose id matches this glob")
    parser.add_argument("--force", action="store_true", help="grade every submission again, even up-to-date ones")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="submissions per nbgrader process (default: chosen from class size and workers)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds one submission may take before its grading is stopped (default: none; "
                             "nbgrader's per-cell timeout still applies)")
    parser.add_argument("--report-dir", type=Path, default=None,
                        help="where the CSV files, the PNG and the logs go (default: COURSE_ROOT/reports/ASSIGNMENT)")
    parser.add_argument("--run-notebooks", action="store_true",
                        help="also run each notebook's cells in its sandboxed kernel, as plain nbgrader "
                             "autograde does, so the feedback shows the student's outputs (same grades; "
                             "about five times slower)")
    parser.add_argument("--progress", choices=("auto", "bar", "lines", "none"), default="auto",
                        help="a progress bar on a terminal, one line per submission otherwise (default: auto)")
    args = parser.parse_args(argv)
    try:
        outcomes, paths, stopped, seconds, graded = grade_class(
            args.course_root, args.assignment, workers=args.workers, pattern=args.student, force=args.force,
            batch_size=args.batch_size, timeout=args.timeout, report_dir=args.report_dir, progress=args.progress,
            log=lambda text: print(text, file=sys.stderr, flush=True), run_notebooks=args.run_notebooks)
    except (gradebooks.GradebookError, FileNotFoundError) as error:
        print(f"classgrade: {error}", file=sys.stderr)
        return 2
    print(format_table(outcomes))
    counts = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    rate = f" ({seconds / graded:.2f} s per submission)" if graded else ""
    print(f"\n{len(outcomes)} submission(s): {summary}. Graded {graded} in {seconds:.1f} s{rate}.")
    print(f"report: {paths['png']}\n        {paths['scores']}\n        {paths['checks']}\n        {paths['histogram']}")
    if stopped:
        print(f"stopped ({stopped}): run the same command again to grade what is left.", file=sys.stderr)
        return 130
    # 0: every submission with a notebook holds a grade (crashed and timed-out ones included).
    return 1 if any(not o.graded and o.run != "not run" or o.status == NOT_GRADED for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
