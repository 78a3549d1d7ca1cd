"""The nbgrader worker server's program (see ``forkserver.py``), run by path with
``runpy.run_path`` in the course root: standard library only at module level, no package
around it; it imports the course's ``coursekit`` (the upstream changes, the fork loop of
``forking.py``, the hidden checks) from the course's repository as it warms up.
"""

import gc
import json
import os
import signal
import sys


def _send(message: dict) -> None:
    sys.__stdout__.write(json.dumps(message) + "\n")
    sys.__stdout__.flush()


def _become_worker(forking, request: dict, server_pid: int) -> int:
    """In the forked child: a process group of its own, death with the server, the batch's
    streams, folder, environment and arguments; then nbgrader's own command line."""
    import ctypes

    os.setpgid(0, 0)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (AttributeError, OSError):
        pass
    if os.getppid() != server_pid:  # the server died before the line above
        os._exit(1)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # the coordinator's stop
    forking.stdin_from_null()
    forking.redirect(request["log"], (1, 2), append=True, mode=0o644)
    sys.stdout = sys.__stdout__
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["nbgrader", *request["argv"]]
    return run_nbgrader()


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
    """Warm up, then fork one worker per request (``coursekit/forking.py``); a worker runs
    nbgrader and ends as nbgrader's command line would (exit code, atexit handlers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    warm_up()
    from coursekit import forking

    # What the imports allocated is never collected: a worker's garbage collections then walk
    # only its own objects, instead of reading, and so copying, every page of the server's heap.
    gc.freeze()
    sys.stdout = sys.stderr  # protocol output only on the real stdout
    server_pid = os.getpid()

    def worker(line: bytes):
        request = json.loads(line)
        return lambda: _become_worker(forking, request, server_pid)

    def started(pid: int, line: bytes) -> None:
        try:
            os.setpgid(pid, pid)  # also here: the pid is sent only once it leads its group
        except OSError:
            pass
        _send({"pid": pid})

    _send({"ready": True})
    forking.serve_requests(worker, started, lambda pid, code, line: _send({"ended": pid, "code": code}),
                           exit_normally=True)
    sys.exit(0)


def run_nbgrader() -> int:
    """nbgrader's own command line, on ``sys.argv``: what a forked worker runs."""
    from nbgrader.apps.nbgraderapp import main

    return main()


if __name__ == "__main__":
    serve()  # a forked worker ends in it too, with nbgrader's exit code
