"""Formgrader's Autograde button without freezing the Jupyter server.

nbgrader 0.9's ``AutogradeHandler.post`` grades on the server's event loop, so while one
submission grades (a hanging notebook: up to ``formgrader_notebook_seconds`` of [limits], plus the hidden checks) the
server answers nothing else: no page, no API call, no other user's request. ``install``
replaces that method with one that grades in a worker thread and awaits it.

Grading runs one submission at a time (a single worker thread), on its own copy of the course
directory: nbgrader's API sets the assignment and student on the shared ``CourseDirectory``
while it grades (``temp_attrs``), which a request served meanwhile would otherwise see or undo.
``assignments/nbgrader_config.py`` calls ``install`` when it is loaded inside a Jupyter server
(formgrader loads it for every API request; installing twice changes nothing).
"""

from __future__ import annotations

import json
import re
import textwrap
from concurrent.futures import ThreadPoolExecutor

GRADING_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="formgrader-autograde")


def _grade(handler, assignment_id: str, student_id: str):
    """Build the Autograde run on the event loop (config, copies); return a callable for the thread."""
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    api = handler.api  # loads the course config, as formgrader does for every request
    coursedir = CourseDirectory(config=api.coursedir.config, parent=api.coursedir.parent)
    coursedir.root = api.coursedir.root
    coursedir.assignment_id, coursedir.student_id = assignment_id, student_id
    app = Autograde(coursedir=coursedir, parent=api)
    app.force, app.create_student = True, True
    return lambda: capture_log(app)


REASON_WIDTH = 70
# The last line of a traceback in the log (nbgrader indents tracebacks by four spaces).
EXCEPTION_LINE = re.compile(r"^\s*(\w+\.)*\w+(Error|Exception|Unavailable|Exit): ")


def errors_first(result: dict) -> dict:
    """A failed run's reason (the exception that ended it, why grading refused, say) moved to
    the top of its log.

    formgrader's dialog shows a fixed headline ("There was an error autograding ...") and the
    log below it, where the reason would otherwise sit under dozens of copying and debug lines;
    nbgrader's own closing NbGraderException ("Please see the above traceback") says nothing.
    """
    if result.get("success") or not result.get("log"):
        return result
    lines = result["log"].splitlines()
    reasons = []
    for index, line in enumerate(lines):
        if EXCEPTION_LINE.match(line) and not line.strip().startswith(("nbgrader.", "NbGraderException")):
            following = [line.strip()]
            for more in lines[index + 1:]:
                if not more.strip() or more.strip().startswith(("[", "Traceback", "File ")):
                    break
                following.append(more.strip())
            # wrapped: the dialog's log panel is about 70 characters wide and does not wrap
            reasons.append(textwrap.fill(" ".join(following), REASON_WIDTH, break_on_hyphens=False))
    if not reasons:
        return result
    return {**result, "log": "\n".join([*dict.fromkeys(reasons), "", *lines])}


def install() -> bool:
    """Make formgrader's Autograde handler grade off the event loop; True if it was replaced now."""
    from nbgrader.server_extensions.formgrader import apihandlers
    from nbgrader.server_extensions.formgrader.base import check_notebook_dir, check_xsrf
    from tornado import web
    from tornado.ioloop import IOLoop

    handler_class = apihandlers.AutogradeHandler
    if getattr(handler_class.post, "off_event_loop", False):
        return False

    @web.authenticated
    @check_xsrf
    @check_notebook_dir
    async def post(self, assignment_id: str, student_id: str) -> None:
        run = _grade(self, assignment_id, student_id)
        result = await IOLoop.current().run_in_executor(GRADING_THREAD, run)
        self.write(json.dumps(errors_first(result)))

    post.off_event_loop = True
    handler_class.post = post
    return True
