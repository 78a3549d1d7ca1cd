"""A pids cgroup per sandbox: the limit on processes that counts one submission's alone.

RLIMIT_NPROC counts every process of a real user id on the machine, and Linux does not enforce
it for root at all; two workers and the instructor grading as one user would share one count.
A pids cgroup counts only what was started inside it. ``PidsGroup.create`` makes one under
``DROPOUT_PIDS_CGROUP`` (a folder of a pids hierarchy the grading user may write: cgroup v2 with
the pids controller delegated) or else under this process's own group of a cgroup v1 pids
hierarchy (``/sys/fs/cgroup/pids``); where neither can be written it returns None and only the
rlimits of ``coursekit/limits.py`` apply. Groups whose creator has ended are removed the next
time one is made (a kernel launcher execs bwrap and is gone when its kernel ends).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PIDS_ENV = "DROPOUT_PIDS_CGROUP"
V1_PIDS = Path("/sys/fs/cgroup/pids")
PREFIX = "dropout-sandbox-"


def _own_v1_group() -> Path | None:
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "pids" in controllers.split(","):
            return V1_PIDS / path.lstrip("/")
    return None


def parent_folder() -> Path | None:
    """Where sandboxes' pids groups are made, or None where this machine offers none."""
    named = os.environ.get(PIDS_ENV)
    folder = Path(named) if named else _own_v1_group()
    if folder is None or not (folder / "cgroup.procs").exists() or not os.access(folder, os.W_OK):
        return None
    return folder


def _remove_ended(folder: Path) -> None:
    for group in folder.glob(PREFIX + "*"):
        creator = group.name[len(PREFIX):].split("-")[0]
        if creator.isdigit() and not Path(f"/proc/{creator}").exists():
            try:
                group.rmdir()  # only an empty group can go; one still in use stays
            except OSError:
                pass


@dataclass
class PidsGroup:
    """One sandbox's pids cgroup."""

    path: Path
    limit: int

    @classmethod
    def create(cls, limit: int, tag: str = "") -> PidsGroup | None:
        """A new group allowing ``limit`` processes and threads, or None where none can be made."""
        folder = parent_folder()
        if folder is None:
            return None
        _remove_ended(folder)
        path = folder / f"{PREFIX}{os.getpid()}-{tag or os.urandom(4).hex()}"
        try:
            path.mkdir()
            (path / "pids.max").write_text(str(limit))
        except OSError:
            return None
        return cls(path, limit)

    def enter(self, pid: int = 0) -> bool:
        """Move process ``pid`` (0: the calling one) into the group; its children follow it.

        False if the group cannot be entered (removed meanwhile): the process then starts under
        the rlimits alone rather than not at all (this runs between fork and exec)."""
        try:
            (self.path / "cgroup.procs").write_text(str(pid or os.getpid()))
        except OSError:
            return False
        return True

    def hit(self) -> bool:
        """Whether a fork or a new thread was refused because the group was full."""
        try:
            events = (self.path / "pids.events").read_text().split()
        except OSError:
            return False
        return "max" in events and events[events.index("max") + 1] != "0"

    def remove(self) -> None:
        """Remove the group once its processes have ended (a group still in use stays)."""
        try:
            self.path.rmdir()
        except OSError:
            pass
