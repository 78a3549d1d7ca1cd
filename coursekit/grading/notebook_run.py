"""How autograde's run of a notebook ended, for its verdict.

``ResilientExecute`` (``nbgrader_plugin.py``) keeps a ``NotebookRun`` in the resources and
records each cell as it runs; ``JudgeCells`` turns it into the verdict's ``kernel``,
``notebook_seconds`` and ``notebook_limits``. It is recorded from the run's own outputs, cell by
cell, before ``RestoreSubmittedOutputs`` brings the submitted ones back: an error left in the
notebook by the student's own run (a MemoryError on their laptop, a KernelDied) is never taken
for one of autograde's run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nbformat import NotebookNode
from nbformat.v4 import new_output

from ..limits import LIMITS
from .serving import exit_description
from .verdict import Verdict

NOTEBOOK_RUN_KEY = "dropout_notebook_run"  # resources: the NotebookRun of this notebook
GRADED_FILES_KEY = "dropout_graded_files"  # resources: the snapshot's modules, for the graded-code cells
TIMEOUT_ERROR = "CellTimeoutError"  # nbgrader's ename of a cell stopped by its timeout


@dataclass
class NotebookRun:
    """What autograde's run of one notebook met: how it ended and the limits its cells hit."""

    ran: bool = True  # False: ResilientExecute.run_notebook is off
    budget: float = 0.0  # seconds all its cells could take (0: only the per-cell timeout)
    ended: str = "ok"  # "ok", "died", "cell-timeout" or "notebook-time" (verdict.KERNEL)
    limits: list[str] = field(default_factory=list)  # Limits.reason of each limit hit, once each
    exit: str = ""  # how a kernel that died ended ("killed by signal SIGKILL"), when known

    @property
    def kernel(self) -> str:
        """The verdict's kernel value."""
        return self.ended if self.ran else "not run"

    def out_of_time(self) -> NotebookNode:
        """Record that the time ran out before a cell; the error output that cell carries."""
        if self.ended == "ok":
            self.ended = "notebook-time"
        return new_output("error", ename=TIMEOUT_ERROR, traceback=[], evalue=(
            f"The notebook {LIMITS.notebook_time_reason(self.budget)}; this cell and the ones after it were not run."))

    def cell_ran(self, cell: NotebookNode, clipped: bool) -> bool:
        """Record the limits named by a cell's error outputs and whether it timed out (True if so).
        ``clipped``: the cell ran with less than its own timeout, what was left of the budget."""
        timed_out = False
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            timed_out = timed_out or output.get("ename") == TIMEOUT_ERROR
            reason = LIMITS.reason(str(output.get("ename", "")), str(output.get("evalue", "")))
            if reason and reason not in self.limits:
                self.limits.append(reason)
        if timed_out and self.ended == "ok":
            self.ended = "notebook-time" if clipped else "cell-timeout"
        return timed_out

    def verdict(self, judged: Verdict, notebook: str) -> Verdict:
        """The judge's verdict with how this run ended, as it is saved beside the graded notebook."""
        seconds = self.budget if self.kernel == "notebook-time" else 0.0
        return Verdict(tasks=judged.tasks, notebook=notebook, kernel=self.kernel, notebook_seconds=seconds,
                       notebook_limits=list(self.limits), kernel_exit=self.exit)


def process_ending(exit: str) -> str:
    """``kernel_exit`` as a clause: "its process was killed by signal SIGKILL", "its process ended
    with exit code 3"; empty when unknown."""
    if not exit:
        return ""
    return f"its process was {exit}" if exit.startswith("killed") else f"its process ended with {exit}"


def kernel_exit(km: Any, wait_seconds: float = 2.0) -> str:
    """How the kernel's process ended ("killed by signal SIGKILL", "exit code 1"); empty if unknown
    or still running. A sandboxed kernel's process is bubblewrap, which ends with 128 + N when
    the kernel was killed by signal N."""
    process = getattr(getattr(km, "provisioner", None), "process", None)
    try:
        code = process.wait(timeout=wait_seconds)
    except Exception:  # no process (another provisioner), or it is still running
        return ""
    if code > 128:
        code = 128 - code
    return exit_description(code)
