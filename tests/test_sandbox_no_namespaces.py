"""Where unprivileged user namespaces are off (Zero to JupyterHub's pods, say), grading refuses
before it grades anything, naming bubblewrap's own error and the ways out (docs/hub-instructors.md).

The machine keeps them on: the test turns them off for its own commands only, which run in a
user namespace of their own whose limit of nested user namespaces is 0
(/proc/sys/user/max_user_namespaces). bubblewrap then fails there with the kernel's own error,
as in a pod that allows no namespaces.
"""

import os
import shutil
import subprocess
import sys

import pytest

from coursekit import sandbox
from coursekit.manifest import COURSE
from coursekit.release import nbgrader_env
from conftest import make_class

DROPOUT = COURSE.assignment_named("dropout")
# Runs "$@" in a user namespace of its own (as its root) in which no further one can be made.
WITHOUT_NAMESPACES = ["unshare", "--user", "--map-root-user", "sh", "-c",
                      'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"', "without-namespaces"]

pytestmark = [pytest.mark.skipif(shutil.which("unshare") is None, reason="util-linux's unshare is missing"),
              pytest.mark.skipif(sandbox.probe() is not None, reason=f"bwrap unusable: {sandbox.probe()}"),
              pytest.mark.skipif(os.geteuid() != 0, reason="the namespace maps root: the course's files must be root's")]


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return make_class(tmp_path_factory.mktemp("no-namespaces") / "course", {"ada": "reference"})


def without_namespaces(*command, cwd):
    env = {**os.environ, **nbgrader_env(), "DROPOUT_COURSE_REPO": str(sandbox.REPO_ROOT),
           sandbox.PASSED_ENV: ""}  # the probe must run again in there
    return subprocess.run([*WITHOUT_NAMESPACES, *command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def assert_refused_naming_the_cause(done, root):
    assert done.returncode != 0, done.stdout[-2000:]
    said = " ".join((done.stdout + done.stderr).split())
    assert "grading refuses to run student code unconfined" in said, said[-3000:]
    assert "Creating new namespace failed" in said  # bubblewrap's own words
    assert "unprivileged user namespaces are off" in said and sandbox.UNCONFINED_ENV in said
    assert not (root / "autograded" / "ada").exists()


def test_the_namespace_really_stops_bubblewrap(tmp_path):
    done = without_namespaces("bwrap", "--unshare-user", "--ro-bind", "/", "/", "true", cwd=tmp_path)
    assert done.returncode != 0 and "Creating new namespace failed" in done.stderr, done.stderr


def test_nbgrader_autograde_refuses(course):
    done = without_namespaces(sys.executable, "-m", "nbgrader", "autograde", DROPOUT.name, cwd=course)
    assert_refused_naming_the_cause(done, course)


def test_the_class_command_refuses(course):
    done = without_namespaces(sys.executable, "-m", "coursekit.classgrade", DROPOUT.name, "--course-root", str(course),
                              cwd=sandbox.REPO_ROOT)
    assert_refused_naming_the_cause(done, course)
