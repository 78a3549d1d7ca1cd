"""A pytest process that imports the hidden checks once and forks a fresh copy for each submission.

Starting Python and pytest and importing numpy and the checks costs about 0.4 CPU-seconds, a
third of checking one submission. A ``ChecksServer`` pays it once per grading process: it
collects the checks at start-up, then runs each request in a child forked from itself, so every
submission is still checked by a process of its own that starts from the same state and
shares nothing with the submission before. Student code runs, as always, only in the runner
processes those children start.

A process that collected the checks itself (``warm_up_here``: the nbgrader worker server, before
it forks each batch) needs no server: ``ForkedChecks`` forks each submission's child from it.

Protocol (JSON lines): the server prints ``{"ready": true}``; each request
``{"args": [...], "env": {...}, "cwd": ..., "output": FILE}`` is answered by ``{"pid": N}``
when the child starts and ``{"returncode": N}`` when it ends; pytest's output goes to FILE.
"""

import gc
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from ..forking import fork_child, kill_and_reap, redirect, serve_requests, stdin_from_null, wait_for
from ..jsonlines import JsonLinesProcess
from ..paths import REPO_ROOT
from ..sandbox import find_site_paths, grading_process_env
from . import prepared_checks
from .judge import checks_arguments

START_TIMEOUT_SECONDS = 60
CHILD_FAILED = 3  # a child's exit code when its checks could not even start


class ChecksServerError(RuntimeError):
    """The server could not start or stopped answering (not a verdict on any submission)."""


class ChecksServer(JsonLinesProcess):
    """Client side: start the server, run pytest requests on it, stop it (``close``)."""

    def __init__(self, env: dict[str, str]) -> None:
        # Its children fork from a process that has imported numpy: no BLAS thread pools,
        # whose threads would not survive the fork.
        super().__init__(subprocess.Popen([sys.executable, "-m", "coursekit.grading.checks_server"],
                                          cwd=REPO_ROOT, env={**env, **grading_process_env()}, stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL))
        reply = self.reply(time.monotonic() + START_TIMEOUT_SECONDS)
        if reply is None or not reply.get("ready"):
            self.close()
            raise ChecksServerError(f"the checks server did not start within {START_TIMEOUT_SECONDS} s")

    def run(self, args: Sequence[str | Path], env: dict[str, str], cwd: Path, output: Path,
            timeout: float) -> int:
        """Run ``pytest args`` in a fresh child; returns its exit code. Raises
        subprocess.TimeoutExpired after ``timeout`` s (the child is killed) and ChecksServerError
        when the server itself fails."""
        try:
            self.send(_request(args, env, cwd, output))
        except OSError as exc:
            raise ChecksServerError(f"the checks server is gone ({exc})") from exc
        deadline = time.monotonic() + timeout
        started = self.reply(deadline)
        if started is None or "pid" not in started:
            raise ChecksServerError("the checks server did not start the checks")
        ended = self.reply(deadline)
        if ended is None and self.alive():
            try:
                os.kill(started["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.reply(time.monotonic() + 10)  # the server reports the killed child
            raise subprocess.TimeoutExpired(args, timeout)
        if ended is None or "returncode" not in ended:
            raise ChecksServerError("the checks server stopped while checking")
        return ended["returncode"]


class ForkedChecks:
    """The server's ``run`` without a server: each child is forked from this process, which has
    collected the checks itself (``warm_up_here``). Use only where ``can_fork_here()``."""

    def alive(self) -> bool:
        return True

    def close(self) -> None:
        pass

    def run(self, args: Sequence[str | Path], env: dict[str, str], cwd: Path, output: Path,
            timeout: float) -> int:
        """As ``ChecksServer.run``."""
        request = _request(args, env, cwd, output)
        pid = fork_child(lambda: _child(request), failure_code=CHILD_FAILED)
        try:
            code = wait_for(pid, time.monotonic() + timeout)
        except BaseException:  # Ctrl-C or a stop of this process: the child goes too
            kill_and_reap(pid)
            raise
        if code is None:
            kill_and_reap(pid)
            raise subprocess.TimeoutExpired(args, timeout)
        return code


def _request(args: Sequence[str | Path], env: dict[str, str], cwd: Path, output: Path) -> dict:
    """A child's request, as the server reads it and ``_child`` runs it."""
    return {"args": [str(a) for a in args], "env": dict(env), "cwd": str(cwd), "output": str(output)}


_warmed_here = False


def warm_up_here() -> None:
    """Collect the checks in this process, in the checks' environment and folder, and restore
    both (and ``sys.path``) after. The nbgrader worker server does this once: every batch it
    forks then checks its submissions in children of its own (``ForkedChecks``)."""
    global _warmed_here
    from .judge import checks_environment

    saved_env, saved_path, saved_cwd = dict(os.environ), list(sys.path), os.getcwd()
    os.environ.clear()
    os.environ.update({**checks_environment(), **grading_process_env()})
    os.chdir(REPO_ROOT)
    try:
        _warm_up()
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        sys.path[:] = saved_path
        os.chdir(saved_cwd)
    _warmed_here = True


def can_fork_here() -> bool:
    """Whether ``ForkedChecks`` may run here: the checks were collected in this process, and it
    runs no other thread, whose locks a forked child would inherit held (after a notebook's run,
    the kernel client's ZeroMQ threads, for one)."""
    try:
        return _warmed_here and len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


# -- the server process ----------------------------------------------------------------------

def _send(message):
    sys.__stdout__.write(json.dumps(message) + "\n")
    sys.__stdout__.flush()


def _warm_up():
    """Import pytest, the course's plugin and every check module, as a real run would (the check
    modules plan their calls on import), and configure pytest for them (``prepared_checks``);
    ask the runner's Python what the sandbox binds (``sandbox.find_site_paths``)."""
    import numpy.random  # noqa: F401
    import pytest

    find_site_paths()

    saved = [os.dup(1), os.dup(2)]
    redirect(os.devnull, (1, 2))
    try:
        pytest.main([*checks_arguments(), "--collect-only"])
        prepared_checks.prepare(checks_arguments())
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in zip((1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)


def _child(request: dict) -> int:
    """In a forked child: the request's streams, environment and folder, then its checks."""
    stdin_from_null()
    redirect(request["output"], (1, 2))
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return prepared_checks.run(request["args"])


def _child_work(line: bytes):
    try:
        request = json.loads(line)
    except ValueError:
        return None
    return lambda: _child(request)


def serve() -> None:
    """The server process: warm up, then fork one child per request read from stdin."""
    # Interrupting the grading process (Ctrl-C in its terminal) must not end the server first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _warm_up()
    # What warm-up allocated is never collected: a child's garbage collections (pytest runs one
    # at its end) then walk only the child's own objects, instead of reading, and so copying,
    # every page of the server's heap.
    gc.freeze()
    # Protocol output only on the real stdout; anything else printed goes to stderr.
    sys.stdout = sys.stderr
    _send({"ready": True})
    serve_requests(_child_work, started=lambda pid, line: _send({"pid": pid}),
                   ended=lambda pid, code, line: _send({"returncode": code}), one_at_a_time=True)


if __name__ == "__main__":
    serve()
