"""What of the grader a sandbox (``coursekit/sandbox.py``) must not get, whoever grades.

- The grader's privileges: student code runs as ``nobody`` in a user namespace of its own,
  with no capability (``as_nobody``). The grader's uid maps to it, so the grader's own files
  stay the sandbox's own: that is how the kernel reads the venv and writes its folder.
- So, graded as root, root's files that not every account may read would be readable: those of
  the bound system folders are covered (``private_covers``): ``/etc/shadow``, ``/etc/gshadow``,
  ``/etc/sudoers.d``, SSH host keys, ``/etc/ssl/private``.
- The grader's environment: only PASSED_ENV_NAMES pass (``passed_environment``), the rest is
  cleared (a token, a password, a database URL in the grading process never reach student code).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Iterable

# The only variables of the grader's environment that reach student code (with their values).
PASSED_ENV_NAMES = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_NUMERIC", "TZ", "NBGRADER_EXECUTION")
# Who student code runs as, inside its user namespace.
SANDBOX_UID = SANDBOX_GID = 65534
# Files that the tools which edit /etc's account files (useradd, passwd, vipw) make for
# milliseconds: /etc/shadow+, /etc/passwd.lock, /etc/passwd.<pid>. A bind over a file that has
# gone when bwrap starts stops the sandbox (88 of 150 starts failed here during account changes), so
# these are not covered: while they exist they are as readable as any file made in /etc after the
# sandbox started (its /etc is the machine's, seen live).
TRANSIENT = re.compile(r"(\+|\.lock|\.\d+)$")
# System folders searched at each start for what not every account may read: /etc took 0.004 to
# 0.035 s here; /usr would take 0.7 s and holds the packages' files, which Debian makes readable by all.
PRIVATE_SEARCHED = ("/etc",)


def as_nobody() -> list[str]:
    """bwrap's options for a user namespace of the sandbox's own, as SANDBOX_UID, with no capability."""
    return ["--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID)]


def passed_environment() -> dict[str, str]:
    """The variables of this process's environment that pass into a sandbox."""
    return {name: os.environ[name] for name in PASSED_ENV_NAMES if name in os.environ}


def private_system_entries(tops: Iterable[str] = PRIVATE_SEARCHED) -> list[Path]:
    """Files and folders under ``tops`` that not every account may read (a folder: list and
    enter); the contents of such a folder are not listed."""
    found, stack = [], [Path(top) for top in tops if Path(top).is_dir() and not Path(top).is_symlink()]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError:
                continue
            if stat.S_ISDIR(mode):
                if mode & 0o005 != 0o005:
                    found.append(Path(entry.path))
                else:
                    stack.append(Path(entry.path))
            elif stat.S_ISREG(mode) and not mode & 0o004 and not TRANSIENT.search(entry.name):
                found.append(Path(entry.path))
    return sorted(found)


def private_covers(tops: Iterable[str] = PRIVATE_SEARCHED) -> list[str]:
    """bwrap's options that cover each of ``private_system_entries``: a folder by an empty tmpfs,
    a file by /dev/null (which a user namespace cannot open: reading it fails, it is not empty).

    A cover over the whole view (a tmpfs /etc with each other entry bound into it) was tried: its
    150 binds took 0.1 s of each start, and starts wait for one another there (40 starts on 4
    threads: 3.4 to 4.5 s instead of 0.2 to 0.4 s)."""
    args = []
    for path in private_system_entries(tops):
        args += ["--tmpfs", str(path)] if path.is_dir() else ["--ro-bind", "/dev/null", str(path)]
    return args
