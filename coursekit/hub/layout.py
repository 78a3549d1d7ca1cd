"""Folders of the course's hub: the course root, nbgrader's exchange, the servers' settings.

    <root>/made.json             what the set-up made (coursekit/hub/made.py), root only
    <root>/state/                the hub's database, cookie secret, pid and log, root only
    <root>/etc/jupyter/          every server's nbgrader and server settings, readable by all
    <root>/etc/formgrader/       the course's formgrader service's settings
    <root>/exchange/             nbgrader's exchange (1777); <course_id>/inbound is 2773, group graders
    <root>/course/               a copy of the repository's tracked files, owner instructor,
                                 group graders, 2770/660: nobody else reads solutions or checks;
                                 course/assignments/ is nbgrader's course root
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

from coursekit.hub.accounts import People
from coursekit.hub.made import Record
from coursekit.manifest import COURSE
from coursekit.paths import REPO_ROOT

HERE = Path(__file__).resolve().parent


def course_root(root: Path) -> Path:
    return root / "course" / "assignments"


def exchange_root(root: Path) -> Path:
    return root / "exchange"


def _folder(path: Path, mode: int, record: Record, owner: str = "root", group: str = "root") -> None:
    record.add("folders", str(path))
    path.mkdir(parents=True, exist_ok=True)
    shutil.chown(path, owner, group)
    path.chmod(mode)


def make_layout(root: Path, people: People, record: Record) -> None:
    """Make every folder of the hub, the course copy and the servers' settings."""
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    _folder(root / "state", 0o700, record)
    _write_settings(root, people, record)
    _make_exchange(root, people, record)
    _copy_course(root, people, record)


def _make_exchange(root: Path, people: People, record: Record) -> None:
    # nbgrader's release refuses an exchange root whose mode is not 777 (the sticky bit is
    # allowed). The course's folders are made here so inbound belongs to the graders' group.
    _folder(exchange_root(root), 0o1777, record)
    course = exchange_root(root) / COURSE.course_id
    _folder(course, 0o2755, record, people.instructor, people.graders_group)
    _folder(course / "outbound", 0o2775, record, people.instructor, people.graders_group)
    # What nbgrader's release makes with groupshared (below): students may enter and write, not
    # list; the graders' group lists and collects.
    _folder(course / "inbound", 0o2773, record, people.instructor, people.graders_group)
    _folder(course / "feedback", 0o2711, record, people.instructor, people.graders_group)


def _tracked_files() -> list[str]:
    listing = subprocess.run(["git", "-C", str(REPO_ROOT), "ls-files", "-z"], check=True,
                             capture_output=True, text=True).stdout
    return [name for name in listing.split("\0") if name and (REPO_ROOT / name).is_file()]


def _copy_course(root: Path, people: People, record: Record) -> None:
    """The repository's tracked files (as in the working tree) into ``<root>/course``, once."""
    course = root / "course"
    _folder(course, 0o2770, record, people.instructor, people.graders_group)
    if (course / "assignments" / "nbgrader_config.py").exists():
        return  # the course root holds the instructor's work: never copied over
    for name in _tracked_files():
        target = course / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, target)
    _set_access(course / "coursekit" / "course.toml", people)
    _enable_late_penalty(course / "assignments" / "nbgrader_config.py")
    uid, gid = pwd.getpwnam(people.instructor).pw_uid, grp.getgrnam(people.graders_group).gr_gid
    for folder, _, files in os.walk(course):
        os.chown(folder, uid, gid)
        os.chmod(folder, 0o2770)
        for name in files:
            path = os.path.join(folder, name)
            os.chown(path, uid, gid)
            os.chmod(path, 0o770 if os.access(path, os.X_OK) else 0o660)


def _set_access(manifest: Path, people: People) -> None:
    """The copy's ``[access]``: served to students, graders = the hub's graders' group. The
    preflight (coursekit/preflight.py) then counts the TA as a grader rather than refusing every
    nbgrader command because the course is open to a group with someone besides its owner."""
    text = manifest.read_text()
    wanted = {"shared": "true", "graders_group": f'"{people.graders_group}"'}
    table = re.search(r"^\[access\]\n(?:(?!\[).*\n?)*", text, flags=re.M)
    if table is None:
        text += "\n[access]\n" + "".join(f"{key} = {value}\n" for key, value in wanted.items())
    else:
        body = table.group(0)
        for key, value in wanted.items():
            body, found = re.subn(rf"^{key}\s*=\s*[^#\n]*?(\s*(#.*)?)$", rf"{key} = {value}\1", body, flags=re.M)
            if not found:
                body += f"{key} = {value}\n"
        text = text[:table.start()] + body + text[table.end():]
    access = tomllib.loads(text)["access"]
    if access != {"shared": True, "graders_group": people.graders_group}:
        raise SystemExit(f"coursekit.hub: could not set [access] in {manifest}: read back {access}")
    manifest.write_text(text)


LATE_PENALTY = '''
# The course's hub (coursekit/hub/layout.py): a late penalty per started day after the due date
# (docs/instructors.md, "Late submissions"), applied at autograde on every route.
c.AssignLatePenalties.plugin_class = "coursekit.export.PointsPerDayLate"
c.PointsPerDayLate.points_per_day = {points}
'''
LATE_POINTS_PER_DAY = 2


def _enable_late_penalty(config: Path) -> None:
    text = config.read_text()
    if "AssignLatePenalties.plugin_class" not in text:
        config.write_text(text + LATE_PENALTY.format(points=LATE_POINTS_PER_DAY))


def _write_settings(root: Path, people: People, record: Record) -> None:
    etc = root / "etc" / "jupyter"
    _folder(root / "etc", 0o755, record)
    _folder(etc, 0o755, record)
    shutil.copy(HERE / "private_submit.py", etc / "private_submit.py")
    (etc / "nbgrader_config.py").write_text(NBGRADER_CONFIG.format(exchange=exchange_root(root)))
    (etc / "jupyter_server_config.py").write_text(SERVER_CONFIG)
    formgrader = root / "etc" / "formgrader"
    _folder(formgrader, 0o755, record)
    (formgrader / "jupyter_server_config.py").write_text(FORMGRADER_CONFIG)
    # JupyterLab's side of the same split: the formgrader and create-assignment panels only in
    # the service's lab (the first folder on its JUPYTER_CONFIG_PATH wins).
    written = [etc / "nbgrader_config.py", etc / "jupyter_server_config.py", etc / "private_submit.py",
               formgrader / "jupyter_server_config.py"]
    for folder, enabled in ((etc, False), (formgrader, True)):
        _folder(folder / "labconfig", 0o755, record)
        page = folder / "labconfig" / "page_config.json"
        disabled = {**{name: not enabled for name in GRADER_PANELS}, NEWS: True}
        page.write_text(json.dumps({"disabledExtensions": disabled}, indent=1))
        written.append(page)
    for path in written:
        path.chmod(0o644)


GRADER_PANELS = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment")
# JupyterLab's offer to fetch Jupyter's news from the internet: a course's servers ask nothing
# of their students that is not the course's.
NEWS = "@jupyterlab/apputils-extension:announcements"


NBGRADER_CONFIG = '''"""nbgrader settings of every server of the course's hub (written by coursekit/hub/layout.py)."""
import os
import sys

c = get_config()  # noqa: F821
c.Exchange.root = "{exchange}"
# One exchange for several courses; who takes which course comes from the hub's groups
# nbgrader-<course_id> (students) and formgrade-<course_id> (graders).
c.Exchange.path_includes_course = True
c.Authenticator.plugin_class = "nbgrader.auth.JupyterHubAuthPlugin"
# The instructor and the TAs work in one course root and collect from one inbound: nbgrader
# keeps the files it writes there writable by the group (the graders' Unix group).
c.CourseDirectory.groupshared = True
# Submissions readable by their student and the graders only (private_submit.py, beside this file).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
c.ExchangeFactory.submit = "private_submit.PrivateSubmit"
'''

SERVER_CONFIG = '''"""Every user's own server: assignments and courses, never formgrader (written by coursekit/hub)."""
c = get_config()  # noqa: F821
c.ServerApp.jpserver_extensions = {
    "nbgrader.server_extensions.formgrader": False,
    "nbgrader.server_extensions.assignment_list": True,
    "nbgrader.server_extensions.course_list": True,
    "nbgrader.server_extensions.validate_assignment": True,
}
c.LabApp.default_url = "/lab"
# Without a trash the server refuses to delete a folder that is not empty ("Delete Failed"):
# deleting one in the file browser deletes it.
c.FileContentsManager.always_delete_dir = True
# JupyterHub stops servers with SIGINT: stop at once instead of asking on a terminal nobody sees.
c.ServerApp.answer_yes = True
'''

FORMGRADER_CONFIG = '''"""The course's formgrader service, run as the instructor in the course root (coursekit/hub)."""
c = get_config()  # noqa: F821
c.ServerApp.jpserver_extensions = {
    "nbgrader.server_extensions.formgrader": True,
    "nbgrader.server_extensions.assignment_list": False,
    "nbgrader.server_extensions.course_list": False,
    "nbgrader.server_extensions.validate_assignment": True,
}
# JupyterHub >= 4.1 sends frame-ancestors 'none', which blanks formgrader's panel inside
# JupyterLab (nbgrader#1870); the panel is a frame of this same server, so 'self' is enough.
c.ServerApp.tornado_settings = {"headers": {"Content-Security-Policy": "frame-ancestors 'self'"}}
# The hub stops its services with SIGINT and waits 30 s before a SIGTERM: stop at the first.
c.ServerApp.answer_yes = True
'''


def remove_folders(record: Record) -> list[str]:
    """Remove the recorded folders (deepest first); returns what was removed."""
    removed = []
    for name in sorted(record.folders, key=len, reverse=True):
        if Path(name).exists():
            shutil.rmtree(name)
            removed.append(name)
        record.folders.remove(name)
        record.save()
    return removed
