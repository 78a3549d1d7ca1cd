"""How many workers there are by default; nbgrader's arguments for a worker and its
environment; the worker server that forks it; how it dies with its parent; and what its log
says when it fails.

The workers (through the worker server, ``forkserver_main.py``) and the coordinator import
nbgrader without jsonschema's IRI grammars (``upstream_changes.skip_iri_syntax_checks``).
"""

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from ..speedups import speedups_on
from .forkserver import ForkedWorker, WorkerServer



def usable_cores() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def default_workers() -> int:
    """One worker more than cores: each worker spends part of its time waiting (for its kernel
    or runner to start, for their messages, for the gradebook), and with one worker per core
    the cores stood idle a fifth of the time (24 submissions, 2 cores: 0.70 s per submission
    with 2 workers, 0.61 s with 3; 1.91 s and 1.60 s with the notebooks run)."""
    return usable_cores() + 1


HOOKS = ("--Autograde.pre_convert_hook=coursekit.classgrade.hooks.started",
         "--Autograde.post_convert_hook=coursekit.classgrade.hooks.finished")
# nbconvert checks the notebook against nbformat's schema after each of autograde's 17
# preprocessors; once at the end of each conversion is enough, and saves about 7 ms a
# submission (half of the validations nbformat makes in a worker).
VALIDATE_ONCE = "--Exporter.optimistic_validation=True"
# Grades come from the hidden checks, not from the notebook's kernel: by default the workers
# leave the cells unrun, which takes about two thirds of the time off each submission.
CHECKS_ONLY = "--ResilientExecute.run_notebook=False"


def worker_arguments(assignment: str, db_url: str, students: list[str], everyone: set[str],
                     run_notebooks: bool) -> list[str]:
    """nbgrader's arguments to ``autograde`` ``students`` (of ``everyone``) into the gradebook
    at ``db_url`` (``--Exporter.optimistic_validation`` only with the speed-ups on)."""
    command = ["autograde", assignment, "--force", f"--CourseDirectory.db_url={db_url}", *HOOKS]
    if speedups_on():
        command.append(VALIDATE_ONCE)
    if not run_notebooks:
        command.append(CHECKS_ONLY)
    if len(students) == 1:
        command.append(f"--CourseDirectory.student_id={students[0]}")
    else:
        command.append(f"--CourseDirectory.student_id_exclude={','.join(sorted(set(everyone) - set(students)))}")
    return command


def worker_env(events: Path, hide: Path) -> dict[str, str]:
    """nbgrader's environment (``release.nbgrader_env``), reporting to ``events``, with ``hide``
    added to what the grading sandbox hides."""
    from ..release import nbgrader_env
    from ..sandbox import HIDE_ENV
    from .hooks import EVENTS_ENV

    env = nbgrader_env()
    env[EVENTS_ENV] = str(events)
    env[HIDE_ENV] = os.pathsep.join(filter(None, [env.get(HIDE_ENV, ""), str(hide)]))
    return env


def start_nbgrader(server: WorkerServer | None, arguments: list[str], env: dict[str, str], cwd: Path,
                   log: Path) -> ForkedWorker | subprocess.Popen:
    """``nbgrader ARGUMENTS`` in ``cwd``, its output appended to ``log``, leading a process group
    of its own that dies with this process: forked by ``server``, or (``server`` None, the
    speed-ups off) the plain way, a new ``python -m nbgrader`` process."""
    if server is not None:
        return server.start(arguments, env, cwd, log)
    with open(log, "ab") as output:
        return subprocess.Popen([sys.executable, "-m", "nbgrader", *arguments], cwd=cwd, env=env,
                                stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                preexec_fn=die_with_parent)


_SERVERS: dict[str, WorkerServer] = {}
_SERVERS_LOCK = threading.Lock()


def worker_server(root: str, env: dict[str, str]) -> WorkerServer | None:
    """This process's nbgrader worker server for the course in ``root`` (None with the speed-ups
    off): started by the first job (with ``env``), or again if it stopped; it forks every
    later job's nbgrader, whose imports it paid once (``forkserver.py``)."""
    if not speedups_on():
        return None
    with _SERVERS_LOCK:
        server = _SERVERS.get(root)
        if server is None or not server.alive():
            log = Path(tempfile.mkdtemp(prefix="classgrade-worker-server-")) / "server.log"
            server = _SERVERS[root] = WorkerServer(Path(root), env, log, die_with_parent)
        return server


def close_worker_servers() -> None:
    """Stop this process's worker servers (at the end of a local class run)."""
    with _SERVERS_LOCK:
        for server in _SERVERS.values():
            server.close()
            shutil.rmtree(server.log.parent, ignore_errors=True)
        _SERVERS.clear()


def die_with_parent() -> None:
    """In each nbgrader worker (``preexec_fn``): a session of its own (the terminal's Ctrl-C
    reaches only the coordinator, which stops the workers itself), and SIGTERM when the
    coordinator dies."""
    os.setsid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (AttributeError, OSError):
        pass


def failure_reason(log_path: Path, submitted_folder: Path) -> str:
    """The last error nbgrader logged for a submission it could not grade, in one line.

    nbgrader calls no hook when a submission fails: its log is the only place the reason is.
    """
    try:
        lines = Path(log_path).read_text(errors="replace").splitlines()
    except OSError:
        return "see the log"
    marker = f"There was an error processing assignment: {submitted_folder}"
    for index, line in enumerate(lines):
        if marker in line:
            tail = [l.strip() for l in lines[index + 1:index + 60] if l.strip() and not l.startswith("[")]
            errors = [l for l in tail if "Error" in l or "Exception" in l]
            return (errors[-1] if errors else "see the log")[:300]
    errors = [l.strip() for l in lines if "ERROR" in l or "Error:" in l]
    return (errors[-1] if errors else "see the log")[:300]
