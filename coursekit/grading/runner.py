"""Run a submission's functions on inputs the judge chose and hand back raw outputs.

This is the only grading code that imports student code, and it runs in a process of its own:
``python -I runner.py JOB_DIR``, or a child forked for each job by ``python -I runner.py
--serve`` (one per submission, so numpy is imported once, not once per task). Whatever the
student's code does here (patch numpy, print, raise, hang, exit) can only change the raw outputs
written back, never how they are judged.

It knows no task. JOB_DIR holds ``request.json`` (the submission, its package and the modules
the course's stubs name, the ``calls.py`` of the plan's task, the operations, where to start,
the input arrays' keys and descriptions) and ``input-KEY.bin`` per distinct array, in
``reference.write_array``'s raw form. Operation ``import`` imports the package; any other is
the function of that name in ``calls.py``, given this runner as ``student``. For operation k
the runner writes ``started-k``, then ``result-k-I.bin`` per array and last ``result-k.json``
(status, error, small facts, the arrays' descriptions), renamed into place when complete, so
the judge keeps every result written before a hang or a crash.
"""

import gc
import importlib
import importlib.util
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import numpy as np
# Every job seeds numpy's generator: imported here, once per submission instead of once per job.
import numpy.random  # noqa: F401

IMPORT = "import"  # the runner's own operation; all others are the task's


def _load_by_path(path: Path, name: str) -> ModuleType:
    """The trusted module at ``path``, loaded as ``name`` (no package, no sys.path)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None:
        raise ImportError(f"{path} is not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


reference = _load_by_path(Path(__file__).resolve().with_name("reference.py"), "_grading_reference")


class ContractError(TypeError):
    """Student code returned something of the wrong kind; the message says what came back."""


def _describe_value(value: Any) -> str:
    """What came back, in a few words: ``None``, ``a tuple of 3 items``, ``a list``."""
    if value is None:
        return "None"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} item{'s' if len(value) != 1 else ''}"
    return f"a {type(value).__name__}"


def _student_frame(exc: BaseException, package_dir: Path | None) -> dict[str, str]:
    """The last frame of the traceback inside the student's package: file, line and source line."""
    if package_dir is None:
        return {}
    found = {}
    if isinstance(exc, SyntaxError) and exc.filename and Path(exc.filename).resolve().is_relative_to(package_dir):
        return {"file": Path(exc.filename).resolve().relative_to(package_dir.parent).as_posix(),
                "line": str(exc.lineno), "source": (exc.text or "").strip()[:300]}
    for frame in traceback.extract_tb(exc.__traceback__):
        path = Path(frame.filename)
        if path.is_absolute() and path.resolve().is_relative_to(package_dir):
            found = {"file": path.resolve().relative_to(package_dir.parent).as_posix(),
                     "line": str(frame.lineno), "source": (frame.line or "").strip()[:300]}
    return found


def _describe_exception(exc: BaseException, package_dir: Path | None = None) -> dict[str, str]:
    frames = traceback.format_exception(type(exc), exc, exc.__traceback__)
    described = {"type": type(exc).__name__, "message": str(exc)[:2000], "traceback": "".join(frames)[-4000:]}
    where = _student_frame(exc, package_dir)
    if where:
        described["where"] = where
    return described


def _save_arrays(job_dir: Path, k: int, arrays: dict[str, np.ndarray]) -> dict[str, dict]:
    """Write the arrays of operation k, ``result-k-I.bin`` for the I-th; returns {name: description}."""
    return {name: reference.write_array(job_dir / f"result-{k}-{i}.bin", value)
            for i, (name, value) in enumerate(arrays.items())}


def _write_atomically(path: Path, write: Callable[[Path], Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


class Runner:
    """Runs the operations of one job folder on the submission it names.

    It is the ``student`` each operation of the task's ``calls.py`` is given: ``module(name)``,
    ``input(name)``, ``caches`` (kept across the operations of the job), ``reference``,
    ``task_module(name)``, ``ContractError`` and ``describe(value)``.
    """

    reference = reference
    ContractError = ContractError
    describe = staticmethod(_describe_value)

    def __init__(self, job_dir: str | Path) -> None:
        self.job_dir = Path(job_dir)
        self.request = json.loads((self.job_dir / "request.json").read_text())
        stored = {key: reference.read_array(self.job_dir / f"input-{key}.bin", description)
                  for key, description in self.request["arrays"].items()}
        self.inputs = {name: stored[key] for name, key in self.request["inputs"].items()}
        self.submission = Path(self.request["submission"]).resolve()
        self.package_name = self.request["package"]
        self.calls_path = Path(self.request["calls"])
        self.caches: dict[str, Any] = {}
        self.modules: dict[str, ModuleType] | None = None  # the submission's, once imported
        self.task_modules: dict[str, ModuleType] = {}

    def input(self, name: str) -> np.ndarray:
        """A fresh copy of the input array ``name`` (student code may modify what it is given)."""
        return self.inputs[name].copy()

    def run(self) -> None:
        """Run every operation from ``start`` on, writing each one's result files."""
        ops = self.request["ops"]
        skip = set(self.request.get("skip", ()))
        # Student code that draws from numpy's global generator without a seed gives the same
        # masks on every grading run, so a regrade gives the same verdict.
        np.random.seed(0)
        for k in range(self.request.get("start", 0), len(ops)):
            if k in skip:
                continue
            (self.job_dir / f"started-{k}").touch()
            arrays, facts = {}, {}
            try:
                self.dispatch(ops[k], arrays, facts)
                status = {"ok": True, "facts": facts}
            except BaseException as exc:  # SystemExit and KeyboardInterrupt from student code too
                package_dir = self.submission / self.package_name
                status = {"ok": False, "error": _describe_exception(exc, package_dir), "facts": facts}
            status["arrays"] = _save_arrays(self.job_dir, k, arrays)
            _write_atomically(self.job_dir / f"result-{k}.json",
                              lambda tmp: tmp.write_text(json.dumps(status)))

    def dispatch(self, op: dict, arrays: dict, facts: dict) -> None:
        """Run one operation (importing the package first after a restart)."""
        if op["op"] == IMPORT:
            return self.import_package(facts)
        operation = self.operation(op["op"])
        if self.modules is None:  # a restart after a hang or a crash begins past the import
            self.import_package({})
        return operation(self, op, arrays, facts)

    def operation(self, name: str) -> Callable[..., None]:
        """The public function ``name`` of the task's ``calls.py``."""
        calls = self.task_module("calls")
        function = getattr(calls, name, None)
        if name.startswith("_") or not callable(function) or getattr(function, "__module__", "") != calls.__name__:
            raise LookupError(f"{self.calls_path} has no operation {name!r}")
        return function

    def task_module(self, name: str) -> ModuleType:
        """The trusted module ``name`` of the task's folder (never its checks), loaded by path once."""
        if name not in self.task_modules:
            if name.startswith("test_") or not name.isidentifier():
                raise LookupError(f"{name!r} is not a module the runner may load from {self.calls_path.parent}")
            path = self.calls_path.with_name(f"{name}.py")
            self.task_modules[name] = _load_by_path(path, f"_task_{name}")
        return self.task_modules[name]

    def import_package(self, facts: dict) -> None:
        """Import the submission's package and the modules the course's stubs name, refusing any
        other copy of them."""
        sys.path.insert(0, str(self.submission))
        os.chdir(self.submission)
        package = importlib.import_module(self.package_name)
        modules = {name: importlib.import_module(f"{self.package_name}.{name}") for name in self.request["modules"]}
        facts["files"] = self._own_files({"package": package, **modules})
        self.modules = modules

    def module(self, name: str) -> ModuleType:
        """The submission's own module ``name`` of its package, imported once."""
        if self.modules is None:
            self.import_package({})
        if name not in self.modules:
            module = importlib.import_module(f"{self.package_name}.{name}")
            self._own_files({name: module})
            self.modules[name] = module
        return self.modules[name]

    def _own_files(self, modules: dict[str, ModuleType]) -> dict[str, str]:
        """{name: file} of ``modules``; raises ImportError if one is not from the submission."""
        files = {name: getattr(module, "__file__", None) or "" for name, module in modules.items()}
        for name, file in files.items():
            if not file or not Path(file).resolve().is_relative_to(self.submission):
                raise ImportError(f"the imported {self.package_name} ({name}: {file or 'no file'}) is not the "
                                  f"submission's own package in {self.submission}")
        return files


def _run_forked(forking: ModuleType, job_dir: str, tag: str) -> int:
    """In a child of the serving runner: run the job, its output to ``stderr-TAG.txt``."""
    forking.stdin_from_null()  # the job reads nothing of the serving runner's requests
    forking.redirect(str(Path(job_dir) / f"stderr-{tag}.txt"), (1, 2), append=True)
    Runner(job_dir).run()
    return 0


def _process_group_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2:].split()[2])  # after "pid (name) state ppid": pgrp


def _others(whole_namespace: bool, group_procs: str | None) -> list[int]:
    """The processes a job may have left: all but this one and the namespace's init; or the
    members of this runner's pids cgroup; or, without either, this runner's process group."""
    me = os.getpid()
    if whole_namespace:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit() and int(name) != 1]
    elif group_procs:
        try:
            pids = [int(line) for line in Path(group_procs).read_text().split()]
        except (OSError, ValueError):
            return []
    else:
        mine = os.getpgid(0)
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit() and _process_group_of(int(name)) == mine]
    return [pid for pid in pids if pid != me]


def _kill_leftovers(whole_namespace: bool, group_procs: str | None) -> None:
    """Kill what a job left running, so nothing of one job outlives it into the next.

    In a PID namespace of its own (the sandbox) that is every process but the namespace's init
    and this one, even one that started a session of its own; unconfined, the other members of
    the runner's pids cgroup if it has one, else of its process group. (The job itself stays in
    the runner's process group, so killing the runner's group stops a job that hangs.)"""
    for _ in range(100):  # a fork loop may add processes while they are killed
        others = _others(whole_namespace, group_procs)
        if not others:
            return
        for pid in others:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        while True:  # reap the ones that were this process's children
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        time.sleep(0.001)


def serve(whole_namespace: bool, group_procs: str | None = None) -> int:
    """``python -I runner.py --serve [--confined | --group-procs FILE]``: for each line ``JOB_DIR
    TAG`` read from stdin, run that job in a child forked from this process (numpy and the
    reference already imported, no student code ever; ``forking.py``, loaded by path), kill
    what the job left running (``--confined``: every other process of the sandbox's PID
    namespace; ``--group-procs``: the other members of the pids cgroup whose ``cgroup.procs``
    that is), then write ``exit-TAG.json`` with the child's exit code."""
    forking = _load_by_path(Path(__file__).resolve().parent.parent / "forking.py", "_grading_forking")
    # What the imports allocated is never collected: a job's garbage collections then walk only
    # the job's own objects, not numpy's, whose pages they would copy.
    gc.freeze()

    def job(line: bytes) -> tuple[str, str]:
        job_dir, tag = line.decode().rsplit(" ", 1)
        return job_dir, tag

    def ended(pid: int, code: int, line: bytes) -> None:
        _kill_leftovers(whole_namespace, group_procs)
        job_dir, tag = job(line)
        _write_atomically(Path(job_dir) / f"exit-{tag}.json", lambda tmp: tmp.write_text(json.dumps({"code": code})))

    forking.serve_requests(lambda line: lambda: _run_forked(forking, *job(line)), ended=ended, one_at_a_time=True)
    return 0


def main(argv: list[str]) -> int:
    """``python -I runner.py JOB_DIR`` (one job), or the serving runner (see serve)."""
    if len(argv) >= 2 and argv[1] == "--serve":
        if argv[2:] in ([], ["--confined"]):
            return serve(whole_namespace=argv[2:] == ["--confined"])
        if len(argv) == 4 and argv[2] == "--group-procs":
            return serve(whole_namespace=False, group_procs=argv[3])
    if len(argv) != 2:
        print("usage: python -I runner.py JOB_DIR | --serve [--confined | --group-procs FILE]", file=sys.stderr)
        return 2
    Runner(argv[1]).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
