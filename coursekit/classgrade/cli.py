"""``python -m coursekit.classgrade ASSIGNMENT``: the command line, the score table, the exit code.

Exit codes: 0 when every submission with a notebook holds a grade (crashed and timed-out ones
included), 1 when some submission this run tried to grade holds none, 2 when the course or its
gradebook cannot be used, 130 when Ctrl-C (or SIGTERM) stopped the run.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Sequence

from .. import sandbox
from ..course_settings import CourseSettingsError
from ..gradebook import GradebookError
from ..manifest import COURSE
from ..preflight import check_course
from ..speedups import choose_simple
from .cluster import ClusterError
from .forkserver import WorkerServerError
from .grader import ClassResult, grade_class
from .worker import default_workers
from .status import NOT_GRADED, RUN_LABELS, NO_NOTEBOOK, Outcome

OK, UNGRADED, UNUSABLE, STOPPED = 0, 1, 2, 130


def format_table(outcomes: Sequence[Outcome]) -> str:
    """The score table: one line per submission."""
    width = max([len("student"), *(len(o.student) for o in outcomes)])
    lines = [f"{'student':<{width}}  {'score':>11}  {'status':<13}  {'this run':<10}  detail"]
    for o in outcomes:
        score = f"{o.score:g}/{o.max_score:g}" if o.score is not None else "-"
        lines.append(f"{o.student:<{width}}  {score:>11}  {o.status:<13}  {o.run:<10}  {o.detail}".rstrip())
    return "\n".join(lines)


def exit_code(result: ClassResult) -> int:
    """130 if the run was stopped; 1 if a submission it tried to grade (or never started) holds
    no grade; 0 otherwise (a submission without a notebook does not count)."""
    if result.stopped:
        return STOPPED
    not_run = RUN_LABELS[NO_NOTEBOOK]
    if any(not o.graded and o.run != not_run or o.status == NOT_GRADED for o in result.outcomes):
        return UNGRADED
    return OK


def summary(result: ClassResult) -> str:
    """Counts by status, time per submission, and where the report is."""
    counts = Counter(o.status for o in result.outcomes)
    statuses = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    rate = f" ({result.seconds / result.graded:.2f} s per submission)" if result.graded else ""
    paths = result.report
    return (f"\n{len(result.outcomes)} submission(s): {statuses}. Graded {result.graded} in {result.seconds:.1f} s"
            f"{rate}.\nreport: {paths['png']}\n        {paths['scores']}\n        {paths['checks']}\n"
            f"        {paths['histogram']}")


def parser() -> argparse.ArgumentParser:
    """The command's options."""
    parser = argparse.ArgumentParser(
        prog="python -m coursekit.classgrade",
        description="Autograde every submission of an assignment with parallel workers, each running "
                    "nbgrader autograde; then a score table and a class report.")
    parser.add_argument("assignment", choices=COURSE.assignment_names, help="the assignment to grade (one of the manifest's)")
    parser.add_argument("--course-root", type=Path, default=Path.cwd(),
                        help="nbgrader course root, the folder holding nbgrader_config.py (default: here)")
    parser.add_argument("--workers", "-j", type=int, default=None,
                        help=f"worker processes (default: one more than the cores, {default_workers()})")
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
                             "about three times slower)")
    parser.add_argument("--scheduler", metavar="tcp://HOST:8786", default=None,
                        help="grade on the Dask cluster at this scheduler address, one task per submission, "
                             "instead of local workers (needs the 'cluster' extra, a course folder shared at the "
                             "same path on every machine, and a PostgreSQL db_url; docs/grading-a-class.md)")
    parser.add_argument("--simple", action="store_true",
                        help="grade the plain way, without any mechanism that exists only for speed: nbgrader "
                             "autograde as a new process per batch, the checks in a new pytest process, a new runner "
                             "per plan, nbgrader unchanged (same grades; sets DROPOUT_GRADING_SIMPLE=1 for nbgrader)")
    parser.add_argument("--progress", choices=("auto", "bar", "lines", "none"), default="auto",
                        help="a progress bar on a terminal, one line per submission otherwise (default: auto)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns its exit code (see the module's docstring)."""
    args = parser().parse_args(argv)
    if args.simple:
        choose_simple()  # the one switch (coursekit/speedups.py), inherited by every nbgrader it starts
    try:  # the workers' nbgrader would refuse one batch at a time: refuse once, with the cause
        sandbox.require()
    except sandbox.SandboxUnavailable as refusal:
        print(f"classgrade: {refusal}", file=sys.stderr)
        return UNUSABLE
    check_course(args.course_root, "python -m coursekit.classgrade")  # who can read the course; SystemExit(2) if refused
    try:
        result = grade_class(
            args.course_root, args.assignment, workers=args.workers, pattern=args.student, force=args.force,
            batch_size=args.batch_size, timeout=args.timeout, report_dir=args.report_dir, progress=args.progress,
            log=lambda text: print(text, file=sys.stderr, flush=True), run_notebooks=args.run_notebooks,
            scheduler_address=args.scheduler)
    except (GradebookError, CourseSettingsError, FileNotFoundError, ClusterError, WorkerServerError) as error:
        print(f"classgrade: {error}", file=sys.stderr)
        return UNUSABLE
    print(format_table(result.outcomes))
    print(summary(result))
    if result.stopped:
        print(f"stopped ({result.stopped}): run the same command again to grade what is left.", file=sys.stderr)
    return exit_code(result)


if __name__ == "__main__":
    sys.exit(main())
