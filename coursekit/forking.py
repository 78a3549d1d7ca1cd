"""The one way grading forks a child from a warmed process, waits for it and serves requests.

Three processes pay their imports once and fork a child per request: the checks server
(``grading/checks_server.py``, a submission's checks), the nbgrader worker server
(``classgrade/forkserver_main.py``, a batch's nbgrader) and the serving runner
(``grading/runner.py --serve``, a plan's calls of student code). They all use this module.

Standard library only, no relative import: ``runner.py`` loads it by path in its ``python -I``
process (inside the sandbox, where it is bound read-only).
"""

import gc
import os
import select
import sys
import time
import traceback
from typing import Callable, Optional

POLL_SECONDS = 0.05


def fork_child(work: Callable[[], int], exit_normally: bool = False, failure_code: int = 1) -> int:
    """Fork; in the parent return the child's pid. The child runs ``work()`` and ends with the
    code it returns: by ``os._exit`` (nothing of the parent's flushed twice or run at exit), or,
    with ``exit_normally``, by raising SystemExit, so it ends as a program does (atexit
    handlers, threads joined). An exception in ``work`` is printed and ends the child with
    ``failure_code``."""
    pid = os.fork()
    if pid:
        return pid
    # What the parent allocated is never collected here: the child's collections walk only its
    # own objects instead of reading, and so copying, every page of the parent's heap.
    gc.freeze()
    if exit_normally:
        raise SystemExit(work())
    code = failure_code
    try:
        code = work()
    except BaseException:  # noqa: BLE001 - the child's end is reported as its exit code
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def wait_for(pid: int, deadline: Optional[float] = None) -> Optional[int]:
    """The exit code of child ``pid`` (negative: killed by that signal), or None if it is still
    running at ``deadline`` (``time.monotonic()``; None: wait as long as it runs)."""
    try:
        handle = os.pidfd_open(pid)
    except (AttributeError, OSError):  # before Linux 5.3: poll
        handle = None
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            if handle is None:
                time.sleep(0.01 if left is None else min(left, 0.01))
            else:
                select.select([handle], [], [], left)
    finally:
        if handle is not None:
            os.close(handle)


def kill_and_reap(pid: int, signum: int = 9) -> None:
    """Kill child ``pid`` (SIGKILL by default) and wait for it; nothing if it is gone."""
    try:
        os.kill(pid, signum)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def ended_children() -> list:
    """[(pid, exit code)] of the children that ended since last asked, without waiting."""
    ended = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return ended
        if pid == 0:
            return ended
        ended.append((pid, os.waitstatus_to_exitcode(status)))


def redirect(path: str, fds: tuple = (1, 2), append: bool = False, mode: int = 0o600) -> None:
    """Point file descriptors ``fds`` at the file ``path`` (created; emptied unless ``append``)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    target = os.open(path, flags, mode)
    for fd in fds:
        os.dup2(target, fd)
    os.close(target)


def stdin_from_null() -> None:
    """The child reads nothing of its parent's requests."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)


def serve_requests(child_work: Callable[[bytes], Optional[Callable[[], int]]],
                   started: Callable[[int, bytes], None] = lambda pid, line: None,
                   ended: Callable[[int, int, bytes], None] = lambda pid, code, line: None,
                   one_at_a_time: bool = False, exit_normally: bool = False) -> None:
    """For each line read from stdin, fork a child that runs ``child_work(line)()`` (a line whose
    ``child_work`` is None is skipped); call ``started(pid, line)`` once it is forked and
    ``ended(pid, code, line)`` once it ended. ``one_at_a_time``: wait for each child before the next
    line. Returns when stdin is closed and every child has ended (never in a child)."""
    buffer, open_input, children = b"", True, {}
    while open_input or children:
        if open_input and select.select([0], [], [], POLL_SECONDS)[0]:
            chunk = os.read(0, 65536)
            open_input = bool(chunk)
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                work = child_work(line)
                if work is None:
                    continue
                pid = fork_child(work, exit_normally=exit_normally)
                started(pid, line)
                if one_at_a_time:
                    ended(pid, wait_for(pid), line)
                else:
                    children[pid] = line
        elif not open_input:
            time.sleep(POLL_SECONDS)
        if children:
            for pid, code in ended_children():
                if pid in children:
                    ended(pid, code, children.pop(pid))
