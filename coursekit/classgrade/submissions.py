"""The class as nbgrader sees it: course settings, submissions, what needs grading, and how
each graded submission went (graded / crashed / timed out / missing files).

Settings come from nbgrader's own configuration loading (the course root's
``nbgrader_config.py`` and the usual Jupyter config folders), so ``db_url``, ``course_id`` and
the folder layout are exactly those ``nbgrader autograde`` uses.
"""

import glob
import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..grading.nbgrader_plugin import HIDDEN_CHECKS_SUFFIX

GRADED, CRASHED, TIMED_OUT, MISSING, FAILED, INTERRUPTED, NOT_GRADED = (
    "graded", "crashed", "timed out", "missing files", "failed", "interrupted", "not graded")
# Statuses of a submission that holds a grade; the others hold none (never shown as 0).
WITH_GRADE = (GRADED, CRASHED, TIMED_OUT, MISSING)


@contextmanager
def _cwd(path):
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


@dataclass
class Course:
    root: Path
    assignment: str
    course_id: str
    db_url: str
    coursedir: object = field(repr=False)
    student_files: tuple = ()  # c.Autograde.exclude_overwriting[assignment]: what students hand in
    notebooks: tuple = ()  # the assignment's notebooks, from the gradebook

    def folder(self, step, student):
        directory = {"submitted": self.coursedir.submitted_directory,
                     "autograded": self.coursedir.autograded_directory}[step]
        return Path(self.coursedir.format_path(directory, student, self.assignment))

    def students(self, pattern="*"):
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


def load_course(course_root, assignment):
    """The course's nbgrader settings, read the way ``nbgrader autograde`` reads them."""
    from nbgrader.apps.baseapp import NbGrader

    course_root = Path(course_root).resolve()
    if not (course_root / "nbgrader_config.py").is_file():
        raise FileNotFoundError(f"{course_root} is not an nbgrader course root: it has no nbgrader_config.py")
    with _cwd(course_root):
        app = NbGrader()
        app.initialize([])
        coursedir = app.coursedir
        coursedir.assignment_id = assignment
        root = Path(coursedir.root).resolve()
        db_url = coursedir.db_url
        student_files = tuple(app.config.get("Autograde", {}).get("exclude_overwriting", {}).get(assignment, ()))
    return Course(root=root, assignment=assignment, course_id=coursedir.course_id, db_url=db_url,
                  coursedir=coursedir, student_files=student_files)


def _files(folder):
    return [path for path in Path(folder).rglob("*") if path.is_file() and "__pycache__" not in path.parts]


def newest_mtime(folder):
    return max((path.stat().st_mtime for path in _files(folder)), default=0.0)


def missing_files(course, student):
    """Files a submission should hold and does not: the assignment's notebooks and the files
    students hand in (``exclude_overwriting``), with a whole missing folder named once."""
    folder = course.folder("submitted", student)
    missing = [f"{name}.ipynb" for name in course.notebooks if not (folder / f"{name}.ipynb").is_file()]
    absent = [name for name in course.student_files if not (folder / name).exists()]
    tops = {}
    for name in absent:
        top = Path(name).parts[0]
        tops.setdefault(top, []).append(name)
    for top, names in tops.items():
        listed = [name for name in course.student_files if Path(name).parts[0] == top]
        if len(names) > 1 and names == listed and not (folder / top).exists():
            missing.append(f"{top}/")
        else:
            missing.extend(names)
    return missing


def has_notebook(course, student):
    folder = course.folder("submitted", student)
    return any((folder / f"{name}.ipynb").is_file() for name in course.notebooks)


def records(course, student):
    """{notebook: hidden-checks record} written beside the autograded notebooks (may be empty)."""
    folder = course.folder("autograded", student)
    found = {}
    for name in course.notebooks:
        path = folder / f"{name}.{HIDDEN_CHECKS_SUFFIX}"
        if path.is_file():
            try:
                found[name] = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
    return found


def grading_reason(course, student, in_gradebook, force=False):
    """Why ``student``'s submission must be (re)graded, or None when its grade is up to date.

    Up to date: every submitted notebook has its autograded notebook and check records, the
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
    if not all((autograded / f"{name}.{HIDDEN_CHECKS_SUFFIX}").is_file() for name in present):
        return "no check records"
    if not in_gradebook:
        return "not in the gradebook"
    if newest_mtime(submitted) > min(path.stat().st_mtime for path in graded):
        return "newer submission"
    timestamps = [course.coursedir.get_existing_timestamp(str(folder)) for folder in (submitted, autograded)]
    if None not in timestamps and timestamps[0] > timestamps[1]:
        return "newer timestamp.txt"
    return None


def classify(record_by_notebook, missing=()):
    """(status, detail) of a graded submission from its hidden-checks records.

    missing files > crashed (the notebook's kernel died, or student code ended a checker's
    process) > timed out (a cell or a call of student code ran out of time) > graded.
    """
    details = []
    crashed = timed_out = False
    for notebook, record in sorted(record_by_notebook.items()):
        kernel = record.get("kernel", "ok")
        if kernel == "died":
            crashed = True
            details.append(f"{notebook}: the notebook's kernel died")
        elif kernel == "cell-timeout":
            timed_out = True
            details.append(f"{notebook}: a notebook cell ran out of time")
        for task, verdict in sorted(record.get("tasks", {}).items()):
            codes = [check.get("student_code") for check in verdict.get("checks", [])]
            if "crashed" in codes:
                crashed = True
                details.append(f"{task}: student code crashed in {codes.count('crashed')} check(s)")
            if "timeout" in codes:
                timed_out = True
                details.append(f"{task}: student code timed out in {codes.count('timeout')} check(s)")
    if missing:
        return MISSING, "; ".join([f"missing: {', '.join(missing)}", *details])
    if not record_by_notebook:
        return FAILED, "no hidden-checks record beside the autograded notebook"
    if crashed:
        return CRASHED, "; ".join(details)
    if timed_out:
        return TIMED_OUT, "; ".join(details)
    return GRADED, ""
