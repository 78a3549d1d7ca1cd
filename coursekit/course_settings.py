"""A course root's nbgrader settings, read exactly as ``nbgrader`` itself reads them.

The course root's ``nbgrader_config.py`` and the usual Jupyter config folders decide
``db_url``, ``course_id`` and the folder layout; release, class grading and reports all take
them from here, so they see the gradebook nbgrader sees (SQLite or PostgreSQL).

nbgrader itself logs an exception raised by ``nbgrader_config.py`` and goes on with its
defaults; here such a config is an error, so no command works on a gradebook or a setting the
instructor did not choose.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from .paths import REPO_ROOT


class CourseSettingsError(RuntimeError):
    """The course root's nbgrader configuration cannot be used; the message names the file."""


@contextmanager
def working_directory(path: Path) -> Iterator[None]:
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


@dataclass
class CourseSettings:
    root: Path
    course_id: str
    db_url: str
    coursedir: Any = field(repr=False)  # nbgrader's CourseDirectory
    config: Any = field(repr=False)  # the loaded traitlets Config


@contextmanager
def restored_environment() -> Iterator[None]:
    """Run the course's config in this process without keeping what it sets in ``os.environ``."""
    before = dict(os.environ)
    os.environ.setdefault("DROPOUT_COURSE_REPO", str(REPO_ROOT))  # as nbgrader_env gives nbgrader
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(before)


def read_settings(course_root: Path, assignment: str = "") -> CourseSettings:
    """The nbgrader settings of the course in ``course_root``.

    FileNotFoundError if it is no course root; CourseSettingsError if its config raises or
    nbgrader rejects a setting.
    """
    from nbgrader.apps.baseapp import NbGrader

    course_root = Path(course_root).resolve()
    config_file = course_root / "nbgrader_config.py"
    if not config_file.is_file():
        raise FileNotFoundError(f"{course_root} is not an nbgrader course root: it has no nbgrader_config.py")
    with working_directory(course_root), restored_environment():
        app = NbGrader(raise_config_file_errors=True)
        try:
            app.initialize([])
        except SystemExit as error:  # nbgrader has logged the setting it rejected
            raise CourseSettingsError(f"{config_file} failed to load or nbgrader rejected a setting of it "
                                      "(its message is above)") from error
        except Exception as error:
            raise CourseSettingsError(f"{config_file} failed to load: {type(error).__name__}: {error}") from error
        coursedir = app.coursedir
        if assignment:
            coursedir.assignment_id = assignment
        return CourseSettings(root=Path(coursedir.root).resolve(), course_id=coursedir.course_id,
                              db_url=coursedir.db_url, coursedir=coursedir, config=app.config)
