"""Who can read the course: the instructor's files must be open to the course's graders alone.

``check_course(course_root, command)`` runs before ``make release``, every ``nbgrader`` command
run with the course's configuration (formgrader included) and the class command. It looks at
the instructor edition of ``source_pkg``, the repository's ``tests/`` (the hidden checks and the
fault catalogue, working solutions among them), its ``.git`` (every solution is in the history),
and the course root's gradebook (``gradebook.db``), ``source/``, ``submitted/``, ``autograded/``
and ``feedback/``. An entry is exposed when an account that is not a grader can read or write
it: the world (every folder on its path enterable by all, and the entry readable or writable by
all), or the members of its group when that group is not the graders' and has members who are
not graders. Each exposed path is named with the ``chmod``/``chgrp`` lines that close it.

What happens then depends on who else may log in:

- served to students (a ``JUPYTERHUB_*`` variable in the environment, or ``shared = true`` in
  ``[access]`` of ``coursekit/course.toml``): the command REFUSES, unless ``ALLOW_ENV=1``
  (then it warns);
- a machine with other login accounts (uid >= 1000 in /etc/passwd besides this one and
  nobody): a warning, once per command (child processes are told the check was done);
- a one-person machine: nothing is said.

The graders' group is ``[access].graders_group``; when empty, it is the primary group of the
course root's owner, provided that group has no other members. Graders are root, the running
account, the course root's owner and the members of that group.
"""

from __future__ import annotations

import functools
import os
import shlex
import stat
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Mapping, MutableMapping

from .manifest import ManifestError
from .paths import MANIFEST_FILE, REPO_ROOT

ALLOW_ENV = "DROPOUT_ALLOW_READABLE_COURSE"  # =1: under a hub, warn instead of refusing
CHECKED_ENV = "DROPOUT_PREFLIGHT_CHECKED"  # the course root this process (or its parent) checked
HUB_PREFIX = "JUPYTERHUB_"
FIRST_LOGIN_UID, NOBODY = 1000, "nobody"
# (where, relative path, what it is); "repo" paths are relative to the repository, "course" to the course root.
PROTECTED = (("repo", "source_pkg", "the instructor edition of source_pkg (solutions)"),
             ("repo", "tests", "the hidden checks and the fault catalogue"),
             ("repo", ".git", "the repository's history (every solution)"),
             ("course", "gradebook.db", "the gradebook"),
             ("course", "source", "the source notebooks (solutions)"),
             ("course", "submitted", "the students' submissions"),
             ("course", "autograded", "the graded submissions"),
             ("course", "feedback", "the feedback pages"))


@dataclass(frozen=True)
class AccessSettings:
    """``[access]`` of the course manifest."""

    shared: bool = False  # the course lives where students log in (a JupyterHub)
    graders_group: str = ""  # the Unix group of the graders ("" = the owner's own group, if it is theirs alone)


@dataclass(frozen=True)
class Exposure:
    """One protected path that accounts other than the graders can read or write."""

    path: Path
    what: str
    readers: tuple[str, ...]  # "every account", "group students (alice, bob)"
    entries: int  # files and folders in it (itself included) that are exposed
    fixes: tuple[str, ...]  # shell commands that close it


def read_settings(path: Path = MANIFEST_FILE) -> AccessSettings:
    """``[access]`` of the manifest at ``path``; ManifestError naming the key and value if unusable."""
    table = tomllib.loads(Path(path).read_text(encoding="utf-8")).get("access") or {}
    known = {"shared": bool, "graders_group": str}
    for key, value in table.items():
        if key not in known or not isinstance(value, known[key]):
            raise ManifestError(f"{path}: [access].{key} = {value!r}: expected shared = true/false, "
                                "graders_group = \"<unix group>\"")
    return AccessSettings(**table)


def _read_table(path: Path) -> list[list[str]]:
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    return [line.split(":") for line in lines if line.strip() and not line.startswith("#") and line.count(":") >= 3]


def other_accounts(passwd: Path = Path("/etc/passwd"), me: int | None = None) -> list[str]:
    """Login accounts of ``passwd`` (uid >= 1000) other than ``me`` (default: this process's) and nobody."""
    me = os.getuid() if me is None else me
    return [row[0] for row in _read_table(passwd)
            if row[2].isdigit() and int(row[2]) >= FIRST_LOGIN_UID and int(row[2]) != me and row[0] != NOBODY]


def served_to_students(environ: Mapping[str, str], settings: AccessSettings) -> str:
    """Why the course counts as served to students ("" if it does not)."""
    hub = sorted(name for name in environ if name.startswith(HUB_PREFIX))
    if hub:
        return f"{hub[0]} is set: this runs under JupyterHub"
    return "[access].shared = true in coursekit/course.toml" if settings.shared else ""


class _Accounts:
    """Users and groups as /etc/passwd and /etc/group list them."""

    def __init__(self, passwd: Path, group: Path):
        self.users = {row[0]: (int(row[2]), int(row[3])) for row in _read_table(passwd)
                      if row[2].isdigit() and row[3].isdigit()}
        self.groups = {int(row[2]): (row[0], {m for m in row[3].split(",") if m}) for row in _read_table(group)
                       if row[2].isdigit()}

    def name_of_user(self, uid: int) -> str:
        return next((name for name, (u, _) in self.users.items() if u == uid), str(uid))

    def members(self, gid: int) -> set[str]:
        primary = {name for name, (_, g) in self.users.items() if g == gid}
        return primary | self.groups.get(gid, ("", set()))[1]

    def gid_of(self, name: str) -> int | None:
        return next((gid for gid, (group, _) in self.groups.items() if group == name), None)

    def group_name(self, gid: int) -> str:
        return self.groups.get(gid, (str(gid), set()))[0]


def _graders(course_root: Path, settings: AccessSettings, accounts: _Accounts) -> tuple[int | None, set[str]]:
    """(the graders' gid or None, the graders' account names)."""
    owner = os.stat(course_root)
    owner_name = accounts.name_of_user(owner.st_uid)
    graders = {"root", accounts.name_of_user(os.getuid()), owner_name}
    if settings.graders_group:
        gid = accounts.gid_of(settings.graders_group)
        if gid is None:
            raise ManifestError(f"{MANIFEST_FILE}: [access].graders_group = {settings.graders_group!r}: "
                                "no such group in /etc/group")
    else:
        primary = accounts.users.get(owner_name, (owner.st_uid, owner.st_gid))[1]
        gid = primary if accounts.members(primary) <= graders else None
    return gid, graders | (accounts.members(gid) if gid is not None else set())


def _mode(path: Path) -> tuple[int, int]:
    """(permission bits, gid) of ``path``; a symlink's own bits grant nothing (0)."""
    found = os.lstat(path)
    return (0 if stat.S_ISLNK(found.st_mode) else stat.S_IMODE(found.st_mode)), found.st_gid


def _reaches(path: Path, bits: int, shift: int, gid: int | None, mode_of) -> bool:
    """Whether the class ``shift`` (0: others; 3: members of group ``gid``) has ``bits`` on
    ``path`` and can enter every folder above it (``mode_of``: ``_mode``, cached)."""
    def allowed(mode_and_gid: tuple[int, int], wanted: int) -> bool:
        mode, entry_gid = mode_and_gid
        their_bits = mode >> shift if shift and entry_gid == gid else mode  # group members, else others
        return bool(their_bits & wanted)
    chain = [mode_of(parent) for parent in path.parents]
    return all(allowed(mode, 0o1) for mode in chain) and allowed(mode_of(path), bits)


def _tree(top: Path):
    yield top
    if top.is_dir() and not top.is_symlink():
        for folder, subfolders, files in os.walk(top):
            for name in subfolders + files:
                yield Path(folder) / name


def exposures(course_root: Path, repo_root: Path = REPO_ROOT, settings: AccessSettings = AccessSettings(),
              passwd: Path = Path("/etc/passwd"), group: Path = Path("/etc/group")) -> list[Exposure]:
    """The protected paths (PROTECTED) that accounts other than the graders can read or write."""
    mode_of = functools.lru_cache(maxsize=None)(_mode)  # the folders above are shared by many entries
    course_root, repo_root = Path(course_root).resolve(), Path(repo_root).resolve()
    accounts = _Accounts(passwd, group)
    graders_gid, graders = _graders(course_root, settings, accounts)
    found = []
    for where, relative, what in PROTECTED:
        top = ((repo_root if where == "repo" else course_root) / relative).resolve()
        if not top.exists() or (relative == ".git" and not top.is_dir()):
            continue
        world, groups, count = False, {}, 0
        for entry in _tree(top):
            try:
                gid = mode_of(entry)[1]
            except OSError:  # gone meanwhile (a journal file)
                continue
            exposed = False
            if _reaches(entry, 0o6, 0, None, mode_of):
                world = exposed = True
            outsiders = accounts.members(gid) - graders
            if gid != graders_gid and outsiders and _reaches(entry, 0o6, 3, gid, mode_of):
                groups[gid] = outsiders
                exposed = True
            count += exposed
        if count:
            found.append(_exposure(top, what, world, groups, count, accounts, graders_gid))
    return found


def _exposure(top: Path, what: str, world: bool, groups: dict[int, set[str]], count: int,
              accounts: _Accounts, graders_gid: int | None) -> Exposure:
    readers, fixes, quoted = [], [], shlex.quote(str(top))
    if world:
        readers.append("every account")
        fixes.append(f"chmod -R o-rwx {quoted}")
    for gid, outsiders in sorted(groups.items()):
        readers.append(f"group {accounts.group_name(gid)} ({', '.join(sorted(outsiders))})")
    if groups:
        fixes.append(f"chgrp -R {shlex.quote(accounts.group_name(graders_gid))} {quoted}" if graders_gid is not None
                     else f"chmod -R g-rwx {quoted}")
    return Exposure(top, what, tuple(readers), count, tuple(fixes))


def report(found: list[Exposure]) -> str:
    """Each exposed path, who can reach it, and the commands that close them all."""
    lines = [f"  {e.path}: {e.what}, open to {' and '.join(e.readers)} ({e.entries} file(s) and folder(s))"
             for e in found]
    lines.append("Close them with:")
    lines += [f"  {fix}" for e in found for fix in e.fixes]
    return "\n".join(lines)


def check_course(course_root: Path, command: str, repo_root: Path = REPO_ROOT,
                 environ: MutableMapping[str, str] = os.environ, passwd: Path = Path("/etc/passwd"),
                 group: Path = Path("/etc/group"), manifest: Path = MANIFEST_FILE, stream: IO[str] | None = None) -> None:
    """Check who can read the course before ``command`` goes on; print a warning, or print the
    refusal (or an unusable [access] setting) and raise SystemExit(2) (see the module's
    docstring). Once per course root and process, and the processes it starts."""
    stream = stream or sys.stderr
    course_root = Path(course_root).resolve()
    if environ.get(CHECKED_ENV) == str(course_root) or not os.access(course_root, os.R_OK | os.X_OK):
        return  # checked already, or this account is none of the course's graders
    try:
        settings = read_settings(manifest)
        served, others = served_to_students(environ, settings), other_accounts(passwd)
        if not served and not others:
            return  # a one-person machine
        found = exposures(course_root, repo_root, settings, passwd, group)
    except ManifestError as error:  # nbgrader would go on after any other exception
        print(f"{command}: {error}", file=stream, flush=True)
        raise SystemExit(2) from error
    if found and served and environ.get(ALLOW_ENV) != "1":
        print(f"{command}: REFUSED: the course is served to students ({served}), and accounts that are not "
              f"its graders can read or write the instructor's files:\n{report(found)}\n"
              f"Or, knowing that students can then read them, set {ALLOW_ENV}=1 to go on.",
              file=stream, flush=True)
        raise SystemExit(2)
    environ[CHECKED_ENV] = str(course_root)
    if found:
        who = served or f"other accounts on this machine: {', '.join(others[:5])}{' ...' if len(others) > 5 else ''}"
        print(f"{command}: WARNING ({who}): accounts that are not the course's graders can read or write "
              f"the instructor's files:\n{report(found)}", file=stream, flush=True)


def nbgrader_course_root(config_folder: Path) -> Path:
    """The course root an nbgrader command works on: its working folder when that holds an
    nbgrader_config.py (as nbgrader assumes), else the folder of the course's configuration."""
    here = Path.cwd()
    return here if (here / "nbgrader_config.py").is_file() else Path(config_folder)


def check_nbgrader(config_folder: Path, argv: list[str] = sys.argv) -> None:
    """``check_course`` for the nbgrader command (or Jupyter server) loading the course's configuration."""
    name = Path(argv[0]).name if argv else "nbgrader"
    command = f"nbgrader {argv[1]}" if name in ("nbgrader", "__main__.py") and len(argv) > 1 else name
    check_course(nbgrader_course_root(config_folder), command)
