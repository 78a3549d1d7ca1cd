"""nbgrader's pre/post convert hooks, set on the command line of each worker's nbgrader.

They append one JSON line per student to the file named by ``COURSEKIT_CLASSGRADE_EVENTS``:
``{"event": "started"|"finished", "notebooks": [...submitted notebook paths...], "time": ...}``.
nbgrader calls the pre-convert hook once it has decided to grade a submission and the
post-convert hook once the submission is fully graded (grades committed, autograded folder
written, permissions set); a submission that fails calls no post-convert hook. The
coordinator (``grader.py``) maps the paths back to the student.

This module is imported by nbgrader processes: keep it to the standard library.
"""

import json
import os
import time

EVENTS_ENV = "COURSEKIT_CLASSGRADE_EVENTS"


def _record(event, notebooks):
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


def started(assignment=None, student=None, notebooks=None, **_):
    _record("started", notebooks)


def finished(assignment=None, student=None, notebooks=None, **_):
    _record("finished", notebooks)
