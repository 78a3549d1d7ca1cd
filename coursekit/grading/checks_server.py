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
import select
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Sequence

from ..jsonlines import JsonLinesProcess
from ..paths import REPO_ROOT
from ..sandbox import GRADING_PROCESS_ENV, find_site_paths
from . import prepared_checks
from .judge import checks_arguments

START_TIMEOUT_SECONDS = 60


class ChecksServerError(RuntimeError):
    """The server could not start or stopped answering (not a verdict on any submission)."""


class ChecksServer(JsonLinesProcess):
    """Client side: start the server, run pytest requests on it, stop it (``close``)."""

    def __init__(self, env: dict[str, str]) -> None:
        # Its children fork from a process that has imported numpy: no BLAS thread pools,
        # whose threads would not survive the fork.
        super().__init__(subprocess.Popen([sys.executable, "-m", "coursekit.grading.checks_server"],
                                          cwd=REPO_ROOT, env={**env, **GRADING_PROCESS_ENV}, stdin=subprocess.PIPE,
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
        pid = os.fork()
        if pid == 0:
            gc.freeze()  # the child's collections leave this process's heap alone (see serve)
            _child(_request(args, env, cwd, output))
        try:
            code = _wait(pid, time.monotonic() + timeout)
        except BaseException:  # Ctrl-C or a stop of this process: the child goes too
            _kill(pid)
            raise
        if code is None:
            _kill(pid)
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
    os.environ.update({**checks_environment(), **GRADING_PROCESS_ENV})
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


def _wait(pid: int, deadline: float) -> int | None:
    """The exit code of child ``pid``, or None if it is still running at ``deadline``."""
    try:
        handle = os.pidfd_open(pid)
    except (AttributeError, OSError):  # before Linux 5.3: poll
        handle = None
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if handle is None:
                time.sleep(min(left, 0.01))
            else:
                select.select([handle], [], [], left)
    finally:
        if handle is not None:
            os.close(handle)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


# -- the server process ----------------------------------------------------------------------

def _send(message):
    sys.__stdout__.write(json.dumps(message) + "\n")
    sys.__stdout__.flush()


def _redirect(path, fds):
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    for fd in fds:
        os.dup2(target, fd)
    os.close(target)


def _warm_up():
    """Import pytest, the course's plugin and every check module, as a real run would (the check
    modules plan their calls on import), and configure pytest for them (``prepared_checks``);
    ask the runner's Python what the sandbox binds (``sandbox.find_site_paths``)."""
    import numpy.random  # noqa: F401
    import pytest

    find_site_paths()

    saved = [os.dup(1), os.dup(2)]
    _redirect(os.devnull, (1, 2))
    try:
        pytest.main([*checks_arguments(), "--collect-only"])
        prepared_checks.prepare(checks_arguments())
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in zip((1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)


def _child(request):
    code = 3
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        _redirect(request["output"], (1, 2))
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        signal.signal(signal.SIGINT, signal.default_int_handler)
        code = prepared_checks.run(request["args"])
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


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
    for line in sys.stdin.buffer:
        try:
            request = json.loads(line)
        except ValueError:
            continue
        pid = os.fork()
        if pid == 0:
            _child(request)
        _send({"pid": pid})
        _, status = os.waitpid(pid, 0)
        _send({"returncode": os.waitstatus_to_exitcode(status)})


if __name__ == "__main__":
    serve()
