"""Pytest plugin of the hidden checks: the submission to check, task markers, the verdict file.

A record's ``student_code`` says how the student's calls went: ok, error (raised),
timeout, crashed (ended its process) or not-run.

Options: ``--submission DIR`` (a folder holding ``source_pkg``; default: the repository, i.e.
the instructor edition), ``--verdict-json FILE`` (one record per check: task, points, passed,
message, mistake), ``--op-timeout`` and ``--budget`` (seconds for student calls).
Each module ``tests/hidden/test_<task>.py`` is one task; its checks carry the marker ``<task>``
(so ``pytest -m dropout_forward`` runs one task) and ``points(n)``.
"""

import json
from pathlib import Path

import pytest

from .checks import CheckFailure
from .client import OpFailed

REPO_ROOT = Path(__file__).resolve().parents[2]
HIDDEN_DIR = REPO_ROOT / "tests" / "hidden"
TASKS = ("dropout_forward", "dropout_backward", "fc_net")


def pytest_addoption(parser):
    group = parser.getgroup("hidden checks")
    group.addoption("--submission", default=str(REPO_ROOT),
                    help="folder holding the source_pkg to check (default: the instructor edition)")
    group.addoption("--verdict-json", default=None, help="write one record per hidden check to this file")
    group.addoption("--op-timeout", type=float, default=10.0, help="seconds one call of student code may take")
    group.addoption("--budget", type=float, default=60.0, help="seconds all calls of one task may take")
    group.addoption("--confine", action="store_true",
                    help="run student code in a bubblewrap sandbox (coursekit/sandbox.py)")


def pytest_configure(config):
    config.addinivalue_line("markers", "points(n): the check is worth n points of its task")
    for task in TASKS:
        config.addinivalue_line("markers", f"{task}: hidden checks of the task {task}")
    config._hidden_records = []


def task_of(item):
    path = Path(str(item.fspath))
    if path.parent != HIDDEN_DIR or not path.stem.startswith("test_"):
        return None
    return path.stem[len("test_"):]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        task = task_of(item)
        if task is None:
            continue
        if task not in TASKS:
            raise pytest.UsageError(f"{item.fspath}: unknown task {task!r}; known: {', '.join(TASKS)}")
        if item.get_closest_marker("points") is None:
            raise pytest.UsageError(f"{item.nodeid}: a hidden check needs @points(n)")
        item.add_marker(getattr(pytest.mark, task))


@pytest.fixture(scope="session")
def submission(request):
    folder = Path(request.config.getoption("--submission")).resolve()
    return folder


@pytest.fixture(scope="session")
def runner_limits(request):
    return {"op_timeout": request.config.getoption("--op-timeout"),
            "budget": request.config.getoption("--budget"),
            "confine": request.config.getoption("--confine")}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    task = task_of(item)
    if task is None or report.when != "call" and not (report.when == "setup" and report.failed):
        return
    record = {"task": task, "check": item.name, "nodeid": item.nodeid,
              "points": float(item.get_closest_marker("points").args[0]),
              "passed": report.passed, "message": "", "mistake": None, "student_code": "ok"}
    if report.failed:
        exc = call.excinfo.value if call.excinfo else None
        if isinstance(exc, CheckFailure):
            record.update(message=str(exc), mistake=exc.mistake)
        elif isinstance(exc, OpFailed):
            record.update(message=f"Could not be checked: {exc}", student_code=exc.status)
        else:
            record["message"] = (f"The check itself failed ({type(exc).__name__}: {exc}); "
                                 "please tell the course staff.")
            record["internal_error"] = True
    item.config._hidden_records.append(record)


def pytest_sessionfinish(session):
    path = session.config.getoption("--verdict-json")
    if path:
        Path(path).write_text(json.dumps(session.config._hidden_records, indent=1))
