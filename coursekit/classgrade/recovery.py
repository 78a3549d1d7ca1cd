"""Merge the grades a class run left behind when it died without cleaning up.

A run keeps its scratch gradebooks (``w<slot>.db``) and its event files
(``w<slot>-b<batch>.events``) in ``<report dir>/.work/run-<pid>-<time>/``, holding an exclusive
lock on its ``lock`` file while it runs. A folder whose lock can be taken belongs to a run that
is gone: every submission its workers reported finished (and whose verdicts are on disk) is
merged into the course's gradebook, then the folder is removed.
"""

from __future__ import annotations

import fcntl
import shutil
from pathlib import Path

from .. import gradebook as gradebooks
from . import hooks, submissions
from .submissions import Course


def recover(course: Course, work_root: Path) -> list[str]:
    """Merge what dead runs under ``work_root`` had finished; returns their students, sorted."""
    run_dirs = sorted(Path(work_root).glob("run-*"))
    if not run_dirs:
        return []
    recovered: list[str] = []
    with gradebooks.Gradebook(course.db_url, course.course_id) as target:
        for run_dir in run_dirs:
            recovered.extend(_recover_run(course, run_dir, target))
    return sorted(set(recovered))


def _recover_run(course: Course, run_dir: Path, target: gradebooks.Gradebook) -> list[str]:
    try:
        lock = open(run_dir / "lock", "a")
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return []  # a run still going on
    recovered = []
    try:
        for events_file in sorted(run_dir.glob("w*-b*.events")):
            database = run_dir / f"{events_file.name.split('-')[0]}.db"
            events, _ = hooks.read_events(events_file)
            for event in events:
                student = course.student_of(event["notebooks"])
                if (event["event"] != "finished" or student is None or not database.exists()
                        or not submissions.verdicts(course, student)):
                    continue
                gradebooks.merge_submission(gradebooks.sqlite_url(database), target, course.course_id,
                                            course.assignment, student)
                recovered.append(student)
    finally:
        lock.close()
    shutil.rmtree(run_dir, ignore_errors=True)
    return recovered
