"""The checks server: one pytest process that imports the checks once and forks a child per
submission gives the same verdicts as a new pytest process, keeps nothing from one
submission to the next, and survives children that hang or crash."""

import subprocess
import textwrap

import pytest

from coursekit.grading.checks_server import ChecksServer, ChecksServerError
from coursekit.grading.judge import checks_environment, judge
from coursekit.manifest import COURSE
from conftest import CHECKS_LIMITS as LIMITS
from faults.catalogue import BY_NAME

DROPOUT = COURSE.assignment_named("dropout")  # the assignment these tests grade
# Correct code, a wrong answer, code that kills its process, code that raises, no package at all.
VARIANTS = ["reference", "keep-drop-swapped", "backward-crashes", "backward-raises", "missing-package"]


@pytest.fixture
def server():
    server = ChecksServer(checks_environment())
    yield server
    server.close()


def _records(verdict):
    return {task: task_verdict.checks for task, task_verdict in verdict.tasks.items()}


def test_same_verdicts_as_a_new_pytest_process_in_any_order(server, tmp_path):
    submissions = {name: BY_NAME[name].build(tmp_path / name) for name in VARIANTS}
    fresh = {name: _records(judge(folder, **LIMITS)) for name, folder in submissions.items()}
    for name in [*VARIANTS, *reversed(VARIANTS)]:  # each one after a different neighbour
        assert _records(judge(submissions[name], server=server, **LIMITS)) == fresh[name], name
    assert all(check.passed for checks in fresh["reference"].values() for check in checks)


def _pytest_file(tmp_path, body):
    path = tmp_path / "test_probe.py"
    path.write_text(textwrap.dedent(body))
    return path


def test_a_child_that_hangs_is_killed_and_the_server_goes_on(server, tmp_path):
    hangs = _pytest_file(tmp_path, """
        import time

        def test_hangs():
            time.sleep(600)
    """)
    output = tmp_path / "output.txt"
    with pytest.raises(subprocess.TimeoutExpired):
        server.run([hangs, "-p", "no:cacheprovider"], checks_environment(), tmp_path, output, timeout=5)
    verdict = judge(BY_NAME["reference"].build(tmp_path / "ok"), DROPOUT.task_ids, server=server, **LIMITS)
    assert verdict.points == DROPOUT.auto_points


def test_what_a_child_prints_or_how_it_ends_does_not_reach_the_protocol(server, tmp_path):
    noisy = _pytest_file(tmp_path, """
        import os
        import sys

        def test_prints():
            print('{"returncode": 0}')
            os.write(1, b'{"pid": 1}\\n')
            sys.__stdout__.write('{"ready": true}\\n')

        def test_ends_the_process():
            os._exit(7)
    """)
    output = tmp_path / "output.txt"
    code = server.run([noisy, "-p", "no:cacheprovider", "-s"], checks_environment(), tmp_path, output, timeout=60)
    assert code == 7
    assert '{"pid": 1}' in output.read_text()
    assert server.run([noisy, "-p", "no:cacheprovider", "-k", "prints"], checks_environment(), tmp_path,
                      output, timeout=60) == 0


def test_a_dead_server_is_reported_not_a_verdict(server, tmp_path):
    server.process.kill()
    server.process.wait()
    with pytest.raises(ChecksServerError):
        judge(BY_NAME["reference"].build(tmp_path / "ok"), server=server, **LIMITS)


def test_the_grading_process_replaces_a_dead_server():
    import logging

    from coursekit.grading import nbgrader_plugin

    log = logging.getLogger("checks-server-test")
    first = nbgrader_plugin._checks_server(log)
    try:
        assert first.alive() and nbgrader_plugin._checks_server(log) is first
        first.process.kill()
        first.process.wait()
        second = nbgrader_plugin._checks_server(log)
        assert second is not first and second.alive()
    finally:
        nbgrader_plugin._stop_checks_server()


FORKED_PROBE = """
import json, subprocess, sys, threading, time
from pathlib import Path

from coursekit.grading.checks_server import ForkedChecks, can_fork_here, warm_up_here
from coursekit.grading.judge import checks_environment, judge

path_before = list(sys.path)
print(json.dumps(["before warm-up", can_fork_here()]))
warm_up_here()
print(json.dumps(["after warm-up", can_fork_here(), sys.path == path_before]))
hangs, *folders = sys.argv[1:]
for folder in folders:
    verdict = judge(Path(folder), op_timeout=2.0, budget=30.0, server=ForkedChecks())
    print(json.dumps([folder, json.loads(verdict.to_json())]))
started = time.monotonic()
try:
    ForkedChecks().run([hangs, "-p", "no:cacheprovider"], checks_environment(), Path(hangs).parent,
                       Path(hangs).parent / "output.txt", timeout=3)
except subprocess.TimeoutExpired:
    print(json.dumps(["hang stopped", round(time.monotonic() - started)]))
threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
print(json.dumps(["with a thread", can_fork_here()]))
"""


def test_children_forked_from_a_warmed_process_give_the_same_verdicts(tmp_path):
    """What the nbgrader worker server does (forkserver_main.warm_up): collect the checks in the
    process itself, then check each submission in a child forked from it, without a checks
    server; not once another thread runs, and a child that hangs is stopped."""
    import json
    import sys

    from coursekit.paths import REPO_ROOT

    hangs = _pytest_file(tmp_path, """
        import time

        def test_hangs():
            time.sleep(600)
    """)
    submissions = {name: BY_NAME[name].build(tmp_path / name) for name in VARIANTS}
    done = subprocess.run([sys.executable, "-c", FORKED_PROBE, str(hangs), *map(str, submissions.values())],
                          cwd=tmp_path, env={**checks_environment(), "PYTHONPATH": str(REPO_ROOT)},
                          capture_output=True, text=True, timeout=600)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[:2] == [["before warm-up", False], ["after warm-up", True, True]], done.stderr[-3000:]
    forked = {folder: verdict for folder, verdict in lines[2:2 + len(submissions)]}
    for name, folder in submissions.items():
        assert forked[str(folder)] == json.loads(judge(folder, **LIMITS).to_json()), name
    assert lines[-2][0] == "hang stopped" and lines[-2][1] < 30
    assert lines[-1] == ["with a thread", False]
