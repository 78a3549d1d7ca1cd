"""nbgrader's pre/post convert hooks, set on the command line of each worker's nbgrader.

They append one JSON line per student to the file named by ``COURSEKIT_CLASSGRADE_EVENTS``:
``{"event": "started"|"finished", "notebooks": [...submitted notebook paths...], "time": ...}``.
nbgrader calls the pre-convert hook once it has decided to grade a submission and the
post-convert hook once the submission is fully graded (grades committed, autograded folder
written, permissions set); a submission that fails calls no post-convert hook. The
grader (``job.py``, and ``recovery.py`` after a crash) reads them with
``read_events`` and maps the paths back to the student.

This module is imported by nbgrader processes: keep it to the standard library.
"""

from __future__ import annotations

import json
import os
import time

EVENTS_ENV = "COURSEKIT_CLASSGRADE_EVENTS"


def read_events(path: str, offset: int = 0) -> tuple[list[dict], int]:
    """The complete event lines of ``path`` from byte ``offset`` on, and the offset after them:
    ([{"event": ..., "notebooks": [...], "time": ...}, ...], new offset). A line still being
    written is left for the next read; a malformed one is skipped."""
    with open(path, "rb") as file:
        file.seek(offset)
        data = file.read()
    complete = data[:data.rfind(b"\n") + 1]
    events = []
    for line in complete.decode("utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and isinstance(event.get("notebooks"), list) and "event" in event:
            events.append(event)
    return events, offset + len(complete)


def _record(event: str, notebooks: list | None) -> None:
    path = os.environ.get(EVENTS_ENV)
    if not path:
        return
    line = json.dumps({"event": event, "notebooks": [str(n) for n in notebooks or ()],
                       "time": time.time(), "pid": os.getpid()})
    # One write of one short line to a file opened for appending: never interleaved.
    with open(path, "a", encoding="utf-8") as file:
        file.write(line + "\n")
        file.flush()
        os.fsync(file.fileno())


def started(assignment: str | None = None, student: str | None = None, notebooks: list | None = None,
            **_: object) -> None:
    """nbgrader's pre-convert hook: a submission's grading starts."""
    _record("started", notebooks)


def finished(assignment: str | None = None, student: str | None = None, notebooks: list | None = None,
             **_: object) -> None:
    """nbgrader's post-convert hook: a submission is fully graded."""
    _record("finished", notebooks)
