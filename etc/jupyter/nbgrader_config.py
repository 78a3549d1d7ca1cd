"""Installed as {sys.prefix}/etc/jupyter/nbgrader_config.py (pyproject.toml's data-files).

nbgrader reads this file before the course root's nbgrader_config.py. traitlets logs an
exception raised by a config file and goes on with its defaults: for this course that means
grading as stock nbgrader (no sandbox, no hidden checks) with exit 0. This file turns that log
record into a stop: nbgrader prints the file, the line and the error and exits 2. It imports
nothing of the course, so it works when the course's own config cannot even be compiled.
"""

import logging
import sys
import traceback


class StopOnBrokenConfig(logging.Filter):
    """Ends nbgrader when traitlets reports a config file that raised."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Exception while loading config file") or not record.exc_info:
            return True
        error = record.exc_info[1]
        path = str(record.args[0]) if record.args else "nbgrader_config.py"
        line = getattr(error, "lineno", None) if isinstance(error, SyntaxError) else None
        if line is None:
            frames = [f for f in traceback.extract_tb(record.exc_info[2]) if f.filename == path]
            line = frames[-1].lineno if frames else "?"
        text = error.msg if isinstance(error, SyntaxError) else error
        print(f"nbgrader: {path}, line {line}: {type(error).__name__}: {text}\n"
              "nbgrader stops: without the course's settings it would grade as stock nbgrader "
              "(no sandbox, no hidden checks). Fix that line and run the command again.", file=sys.stderr)
        raise SystemExit(2)


def _install() -> None:
    from nbgrader.apps.baseapp import NbGrader
    from traitlets.config import Application

    app = Application.instance() if Application.initialized() else None
    log = getattr(app, "log", None)
    if isinstance(app, NbGrader) and isinstance(log, logging.Logger):
        if not any(isinstance(f, StopOnBrokenConfig) for f in log.filters):
            log.addFilter(StopOnBrokenConfig())


_install()
