"""Run the hidden checks on one submission and return their ``Verdict``.

The checks run in a pytest process of their own (the manifest's modules of hidden checks, with
the plugin in ``pytest_plugin``); student code runs only in the runner processes that pytest
starts.

Usage: ``python -m coursekit.grading.judge SUBMISSION_DIR`` prints the report of every task.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Protocol, Sequence

from ..limits import LIMITS
from ..manifest import COURSE
from ..paths import REPO_ROOT
from .serving import scratch_root
from .task_report import task_report
from .verdict import Verdict, VerdictError


class ForkingChecks(Protocol):
    """What runs the checks in a forked child (``checks_server.ChecksServer``, ``ForkedChecks``):
    ``pytest args`` in a fresh child; its exit code; subprocess.TimeoutExpired after ``timeout``."""

    def run(self, args: Sequence[str | Path], env: dict[str, str], cwd: Path, output: Path,
            timeout: float) -> int: ...


# Seconds for pytest's own start-up and the reference computations, on top of the runners'.
OVERHEAD_SECONDS = 60


def checks_environment() -> dict[str, str]:
    """Environment of the checks' pytest process."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    env["PYTHONPATH"] = str(REPO_ROOT)  # the judge's own code and the reference, never the submission
    # The checks need only the course's plugin (named in checks_arguments); scanning every
    # installed package for pytest plugins costs about 0.25 s per submission.
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return env


# pytest's plugins the checks do not use. Each is registered, and called on every hook, for
# every submission; without them pytest's own work per submission is about a tenth smaller.
UNUSED_PLUGINS = ("cacheprovider", "logging", "warnings", "doctest", "junitxml", "pastebin", "legacypath",
                  "faulthandler", "stepwise", "unittest", "setuponly", "setupplan", "debugging")


def checks_arguments(tasks: Sequence[str] = COURSE.task_ids) -> list[str]:
    """pytest's arguments for the hidden checks of ``tasks``, before the submission's options.

    The verdict is made of the checks' own messages (pytest_plugin.py), so pytest's traceback of
    a failed check is kept to a line (``--tb=line``): the long form read and parsed the check's
    source for every failure, a fifth of pytest's time on a faulty submission. The checks print
    nothing, so nothing is captured (``-s``). The course's plugin is named here and the test
    suite's ``tests/conftest.py`` is not read (``--noconftest``): the judge needs none of the
    suite's helpers, which import nbgrader and the fault catalogue.
    """
    return [*(str(COURSE.task(t).checks_path) for t in tasks), "-q", "--no-header", "--tb=line", "-s",
            *(f"-pno:{plugin}" for plugin in UNUSED_PLUGINS), "-o", "addopts=", "--rootdir", str(REPO_ROOT),
            "--noconftest", "-p", "coursekit.grading.pytest_plugin"]


class JudgeError(RuntimeError):
    """The hidden checks could not run at all (not a verdict on the submission)."""


def judge(submission: Path, tasks: Sequence[str] = COURSE.task_ids, op_timeout: float = LIMITS.call_seconds,
          budget: float = LIMITS.task_checks_seconds, python: str | None = None, confine: bool = False,
          server: ForkingChecks | None = None) -> Verdict:
    """Run the hidden checks of ``tasks`` on the package in ``submission``.

    The checks run in a new pytest process, or in a child forked by ``server`` (a
    ``checks_server.ChecksServer``, which must then fail with ChecksServerError to be
    replaced by the caller). Returns the verdict, its tasks in the manifest's order. Raises
    JudgeError if the checks themselves could not run.
    """
    submission = Path(submission).resolve()
    unknown = [t for t in tasks if t not in COURSE.task_ids]
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; known: {', '.join(COURSE.task_ids)}")
    tasks = tuple(t for t in COURSE.task_ids if t in tasks)
    # The runner's folder goes in this one too: removed here even when the checks are killed.
    with tempfile.TemporaryDirectory(prefix="dropout-judge-", dir=scratch_root(), ignore_cleanup_errors=True) as tmp:
        verdict_file = Path(tmp) / "verdict.json"
        args = [*checks_arguments(tasks), "--submission", str(submission), "--verdict-json", str(verdict_file),
                "--op-timeout", str(op_timeout), "--budget", str(budget), "--scratch", tmp] + (
                    ["--confine"] if confine else [])
        env = checks_environment()
        timeout = len(tasks) * (budget + OVERHEAD_SECONDS)
        try:
            if server is not None and python is None:
                output_file = Path(tmp) / "output.txt"
                returncode = server.run(args, env, REPO_ROOT, output_file, timeout)
                output = output_file.read_text(errors="replace") if output_file.exists() else ""
            else:
                completed = subprocess.run([python or sys.executable, "-m", "pytest", *args], cwd=REPO_ROOT,
                                           env=env, capture_output=True, text=True, timeout=timeout)
                returncode, output = completed.returncode, f"{completed.stdout[-3000:]}\n{completed.stderr}"
        except subprocess.TimeoutExpired as exc:
            raise JudgeError(f"the hidden checks did not finish within {exc.timeout:g} s") from exc
        if returncode not in (0, 1) or not verdict_file.exists():
            raise JudgeError(f"the hidden checks could not run (pytest exit code {returncode}):\n"
                             f"{output[-6000:]}")
        try:
            ran = Verdict.load(verdict_file)
        except VerdictError as error:
            raise JudgeError(f"the hidden checks wrote no readable verdict: {error}") from error
    internal = [check for check in ran.checks if check.internal_error]
    if internal:
        raise JudgeError("a hidden check failed for a reason of its own: "
                         + "; ".join(f"{c.task}::{c.check}: {c.message}" for c in internal))
    verdict = Verdict.from_checks([c for c in ran.checks if c.task in tasks], tasks)
    empty = [t for t, v in verdict.tasks.items() if not v.checks]
    if empty:
        raise JudgeError(f"no hidden check ran for task(s) {empty}")
    return verdict


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: judge one submission, print each task's report (or the verdict's JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submission", type=Path, help=f"folder holding {COURSE.package}")
    parser.add_argument("--task", action="append", choices=COURSE.task_ids, help="check only this task (repeatable)")
    parser.add_argument("--book-url", default="", help="root URL of the book, for links to its sections")
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")
    parser.add_argument("--confine", action="store_true", help="run student code in a bubblewrap sandbox")
    args = parser.parse_args(argv)
    if not args.submission.is_dir():
        parser.error(f"{args.submission} is not a folder")
    verdict = judge(args.submission, tuple(args.task or COURSE.task_ids), confine=args.confine)
    if args.json:
        print(verdict.to_json())
    else:
        print("\n\n".join(task_report(v, args.book_url) for v in verdict.tasks.values()))
        print(f"\nTotal: {verdict.points:g} / {verdict.max_points:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
