"""The limits on student code (``[limits]`` of ``coursekit/course.toml``), read and checked once.

They apply to every process that runs student code, the notebook's kernel and the hidden
checks' runner, on every route (plain nbgrader, formgrader, the class command, any worker that
grades from this repository), because each of those starts student code through
``coursekit/sandbox.py``, which applies them:

- ``memory``: the address space of each such process (RLIMIT_AS); an allocation past it raises
  ``MemoryError`` in the student's code;
- ``processes``: processes and threads of one sandbox together, through a pids cgroup where the
  machine lets grading create one (``coursekit/cgroups.py``), and RLIMIT_NPROC inside the
  sandbox (which Linux does not enforce for root); a fork past it raises ``BlockingIOError``;
- ``file_size``: the largest file student code may write (RLIMIT_FSIZE); a write past it raises
  ``OSError`` (errno EFBIG);
- ``notebook_seconds`` and ``checks_seconds``: the wall time of a submission's notebook (all its
  cells) and of its hidden checks (all their calls of student code), the whole submission's
  time being at most their sum; ``checks_seconds`` is shared equally by the tasks
  (``task_checks_seconds``);
- ``cell_seconds``: one cell of the notebook (nbgrader's ``Execute.timeout``);
- ``call_seconds``: one call of student code by the hidden checks (a call that hangs);
- ``formgrader_notebook_seconds``: all cells of a notebook when formgrader's Autograde button
  grades inside the Jupyter server, which waits meanwhile.

``SHORT`` are the short limits the demo (and the project's tests) grade a class with, so that a
hanging submission costs seconds; they are never the course's.

``reason`` turns what student code raised into the sentence an instructor reads ("used more
than 2 GiB of memory"), in the hidden checks (``reasons_in`` finds it in a verdict's messages)
and in the notebook's own cells (the verdict's ``notebook_limits``); ``notebook_time_reason``
names a notebook that used up its time ("used up its 600 s").
"""

from __future__ import annotations

import errno
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .manifest import COURSE, ManifestError
from .paths import MANIFEST_FILE

SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(MiB|GiB)\s*$")
UNITS = {"MiB": 1024**2, "GiB": 1024**3}
KEYS = ("memory", "processes", "file_size", "notebook_seconds", "checks_seconds", "cell_seconds", "call_seconds",
        "formgrader_notebook_seconds")
SECONDS = ("notebook_seconds", "checks_seconds", "call_seconds", "formgrader_notebook_seconds")
DEFAULTS = {"memory": "2 GiB", "processes": 64, "file_size": "256 MiB", "notebook_seconds": 600,
            "checks_seconds": 180, "cell_seconds": 120, "call_seconds": 10, "formgrader_notebook_seconds": 30}
# The least each limit may be: below these a correct submission cannot run at all.
FLOORS = {"memory": 512 * 1024**2, "processes": 16, "file_size": 1024**2, "notebook_seconds": 5,
          "checks_seconds": 5, "cell_seconds": 5, "call_seconds": 1, "formgrader_notebook_seconds": 5}
# The demo's: nbgrader's per-cell timeout, one call of the checks, all calls of one task (classroom.make_course).
SHORT = {"cell_timeout": 10, "op_timeout": 3.0, "budget": 20.0}


class LimitsError(ManifestError):
    """A value of [limits] cannot be used; the message names the file, the key and the value."""


def _size_text(size: int) -> str:
    for unit in ("GiB", "MiB"):
        if size % UNITS[unit] == 0:
            return f"{size // UNITS[unit]} {unit}"
    return f"{size / UNITS['MiB']:.1f} MiB"


@dataclass(frozen=True)
class Limits:
    """What one submission's student code may use."""

    memory: int  # bytes of address space per process
    processes: int  # processes and threads per sandbox
    file_size: int  # bytes per written file
    notebook_seconds: float  # all cells of one notebook together
    checks_seconds: float  # all the hidden checks' calls of student code, per submission
    cell_seconds: int  # one cell of the notebook (nbgrader's Execute.timeout, whole seconds)
    call_seconds: float  # one call of student code by the hidden checks
    formgrader_notebook_seconds: float  # all cells of one notebook, graded inside formgrader's server

    @property
    def task_checks_seconds(self) -> float:
        """Each task's equal share of ``checks_seconds`` among the tasks of the largest assignment:
        all the calls of one task's checks."""
        return self.checks_seconds / max(len(assignment.tasks) for assignment in COURSE.assignments)

    @property
    def memory_text(self) -> str:
        return _size_text(self.memory)

    @property
    def file_size_text(self) -> str:
        return _size_text(self.file_size)

    def prlimit_command(self) -> list[str]:
        """``prlimit`` (util-linux) with these limits, to put before a command inside the sandbox.

        Set inside the sandbox's user namespace rather than before bwrap starts, RLIMIT_NPROC
        counts the sandbox's own processes (Linux 5.14+ counts it per user namespace), not
        every process of the grading user on the machine.
        """
        return ["prlimit", f"--as={self.memory}", f"--fsize={self.file_size}", f"--nproc={self.processes}", "--"]

    def apply_here(self) -> None:
        """Set the memory and file-size limits on the calling process (for what runs unconfined, and
        for bwrap itself). Not RLIMIT_NPROC: outside a user namespace it counts the whole user."""
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (self.memory, self.memory))
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.file_size, self.file_size))

    def reason(self, error_type: str, message: str) -> str | None:
        """The limit that ``error_type: message`` (raised by student code) says was hit, in words."""
        if error_type == "MemoryError":
            return f"used more than {self.memory_text} of memory"
        if error_type in ("OSError", "IOError") and (f"[Errno {errno.EFBIG}]" in message or "File too large" in message):
            return f"wrote a file larger than {self.file_size_text}"
        if error_type in ("BlockingIOError", "OSError", "RuntimeError") and (
                f"[Errno {errno.EAGAIN}]" in message or "can't start new thread" in message):
            return f"started more than {self.processes} processes"
        return None

    def notebook_time_reason(self, seconds: float = 0.0) -> str:
        """Why a notebook was stopped before its end: it used up ``seconds`` (the budget grading
        ran it with; by default ``notebook_seconds``) for all its cells."""
        return f"used up its {seconds or self.notebook_seconds:g} s"

    def sentences(self) -> tuple[str, ...]:
        """Every reason ``reason`` gives, for finding them in a verdict's messages. (Checks past
        their time are named as timed out by the checks.)"""
        return (f"used more than {self.memory_text} of memory", f"wrote a file larger than {self.file_size_text}",
                f"started more than {self.processes} processes")

    def reasons_in(self, texts: list[str]) -> list[str]:
        """The reasons (of ``sentences``) that appear in ``texts``, each once, in this order."""
        return [sentence for sentence in self.sentences() if any(sentence in text for text in texts)]


def _fail(path: Path, key: str, value: object, problem: str) -> LimitsError:
    return LimitsError(f"{path}: [limits].{key} = {value!r}: {problem}")


def _size(path: Path, key: str, value: object) -> int:
    match = SIZE.match(value) if isinstance(value, str) else None
    if match is None:
        raise _fail(path, key, value, 'expected a size such as "2 GiB" or "256 MiB"')
    return int(float(match.group(1)) * UNITS[match.group(2)])


def _number(path: Path, key: str, value: object, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        raise _fail(path, key, value, "expected a whole number" if integer else "expected a number of seconds")
    return value


def parse(table: object, path: Path = MANIFEST_FILE) -> Limits:
    """The limits of a ``[limits]`` table (missing keys take DEFAULTS); LimitsError if unusable."""
    if table is None:
        table = {}
    if not isinstance(table, dict):
        raise LimitsError(f"{path}: [limits] = {table!r}: expected a table")
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise LimitsError(f"{path}: [limits] has unknown key(s) {', '.join(unknown)}; known: {', '.join(KEYS)}")
    raw = {**DEFAULTS, **table}
    values = {"memory": _size(path, "memory", raw["memory"]),
              "processes": int(_number(path, "processes", raw["processes"], integer=True)),
              "file_size": _size(path, "file_size", raw["file_size"]),
              "cell_seconds": int(_number(path, "cell_seconds", raw["cell_seconds"], integer=True)),
              **{key: float(_number(path, key, raw[key])) for key in SECONDS}}
    for key, value in values.items():
        if value < FLOORS[key]:
            floor = _size_text(FLOORS[key]) if key in ("memory", "file_size") else f"{FLOORS[key]:g}"
            raise _fail(path, key, raw[key], f"must be at least {floor}: a correct submission needs that much")
    return Limits(**values)


def load(path: Path = MANIFEST_FILE) -> Limits:
    """The limits of the course manifest at ``path``."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise LimitsError(f"{path}: cannot read the course's limits: {error}") from error
    return parse(data.get("limits"), path)


LIMITS = load()
