"""A process that imports nbgrader once and forks each batch's ``nbgrader`` from itself.

Importing nbgrader (with nbconvert, jupyter_client, IPython, SQLAlchemy and the course's
pytest) costs about 1.3 CPU-seconds, as much as grading two submissions: paid by every batch, it
was a fifth of the CPU of a 48-submission class run. The server pays it once per run (per Dask
worker on a cluster). Each batch is still plain
``nbgrader ARGS``: a child forked from the server, before anything of a course or a
submission was loaded, runs nbgrader's own ``main()`` with the batch's arguments, environment,
folder and log, and ends as nbgrader would (exit code, atexit handlers, threads joined).

Coordinator side: ``WorkerServer`` starts the server and its batches; each batch is a
``ForkedWorker`` with the part of ``subprocess.Popen`` ``job.grade`` uses (``pid``,
``returncode``, ``poll``, ``wait``, ``send_signal``). Each batch leads a process group of its
own (``os.killpg(worker.pid, ...)`` stops it and what it started), and dies with the server,
which dies with the coordinator.

Protocol (JSON lines, ``jsonlines.py``): the server (``forkserver_main.py``) prints
``{"ready": true}`` once warm; for each request ``{"argv": [...], "env": {...}, "cwd": ...,
"log": FILE}`` it prints ``{"pid": N}``, and ``{"ended": N, "code": C}`` when that child ends.
The server ends when its stdin closes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from ..jsonlines import JsonLinesProcess
from ..sandbox import grading_process_env

SERVER_PROGRAM = Path(__file__).resolve().with_name("forkserver_main.py")
START_TIMEOUT_SECONDS = 120
REAP_SECONDS = 0.05


class WorkerServerError(RuntimeError):
    """The worker server could not start, or stopped (never a verdict on a submission)."""


class WorkerServer(JsonLinesProcess):
    """Coordinator side: start the server in ``cwd`` with ``env``, then batches on it."""

    def __init__(self, cwd: Path, env: dict[str, str], log: Path, preexec_fn: Callable[[], None] | None = None) -> None:
        code = f"import runpy; runpy.run_path({str(SERVER_PROGRAM)!r}, run_name='__main__')"
        self.log = Path(log)
        with open(self.log, "ab") as stderr:
            # The server collects the hidden checks (numpy), and its workers fork the checks'
            # children: no BLAS thread pool, and freed memory kept, as in every grading process.
            super().__init__(subprocess.Popen([sys.executable, "-c", code], cwd=cwd, env={**env, **grading_process_env()},
                                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                              preexec_fn=preexec_fn))
        self._lock = threading.Lock()  # a Dask worker may run several tasks at once
        self.ended: dict[int, int] = {}
        reply = self.reply(time.monotonic() + START_TIMEOUT_SECONDS)
        if reply is None or not reply.get("ready"):
            self.close()
            raise WorkerServerError(f"the nbgrader worker server did not start: {self.why()}")

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
        with self._lock:
            try:
                self.send({"argv": list(argv), "env": dict(env), "cwd": str(cwd), "log": str(log)})
            except OSError as exc:
                raise WorkerServerError(f"the nbgrader worker server is gone ({exc})") from exc
            reply = self.reply(time.monotonic() + 30)
            while reply is not None and "pid" not in reply:
                reply = self.reply(time.monotonic() + 30)
        if reply is None:
            raise WorkerServerError(f"the nbgrader worker server did not start a worker: {self.why()}")
        return ForkedWorker(self, reply["pid"])

    def collect(self) -> None:
        """Read what the server reported so far (the ends of its workers)."""
        with self._lock:
            while self.reply(0) is not None:
                pass

    def reply(self, deadline: float) -> dict | None:
        """The next line (``JsonLinesProcess.reply``), noting the end of a worker it reports."""
        message = super().reply(deadline)
        if message is not None and "ended" in message:
            self.ended[message["ended"]] = message["code"]
        return message


class ForkedWorker:
    """One job's nbgrader, forked by the server: what ``job.grade`` needs of a Popen."""

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


