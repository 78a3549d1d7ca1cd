"""A course root's nbgrader settings, read exactly as ``nbgrader`` itself reads them.

The course root's ``nbgrader_config.py`` and the usual Jupyter config folders decide
``db_url``, ``course_id`` and the folder layout; release, class grading and reports all take
them from here, so they see the gradebook nbgrader sees (SQLite or PostgreSQL).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator


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


def read_settings(course_root: Path, assignment: str = "") -> CourseSettings:
    """The nbgrader settings of the course in ``course_root``; FileNotFoundError if it is none."""
    from nbgrader.apps.baseapp import NbGrader

    course_root = Path(course_root).resolve()
    if not (course_root / "nbgrader_config.py").is_file():
        raise FileNotFoundError(f"{course_root} is not an nbgrader course root: it has no nbgrader_config.py")
    with working_directory(course_root):
        app = NbGrader()
        app.initialize([])
        coursedir = app.coursedir
        if assignment:
            coursedir.assignment_id = assignment
        return CourseSettings(root=Path(coursedir.root).resolve(), course_id=coursedir.course_id,
                              db_url=coursedir.db_url, coursedir=coursedir, config=app.config)
