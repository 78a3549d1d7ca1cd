"""Unix accounts of the course's hub: an instructor, a TA (grader) and N students.

Every name carries a prefix (``dfs-`` by default) so it cannot be a real user's; an account or
group that exists but is not in the record is never adopted: the set-up stops and names it.
Homes are made private (700): Debian's ``useradd -m`` makes them 755 (FIELD_NOTES).
"""

from __future__ import annotations

import grp
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from coursekit.hub.made import Record


class AccountClash(RuntimeError):
    """An account or group of the course's names exists and this set-up did not make it."""


@dataclass(frozen=True)
class People:
    """The course's accounts by role, and the Unix group of its graders."""

    prefix: str
    students_count: int

    @property
    def instructor(self) -> str:
        return f"{self.prefix}instructor"

    @property
    def ta(self) -> str:
        return f"{self.prefix}ta"

    @property
    def graders(self) -> list[str]:
        return [self.instructor, self.ta]

    @property
    def students(self) -> list[str]:
        return [f"{self.prefix}student{i}" for i in range(1, self.students_count + 1)]

    @property
    def everyone(self) -> list[str]:
        return self.graders + self.students

    @property
    def graders_group(self) -> str:
        return f"{self.prefix}graders"


def _exists(lookup, name: str) -> bool:
    try:
        lookup(name)
        return True
    except KeyError:
        return False


def make_accounts(people: People, record: Record) -> None:
    """Make the graders' group and every account (private homes), refusing any clash."""
    if not _exists(grp.getgrnam, people.graders_group):
        record.add("groups", people.graders_group)
        subprocess.run(["groupadd", people.graders_group], check=True)
    elif people.graders_group not in record.groups:
        raise AccountClash(f"group {people.graders_group!r} exists and was not made by this set-up "
                           f"({record.path}); choose another prefix (HUB_PREFIX)")
    for name in people.everyone:
        if _exists(pwd.getpwnam, name):
            if name not in record.accounts:
                raise AccountClash(f"account {name!r} exists and was not made by this set-up "
                                   f"({record.path}); choose another prefix (HUB_PREFIX)")
            continue
        record.add("accounts", name)
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", "--comment",
                        "dropout-from-scratch course hub (demo account)", name], check=True)
        home = pwd.getpwnam(name).pw_dir
        subprocess.run(["chmod", "700", home], check=True)
    for name in people.graders:
        subprocess.run(["usermod", "--append", "--groups", people.graders_group, name], check=True)


def _remove_temporary_files(uid: int) -> None:
    """What the account left in the temporary folder (the grading sandbox's copies of /etc, say)."""
    for entry in Path(tempfile.gettempdir()).iterdir():
        try:
            if entry.lstat().st_uid != uid:
                continue
        except FileNotFoundError:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def remove_accounts(record: Record) -> list[str]:
    """Remove the recorded accounts (with their homes) and groups; returns what was removed."""
    removed = []
    for name in list(record.accounts):
        if _exists(pwd.getpwnam, name):
            subprocess.run(["pkill", "--uid", name], check=False)  # nothing of theirs keeps running
            _remove_temporary_files(pwd.getpwnam(name).pw_uid)
            subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)
            removed.append(name)
        record.accounts.remove(name)
        record.save()
    for name in list(record.groups):
        if _exists(grp.getgrnam, name):
            subprocess.run(["groupdel", name], check=True)
            removed.append(name)
        record.groups.remove(name)
        record.save()
    return removed
