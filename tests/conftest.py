"""What the project's tests share: the hidden checks' plugin, and one way to build a course root
with a class of submissions, grade it with the class command and reach a local server.

Test modules import the helpers (``from conftest import LIMITS, make_class``): pytest has
already imported this file under that name.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from coursekit import classroom
from coursekit.manifest import COURSE
from coursekit.paths import REPO_ROOT
from coursekit.sandbox_privacy import etc_copies_folder

# The hidden checks' options and markers, for the project's suite and for the judge alike.
pytest_plugins = ["coursekit.grading.pytest_plugin"]

CATALOGUE = classroom.load_catalogue()
# The tests' limits (seconds per notebook cell, per call of the checks, for all calls of one
# task): short, so that a hanging submission costs seconds. The course's are [limits] of course.toml.
LIMITS = dict(cell_timeout=5, op_timeout=2.0, budget=15.0)
CHECKS_LIMITS = {key: LIMITS[key] for key in ("op_timeout", "budget")}  # what the judge takes


def make_class(root: Path, students: dict[str, str], config: str = "", **limits: float) -> Path:
    """A released course at ``root`` (the repository's config with LIMITS, overridden by
    ``limits``, then the lines of ``config``) and a submission per student: {student: the name
    of a variant of the fault catalogue}."""
    root = classroom.make_course(root, **{**LIMITS, **limits})
    if config:
        with open(root / "nbgrader_config.py", "a") as file:
            file.write(config.rstrip("\n") + "\n")
    classroom.release_course(root)
    for student, variant in students.items():
        classroom.submit(root, student, CATALOGUE.BY_NAME[variant])
    return root


def classgrade(root: Path, *args: str, assignment: str = "dropout", timeout: float = 900,
               background: bool = False) -> subprocess.CompletedProcess | subprocess.Popen:
    """The class command as an instructor runs it, from the repository, on ``assignment`` of the
    course root; the finished process, or (``background``) the running one."""
    command = [sys.executable, "-m", "coursekit.classgrade", COURSE.assignment_named(assignment).name, "--course-root", str(root),
               "--progress", "lines", *args]
    if background:
        return subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


ETC_COPIES_EXISTED = pytest.StashKey[bool]()


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the session that starts pytest-xdist's workers, or the only one
        config.stash[ETC_COPIES_EXISTED] = etc_copies_folder().exists()


def pytest_unconfigure(config: pytest.Config) -> None:
    """The sandbox's copies of /etc that this session's grading made go with it."""
    if not config.stash.get(ETC_COPIES_EXISTED, True):
        shutil.rmtree(etc_copies_folder(), ignore_errors=True)
