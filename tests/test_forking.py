"""The one fork primitive (coursekit/forking.py) that the checks server, the nbgrader worker server
and the serving runner use: a child's exit code, its failure, a deadline, the serve loop."""

import ast
import json
import os
import subprocess
import sys
import time

from coursekit import forking
from coursekit.paths import REPO_ROOT

FORKING = REPO_ROOT / "coursekit" / "forking.py"


def test_a_childs_exit_code_and_its_failure_reach_the_parent(tmp_path):
    assert forking.wait_for(forking.fork_child(lambda: 7)) == 7
    err = tmp_path / "err.txt"

    def fails():
        sys.stderr = open(err, "w")  # (pytest's capture is an object, not file descriptor 2)
        raise ValueError("broken")

    assert forking.wait_for(forking.fork_child(fails, failure_code=3)) == 3
    assert "ValueError: broken" in err.read_text()


def test_a_child_past_its_deadline_is_reported_running_then_killed():
    pid = forking.fork_child(lambda: time.sleep(30) or 0)
    started = time.monotonic()
    assert forking.wait_for(pid, time.monotonic() + 0.3) is None
    assert time.monotonic() - started < 5
    forking.kill_and_reap(pid)
    forking.kill_and_reap(pid)  # gone already: nothing happens
    assert not os.path.exists(f"/proc/{pid}") or "zombie" not in open(f"/proc/{pid}/status").read().lower()


SERVE = """
import json, os, sys, time
sys.path.insert(0, {repo!r})
from coursekit import forking

def work(line):
    if line == b"skip":
        return None
    seconds, code = line.split()
    return lambda: time.sleep(float(seconds)) or int(code)

order = []
forking.serve_requests(work, lambda pid, line: order.append(("started", line.decode())),
                       lambda pid, code, line: order.append(("ended", line.decode(), code)),
                       one_at_a_time={one})
print(json.dumps(order))
"""


def _serve(lines, one_at_a_time):
    done = subprocess.run([sys.executable, "-c", SERVE.format(repo=str(REPO_ROOT), one=one_at_a_time)],
                          input="".join(f"{line}\n" for line in lines), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [tuple(step) for step in json.loads(done.stdout)]


def test_serve_requests_one_at_a_time_ends_each_child_before_the_next():
    assert _serve(["0.3 4", "skip", "0 5"], True) == [
        ("started", "0.3 4"), ("ended", "0.3 4", 4), ("started", "0 5"), ("ended", "0 5", 5)]


def test_serve_requests_runs_children_at_once_and_returns_when_all_ended():
    order = _serve(["0.6 4", "0 5"], False)
    assert order[:2] == [("started", "0.6 4"), ("started", "0 5")]
    assert order[2:] == [("ended", "0 5", 5), ("ended", "0.6 4", 4)]


def test_forking_is_standard_library_only_and_loaded_by_path_by_the_runner():
    tree = ast.parse(FORKING.read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                 and not node.level}
    assert imported <= set(sys.stdlib_module_names)
    assert not [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level]
    for user in ("grading/checks_server.py", "classgrade/forkserver_main.py", "grading/runner.py"):
        source = (REPO_ROOT / "coursekit" / user).read_text()
        assert "forking" in source and "os.fork()" not in source, user
