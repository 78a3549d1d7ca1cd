"""The nbgrader worker server's program (see ``forkserver.py``), run by path with
``runpy.run_path`` in the course root: standard library only, no package around it.
"""

import gc
import json
import os
import select
import signal
import sys
import time

REAP_SECONDS = 0.05


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


def _course_repository() -> str:
    """The course's repository: DROPOUT_COURSE_REPO (as nbgrader_env sets it), else this file's."""
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    repository = os.environ.get("DROPOUT_COURSE_REPO") or here
    return repository if os.path.isdir(os.path.join(repository, "coursekit")) else here


def warm_up() -> None:
    """Import what a batch imports: nbgrader's command line, then (as autograde runs) the SQLite
    dialect, the course's configuration (pytest) and the kernel manager's kernel-spec lookup
    (IPython); compile nbformat's notebook schema; apply the changes to nbgrader of
    ``coursekit/upstream_changes.py`` (jsonschema without the IRI grammars, one engine per
    database, tables created once, the metadata schema compiled once); collect the hidden checks."""
    repository = _course_repository()
    if repository not in sys.path:
        sys.path.insert(0, repository)
    from coursekit import upstream_changes

    upstream_changes.skip_iri_syntax_checks()
    import IPython  # noqa: F401
    import jupyter_client.manager  # noqa: F401
    import pytest  # noqa: F401
    import sqlalchemy.dialects.sqlite  # noqa: F401
    from nbgrader.apps import nbgraderapp  # noqa: F401
    # nbformat compiles its notebook schema (strict, and relaxed as nbconvert checks after each
    # preprocessor) on first use: once here, not once per batch.
    import nbformat.v4
    import nbformat.validator

    for relaxed in (False, True):
        nbformat.validator.get_validator(4, nbformat.v4.nbformat_minor, relax_add_props=relaxed)
    upstream_changes.apply_to_nbgrader()
    # The hidden checks too: each batch then checks its submissions in children of its own,
    # without a checks server.
    from coursekit.grading.checks_server import warm_up_here

    warm_up_here()


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


def run_nbgrader() -> int:
    """nbgrader's own command line, on ``sys.argv``: what a forked worker runs."""
    from nbgrader.apps.nbgraderapp import main

    return main()


if __name__ == "__main__":
    serve()  # returns only in a forked worker
    sys.exit(run_nbgrader())
