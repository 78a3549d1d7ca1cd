"""Pytest plugin of the hidden checks: the submission to check, task markers, the verdict file.

Which module of checks grades which task comes from the course manifest (``COURSE``: each
task's folder holds ``test_<id>.py``); every check in it carries the marker of its task (so ``pytest -m
dropout_forward`` runs one task) and ``points(n)``, and a module's points must add up to its
task's points in the manifest.

Options: ``--submission DIR`` (a folder holding the course's package; default: the repository,
i.e. the instructor edition), ``--verdict-json FILE`` (the ``Verdict`` of the checks that ran,
see ``verdict.py``), ``--op-timeout`` and ``--budget`` (seconds for student calls), ``--confine``,
``--scratch DIR`` (where the runner's folder is made).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any, Generator

import pytest

from ..limits import LIMITS
from ..manifest import COURSE
from ..paths import REPO_ROOT
from .checks import CheckFailure
from .client import OpFailed
from .serving import close_runner
from .verdict import CheckResult, Verdict


# The hidden checks' options, one submission's run: (flag, argparse keywords).
OPTIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("--submission", {"default": str(REPO_ROOT),
                      "help": f"folder holding the {COURSE.package} to check (default: the instructor edition)"}),
    ("--verdict-json", {"default": None, "help": "write the verdict of the hidden checks to this file"}),
    ("--op-timeout", {"type": float, "default": LIMITS.call_seconds,
                      "help": "seconds one call of student code may take"}),
    ("--budget", {"type": float, "default": LIMITS.task_checks_seconds,
                  "help": "seconds all calls of one task may take"}),
    ("--confine", {"action": "store_true", "help": "run student code in a bubblewrap sandbox (coursekit/sandbox.py)"}),
    ("--scratch", {"default": None, "help": "folder in which the runner's folder is made (default: /dev/shm if it "
                                            "has room, else the temporary folder)"}),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    """The hidden checks' options."""
    group = parser.getgroup("hidden checks")
    for flag, keywords in OPTIONS:
        group.addoption(flag, **keywords)


def pytest_configure(config: pytest.Config) -> None:
    """Register the points marker and one marker per task of the manifest."""
    config.addinivalue_line("markers", "points(n): the check is worth n points of its task")
    for task in COURSE.tasks:
        config.addinivalue_line("markers", f"{task.id}: hidden checks of the task {task.title}")
    config._hidden_checks = []


def task_of(item: pytest.Item) -> str | None:
    """The task whose hidden checks ``item`` belongs to, or None for any other test."""
    return _task_of_file(str(item.path))


@lru_cache(maxsize=None)
def _task_of_file(path: str) -> str | None:
    return COURSE.task_of_checks(Path(path))


def module_points(module: ModuleType) -> float:
    """The sum of the @points markers of every check a module of hidden checks defines."""
    total = 0.0
    for name, function in vars(module).items():
        if name.startswith("test_") and callable(function):
            marks = [mark for mark in getattr(function, "pytestmark", []) if mark.name == "points"]
            if len(marks) != 1:
                raise pytest.UsageError(f"{module.__file__}: the hidden check {name} needs exactly one @points(n)")
            total += float(marks[0].args[0])
    return total


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each hidden check with its task; refuse a module whose points disagree with the manifest."""
    checked = set()
    for item in items:
        task = task_of(item)
        if task is None:
            continue
        if item.get_closest_marker("points") is None:
            raise pytest.UsageError(f"{item.nodeid}: a hidden check needs @points(n)")
        item.add_marker(getattr(pytest.mark, task))
        module = item.module
        if module.__name__ not in checked:
            checked.add(module.__name__)
            total, expected = module_points(module), COURSE.task(task).points
            if abs(total - expected) > 1e-9:
                raise pytest.UsageError(
                    f"{module.__file__}: the checks of task {task} add up to {total:g} points, but the course "
                    f"manifest gives {task} {expected:g} points")


@pytest.fixture(scope="session")
def submission(request: pytest.FixtureRequest) -> Path:
    """The folder holding the package to check."""
    return Path(request.config.getoption("--submission")).resolve()


@pytest.fixture(scope="session")
def runner_limits(request: pytest.FixtureRequest) -> dict:
    """The keyword arguments of ``client.run_plan`` that limit and confine student code."""
    return {"op_timeout": request.config.getoption("--op-timeout"),
            "budget": request.config.getoption("--budget"),
            "confine": request.config.getoption("--confine"),
            "scratch": request.config.getoption("--scratch")}


def check_result(task: str, item: pytest.Item, report: pytest.TestReport,
                 exc: BaseException | None) -> CheckResult:
    """The outcome of one hidden check, from its pytest report and the exception that failed it."""
    fields = {"task": task, "check": item.name, "points": float(item.get_closest_marker("points").args[0]),
              "passed": report.passed}
    if report.passed:
        return CheckResult(**fields)
    if isinstance(exc, CheckFailure):
        return CheckResult(**fields, message=str(exc), mistake=exc.mistake, **_student_place(exc.where))
    if isinstance(exc, OpFailed):
        return CheckResult(**fields, message=f"Could not be checked: {exc}", student_code=exc.status,
                           **_student_place(exc.where))
    return CheckResult(**fields, message=(f"The check itself failed ({type(exc).__name__}: {exc}); "
                                          "please tell the course staff."), internal_error=True)


def _student_place(where: dict | None) -> dict[str, Any]:
    """The student's file, line and source line a failure points at (empty when unknown)."""
    where = where or {}
    return {"student_file": str(where.get("file") or ""), "student_line": _line_number(where.get("line")),
            "student_source": str(where.get("source") or "")}


def _line_number(line: object) -> int:
    """The line of the student's code a failure points at; 0 when unknown."""
    try:
        return int(line)
    except (TypeError, ValueError):
        return 0


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Generator[None, Any, None]:
    """Record the outcome of each hidden check (its call, or a setup that failed)."""
    outcome = yield
    report = outcome.get_result()
    task = task_of(item)
    if task is None or report.when != "call" and not (report.when == "setup" and report.failed):
        return
    exc = call.excinfo.value if call.excinfo else None
    item.config._hidden_checks.append(check_result(task, item, report, exc))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop the submission's serving runner; write the verdict file, tasks in the manifest's order."""
    close_runner()
    path = session.config.getoption("--verdict-json")
    if path:
        checks = session.config._hidden_checks
        ran = {check.task for check in checks}
        verdict = Verdict.from_checks(checks, tuple(t for t in COURSE.task_ids if t in ran))
        verdict.save(Path(path))
