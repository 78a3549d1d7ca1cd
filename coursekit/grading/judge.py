"""Run the hidden checks on one submission and turn their records into scores and reports.

The checks run in a pytest process of their own (``tests/hidden`` with the plugin in
``pytest_plugin``); student code runs only in the runner processes that pytest starts.

Usage: ``python -m coursekit.grading.judge SUBMISSION_DIR`` prints the report of every task.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..manifest import COURSE
from .pytest_plugin import HIDDEN_DIR, REPO_ROOT, TASKS

TASK_TITLES = {
    "dropout_forward": "dropout_forward",
    "dropout_backward": "dropout_backward",
    "fc_net": "FullyConnectedNet with dropout",
}
# Seconds for pytest's own start-up and the reference computations, on top of the runners'.
OVERHEAD_SECONDS = 60


def checks_environment():
    """Environment of the checks' pytest process."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    env["PYTHONPATH"] = str(REPO_ROOT)  # the judge's own code and the reference, never the submission
    # The checks need only the course's plugin (tests/conftest.py); scanning every installed
    # package for pytest plugins costs about 0.25 s per submission.
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return env


def checks_arguments(tasks=TASKS):
    """pytest's arguments for the hidden checks of ``tasks``, before the submission's options."""
    return [*(str(HIDDEN_DIR / f"test_{t}.py") for t in tasks), "-q", "-p", "no:cacheprovider", "--no-header",
            "-o", "addopts=", "--rootdir", str(REPO_ROOT)]


class JudgeError(RuntimeError):
    """The hidden checks could not run at all (not a verdict on the submission)."""


@dataclass
class TaskVerdict:
    task: str
    checks: list = field(default_factory=list)

    @property
    def max_points(self):
        return sum(c["points"] for c in self.checks)

    @property
    def points(self):
        return sum(c["points"] for c in self.checks if c["passed"])

    @property
    def failed(self):
        return [c for c in self.checks if not c["passed"]]

    @property
    def mistakes(self):
        return sorted({c["mistake"] for c in self.checks if c["mistake"]})

    def report(self, book_url=""):
        """Plain-text report: one line per check, then what went wrong and where to read up."""
        title = TASK_TITLES.get(self.task, self.task)
        lines = [f"{title}: {self.points:g} / {self.max_points:g} points from the hidden checks"]
        for check in self.checks:
            mark = "✓" if check["passed"] else "✗"
            lines.append(f"  {mark} {check['check'][len('test_'):].replace('_', ' ')} "
                         f"({check['points']:g} point{'s' if check['points'] != 1 else ''})")
        said = {}
        for check in self.failed:
            name = check['check'][len('test_'):].replace('_', ' ')
            lines.append("")
            if check["message"] in said:
                lines.append(f"✗ {name}: for the same reason as '{said[check['message']]}'.")
                continue
            said[check["message"]] = name
            lines.append(f"✗ {name}: {check['message']}")
            if check["mistake"]:
                lines.append(f"  Likely mistake: {COURSE.mistakes[check['mistake']]}. "
                             f"Read: {COURSE.mistake_link(check['mistake'], book_url)}")
        return "\n".join(lines)


def judge(submission, tasks=TASKS, op_timeout=10.0, budget=60.0, python=None, confine=False, server=None):
    """Run the hidden checks of ``tasks`` on the ``source_pkg`` in ``submission``.

    The checks run in a new pytest process, or in a child forked by ``server`` (a
    ``checks_server.ChecksServer``, which must then fail with ChecksServerError to be
    replaced by the caller). Returns {task: TaskVerdict}. Raises JudgeError if the checks
    themselves could not run.
    """
    submission = Path(submission).resolve()
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; known: {', '.join(TASKS)}")
    with tempfile.TemporaryDirectory(prefix="dropout-judge-") as tmp:
        verdict_file = Path(tmp) / "verdict.json"
        args = [*checks_arguments(tasks), "--submission", str(submission), "--verdict-json", str(verdict_file),
                "--op-timeout", str(op_timeout), "--budget", str(budget)] + (["--confine"] if confine else [])
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
        records = json.loads(verdict_file.read_text())
    internal = [r for r in records if r.get("internal_error")]
    if internal:
        raise JudgeError("a hidden check failed for a reason of its own: "
                         + "; ".join(f"{r['nodeid']}: {r['message']}" for r in internal))
    verdicts = {task: TaskVerdict(task) for task in tasks}
    for record in records:
        verdicts[record["task"]].checks.append(record)
    empty = [t for t, v in verdicts.items() if not v.checks]
    if empty:
        raise JudgeError(f"no hidden check ran for task(s) {empty}")
    return verdicts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submission", type=Path, help="folder holding source_pkg")
    parser.add_argument("--task", action="append", choices=TASKS, help="check only this task (repeatable)")
    parser.add_argument("--book-url", default="", help="root URL of the book, for links to the mistakes chapter")
    parser.add_argument("--json", action="store_true", help="print the records as JSON")
    parser.add_argument("--confine", action="store_true", help="run student code in a bubblewrap sandbox")
    args = parser.parse_args(argv)
    if not args.submission.is_dir():
        parser.error(f"{args.submission} is not a folder")
    verdicts = judge(args.submission, tuple(args.task or TASKS), confine=args.confine)
    if args.json:
        print(json.dumps({t: v.checks for t, v in verdicts.items()}, indent=1))
    else:
        print("\n\n".join(v.report(args.book_url) for v in verdicts.values()))
        total = sum(v.points for v in verdicts.values())
        print(f"\nTotal: {total:g} / {sum(v.max_points for v in verdicts.values()):g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
