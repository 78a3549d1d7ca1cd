"""Graded as root, student code gets none of root's privileges (coursekit/sandbox.py).

A submission whose notebook prints what it can find of the shadow passwords, the host's SSH
keys, /root and the grader's environment goes through the real ``nbgrader autograde`` and
``generate_feedback`` with the course's configuration; none of it may reach its graded notebook
or its feedback page.
"""

import os
import secrets
from pathlib import Path

import nbformat
import pytest

from coursekit import classroom, sandbox
from coursekit.manifest import COURSE

DROPOUT = COURSE.assignment_named("dropout")

pytestmark = [pytest.mark.skipif(sandbox.probe() is not None, reason=f"bwrap unusable: {sandbox.probe()}"),
              pytest.mark.skipif(os.geteuid() != 0, reason="the point is grading as root")]

SECRET_ENV = "DROPOUT_GRADER_SECRET"
HOST_KEY = Path("/etc/ssh/ssh_host_test_key")
STUDENT = "mallory"
PROBE_CELL = r"""
import os, glob
def peek(path):
    try:
        if os.path.isdir(path):
            return f"{path}: listed {sorted(os.listdir(path))}"
        with open(path) as file:
            return f"{path}: read {file.read()[:400]!r}"
    except Exception as error:
        return f"{path}: {type(error).__name__}"
targets = ["/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/sudoers.d", "/root", "/home"]
targets += sorted(glob.glob("/etc/ssh/*_key")) + ["/etc/ssh/ssh_host_test_key"]
for path in targets:
    print(peek(path))
print("uid", os.getuid(), "environment", dict(os.environ))
print("probe done")
"""


@pytest.fixture
def secrets_of_the_grader(monkeypatch):
    """A host key only root may read, a file in /root, a variable in the grading process: their
    secret strings."""
    token = secrets.token_hex(12)
    made_key = not HOST_KEY.exists()
    if made_key:
        HOST_KEY.parent.mkdir(exist_ok=True)
        HOST_KEY.write_text(f"-----BEGIN OPENSSH PRIVATE KEY-----\nkey-{token}\n")
        HOST_KEY.chmod(0o600)
    in_root = Path("/root") / f"dropout-grader-note-{token}"
    in_root.write_text(f"note-{token}\n")
    monkeypatch.setenv(SECRET_ENV, f"env-{token}")
    shadow_lines = [line for line in Path("/etc/shadow").read_text().splitlines() if line]
    try:
        yield [f"key-{token}", f"note-{token}", in_root.name, f"env-{token}", *shadow_lines[:3]]
    finally:
        in_root.unlink()
        if made_key:
            HOST_KEY.unlink()


def graded_texts(root):
    graded = root / "autograded" / STUDENT / DROPOUT.name / f"{DROPOUT.notebook}.ipynb"
    feedback = root / "feedback" / STUDENT / DROPOUT.name / f"{DROPOUT.notebook}.html"
    return graded.read_text(), feedback.read_text()


def test_root_grading_hides_the_graders_secrets_from_student_code(secrets_of_the_grader, tmp_path):
    root = classroom.make_course(tmp_path / "course", cell_timeout=60, budget=120)
    classroom.release_course(root)
    folder = classroom.submit(root, STUDENT, classroom.load_catalogue().BY_NAME["stubs"])
    path = folder / f"{DROPOUT.notebook}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(PROBE_CELL))
    nbformat.write(notebook, path)
    classroom.nbgrader(root, "autograde", DROPOUT.name)
    classroom.nbgrader(root, "generate_feedback", DROPOUT.name)
    notebook_text, page = graded_texts(root)
    assert "probe done" in notebook_text and "probe done" in page  # the cell ran, its output is shown
    for text in (notebook_text, page):
        assert [secret for secret in secrets_of_the_grader if secret in text] == []
    assert "uid 65534" in notebook_text and "/etc/shadow: FileNotFoundError" in notebook_text
    assert "/root: FileNotFoundError" in notebook_text and "/etc/ssh/ssh_host_test_key: FileNotFoundError" in notebook_text


WATCHER = r"""
import sys
print("watching", flush=True)
sys.stdin.readline()  # the test made the file
try:
    print(open(sys.argv[1]).read())
except OSError as error:
    print(type(error).__name__)
"""


def test_a_private_file_made_in_etc_while_a_sandbox_runs_stays_out_of_its_sight(tmp_path):
    """The sandbox's /etc is a copy made before it started: a file root makes there afterwards
    (useradd's /etc/shadow+ copy of the shadow file, say) is not in it."""
    import subprocess
    import sys

    secret = Path("/etc") / f"dropout-late-{secrets.token_hex(6)}+"
    command = sandbox.bwrap_command([sys.executable, "-I", "-c", WATCHER, str(secret)], tmp_path, writable=[tmp_path])
    watcher = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert watcher.stdout.readline().strip() == "watching"
        secret.write_text("made-after-the-start\n")
        secret.chmod(0o600)
        out, err = watcher.communicate("made\n", timeout=60)
    finally:
        watcher.kill()
        secret.unlink(missing_ok=True)
    assert "made-after-the-start" not in out and out.strip() == "FileNotFoundError", out + err


@pytest.mark.parametrize("suffix, mode", [("+", 0o600), (".lock", 0o600), ("", 0o644)])
def test_a_file_of_etc_that_vanishes_before_the_sandbox_starts_does_not_stop_it(suffix, mode, tmp_path):
    """useradd's /etc/shadow+ and /etc/passwd.lock live for milliseconds; grading goes on meanwhile."""
    import subprocess
    import sys

    passing = Path("/etc") / f"dropout-vanishing-{secrets.token_hex(6)}{suffix}"
    passing.write_text("brief\n")
    passing.chmod(mode)
    try:
        command = sandbox.bwrap_command([sys.executable, "-I", "-c", "print('started')"], tmp_path, writable=[tmp_path])
    finally:
        passing.unlink()
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "started", done.stderr
