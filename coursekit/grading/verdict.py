"""The verdict on a submission: one type, one JSON form, from the checks to the class report.

The hidden checks' pytest plugin writes it, the judge reads it, the nbgrader plugin adds how the
notebook's kernel fared and saves it beside the graded notebook (``<notebook>.verdict.json``),
and the class command, the class report and the feedback read it back with ``Verdict.load``.

JSON form::

    {"notebook": "dropout", "kernel": "ok",
     "tasks": {"dropout_forward": {"checks": [{"task": ..., "check": ..., "points": 3.0,
               "passed": false, "message": ..., "mistake": "keep-drop-swapped",
               "student_code": "ok"}, ...]}, ...}}

and, only when they apply, ``"notebook_seconds": 600`` (the time the notebook used up, with
kernel "notebook-time"), ``"notebook_limits": ["used more than 2 GiB of memory"]`` (the
course's limits the notebook's own cells hit) and ``"kernel_exit": "killed by signal SIGABRT"``
(how a kernel that died ended). Files without them (older ones) load unchanged.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

# How the student's calls went in a check: ok, raised, stopped after its time limit, ended its
# process, or not run (an earlier call failed, or the time budget ran out).
STUDENT_CODE = ("ok", "error", "timeout", "crashed", "not-run")
# How autograde's run of the notebook ended: ran to the end, was not run, its kernel died, a cell
# ran past its own timeout, or the notebook used up its whole time (ResilientExecute.budget).
KERNEL = ("ok", "not run", "died", "cell-timeout", "notebook-time")
VERDICT_SUFFIX = "verdict.json"


class VerdictError(ValueError):
    """A verdict file or record is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one hidden check."""

    task: str
    check: str  # the check's function name, test_...
    points: float
    passed: bool
    message: str = ""
    mistake: str | None = None
    student_code: str = "ok"
    internal_error: bool = False  # the check itself broke: not a verdict on the submission
    # Where the student's code broke, when it raised: the file (relative to the submission),
    # the line number and the source line of the last frame inside the package. Optional.
    student_file: str = ""
    student_line: int = 0
    student_source: str = ""

    @property
    def name(self) -> str:
        """The check's name in words: ``test_input_not_modified`` -> ``input not modified``."""
        return self.check.removeprefix("test_").replace("_", " ")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, source: str = "a verdict") -> CheckResult:
        names = {f.name for f in fields(cls)}
        missing = {"task", "check", "points", "passed"} - set(data)
        if not isinstance(data, dict) or missing:
            raise VerdictError(f"{source}: a check record lacks {', '.join(sorted(missing)) or 'everything'}")
        unknown = set(data) - names
        if unknown:
            raise VerdictError(f"{source}: a check record has unknown field(s) {', '.join(sorted(unknown))}")
        result = cls(**data)
        if result.student_code not in STUDENT_CODE:
            raise VerdictError(f"{source}: check {result.check}: student_code {result.student_code!r} is not "
                               f"one of {', '.join(STUDENT_CODE)}")
        return result


@dataclass
class TaskVerdict:
    """The checks of one task and what they add up to."""

    task: str
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def max_points(self) -> float:
        return sum(check.points for check in self.checks)

    @property
    def points(self) -> float:
        return sum(check.points for check in self.checks if check.passed)

    @property
    def failed(self) -> list[CheckResult]:
        return [check for check in self.checks if not check.passed]

    @property
    def mistakes(self) -> list[str]:
        return sorted({check.mistake for check in self.checks if check.mistake})

    def student_code_count(self, status: str) -> int:
        """How many checks saw the student's code end with ``status`` (see STUDENT_CODE)."""
        return sum(check.student_code == status for check in self.checks)


@dataclass
class Verdict:
    """Every task's checks for one submission (one notebook), and how its kernel fared."""

    tasks: dict[str, TaskVerdict] = field(default_factory=dict)
    notebook: str = ""
    kernel: str = "ok"
    notebook_seconds: float = 0.0  # the time the notebook used up (kernel "notebook-time")
    # The course's limits the notebook's own cells hit, in an instructor's words (Limits.reason).
    notebook_limits: list[str] = field(default_factory=list)
    kernel_exit: str = ""  # how the kernel's process ended (kernel "died"), when known

    @classmethod
    def from_checks(cls, checks: list[CheckResult], tasks: tuple[str, ...] = ()) -> Verdict:
        """Group check results by task; ``tasks`` fixes the order (and lists tasks with no result)."""
        verdict = cls({task: TaskVerdict(task) for task in tasks})
        for check in checks:
            verdict.tasks.setdefault(check.task, TaskVerdict(check.task)).checks.append(check)
        return verdict

    @property
    def points(self) -> float:
        return sum(task.points for task in self.tasks.values())

    @property
    def max_points(self) -> float:
        return sum(task.max_points for task in self.tasks.values())

    @property
    def checks(self) -> list[CheckResult]:
        return [check for task in self.tasks.values() for check in task.checks]

    def to_dict(self) -> dict:
        data = {"notebook": self.notebook, "kernel": self.kernel}
        if self.notebook_seconds:
            data["notebook_seconds"] = self.notebook_seconds
        if self.notebook_limits:
            data["notebook_limits"] = list(self.notebook_limits)
        if self.kernel_exit:
            data["kernel_exit"] = self.kernel_exit
        data["tasks"] = {task: {"checks": [c.to_dict() for c in verdict.checks]} for task, verdict in self.tasks.items()}
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_dict(cls, data: dict, source: str = "a verdict") -> Verdict:
        if not isinstance(data, dict) or not isinstance(data.get("tasks"), dict):
            raise VerdictError(f"{source}: expected an object with a 'tasks' object")
        kernel = data.get("kernel", "ok")
        if kernel not in KERNEL:
            raise VerdictError(f"{source}: kernel {kernel!r} is not one of {', '.join(KERNEL)}")
        seconds = data.get("notebook_seconds", 0.0)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise VerdictError(f"{source}: notebook_seconds {seconds!r} is not a number of seconds")
        limits = data.get("notebook_limits", [])
        if not isinstance(limits, list) or not all(isinstance(reason, str) for reason in limits):
            raise VerdictError(f"{source}: notebook_limits {limits!r} is not a list of reasons")
        kernel_exit = data.get("kernel_exit", "")
        if not isinstance(kernel_exit, str):
            raise VerdictError(f"{source}: kernel_exit {kernel_exit!r} is not a description")
        tasks = {}
        for task, body in data["tasks"].items():
            if not isinstance(body, dict) or not isinstance(body.get("checks"), list):
                raise VerdictError(f"{source}: tasks.{task} needs a 'checks' list")
            tasks[task] = TaskVerdict(task, [CheckResult.from_dict(c, source) for c in body["checks"]])
        return cls(tasks=tasks, notebook=str(data.get("notebook", "")), kernel=kernel,
                   notebook_seconds=float(seconds), notebook_limits=list(limits), kernel_exit=kernel_exit)

    @classmethod
    def from_json(cls, text: str, source: str = "a verdict") -> Verdict:
        try:
            data = json.loads(text)
        except ValueError as error:
            raise VerdictError(f"{source}: not JSON ({error})") from error
        return cls.from_dict(data, source)

    def save(self, path: Path) -> Path:
        path = Path(path)
        path.write_text(self.to_json())
        return path

    @classmethod
    def load(cls, path: Path) -> Verdict:
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as error:
            raise VerdictError(f"{path}: cannot read the verdict: {error}") from error
        return cls.from_json(text, str(path))


def verdict_path(folder: Path, notebook: str) -> Path:
    """Where the verdict of ``notebook`` is kept beside the graded notebook."""
    return Path(folder) / f"{notebook}.{VERDICT_SUFFIX}"
