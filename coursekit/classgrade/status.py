"""The status of a submission after a class run, decided in one place: ``decide``.

The scheduler and the selection of submissions record plain facts (``Facts``): what this run
did with the submission (``Attempt``), the verdicts beside its autograded notebooks, the files
it lacks, and the grade the gradebook holds. ``decide`` turns them into an ``Outcome``: the
status shown in the table, the progress line and the report, its explanation, and whether the
gradebook holds a grade of this very submission.

Statuses: graded; pending (autograded, hand-graded parts still without a score, as formgrader
and ``nbgrader export`` count them); crashed, timed out, missing files (graded, with a reason the
score may be low); failed, interrupted, not graded (no grade of this submission; never shown as 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from ..grading.verdict import VERDICT_SUFFIX, Verdict
from ..limits import LIMITS

GRADED, PENDING, CRASHED, TIMED_OUT, MISSING, FAILED, INTERRUPTED, NOT_GRADED = (
    "graded", "pending", "crashed", "timed out", "missing files", "failed", "interrupted", "not graded")
# Statuses of a submission that holds a grade; the others hold none (never shown as 0).
WITH_GRADE = (GRADED, PENDING, CRASHED, TIMED_OUT, MISSING)

# What a run did with a submission.
UP_TO_DATE = "up to date"  # its grade was current: not graded again
NO_NOTEBOOK = "no notebook"  # nothing to grade: nbgrader grades nothing without the notebook
FINISHED = "finished"  # nbgrader graded it and the course's gradebook took the grade
REFUSED = "refused"  # nbgrader graded it; the course's gradebook refused the grade
STOPPED_AFTER_TIMEOUT = "stopped after timeout"  # the watchdog stopped it (--timeout)
INTERRUPTED_MIDWAY = "interrupted midway"  # Ctrl-C or SIGTERM while nbgrader graded it
NOT_STARTED = "not started"  # the run was stopped before its turn
NBGRADER_FAILED = "nbgrader failed"  # nbgrader exited without finishing it
ATTEMPTS = (UP_TO_DATE, NO_NOTEBOOK, FINISHED, REFUSED, STOPPED_AFTER_TIMEOUT, INTERRUPTED_MIDWAY, NOT_STARTED,
            NBGRADER_FAILED)

# The "this run" column: what the run did, in the instructor's words.
RUN_LABELS = {UP_TO_DATE: "up to date", NO_NOTEBOOK: "not run", NOT_STARTED: "not run", FINISHED: "graded",
              REFUSED: "graded", STOPPED_AFTER_TIMEOUT: "not graded", INTERRUPTED_MIDWAY: "not graded",
              NBGRADER_FAILED: "not graded"}


@dataclass(frozen=True)
class Attempt:
    """What this run did with one submission, with the particulars of how it ended."""

    kind: str  # one of ATTEMPTS
    stop_reason: str = ""  # the signal that stopped the run (INTERRUPTED_MIDWAY, NOT_STARTED)
    timeout: float | None = None  # the time limit it ran over (STOPPED_AFTER_TIMEOUT)
    exit_code: int | None = None  # nbgrader's exit code (NBGRADER_FAILED)
    error: str = ""  # nbgrader's error (NBGRADER_FAILED) or the gradebook's (REFUSED)
    log: Path | None = None  # where nbgrader's log of the batch is kept
    merged: tuple[float, float] | None = None  # (score, max score) the gradebook took (FINISHED)

    def __post_init__(self) -> None:
        if self.kind not in ATTEMPTS:
            raise ValueError(f"unknown attempt {self.kind!r}; one of {', '.join(ATTEMPTS)}")


@dataclass(frozen=True)
class Facts:
    """Everything ``decide`` needs about one submission."""

    student: str
    attempt: Attempt
    verdicts: Mapping[str, Verdict] = field(default_factory=dict)  # notebook -> its verdict
    missing: tuple[str, ...] = ()  # files the submission should hold and does not
    grade: tuple[float, float] | None = None  # (score, max score) the gradebook holds, if any
    pending: float = 0.0  # points of it still waiting for hand grading (gradebook.pending_points)


@dataclass
class Outcome:
    """A submission's line in the table and the report."""

    student: str
    status: str
    detail: str = ""
    run: str = ""  # what this run did: graded, up to date, not run, not graded
    graded: bool = True  # the gradebook holds a grade of this very submission
    score: float | None = None
    max_score: float | None = None


def decide(facts: Facts) -> Outcome:
    """The status of one submission, its explanation, and whether the gradebook holds its grade.

    A submission this run left ungraded (no notebook, stopped, failed, grade refused) holds no
    grade of its own, whatever the gradebook keeps from an earlier one (that is named). A
    graded one (now or earlier) holds a grade only if the gradebook has it; its status then
    comes from its verdicts: missing files > no verdict > crashed > timed out > graded.
    """
    run = RUN_LABELS[facts.attempt.kind]
    ungraded = _ungraded(facts)
    if ungraded is not None:
        status, detail = ungraded
        if facts.grade is not None:
            detail += f"; the gradebook keeps an earlier grade ({facts.grade[0]:g}/{facts.grade[1]:g})"
        return Outcome(facts.student, status, detail, run=run, graded=False)
    grade = facts.grade
    status, detail = _from_verdicts(facts.verdicts, facts.missing)
    if grade is None:
        detail = "; ".join(filter(None, [detail, "no grade in the gradebook"]))
        return Outcome(facts.student, FAILED, detail, run=run, graded=False)
    if facts.pending:
        status = PENDING if status == GRADED else status
        detail = "; ".join(filter(None, [detail, f"hand grading pending: {facts.pending:g} point(s) without a score"]))
    return Outcome(facts.student, status, detail, run=run, graded=True, score=grade[0], max_score=grade[1])


def _ungraded(facts: Facts) -> tuple[str, str] | None:
    """(status, detail) of a submission this run did not get graded, or None."""
    attempt = facts.attempt
    log = f" (log: {attempt.log})" if attempt.log else ""
    return {
        NO_NOTEBOOK: (MISSING, f"missing: {', '.join(facts.missing)}; nbgrader grades nothing without the notebook"),
        NOT_STARTED: (NOT_GRADED, f"not started: grading was stopped ({attempt.stop_reason})"),
        INTERRUPTED_MIDWAY: (INTERRUPTED, f"grading interrupted ({attempt.stop_reason}); no grade recorded"),
        STOPPED_AFTER_TIMEOUT: (TIMED_OUT, f"grading stopped after {attempt.timeout or 0:g} s; no grade recorded"),
        NBGRADER_FAILED: (FAILED, f"nbgrader could not grade it (exit code {attempt.exit_code}): "
                                  f"{attempt.error or 'see the log'}{log}"),
        REFUSED: (FAILED, f"graded, but the gradebook did not take the grade: {attempt.error}"),
    }.get(attempt.kind)


def _from_verdicts(verdicts: Mapping[str, Verdict], missing: tuple[str, ...]) -> tuple[str, str]:
    """(status, detail) of a graded submission from its verdicts and the files it lacks."""
    details = []
    crashed = timed_out = False
    for notebook, verdict in sorted(verdicts.items()):
        if verdict.kernel == "died":
            crashed = True
            how = f" ({verdict.kernel_exit})" if verdict.kernel_exit else ""
            details.append(f"{notebook}: the notebook's kernel died{how}")
        elif verdict.kernel == "cell-timeout":
            timed_out = True
            details.append(f"{notebook}: a notebook cell ran out of time")
        elif verdict.kernel == "notebook-time":
            timed_out = True
            reason = LIMITS.notebook_time_reason(verdict.notebook_seconds)
            details.append(f"{notebook}: the notebook {reason} (the course's limit)")
        details += [f"{notebook}: a notebook cell {reason} (the course's limit)" for reason in verdict.notebook_limits]
        for task, task_verdict in sorted(verdict.tasks.items()):
            if count := task_verdict.student_code_count("crashed"):
                crashed = True
                details.append(f"{task}: student code crashed in {count} check(s)")
            if count := task_verdict.student_code_count("timeout"):
                timed_out = True
                details.append(f"{task}: student code timed out in {count} check(s)")
        for reason in LIMITS.reasons_in([check.message for check in verdict.checks]):
            details.insert(0, f"{reason} (the course's limit)")
    if missing:
        return MISSING, "; ".join([f"missing: {', '.join(missing)}", *details])
    if not verdicts:
        return FAILED, f"no verdict (<notebook>.{VERDICT_SUFFIX}) beside the autograded notebook"
    if crashed:
        return CRASHED, "; ".join(details)
    if timed_out:
        return TIMED_OUT, "; ".join(details)
    return GRADED, "; ".join(details)  # only the limits it hit, if any
