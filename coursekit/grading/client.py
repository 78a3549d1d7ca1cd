"""The judge's side of the runner: plan operations, run them with time limits, read raw outputs.

A plan belongs to one task; its operations are the functions of that task's ``calls.py``, which
the runner loads by path (the client passes the path, the package and its modules, all from
``COURSE``; it never imports calls.py).

Nothing here imports student code. A plan is run by ``runner.py`` in a process of its own,
forked by the submission's serving runner (``serving.py``, started with ``python -I``: no
PYTHONPATH, no current folder on sys.path); a call that hangs is killed after ``op_timeout``
seconds and one that kills its process is recorded as crashed, and the runner restarts after
it so the remaining calls still get their chance, within ``budget``.
"""

import ast
import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..limits import LIMITS
from ..manifest import COURSE
from .disclosure import MASKED_NOTE, mask_input_numbers
from .reference import read_array, write_array
from .serving import exit_description, serving_runner

MEMORY_LIMIT_BYTES = LIMITS.memory  # the course's [limits] (coursekit/limits.py)
POLL_SECONDS = 0.01


class OpFailed(Exception):
    """An operation on student code did not produce its outputs; the message says why.

    ``status`` is the operation's: error, timeout, crashed or not-run.
    """

    def __init__(self, message: str, status: str = "error", where: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.where = where or {}  # file, line, source: the last frame inside the student's package


@dataclass
class OpResult:
    """What one operation gave back: its status, raw arrays and small facts."""

    name: str
    description: str
    status: str  # ok, error, timeout, crashed, not-run
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    error: dict[str, str] | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def where(self) -> dict[str, str]:
        """Where in the student's package the call raised: file, line, source (empty if unknown)."""
        return dict((self.error or {}).get("where") or {})

    @property
    def raised(self) -> str:
        """The type name of the exception the call raised, or empty."""
        return (self.error or {}).get("type", "") if self.status == "error" else ""

    def why(self) -> str:
        """One sentence on why this call gave no result (empty if it did)."""
        if self.status == "error":
            limit = LIMITS.reason(self.error.get("type", ""), self.error.get("message", ""))
            if limit:  # the course's limit, not a fault in the code: said in the instructor's words
                return f"{self.description} {limit} (the course's limit) and was stopped"
            if self.facts.get("returned"):
                return f"{self.description}: {self.error['message']}"
            where = self.where
            at = (f" at {where['file']}, line {where['line']}" if where else "") + (
                f" ({where['source']})" if where.get("source") else "")
            message, masked = mask_input_numbers(self.error["message"])  # the student's text: may name hidden shapes
            return f"{self.description} raised {self.error['type']}: {message}{at}{MASKED_NOTE if masked else ''}"
        if self.status == "timeout":
            return f"{self.description} did not finish within {self.detail} s and was stopped"
        if self.status == "crashed":
            return f"{self.description} ended its process ({self.detail})"
        if self.status == "not-run":
            return f"{self.description} was not run: {self.detail}"
        return ""

    def __getitem__(self, key: str) -> np.ndarray:
        if not self.ok:
            raise OpFailed(self.why(), self.status, self.where)
        return self.arrays[key]


IMPORT = "import"  # the runner's own operation, first in every plan


@lru_cache(maxsize=None)
def operations_of(calls_path: Path) -> frozenset[str]:
    """The operations a task's ``calls.py`` offers: its public functions (read, never imported:
    calls.py runs only in the runner)."""
    tree = ast.parse(calls_path.read_text(), filename=str(calls_path))
    return frozenset(node.name for node in tree.body
                     if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"))


class Plan:
    """Operations on a submission, in order, with the input arrays they name; each operation is
    a function of the ``calls.py`` in the folder of the task ``task`` (an id of the manifest)."""

    def __init__(self, task: str) -> None:
        self.task = COURSE.task(task)
        self.ops: list[dict] = []
        self.names: list[str] = []
        self.descriptions: list[str] = []
        self.inputs: dict[str, np.ndarray] = {}
        self.add(IMPORT, {"op": IMPORT}, f"importing {COURSE.package}")

    def array(self, name: str, value: Any) -> str:
        """Add an input array; returns its name, for the operations that use it."""
        self.inputs[name] = np.asarray(value)
        return name

    def stored_inputs(self) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        """The distinct input arrays, each once (a plan often names one array many times), and
        {input name: key of its array among them}."""
        stored, keys, key_of = {}, {}, {}
        for name, value in self.inputs.items():
            if id(value) not in key_of:
                key_of[id(value)] = f"a{len(stored)}"
                stored[key_of[id(value)]] = value
            keys[name] = key_of[id(value)]
        return stored, keys

    def add(self, name: str, op: dict, description: str) -> str:
        """Add an operation; ``description`` says in the student's terms what it calls."""
        if name in self.names:
            raise ValueError(f"operation name {name!r} used twice")
        if op.get("op") != IMPORT and op.get("op") not in operations_of(self.task.calls_path):
            raise ValueError(f"{self.task.calls_path} has no operation {op.get('op')!r} (the operations of "
                             f"task {self.task.id}: {', '.join(sorted(operations_of(self.task.calls_path)))})")
        self.ops.append(op)
        self.names.append(name)
        self.descriptions.append(description)
        return name


def run_plan(plan: Plan, submission: Path, op_timeout: float = LIMITS.call_seconds,
             budget: float = LIMITS.task_checks_seconds, python: str | None = None, confine: bool = False,
             scratch: Path | str | None = None) -> dict[str, OpResult]:
    """Run every operation of ``plan`` on the package in ``submission``; returns {name: OpResult}.

    The operations run in a child of the submission's serving runner (one per submission,
    started on its first plan). With ``confine`` that runner is in a bubblewrap sandbox
    (coursekit/sandbox.py): it sees the submission read-only, writes only its own folder, and
    has no network. Its files go in a folder made in ``scratch`` (default: serving.scratch_root()).
    """
    submission = Path(submission).resolve()
    return _run(plan, submission, op_timeout, budget, lambda: serving_runner(submission, python, confine, scratch))


def _run(plan, submission, op_timeout, budget, serving):
    results, skip = {}, {}
    deadline = time.monotonic() + budget
    start, job_dir = 0, None
    try:
        while start < len(plan.ops):
            server = serving()
            if job_dir is None or not job_dir.is_relative_to(server.folder):  # first, or a new runner after a kill
                server.jobs += 1
                job_dir = Path(tempfile.mkdtemp(prefix=f"job-{server.jobs}-", dir=server.folder))
                stored, keys = plan.stored_inputs()
                described = {key: write_array(job_dir / f"input-{key}.bin", value) for key, value in stored.items()}
            (job_dir / "request.json").write_text(json.dumps(
                {"submission": str(submission), "package": COURSE.package, "modules": list(COURSE.student_modules),
                 "calls": str(plan.task.calls_path), "ops": plan.ops, "start": start, "skip": sorted(skip),
                 "inputs": keys, "arrays": described}))
            job = server.start(job_dir, str(start))
            stopped_at, why = _watch(job, job_dir, start, len(plan.ops), op_timeout, deadline, skip)
            log = job_dir / f"stderr-{start}.txt"
            stderr_tail = log.read_bytes()[-2000:].decode(errors="replace") if log.exists() else ""
            for k in range(start, len(plan.ops)):
                if (job_dir / f"result-{k}.json").exists():
                    results[plan.names[k]] = _read_result(plan, job_dir, k)
            if stopped_at is None:
                break
            status, detail = why
            results[plan.names[stopped_at]] = OpResult(plan.names[stopped_at], plan.descriptions[stopped_at],
                                                       status, detail=detail)
            if stopped_at == 0 or status == "not-run":
                reason = (f"importing {COURSE.package} " + ("hung" if status == "timeout" else "crashed")
                          if stopped_at == 0 else detail)
                for k in range(stopped_at + 1, len(plan.ops)):
                    results[plan.names[k]] = OpResult(plan.names[k], plan.descriptions[k], "not-run", detail=reason)
                break
            if stderr_tail and status == "crashed":
                results[plan.names[stopped_at]].detail += f"; last output: {stderr_tail.strip()[-300:]}"
            if status == "timeout":
                # A function that hung once will hang again: later calls of it are not waited for.
                kind = plan.ops[stopped_at]["op"]
                for k in range(stopped_at + 1, len(plan.ops)):
                    if plan.ops[k]["op"] == kind and k not in skip:
                        skip[k] = f"an earlier call, {plan.descriptions[stopped_at]}, did not finish"
            start = stopped_at + 1
        imported = results.get(IMPORT)
        if imported is not None and imported.status == "error":
            reason = imported.why() if LIMITS.reason(imported.error["type"], imported.error["message"]) else (
                f"{COURSE.package} could not be imported: {imported.error['type']}: {imported.error['message']}")
            for k, name in enumerate(plan.names[1:], start=1):
                results[name] = OpResult(name, plan.descriptions[k], "not-run", detail=reason)
        for k, name in enumerate(plan.names):
            results.setdefault(name, OpResult(name, plan.descriptions[k], "not-run",
                                              detail=skip.get(k, "the runner stopped early")))
        return results
    finally:
        if job_dir is not None:
            shutil.rmtree(job_dir, ignore_errors=True)


def _watch(job, job_dir, start, count, op_timeout, deadline, skip):
    """Wait for the job; returns (None, None) when it finished, else (op index, (status, detail))."""
    current, since = None, None
    while True:
        code = job.poll()
        done = start
        while done < count and (done in skip or (job_dir / f"result-{done}.json").exists()):
            done += 1
        if done == count:  # every result is in: wait for the job's end, which kills what it left
            if code is None and time.monotonic() <= deadline:
                time.sleep(POLL_SECONDS)
                continue
            if code is None:
                job.kill()
            return None, None
        if code is not None:
            return done, ("crashed", exit_description(code))
        if (job_dir / f"started-{done}").exists() and current != done:
            current, since = done, time.monotonic()
        now = time.monotonic()
        if current == done and now - since > op_timeout:
            job.kill()
            return done, ("timeout", f"{op_timeout:g}")
        if now > deadline:
            job.kill()
            return done, ("not-run", "the time budget for these checks ran out")
        time.sleep(POLL_SECONDS)


def _read_result(plan, job_dir, k):
    status = json.loads((job_dir / f"result-{k}.json").read_text())
    arrays = {}
    try:
        described = status.get("arrays") or {}
        if not isinstance(described, dict):
            raise ValueError("no description of its arrays")
        arrays = {str(name): read_array(job_dir / f"result-{k}-{i}.bin", description)
                  for i, (name, description) in enumerate(described.items())}
    except (ValueError, OSError) as exc:
        status = {"ok": False, "facts": status.get("facts", {}),
                  "error": {"type": "ValueError", "message": f"returned something that is not a numeric array ({exc})"}}
    return OpResult(plan.names[k], plan.descriptions[k], "ok" if status["ok"] else "error",
                    arrays=arrays, facts=status.get("facts") or {}, error=status.get("error"))
