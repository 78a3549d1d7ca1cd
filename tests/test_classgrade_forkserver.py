"""The worker server that forks each batch's nbgrader (coursekit/classgrade/forkserver.py).

A stand-in ``nbgrader`` package, first on the server's path, shows what each forked worker gets
(arguments, environment, folder, log, process group) and what happens when things die; the
real nbgrader runs through the server in tests/test_classgrade.py.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coursekit.classgrade.forkserver import WorkerServer, WorkerServerError

FAKE_NBGRADER = '''
import os, sys, time

def main():
    print("argv", sys.argv[1:])
    print("env", os.environ.get("BATCH_VALUE"), "leaked" if "SERVER_ONLY" in os.environ else "clean")
    print("cwd", os.getcwd())
    print("group", os.getpgid(0) == os.getpid())
    sys.stdout.flush()
    if "sleep" in sys.argv:
        time.sleep(600)
    if "ctrl-c" in sys.argv:
        try:
            time.sleep(600)
        except KeyboardInterrupt:
            print("interrupted")
            return 7
    return int(sys.argv[1]) if sys.argv[1:] and sys.argv[1].isdigit() else 0
'''


@pytest.fixture
def fake_nbgrader(tmp_path):
    package = tmp_path / "fake" / "nbgrader" / "apps"
    package.mkdir(parents=True)
    (package.parent / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "nbgraderapp.py").write_text(FAKE_NBGRADER)
    (package.parent / "api.py").write_text("import types\n\ndef create_engine(url, **options):\n    return object()\n\n"
                                           "Base = types.SimpleNamespace(metadata=types.SimpleNamespace(create_all=None))\n")
    (package.parent / "nbgraderformat").mkdir()
    (package.parent / "nbgraderformat" / "__init__.py").write_text("")
    (package.parent / "nbgraderformat" / "common.py").write_text("import jsonschema\n")
    return tmp_path / "fake"


def server_env(fake: Path, **extra: str) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "PYTHONPATH": str(fake), **extra}


def wait_for(worker, seconds=30):
    deadline = time.monotonic() + seconds
    while worker.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return worker.returncode


def test_each_worker_gets_its_arguments_environment_folder_log_and_group(fake_nbgrader, tmp_path):
    folders = [tmp_path / "a", tmp_path / "b"]
    for folder in folders:
        folder.mkdir()
    server = WorkerServer(tmp_path, server_env(fake_nbgrader, SERVER_ONLY="1"), tmp_path / "server.log")
    try:
        workers = [server.start([str(code), "x"], {"BATCH_VALUE": f"v{code}", "PATH": os.environ["PATH"]},
                                folder, tmp_path / f"log{code}.txt") for code, folder in zip((0, 3), folders)]
        assert [wait_for(worker) for worker in workers] == [0, 3]
        for code, folder in zip((0, 3), folders):
            log = (tmp_path / f"log{code}.txt").read_text()
            assert f"argv ['{code}', 'x']" in log
            assert f"env v{code} clean" in log
            assert f"cwd {folder}" in log
            assert "group True" in log
    finally:
        server.close()


def test_killing_a_workers_group_stops_it_and_sigint_reaches_it_as_ctrl_c(fake_nbgrader, tmp_path):
    server = WorkerServer(tmp_path, server_env(fake_nbgrader), tmp_path / "server.log")
    try:
        sleeper = server.start(["sleep"], {"PATH": os.environ["PATH"]}, tmp_path, tmp_path / "sleep.txt")
        interrupted = server.start(["ctrl-c"], {"PATH": os.environ["PATH"]}, tmp_path, tmp_path / "int.txt")
        time.sleep(1.0)  # both are in their main()
        os.killpg(sleeper.pid, signal.SIGKILL)
        interrupted.send_signal(signal.SIGINT)
        assert wait_for(sleeper) == -signal.SIGKILL
        assert wait_for(interrupted) == 7
        assert "interrupted" in (tmp_path / "int.txt").read_text()
    finally:
        server.close()


def test_workers_die_with_the_server_and_the_cause_is_named(fake_nbgrader, tmp_path):
    server = WorkerServer(tmp_path, server_env(fake_nbgrader), tmp_path / "server.log")
    worker = server.start(["sleep"], {"PATH": os.environ["PATH"]}, tmp_path, tmp_path / "sleep.txt")
    time.sleep(0.5)
    server.process.kill()
    assert wait_for(worker) == -signal.SIGTERM
    # (the stand-in nbgrader is not the code upstream_changes was checked on: its log says so last)
    assert server.why().startswith(f"exit code {-signal.SIGKILL}")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(worker.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the worker outlived its server")
    with pytest.raises(WorkerServerError, match="gone"):
        server.start(["0"], {}, tmp_path, tmp_path / "late.txt")
    server.close()


def test_a_server_that_cannot_start_says_why(tmp_path):
    broken = tmp_path / "broken" / "nbgrader" / "apps"
    broken.mkdir(parents=True)
    (broken.parent / "__init__.py").write_text("raise ImportError('this nbgrader is broken')\n")
    with pytest.raises(WorkerServerError, match="did not start: exit code 1: ImportError: this nbgrader is broken"):
        WorkerServer(tmp_path, server_env(tmp_path / "broken"), tmp_path / "server.log")


def test_a_class_run_whose_worker_server_cannot_start_is_refused_naming_the_cause(tmp_path, monkeypatch, capsys):
    from coursekit import classroom
    from coursekit.classgrade import cli, forkserver

    root = classroom.make_course(tmp_path / "class")
    classroom.release_course(root)
    classroom.submit(root, "pat", classroom.load_catalogue().BY_NAME["reference"])
    broken = tmp_path / "broken_server.py"
    broken.write_text("raise SystemExit('no nbgrader on this machine')\n")
    monkeypatch.setattr(forkserver, "SERVER_PROGRAM", broken)
    code = cli.main(["dropout", "--course-root", str(root), "--progress", "none"])
    error = capsys.readouterr().err
    assert code == cli.UNUSABLE, error
    assert "the nbgrader worker server did not start: exit code 1: no nbgrader on this machine" in error
    assert not (root / "autograded" / "pat").exists()  # nothing graded, nothing recorded as a grade


def test_a_forked_worker_is_plain_nbgrader_without_the_iri_grammars(tmp_path):
    """The real server: a worker's ``nbgrader --version`` is ``python -m nbgrader``'s, and the
    server imported nbgrader without jsonschema's IRI grammars (worker.py)."""
    from coursekit.classgrade.forkserver import SERVER_PROGRAM
    from coursekit.release import nbgrader_env

    server = WorkerServer(tmp_path, nbgrader_env(), tmp_path / "server.log")
    try:
        worker = server.start(["--version"], nbgrader_env(), tmp_path, tmp_path / "version.txt")
        assert wait_for(worker, 120) == 0
    finally:
        server.close()
    plain = subprocess.run([sys.executable, "-m", "nbgrader", "--version"], capture_output=True, text=True, timeout=120)
    assert (tmp_path / "version.txt").read_text() == plain.stdout
    probe = subprocess.run([sys.executable, "-c", f"import runpy, sys; runpy.run_path({str(SERVER_PROGRAM)!r})"
                            "['warm_up'](); print(sys.modules['rfc3987_syntax'] is None, 'lark' in sys.modules)"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert probe.stdout.split() == ["True", "False"], probe.stderr


def test_gradebooks_in_a_worker_share_one_engine_per_database(tmp_path):
    """In a warmed worker, nbgrader's Gradebooks for one database share an engine (whose compiled
    queries are kept), a closed Gradebook leaves it usable, and another database gets its own."""
    from coursekit.classgrade.forkserver import SERVER_PROGRAM
    from coursekit.release import nbgrader_env

    probe = f"""
import runpy, sys
runpy.run_path({str(SERVER_PROGRAM)!r})['warm_up']()
from nbgrader.api import Gradebook
with Gradebook('sqlite:///' + sys.argv[1]) as first:
    first.add_student('pat')
    engine = first.engine
with Gradebook('sqlite:///' + sys.argv[1]) as second:
    print(second.engine is engine, [student.id for student in second.students])
with Gradebook('sqlite:///' + sys.argv[2]) as other:
    print(other.engine is engine, [student.id for student in other.students])
"""
    done = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "a.db"), str(tmp_path / "b.db")],
                          cwd=tmp_path, env=nbgrader_env(), capture_output=True, text=True, timeout=120)
    assert done.stdout.splitlines() == ["True ['pat']", "False []"], done.stderr


def test_a_worker_creates_tables_and_checks_schemas_once(tmp_path):
    """In a warmed worker, a second Gradebook on a database runs no table creation (a new
    database still gets its tables), and nbgrader's cell metadata schema is checked once, not
    once per cell, while invalid metadata is still refused."""
    from coursekit.classgrade.forkserver import SERVER_PROGRAM
    from coursekit.release import nbgrader_env

    probe = f"""
import runpy, sys
runpy.run_path({str(SERVER_PROGRAM)!r})['warm_up']()
import jsonschema, sqlalchemy
from nbgrader.api import Gradebook
from nbgrader.nbgraderformat import MetadataValidator
with Gradebook('sqlite:///' + sys.argv[1]) as first:
    first.add_student('pat')
statements = []
sqlalchemy.event.listen(first.engine, 'before_cursor_execute', lambda *args: statements.append(args[2]))
with Gradebook('sqlite:///' + sys.argv[1]) as second:
    print(len([s for s in statements if 'table_info' in s.lower()]), [student.id for student in second.students])
with Gradebook('sqlite:///' + sys.argv[2]) as other:
    print([student.id for student in other.students])
checked = []
cls = jsonschema.validators.validator_for(MetadataValidator().schema)
original = cls.check_schema
cls.check_schema = classmethod(lambda c, schema, **kw: checked.append(1) or original.__func__(c, schema, **kw))
validator = MetadataValidator()
cell = {{'grade': True, 'solution': False, 'locked': False, 'points': 1, 'grade_id': 'a', 'schema_version': 3}}
from nbformat import from_dict
for _ in range(3):
    validator.validate_cell(from_dict({{'cell_type': 'code', 'metadata': {{'nbgrader': cell}}, 'source': ''}}))
try:
    validator.validate_cell(from_dict({{'cell_type': 'code', 'metadata': {{'nbgrader': {{**cell, 'points': 'many'}}}}, 'source': ''}}))
    print(len(checked), 'accepted')
except jsonschema.ValidationError as error:
    print(len(checked), 'refused', error.message)
"""
    done = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "a.db"), str(tmp_path / "b.db")],
                          cwd=tmp_path, env=nbgrader_env(), capture_output=True, text=True, timeout=120)
    assert done.stdout.splitlines() == ["0 ['pat']", "[]", "1 refused 'many' is not of type 'number'"], done.stderr
