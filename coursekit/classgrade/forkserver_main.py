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

IRI_SYNTAX_MODULE = "rfc3987_syntax"  # left out of nbgrader's imports (see worker.py)
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


def share_engines() -> None:
    """One SQLAlchemy engine per database address in each worker, not one per ``Gradebook``.

    nbgrader opens a new engine for every ``Gradebook`` (about nine per submission), and each
    new engine compiles every query again: a quarter of a worker's CPU. A shared engine keeps
    its compiled queries; ``Gradebook.close`` still returns its connections (``dispose``), and
    every session is still its own. The engines are made after the fork, in the worker.
    """
    import nbgrader.api

    create_engine = nbgrader.api.create_engine
    engines = {}

    def shared_engine(url, **options):
        key = (str(url), tuple(sorted(options.items())))
        if key not in engines:
            engines[key] = create_engine(url, **options)
        return engines[key]

    nbgrader.api.create_engine = shared_engine


def create_tables_once() -> None:
    """nbgrader's ``Gradebook`` creates any missing table each time it opens, a query per table
    (thirteen), about nine times per submission: in a worker, once per database address."""
    import nbgrader.api

    metadata = nbgrader.api.Base.metadata
    create_all, created = metadata.create_all, set()

    def create_all_once(bind, **options):
        url = str(bind.url)
        if url not in created:
            create_all(bind=bind, **options)
            created.add(url)

    metadata.create_all = create_all_once


def compile_metadata_schemas_once() -> None:
    """nbgrader checks each graded cell's metadata with ``jsonschema.validate``, which checks the
    schema itself again before every check: a tenth of a worker's CPU on a checks-only
    submission. Here each schema is checked and compiled into a validator once; an invalid cell
    raises the same error as before."""
    import types

    import jsonschema
    import nbgrader.nbgraderformat.common

    compiled = {}

    def validate(instance, schema):
        schema_and_validator = compiled.get(id(schema))
        if schema_and_validator is None or schema_and_validator[0] is not schema:
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            schema_and_validator = compiled[id(schema)] = (schema, cls(schema))
        error = jsonschema.exceptions.best_match(schema_and_validator[1].iter_errors(instance))
        if error is not None:
            raise error

    nbgrader.nbgraderformat.common.jsonschema = types.SimpleNamespace(validate=validate)


def warm_up() -> None:
    """Import what a batch imports: nbgrader's command line, then (as autograde runs) the SQLite
    dialect, the course's configuration (pytest) and the kernel manager's kernel-spec lookup
    (IPython); compile nbformat's notebook schema; share engines (``share_engines``), create
    tables once (``create_tables_once``), compile nbgrader's metadata schemas once; collect the
    hidden checks."""
    sys.modules.setdefault(IRI_SYNTAX_MODULE, None)
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
    share_engines()
    create_tables_once()
    compile_metadata_schemas_once()
    # The hidden checks too, when the course's repository is named (as nbgrader_env does): each
    # batch then checks its submissions in children of its own, without a checks server.
    repository = os.environ.get("DROPOUT_COURSE_REPO")
    if repository and os.path.isdir(os.path.join(repository, "coursekit")):
        if repository not in sys.path:
            sys.path.insert(0, repository)
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
