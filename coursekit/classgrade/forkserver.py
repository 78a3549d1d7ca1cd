"""A process that imports nbgrader once and forks each batch's ``nbgrader`` from itself.

Importing nbgrader (with nbconvert, jupyter_client, IPython, SQLAlchemy and the course's
pytest) costs about 1.8 CPU-seconds, as much as grading three submissions: paid by every batch,
it was a tenth of a class run. The server pays it once per run. Each batch is still plain
``nbgrader ARGS``: a child forked from the server, before anything of a course or a
submission was loaded, runs nbgrader's own ``main()`` with the batch's arguments, environment,
folder and log, and ends as nbgrader would (exit code, atexit handlers, threads joined).

Coordinator side: ``WorkerServer`` starts the server and its batches; each batch is a
``ForkedWorker`` with the part of ``subprocess.Popen`` the scheduler uses (``pid``,
``returncode``, ``poll``, ``wait``, ``send_signal``). Each batch leads a process group of its
own (``os.killpg(worker.pid, ...)`` stops it and what it started), and dies with the server,
which dies with the coordinator.

Protocol (JSON lines): the server prints ``{"ready": true}`` once warm; for each request
``{"argv": [...], "env": {...}, "cwd": ..., "log": FILE}`` it prints ``{"pid": N}``, and
``{"ended": N, "code": C}`` when that child ends. The server ends when its stdin closes.

This file is also the server's program (``runpy.run_path``, no package): standard library only.
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

IRI_SYNTAX_MODULE = "rfc3987_syntax"  # left out, as by worker.NBGRADER_MAIN (see worker.py)
START_TIMEOUT_SECONDS = 120
REAP_SECONDS = 0.05


class WorkerServerError(RuntimeError):
    """The worker server could not start, or stopped (never a verdict on a submission)."""


class WorkerServer:
    """Coordinator side: start the server in ``cwd`` with ``env``, then batches on it."""

    def __init__(self, cwd: Path, env: dict[str, str], log: Path, preexec_fn: Callable[[], None] | None = None) -> None:
        code = f"import runpy; runpy.run_path({str(Path(__file__).resolve())!r}, run_name='__main__')"
        self.log = Path(log)
        with open(self.log, "ab") as stderr:
            self.process = subprocess.Popen([sys.executable, "-c", code], cwd=cwd, env=env, stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=stderr, preexec_fn=preexec_fn)
        self._buffer = b""
        self._lock = threading.Lock()  # a Dask worker may run several tasks at once
        self.ended: dict[int, int] = {}
        reply = self._reply(time.monotonic() + START_TIMEOUT_SECONDS)
        if reply is None or not reply.get("ready"):
            self.close()
            raise WorkerServerError(f"the nbgrader worker server did not start: {self.why()}")

    def alive(self) -> bool:
        return self.process.poll() is None

    def why(self) -> str:
        """How the server ended, with the last line of what it printed, for an error message."""
        if self.alive():
            return "it did not answer"
        try:
            text = [line for line in self.log.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            text = []
        return f"exit code {self.process.returncode}" + (f": {text[-1][:300]}" if text else "")

    def start(self, argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> "ForkedWorker":
        """Fork ``nbgrader *argv`` (its output appended to ``log``); raises WorkerServerError
        if the server is gone."""
        request = {"argv": list(argv), "env": dict(env), "cwd": str(cwd), "log": str(log)}
        with self._lock:
            try:
                self.process.stdin.write((json.dumps(request) + "\n").encode())
                self.process.stdin.flush()
            except (BrokenPipeError, OSError) as exc:
                raise WorkerServerError(f"the nbgrader worker server is gone ({exc})") from exc
            reply = self._reply(time.monotonic() + 30)
            while reply is not None and "pid" not in reply:
                reply = self._reply(time.monotonic() + 30)
        if reply is None:
            raise WorkerServerError(f"the nbgrader worker server did not start a worker: {self.why()}")
        return ForkedWorker(self, reply["pid"])

    def collect(self) -> None:
        """Read what the server reported so far (the ends of its workers)."""
        with self._lock:
            while self._reply(0) is not None:
                pass

    def _reply(self, deadline: float) -> dict | None:
        stream = self.process.stdout
        while b"\n" not in self._buffer:
            left = max(0.0, deadline - time.monotonic())
            if not select.select([stream], [], [], left)[0]:
                return None
            chunk = os.read(stream.fileno(), 65536)
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            message = json.loads(line)
        except ValueError:
            return {}
        if "ended" in message:
            self.ended[message["ended"]] = message["code"]
        return message

    def close(self) -> None:
        """Stop the server (it ends when its stdin closes; its workers die with it)."""
        try:
            self.process.stdin.close()
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()


class ForkedWorker:
    """One batch's nbgrader, forked by the server: what the scheduler needs of a Popen."""

    def __init__(self, server: WorkerServer, pid: int) -> None:
        self.server, self.pid = server, pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.server.collect()
            if self.pid in self.server.ended:
                self.returncode = self.server.ended.pop(self.pid)
            elif not self.server.alive():  # its worker got SIGTERM with it (PR_SET_PDEATHSIG)
                self.returncode = -signal.SIGTERM
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """The exit code, once the worker ended; subprocess.TimeoutExpired after ``timeout`` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(["nbgrader"], timeout)
            time.sleep(REAP_SECONDS)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)


# -- the server process ----------------------------------------------------------------------

def _send(message: dict) -> None:
    sys.__stdout__.write(json.dumps(message) + "\n")
    sys.__stdout__.flush()


def _become_worker(request: dict, server_pid: int) -> None:
    """In the forked child: a process group of its own, death with the server, the batch's
    streams, folder, environment and arguments."""
    import ctypes

    os.setpgid(0, 0)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (AttributeError, OSError):
        pass
    if os.getppid() != server_pid:  # the server died before the line above
        os._exit(1)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # the coordinator's stop
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    sys.stdout = sys.__stdout__
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["nbgrader", *request["argv"]]


def warm_up() -> None:
    """Import what a batch imports: nbgrader's command line, then (as autograde runs) the SQLite
    dialect, the course's configuration (pytest) and the kernel manager's kernel-spec lookup
    (IPython)."""
    sys.modules.setdefault(IRI_SYNTAX_MODULE, None)
    import IPython  # noqa: F401
    import jupyter_client.manager  # noqa: F401
    import pytest  # noqa: F401
    import sqlalchemy.dialects.sqlite  # noqa: F401
    from nbgrader.apps import nbgraderapp  # noqa: F401


def serve() -> None:
    """Warm up, then fork one worker per request; in a child, return (it then runs nbgrader)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    warm_up()
    # What the imports allocated is never collected: a worker's garbage collections then walk
    # only its own objects, instead of reading, and so copying, every page of the server's heap.
    gc.freeze()
    sys.stdout = sys.stderr  # protocol output only on the real stdout
    server_pid, buffer, open_input = os.getpid(), b"", True
    _send({"ready": True})
    children: set[int] = set()
    while open_input or children:
        if open_input and select.select([0], [], [], REAP_SECONDS)[0]:
            chunk = os.read(0, 65536)
            open_input = bool(chunk)
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    _become_worker(request, server_pid)
                    return
                try:
                    os.setpgid(pid, pid)  # also here: the pid is sent only once it leads its group
                except OSError:
                    pass
                children.add(pid)
                _send({"pid": pid})
        elif not open_input:
            time.sleep(REAP_SECONDS)
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            children.discard(pid)
            _send({"ended": pid, "code": os.waitstatus_to_exitcode(status)})
    sys.exit(0)


if __name__ == "__main__":
    serve()
    from nbgrader.apps.nbgraderapp import main

    sys.exit(main())
