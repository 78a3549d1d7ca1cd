"""What both executors of a class run share: how to grade (``RunOptions``) and how to discard
what a stopped nbgrader left (``discard_partial``). The local pool (``scheduler.py``) and the
Dask cluster (``cluster.py``) import it; neither imports the other.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunOptions:
    """How the scheduler grades: how many workers, batches of what size, which time limit."""

    workers: int
    batch_size: int | None = None  # None: auto_batch_size
    timeout: float | None = None  # seconds one submission may take; None: no limit
    run_notebooks: bool = False
    address: str | None = None  # a Dask scheduler (tcp://host:8786): grade there instead (cluster.py)


def discard_partial(folder: Path) -> None:
    """Remove what a stopped nbgrader left in an autograded ``folder``, as nbgrader does for a
    submission it fails to grade, so the next run grades it again."""
    if folder.exists():
        for path in [folder, *folder.rglob("*")]:
            try:
                path.chmod(0o755 if path.is_dir() else 0o644)
            except OSError:
                pass
        shutil.rmtree(folder, ignore_errors=True)
