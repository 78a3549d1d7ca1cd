"""Grade every submission of an assignment with N workers, each running the real nbgrader.

The steps of one class run, each in its own module:

1. ``submissions``: the course (nbgrader's settings), its students, and which submissions need
   grading (new, newer than their autograded copy, or missing from the gradebook);
2. ``recovery``: merge what a run that died left in ``.work/``;
3. ``scheduler``: grade the queue in batches with parallel nbgrader workers, each writing to a
   scratch gradebook, and merge each graded submission into the course's gradebook
   (nbgrader's ``db_url``, SQLite or PostgreSQL) in one transaction; ``progress`` shows it;
4. ``status.decide``: the status of every submission, from what the run did with it, its
   verdicts, its missing files and the grade the gradebook holds;
5. ``report``: the class report; ``cli``: the table and the exit code.

By default the notebooks' cells are not run (``--ResilientExecute.run_notebook=False``): the
grades come from the hidden checks either way, and running the cells takes about two thirds of
the time. Ctrl-C keeps every grade already merged; the next run grades what is still missing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .. import gradebook as gradebooks
from . import recovery, report, submissions
from .progress import Progress
from .run_options import RunOptions
from .scheduler import Scheduler
from .worker import default_workers
from .status import NO_NOTEBOOK, NOT_STARTED, UP_TO_DATE, Attempt, Facts, Outcome, decide
from .submissions import Course


@dataclass
class ClassResult:
    """What a class run did: every submission's outcome (sorted by student), the report files,
    the signal that stopped it (None if it ran to the end), and its timing."""

    outcomes: list[Outcome]
    report: dict[str, Path]
    stopped: str | None
    seconds: float  # time spent grading
    graded: int  # submissions this run set out to grade
    recovered: list[str] = field(default_factory=list)  # merged from a run that died


def make_scheduler(course: Course, options: RunOptions, work_root: Path,
                   on_done: Callable[[str, Attempt], None] = lambda student, attempt: None) -> Scheduler:
    """The local pool of nbgrader workers, or the Dask cluster at ``options.address`` (a
    ``cluster.ClusterScheduler``: the same ``run``, ``stop_reason`` and ``logs_dir``)."""
    if options.address:
        from .cluster import ClusterScheduler

        return ClusterScheduler(course, options, work_root, on_done)
    return Scheduler(course, options, work_root, on_done)


def facts(course: Course, student: str, attempt: Attempt, grade: tuple[float, ...] | None) -> Facts:
    """The facts ``decide`` needs about ``student``'s submission, read from its folders
    (``grade``: score, max score and, from the gradebook, the points pending hand grading)."""
    return Facts(student, attempt, verdicts=submissions.verdicts(course, student),
                 missing=submissions.missing_files(course, student), grade=grade[:2] if grade else None,
                 pending=grade[2] if grade and len(grade) > 2 else 0.0)


def grade_class(course_root: Path, assignment: str, workers: int | None = None, pattern: str = "*",
                force: bool = False, batch_size: int | None = None, timeout: float | None = None,
                report_dir: Path | None = None, progress: str = "auto", log: Callable[[str], None] = print,
                run_notebooks: bool = False, scheduler_address: str | None = None) -> ClassResult:
    """Grade the class in ``course_root`` and write its report; see the module's docstring."""
    course = submissions.load_course(course_root, assignment)
    course.notebooks = tuple(gradebooks.check_gradebook(course.db_url, course.course_id, assignment))
    report_dir = Path(report_dir or course.root / "reports" / assignment).resolve()
    workers = workers or default_workers()
    students = course.students(pattern)
    recovered = recovery.recover(course, report_dir / ".work")
    if recovered:
        log(f"merged {len(recovered)} grade(s) left by an interrupted run: {', '.join(recovered)}")
    in_gradebook = gradebooks.submission_scores(course.db_url, course.course_id, assignment)

    attempts: dict[str, Attempt] = {}
    to_grade = []
    for student in students:
        if not submissions.has_notebook(course, student):
            attempts[student] = Attempt(NO_NOTEBOOK)
        elif submissions.grading_reason(course, student, student in in_gradebook, force) is None:
            attempts[student] = Attempt(UP_TO_DATE)
        else:
            to_grade.append(student)

    where = (f"the Dask cluster at {scheduler_address}" if scheduler_address
             else f"{min(workers, max(1, len(to_grade)))} worker(s)")
    log(f"{assignment}: {len(students)} submission(s) in {course.root}; {len(to_grade)} to grade with "
        f"{where}, {len(students) - len(to_grade)} up to date or "
        f"without a notebook; gradebook {gradebooks.safe_url(course.db_url)}; notebook cells "
        f"{'run' if run_notebooks else 'not run (the hidden checks grade; --run-notebooks runs them)'}")
    shown = Progress(len(to_grade), progress)
    scheduler = make_scheduler(course, RunOptions(workers, batch_size, timeout, run_notebooks, scheduler_address),
                               report_dir / ".work", on_done=lambda student, attempt: shown.update(
                                   decide(facts(course, student, attempt, attempt.merged))))
    started = time.monotonic()
    try:
        attempts.update(scheduler.run(to_grade))
    finally:
        shown.close()
    seconds = time.monotonic() - started

    scores = gradebooks.submission_scores(course.db_url, course.course_id, assignment)
    outcomes = [decide(facts(course, student, attempts[student], _grade(scores.get(student))))
                for student in sorted(attempts)]
    # The report covers the whole class, also after a run restricted with --student.
    class_outcomes = sorted(outcomes + _not_in_run(course, set(attempts), scores), key=lambda o: o.student)
    verdicts = {outcome.student: submissions.verdicts(course, outcome.student) for outcome in class_outcomes}
    paths = report.write_report(class_outcomes, verdicts, report_dir, assignment)
    return ClassResult(outcomes, paths, scheduler.stop_reason, seconds, len(to_grade), recovered)


def _not_in_run(course: Course, in_run: set[str], scores: dict) -> list[Outcome]:
    """Outcomes of the students this run's selection left out, from what the gradebook holds."""
    outcomes = []
    for student in course.students("*"):
        if student in in_run:
            continue
        if not submissions.has_notebook(course, student):
            attempt = Attempt(NO_NOTEBOOK)
        elif student in scores:
            attempt = Attempt(UP_TO_DATE)
        else:
            attempt = Attempt(NOT_STARTED, stop_reason="not in this run's --student selection")
        outcomes.append(decide(facts(course, student, attempt, _grade(scores.get(student)))))
    return outcomes


def _grade(score: tuple | None) -> tuple[float, float, float] | None:
    """(score, max score, pending points) of a ``gradebook.submission_scores`` entry."""
    return None if score is None else (score[0], score[1], score[2])
