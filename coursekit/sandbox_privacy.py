"""What of the grader a sandbox (``coursekit/sandbox.py``) must not get, whoever grades.

- The grader's privileges: student code runs as ``nobody`` in a user namespace of its own,
  with no capability (``as_nobody``). The grader's uid maps to it, so the grader's own files
  stay the sandbox's own: that is how the kernel reads the venv and writes its folder.
- So, graded as root, root's files that not every account may read would be readable. The
  sandbox's /etc is therefore a copy of what every account may read of it (``public_etc``):
  ``/etc/shadow``, ``/etc/gshadow``, ``/etc/sudoers.d``, SSH host keys, ``/etc/ssl/private`` and
  any private file made there later are not in it. The other system folders are bound as they
  are (Debian's packages install their files readable by all); ``/root`` and ``/home`` are not bound.
- The grader's environment: only PASSED_ENV_NAMES pass (``passed_environment``), the rest is
  cleared (a token, a password, a database URL in the grading process never reach student code).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

# The only variables of the grader's environment that reach student code (with their values).
PASSED_ENV_NAMES = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_NUMERIC", "TZ", "NBGRADER_EXECUTION")
# Who student code runs as, inside its user namespace.
SANDBOX_UID = SANDBOX_GID = 65534
# A copy not used for this long is removed when another is made (a sandbox lives minutes at most).
UNUSED_COPY_SECONDS = 3600


def as_nobody() -> list[str]:
    """bwrap's options for a user namespace of the sandbox's own, as SANDBOX_UID, with no capability."""
    return ["--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID)]


def passed_environment() -> dict[str, str]:
    """The variables of this process's environment that pass into a sandbox."""
    return {name: os.environ[name] for name in PASSED_ENV_NAMES if name in os.environ}


def public_etc(top: str = "/etc") -> Path:
    """A copy of what every account may read of ``top``, bound read-only as the sandbox's /etc.

    A file or folder that not every account may read is left out (a folder is made, empty), and
    so is whatever appears after the copy was made: a private file made there during grading, or
    the copies of the account files useradd and passwd keep for milliseconds. The copy is made
    again when anything under ``top`` changes (checked by one stat of each entry, as in
    ``etc_state``) and shared by the account's processes; about 0.03 to 0.07 s here."""
    copies = etc_copies_folder()
    copies.mkdir(mode=0o700, exist_ok=True)
    _require_own_private_folder(copies)
    copy = copies / etc_state(top)
    if copy.is_dir():
        os.utime(copy)
        return copy
    partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=copies))
    try:
        _copy_public(Path(top), partial)
        partial.chmod(0o755)
        partial.rename(copy)
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)
        if not copy.is_dir():  # another process made the same copy first: use that one
            raise
    _remove_unused_copies(keep=copy)
    return copy


def etc_copies_folder() -> Path:
    """Where this account keeps its copies of /etc: one folder per state of /etc."""
    return Path(tempfile.gettempdir()) / f"dropout-etc-{os.geteuid()}"


def etc_state(top: str = "/etc") -> str:
    """A digest of the name, type, mode, size, inode and modification time of every entry under
    ``top`` that every account may reach."""
    digest, stack = hashlib.blake2b(digest_size=12), [top]
    while stack:
        try:
            entries = sorted(os.scandir(stack.pop()), key=lambda entry: entry.name)
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            digest.update(f"{entry.path}\0{info.st_mode}\0{info.st_size}\0{info.st_ino}\0{info.st_mtime_ns}\n".encode())
            if stat.S_ISDIR(info.st_mode) and info.st_mode & 0o005 == 0o005:
                stack.append(entry.path)
    return digest.hexdigest()


def _copy_public(source: Path, target: Path) -> None:
    try:
        entries = sorted(os.scandir(source), key=lambda entry: entry.name)
    except OSError:  # gone since it was listed, or not this account's to list: left empty
        return
    for entry in entries:
        try:
            info = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        out = target / entry.name
        if stat.S_ISLNK(info.st_mode):
            out.symlink_to(os.readlink(entry.path))
        elif stat.S_ISDIR(info.st_mode):
            out.mkdir(mode=0o755)
            if info.st_mode & 0o005 == 0o005:
                _copy_public(Path(entry.path), out)
        elif stat.S_ISREG(info.st_mode) and info.st_mode & 0o004:
            _copy_public_file(entry.path, out)


def _copy_public_file(path: str, out: Path) -> None:
    """Copy ``path`` if, once opened, it is still a regular file every account may read."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:  # gone, or become a link, since it was listed
        return
    with os.fdopen(handle, "rb") as file:
        info = os.fstat(handle)
        if stat.S_ISREG(info.st_mode) and info.st_mode & 0o004:
            with open(out, "wb") as copy:
                shutil.copyfileobj(file, copy)
            os.chmod(out, 0o644)


def _require_own_private_folder(folder: Path) -> None:
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise PermissionError(f"{folder}: the sandbox's copies of /etc must be in a folder of this account's "
                              f"only (mode 700, not a link); found uid {info.st_uid}, mode {oct(info.st_mode)}. "
                              f"Remove it and grade again.")


def _remove_unused_copies(keep: Path) -> None:
    for other in keep.parent.iterdir():
        try:
            unused = time.time() - other.lstat().st_mtime
        except FileNotFoundError:
            continue
        if other != keep and unused > UNUSED_COPY_SECONDS:
            shutil.rmtree(other, ignore_errors=True)
