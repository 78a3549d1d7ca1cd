"""The class as nbgrader sees it: its folders, its submissions, and which of them need grading.

Settings come from ``coursekit.course_settings.read_settings`` (nbgrader's own configuration
loading), so ``db_url``, ``course_id``, the folder layout and the files students hand in
(``Autograde.exclude_overwriting``) are exactly those ``nbgrader autograde`` uses.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..course_settings import read_settings
from ..grading.verdict import Verdict, VerdictError, verdict_path


@dataclass
class Course:
    """One assignment of a course root, with nbgrader's folder layout."""

    root: Path
    assignment: str
    course_id: str
    db_url: str
    coursedir: Any = field(repr=False)  # nbgrader's CourseDirectory
    student_files: tuple[str, ...] = ()  # c.Autograde.exclude_overwriting[assignment]: what students hand in
    notebooks: tuple[str, ...] = ()  # the assignment's notebooks, from the gradebook
    _by_folder: dict[Path, str] = field(default_factory=dict, init=False, repr=False)

    def folder(self, step: str, student: str) -> Path:
        """``submitted`` or ``autograded`` folder of ``student``'s submission."""
        directory = {"submitted": self.coursedir.submitted_directory,
                     "autograded": self.coursedir.autograded_directory}[step]
        return Path(self.coursedir.format_path(directory, student, self.assignment))

    def students(self, pattern: str = "*") -> list[str]:
        """Student ids with a submission folder of the assignment, sorted; ``pattern`` is a glob
        on the id, as nbgrader's ``--student``."""
        regexp = re.compile(self.coursedir.format_path(
            self.coursedir.submitted_directory, "(?P<student_id>[^/]+)", re.escape(self.assignment), escape=True) + "$")
        found = []
        for path in glob.glob(str(self.folder("submitted", pattern))):
            match = regexp.match(os.path.normpath(path))
            if match and os.path.isdir(path):
                found.append(match["student_id"])
        return sorted(found)

    def student_of(self, notebooks: Iterable[str]) -> str | None:
        """The student whose submitted folder holds one of ``notebooks`` (paths), or None."""
        for notebook in notebooks:
            folder = Path(notebook).resolve().parent
            if folder not in self._by_folder:
                self._by_folder = {self.folder("submitted", s).resolve(): s for s in self.students()}
            student = self._by_folder.get(folder)
            if student is not None:
                return student
        return None


def load_course(course_root: Path, assignment: str) -> Course:
    """The course in ``course_root`` for ``assignment``; FileNotFoundError if it is no course root."""
    settings = read_settings(course_root, assignment)
    exclude = settings.config.get("Autograde", {}).get("exclude_overwriting", {})
    return Course(root=settings.root, assignment=assignment, course_id=settings.course_id,
                  db_url=settings.db_url, coursedir=settings.coursedir,
                  student_files=tuple(exclude.get(assignment, ())))


def _files(folder: Path) -> list[Path]:
    return [path for path in Path(folder).rglob("*") if path.is_file() and "__pycache__" not in path.parts]


def newest_mtime(folder: Path) -> float:
    """Modification time of the newest file in ``folder`` (0 if none)."""
    return max((path.stat().st_mtime for path in _files(folder)), default=0.0)


def missing_files(course: Course, student: str) -> tuple[str, ...]:
    """Files a submission should hold and does not: the assignment's notebooks and the files
    students hand in (``exclude_overwriting``), with a whole missing folder named once."""
    folder = course.folder("submitted", student)
    missing = [f"{name}.ipynb" for name in course.notebooks if not (folder / f"{name}.ipynb").is_file()]
    absent = [name for name in course.student_files if not (folder / name).exists()]
    tops: dict[str, list[str]] = {}
    for name in absent:
        tops.setdefault(Path(name).parts[0], []).append(name)
    for top, names in tops.items():
        listed = [name for name in course.student_files if Path(name).parts[0] == top]
        if len(names) > 1 and names == listed and not (folder / top).exists():
            missing.append(f"{top}/")
        else:
            missing.extend(names)
    return tuple(missing)


def has_notebook(course: Course, student: str) -> bool:
    """Whether the submission holds at least one of the assignment's notebooks."""
    folder = course.folder("submitted", student)
    return any((folder / f"{name}.ipynb").is_file() for name in course.notebooks)


def verdicts(course: Course, student: str) -> dict[str, Verdict]:
    """{notebook: Verdict} saved beside the autograded notebooks (unreadable ones left out)."""
    folder = course.folder("autograded", student)
    found = {}
    for name in course.notebooks:
        path = verdict_path(folder, name)
        if path.is_file():
            try:
                found[name] = Verdict.load(path)
            except VerdictError:
                continue
    return found


def grading_reason(course: Course, student: str, in_gradebook: bool, force: bool = False) -> str | None:
    """Why ``student``'s submission must be (re)graded, or None when its grade is up to date.

    Up to date: every submitted notebook has its autograded notebook and verdict, the
    gradebook holds the submission, and nothing in the submission is newer than the
    autograded notebook (file times, and nbgrader's timestamp.txt when both have one).
    """
    if force:
        return "forced"
    submitted, autograded = course.folder("submitted", student), course.folder("autograded", student)
    present = [name for name in course.notebooks if (submitted / f"{name}.ipynb").is_file()]
    graded = [autograded / f"{name}.ipynb" for name in present]
    if not all(path.is_file() for path in graded):
        return "new"
    if not all(verdict_path(autograded, name).is_file() for name in present):
        return "no verdict"
    if not in_gradebook:
        return "not in the gradebook"
    if newest_mtime(submitted) > min(path.stat().st_mtime for path in graded):
        return "newer submission"
    timestamps = [course.coursedir.get_existing_timestamp(str(folder)) for folder in (submitted, autograded)]
    if None not in timestamps and timestamps[0] > timestamps[1]:
        return "newer timestamp.txt"
    return None
