"""Who can read the course (coursekit/preflight.py), tested with real Unix accounts.

A course laid out as Debian lays out a home (umask 022, home 755) in a teacher's home: a student
account reads the solutions there until the commands the preflight prints are run.
"""

import io
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from coursekit import preflight
from coursekit.manifest import ManifestError

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creating Unix accounts needs root")

HUB = {"JUPYTERHUB_API_TOKEN": "token-of-the-hub"}
SOLUTION = "### BEGIN SOLUTION\nmask = rng.random(x.shape) >= p\n### END SOLUTION\n"
# What a student must not read (the fixture writes each), and what is theirs to read.
SECRET_FILES = ("repo/source_pkg/layers.py", "repo/tests/hidden/test_dropout_forward.py",
                "repo/assignments/gradebook.db", "repo/assignments/source/dropout/dropout.ipynb",
                "repo/assignments/submitted/alice/dropout/dropout.ipynb",
                "repo/assignments/autograded/alice/dropout/dropout.ipynb",
                "repo/assignments/feedback/alice/dropout/dropout.html")
PUBLIC_FILE = "repo/assignments/release/dropout/dropout.ipynb"


def _run(*command):
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def accounts():
    """(teacher, student): two real accounts made with useradd -m, removed with userdel -r."""
    tag = secrets.token_hex(3)
    names = (f"pfteach{tag}", f"pfstud{tag}")
    made = []
    try:
        for name in names:
            done = _run("useradd", "-m", "-s", "/bin/sh", name)
            assert done.returncode == 0, done.stderr
            made.append(name)
        yield names
    finally:
        for name in made:
            _run("userdel", "-r", name)


@pytest.fixture
def course(accounts, tmp_path):
    """A course in the teacher's home with Debian's defaults: (repo, course root)."""
    teacher, _ = accounts
    home = Path(f"/home/{teacher}")
    repo = home / "repo"
    old = os.umask(0o022)
    try:
        for relative in (*SECRET_FILES, PUBLIC_FILE):
            path = home / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(SOLUTION)
    finally:
        os.umask(old)
    assert _run("chown", "-R", f"{teacher}:{teacher}", str(repo)).returncode == 0
    yield repo, repo / "assignments"
    _run("rm", "-rf", str(repo))


def check(course, environ, passwd=Path("/etc/passwd")):
    repo, root = course
    out = io.StringIO()
    try:
        preflight.check_course(root, "make release", repo_root=repo, environ=environ, passwd=passwd, stream=out)
    except SystemExit as stop:
        return out.getvalue(), stop.code
    return out.getvalue(), None


def student_reads(accounts, path):
    return _run("runuser", "-u", accounts[1], "--", "cat", str(path)).returncode == 0


def test_under_a_hub_the_preflight_refuses_naming_every_exposed_path(accounts, course):
    repo, root = course
    assert student_reads(accounts, repo / "source_pkg" / "layers.py")  # Debian's defaults: the solutions are open
    said, code = check(course, dict(HUB))
    assert code == 2 and "REFUSED" in said and "JUPYTERHUB_API_TOKEN" in said and preflight.ALLOW_ENV in said
    named = [repo / "source_pkg", repo / "tests", root / "gradebook.db", root / "source", root / "submitted",
             root / "autograded", root / "feedback"]
    assert all(f"  {path}: " in said and f"chmod -R o-rwx {path}" in said for path in named), said
    assert str(root / "release") not in said  # the students' copy is meant for them
    said, code = check(course, {**HUB, preflight.ALLOW_ENV: "1"})
    assert code is None and "WARNING" in said and "every account" in said


def test_the_shared_setting_refuses_as_a_hub_does(accounts, course, tmp_path):
    manifest = tmp_path / "course.toml"
    manifest.write_text("[access]\nshared = true\n")
    repo, root = course
    out = io.StringIO()
    with pytest.raises(SystemExit):
        preflight.check_course(root, "nbgrader autograde", repo_root=repo, environ={}, manifest=manifest, stream=out)
    assert "[access].shared = true" in out.getvalue()


def test_with_other_accounts_it_warns_once_per_command(accounts, course):
    """The command and the processes it starts (nbgrader's workers) say it once."""
    repo, root = course
    script = ("import subprocess, sys\nfrom pathlib import Path\nfrom coursekit.preflight import check_course\n"
              f"for _ in range(2):\n    check_course(Path({str(root)!r}), 'nbgrader autograde', repo_root=Path({str(repo)!r}))\n"
              "subprocess.run([sys.executable, '-c', sys.argv[1]], check=True)\n")
    child = f"from pathlib import Path\nfrom coursekit.preflight import check_course\ncheck_course(Path({str(root)!r}), 'nbgrader autograde', repo_root=Path({str(repo)!r}))"
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("JUPYTERHUB_") and key not in (preflight.CHECKED_ENV, preflight.ALLOW_ENV)}
    env["PYTHONPATH"] = str(preflight.REPO_ROOT)
    done = subprocess.run([sys.executable, "-c", script, child], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("WARNING") == 1 and "other accounts on this machine" in done.stderr, done.stderr
    assert str(repo / "source_pkg") in done.stderr


def test_after_the_printed_commands_it_is_silent_and_a_student_reads_nothing(accounts, course):
    repo, root = course
    said, _ = check(course, dict(HUB))
    fixes = [line.strip() for line in said.split("Close them with:")[1].splitlines() if line.strip().startswith("ch")]
    assert fixes
    for fix in fixes:
        done = subprocess.run(fix, shell=True, capture_output=True, text=True)
        assert done.returncode == 0, (fix, done.stderr)
    (repo / "source_pkg").rename(repo / "instructor_pkg")  # a link's own mode (777) says nothing: its target's does
    (repo / "source_pkg").symlink_to(repo / "instructor_pkg")
    assert check(course, dict(HUB)) == ("", None)
    assert check(course, {}) == ("", None)
    home = repo.parent
    assert [relative for relative in SECRET_FILES if student_reads(accounts, home / relative)] == []
    assert student_reads(accounts, home / PUBLIC_FILE)  # the account itself works
    assert _run("runuser", "-u", accounts[1], "--", "ls", str(root / "submitted")).returncode != 0


def test_a_group_of_students_is_named_and_given_to_the_graders(accounts, course):
    teacher, student = accounts
    repo, root = course
    group = f"pfclass{secrets.token_hex(3)}"
    assert _run("groupadd", group).returncode == 0
    try:
        assert _run("usermod", "-aG", group, student).returncode == 0
        for command in (["chmod", "-R", "o-rwx", str(repo)], ["chgrp", "-R", group, str(repo / "tests")],
                        ["chmod", "o+x", str(repo)]):  # the world may pass through, not look
            assert _run(*command).returncode == 0
        said, code = check(course, dict(HUB))
        assert code == 2 and f"group {group} ({student})" in said
        assert "every account" not in said and f"chgrp -R {teacher} {repo / 'tests'}" in said
        assert student_reads(accounts, repo / "tests" / "hidden" / "test_dropout_forward.py")
    finally:
        _run("groupdel", group)


def test_a_one_person_machine_hears_nothing(accounts, course, tmp_path):
    repo, root = course
    passwd = tmp_path / "passwd"
    me = os.getuid()
    passwd.write_text(f"root:x:0:0:root:/root:/bin/sh\nme:x:{me}:{me}::/home/me:/bin/sh\n"
                      "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    assert preflight.other_accounts(passwd) == []
    assert preflight.exposures(root, repo)  # the files are open: only the machine makes it silent
    assert check(course, {}, passwd=passwd) == ("", None)
    said, code = check(course, dict(HUB), passwd=passwd)
    assert code == 2  # a hub serves other people whatever passwd lists


@pytest.mark.parametrize("table, words", [("shared = 'yes'", "[access].shared = 'yes'"),
                                          ("graders = 'staff'", "[access].graders = 'staff'")])
def test_a_bad_access_setting_is_named(tmp_path, table, words):
    manifest = tmp_path / "course.toml"
    manifest.write_text(f"[access]\n{table}\n")
    with pytest.raises(ManifestError, match=words.replace("[", r"\[").replace("]", r"\]")):
        preflight.read_settings(manifest)


def test_an_unknown_graders_group_stops_the_command_naming_it(accounts, course, tmp_path):
    manifest = tmp_path / "course.toml"
    manifest.write_text("[access]\ngraders_group = 'no-such-group-here'\n")
    repo, root = course
    out = io.StringIO()
    with pytest.raises(SystemExit) as stop:
        preflight.check_course(root, "nbgrader autograde", repo_root=repo, environ=dict(HUB), manifest=manifest,
                               stream=out)
    assert stop.value.code == 2 and "graders_group = 'no-such-group-here'" in out.getvalue()


def test_the_course_manifest_says_the_course_is_not_shared():
    assert preflight.read_settings() == preflight.AccessSettings(shared=False, graders_group="")


@pytest.fixture
def open_course():
    """A course root in a folder every account may enter (tmp_path's parents are root's alone)."""
    import shutil
    import tempfile

    from coursekit import classroom

    folder = Path(tempfile.mkdtemp(prefix="dropout-open-course-"))
    folder.chmod(0o755)
    try:
        root = classroom.make_course(folder / "course")
        (root / "feedback").mkdir()
        yield root
    finally:
        shutil.rmtree(folder)


@pytest.mark.parametrize("command", [["-m", "coursekit.release", "--course-root", "{root}"],
                                     ["-m", "nbgrader", "generate_assignment", "dropout"],
                                     ["-m", "coursekit.classgrade", "dropout", "--course-root", "{root}"]],
                         ids=["make release", "nbgrader", "class command"])
def test_each_command_refuses_under_a_hub_before_it_does_anything(open_course, command):
    from coursekit.release import nbgrader_env

    env = {key: value for key, value in nbgrader_env().items() if key != preflight.CHECKED_ENV}
    env.update(HUB)
    argv = [sys.executable, *(part.format(root=open_course) for part in command)]
    where = open_course if command[1] == "nbgrader" else preflight.REPO_ROOT  # nbgrader runs in the course root
    done = subprocess.run(argv, cwd=where, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "REFUSED" in done.stderr and f"chmod -R o-rwx {open_course / 'feedback'}" in done.stderr
    assert not (open_course / "release").exists() and not (open_course / "gradebook.db").exists()
