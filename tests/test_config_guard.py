"""A course config that fails to load stops every nbgrader command (issue 14, "no silent fallback").

traitlets logs an exception raised by ``nbgrader_config.py`` and goes on with nbgrader's
defaults: stock nbgrader, no sandbox, no hidden checks, exit 0. The course config ends its own
load failures in SystemExit (missing pytest, no repository); a file that cannot even be compiled,
or raises after its settings, is stopped by ``etc/jupyter/nbgrader_config.py``, which pip installs
into the environment's Jupyter config folder and nbgrader reads first. Here it is put on
``JUPYTER_CONFIG_PATH`` so the test does not depend on how the environment was installed.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest

from coursekit import release as release_module
from coursekit.manifest import COURSE
from coursekit.paths import REPO_ROOT
from test_release import copy_course

DROPOUT = COURSE.assignment_named("dropout")  # the assignment these tests grade
ASSIGNMENT = DROPOUT.name
GUARD = REPO_ROOT / "etc" / "jupyter" / "nbgrader_config.py"
COMMANDS = [["autograde", ASSIGNMENT], ["generate_assignment", ASSIGNMENT], ["generate_feedback", ASSIGNMENT],
            ["export"]]


def nbgrader(root, command, env):
    return subprocess.run([sys.executable, "-m", "nbgrader", *command], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("command", COMMANDS[:2] + COMMANDS[3:])
@pytest.mark.parametrize("broken, words", [
    ("no-pytest", "cannot load the course's grading: ImportError: no pytest here"),
    ("no-repo", "no coursekit/grading in"),
])
def test_every_nbgrader_command_stops_when_the_course_config_cannot_load(tmp_path, command, broken, words):
    """The config's own refusals, without the guard."""
    root = copy_course(tmp_path)
    env = release_module.nbgrader_env()
    if broken == "no-pytest":  # what `pip install ".[grading]"` gave before pytest joined the extra
        fake = tmp_path / "fake"
        fake.mkdir()
        (fake / "pytest.py").write_text('raise ImportError("no pytest here")\n')
        env["PYTHONPATH"] = str(fake)
    else:
        env["DROPOUT_COURSE_REPO"] = str(tmp_path / "nowhere")
    done = nbgrader(root, command, env)
    assert done.returncode == 2, done.stderr[-2000:]
    assert words in done.stderr and str(root / "nbgrader_config.py") in done.stderr
    assert not (root / "release").exists() and not (root / "gradebook.db").exists()


BROKEN = {  # how the file is broken -> (its new text from the original, what the message says)
    "syntax error at the end": (lambda text: text + "c.CourseDirectory.db_url = (\n",
                                "SyntaxError: '(' was never closed"),
    "NameError at the end": (lambda text: text + "c.Exchange.root = exchange_root\n",
                             "NameError: name 'exchange_root' is not defined"),
    "ImportError at the top": (lambda text: "import course_extras\n" + text,
                               "ModuleNotFoundError: No module named 'course_extras'"),
}


@pytest.fixture(scope="module")
def broken_courses(tmp_path_factory):
    """One copy of the course per way of breaking its config."""
    courses = {}
    for name, (edit, _) in BROKEN.items():
        root = copy_course(tmp_path_factory.mktemp(name.replace(" ", "-")))
        config = root / "nbgrader_config.py"
        config.write_text(edit(config.read_text()))
        courses[name] = root
    return courses


# Every command with the file that cannot be compiled; the other breakages with autograde (the
# guard does not depend on the command; each run costs a few seconds of CPU).
CASES = [("syntax error at the end", command) for command in COMMANDS] + [
    (broken, COMMANDS[0]) for broken in BROKEN if broken != "syntax error at the end"]


@pytest.mark.parametrize("broken, command", CASES, ids=lambda case: case if isinstance(case, str) else case[0])
def test_the_guard_stops_a_config_that_raises_anywhere(broken_courses, broken, command):
    root = broken_courses[broken]
    lines = (root / "nbgrader_config.py").read_text().splitlines()
    line = 1 if broken.startswith("ImportError") else len(lines)
    env = {**release_module.nbgrader_env(), "JUPYTER_CONFIG_PATH": str(GUARD.parent)}
    done = nbgrader(root, command, env)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"nbgrader: {root / 'nbgrader_config.py'}, line {line}: {BROKEN[broken][1]}" in done.stderr
    assert "would grade as stock nbgrader" in done.stderr
    assert not any((root / folder).exists() for folder in ("release", "autograded", "feedback", "gradebook.db"))


def test_pip_installs_the_guard_into_the_jupyter_config_folder():
    with open(REPO_ROOT / "pyproject.toml", "rb") as file:
        data_files = tomllib.load(file)["tool"]["setuptools"]["data-files"]
    assert data_files["etc/jupyter"] == [str(GUARD.relative_to(REPO_ROOT))]
