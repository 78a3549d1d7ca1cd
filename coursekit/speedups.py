"""The one switch that turns off every mechanism that exists only for speed.

``DROPOUT_GRADING_SIMPLE=1`` in the environment (``python -m coursekit.classgrade --simple``
sets it, and passes it on to every nbgrader it starts) makes grading take the plain, readable
path: ``nbgrader autograde`` as a subprocess per batch or submission (no worker server), the
hidden checks in a fresh ``pytest`` process per submission (no checks server, no forked checks,
no prepared pytest configuration), ``python -I runner.py JOB_DIR`` once per plan (no serving
runner), the system's temporary folder (not ``/dev/shm``), no malloc settings, and nbgrader,
jsonschema and pytest as they ship (nothing of ``upstream_changes.py`` applied). Verdicts and
points are the same either way (tests/test_speedups_switch.py).

Standard library only: the worker server's program and the runner's ``python -I`` process may
read it.
"""

import os

SIMPLE_ENV = "DROPOUT_GRADING_SIMPLE"
_TRUE = ("1", "true", "yes", "on")


def speedups_on() -> bool:
    """False when ``DROPOUT_GRADING_SIMPLE`` says to grade the plain way."""
    return os.environ.get(SIMPLE_ENV, "").strip().lower() not in _TRUE


def choose_simple() -> None:
    """Turn the speed-ups off in this process and every process it starts from now on."""
    os.environ[SIMPLE_ENV] = "1"
