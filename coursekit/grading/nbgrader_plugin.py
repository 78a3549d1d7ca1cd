"""nbgrader preprocessors that grade with the hidden checks instead of the student's kernel.

``SnapshotSubmission`` (before execution) copies the submitted package aside before any student code
runs; ``ResilientExecute`` is nbgrader's Execute that goes on when the kernel dies (or, with
``run_notebook = False``, runs nothing); ``JudgeCells`` (after execution) runs the judge on the
snapshot and replaces the outputs of the autograded cells with its report and score and saves the
``Verdict`` beside the graded notebook (``<notebook>.verdict.json``), so nothing the notebook's
kernel did (assertions silenced, numpy patched, the package rewritten) can change a verdict. The
course config puts the student's evidence steps (``coursekit/feedback/evidence.py``) into the chain
(``after_execute``, ``before_judge``, ``before_clear``): grading imports nothing of the feedback.

Score encoding follows nbgrader's ``determine_grade``: full marks = no error output; partial
credit = an ``execute_result`` holding the points; zero = an error output.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from nbgrader.preprocessors.execute import UnresponsiveKernelError
from traitlets import Bool, Dict, Enum, Float, Unicode, default

from .. import sandbox
from ..book_address import public_book_url
from ..limits import LIMITS
from ..manifest import COURSE
from ..speedups import speedups_on
from .checks_server import ChecksServer, ChecksServerError, ForkedChecks, can_fork_here
from .judge import JudgeError, checks_environment, judge
from .notebook_run import GRADED_FILES_KEY, NOTEBOOK_RUN_KEY, NotebookRun, kernel_exit, process_ending
from .task_report import task_report
from .verdict import TaskVerdict, Verdict, verdict_path

SNAPSHOT_KEY = "dropout_snapshot"
NOT_RUN_NOTE = ("This notebook was graded without running its cells: the points come from the hidden checks "
                "of the course, reported in the autograded cells below. Run the notebook yourself to see "
                "its outputs.\n")


def _notebook_folder(resources: dict) -> Path:
    return Path(resources.get("metadata", {}).get("path") or ".").resolve()


def _hide_course(resources: dict) -> None:
    """Add the course root and a SQLite gradebook to what the sandboxes hide (HIDE_ENV)."""
    folder = _notebook_folder(resources)
    hide = []
    root = folder.parents[2] if len(folder.parents) > 2 else None  # {step}/{student}/{assignment}
    if root is not None and ((root / "nbgrader_config.py").exists() or (root / "source").is_dir()):
        hide.append(root)
    db_url = resources.get("nbgrader", {}).get("db_url", "")
    if db_url.startswith("sqlite:///"):
        hide.append(Path(db_url[len("sqlite:///"):]).resolve())
    known = [p for p in os.environ.get(sandbox.HIDE_ENV, "").split(os.pathsep) if p]
    os.environ[sandbox.HIDE_ENV] = os.pathsep.join(dict.fromkeys(known + [str(p) for p in hide]))


class SnapshotSubmission(NbGraderPreprocessor):
    """Copy the submission's package aside before the notebook runs any of its code."""

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        """Snapshot the package; hide the course root from the sandboxes."""
        # Before the kernel starts: formgrader's error dialog then shows why grading refuses
        # (missing bubblewrap, a sandbox that cannot start), not "Kernel died".
        sandbox.require()
        _hide_course(resources)
        snapshot = Path(tempfile.mkdtemp(prefix="dropout-submission-"))
        package = _notebook_folder(resources) / COURSE.package
        if package.is_dir():
            shutil.copytree(package, snapshot / COURSE.package, symlinks=False,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        resources[SNAPSHOT_KEY] = str(snapshot)
        resources[GRADED_FILES_KEY] = _graded_files(snapshot / COURSE.package)
        return nb, resources


def _graded_files(package: Path, max_chars: int = 200_000) -> dict[str, str]:
    """The text of each module of the snapshot (what the checks grade), for the graded-code cells."""
    files = {}
    for path in sorted(package.glob("*.py")) if package.is_dir() else []:
        files[path.name] = path.read_text(encoding="utf-8", errors="replace")[:max_chars]
    return files


class ResilientExecute(Execute):
    """nbgrader's Execute, except that a kernel that dies or stops answering ends execution
    with a note in the cell instead of aborting the student's whole grading, and that the
    kernel is reached over Unix sockets in a folder of their own (so a sandboxed kernel needs
    no network)."""

    ipc_transport = Bool(True, help="connect to the kernel over Unix sockets instead of TCP").tag(config=True)
    # Nothing of a grading kernel is kept after its last cell; its graceful shutdown took 0.3 s.
    shutdown_kernel = Enum(["graceful", "immediate"], default_value="immediate").tag(config=True)
    run_notebook = Bool(True, help="run the notebook's cells in its kernel. The grades come from the hidden "
                                   "checks either way; False leaves the cells without outputs (and says so in "
                                   "the first code cell) and saves the kernel's start-up and the cells' time"
                        ).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict, km: Any = None) -> tuple[NotebookNode, dict]:
        """Run the notebook (or, with ``run_notebook = False``, only note that it was not run)."""
        if not self.run_notebook:
            resources[NOTEBOOK_RUN_KEY] = NotebookRun(ran=False)
            first_code = next((cell for cell in nb.cells if cell.cell_type == "code"), None)
            if first_code is not None:
                first_code.outputs.append(new_output("stream", name="stdout", text=NOT_RUN_NOTE))
            return nb, resources
        self._kernel_gone = None
        self._run = resources[NOTEBOOK_RUN_KEY] = NotebookRun(budget=self.budget)
        self._deadline = time.monotonic() + self.budget if self.budget > 0 else None
        self._ipc_dir = tempfile.mkdtemp(prefix="dropout-kernel-") if self.ipc_transport else None
        try:
            return super().preprocess(nb, resources, km=km)
        finally:
            if self._ipc_dir:
                shutil.rmtree(self._ipc_dir, ignore_errors=True)

    def create_kernel_manager(self) -> Any:
        """nbgrader's kernel manager, on Unix sockets when ``ipc_transport``."""
        km = super().create_kernel_manager()
        if self._ipc_dir:
            km.transport = "ipc"
            km.ip = str(Path(self._ipc_dir) / "kernel")
        return km

    stop_after_timeout = Bool(True, help="after a cell times out, run no further cells: grading does not "
                                         "depend on them, and each would wait out its own timeout").tag(config=True)
    budget = Float(LIMITS.notebook_seconds, help="seconds all cells of one notebook may take together (0: "
                   "only the per-cell timeout); a cell that would run past it is interrupted like a timed-out one. "
                   "Default: notebook_seconds of [limits] in coursekit/course.toml").tag(config=True)

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple[NotebookNode, dict]:
        """Run one cell; after the kernel died or a cell timed out, leave the rest unrun."""
        if self._kernel_gone:
            return cell, resources
        per_cell = self.timeout
        if self._deadline is not None and cell.cell_type == "code":
            remaining = int(self._deadline - time.monotonic())
            if remaining < 1:
                self._kernel_gone = "budget"
                cell.outputs = [self._run.out_of_time()]  # verdict: notebook-time
                return cell, resources
            self.timeout = min(per_cell, remaining) if per_cell else remaining
        try:
            try:
                cell, resources = super().preprocess_cell(cell, resources, index)
            except CellTimeoutError as exc:  # raised, not recorded, when IOPub output lags (a loaded machine)
                cell.outputs.append(new_output("error", ename="CellTimeoutError", evalue=str(exc)[:300], traceback=[]))
            clipped = self._deadline is not None and (not per_cell or self.timeout < per_cell)
            if self._run.cell_ran(cell, clipped) and self.stop_after_timeout:
                self._kernel_gone = "timeout"
                spent = f"The notebook used up its {self.budget:g} s in" if clipped else "Time ran out in"
                cell.outputs.append(new_output("stream", name="stdout", text=f"{spent} this cell; later cells were not run.\n"))
            return cell, resources
        except (DeadKernelError, UnresponsiveKernelError) as exc:
            self._kernel_gone = self._run.ended = "died"
            self._run.exit = kernel_exit(self.km)
            how = f"; {process_ending(self._run.exit)}" if self._run.exit else ""
            self.log.warning("the kernel died in cell %d (%s%s); the remaining cells are not run", index, exc, how)
            cell.outputs.append(new_output(
                "error", ename="KernelDied", evalue=f"the notebook's kernel stopped while running this cell ({exc}{how})",
                traceback=[f"KernelDied: the notebook's kernel stopped while running this cell; later cells "
                           f"were not run ({type(exc).__name__})"]))
            return cell, resources
        finally:
            self.timeout = per_cell


class JudgeCells(NbGraderPreprocessor):
    """Put the hidden checks' verdict into the autograded cells."""

    task_cells = Dict(COURSE.cell_tasks, help="grade_id of an autograded cell (of any assignment) -> the task "
                                              "whose hidden checks grade it").tag(config=True)
    book_url = Unicode(help="root of the published book (default: html.baseurl of _config.yml); without "
                            "one, links are relative to the book's root").tag(config=True)
    op_timeout = Float(LIMITS.call_seconds, help="seconds one call of student code may take. "
                       "Default: call_seconds of [limits] in coursekit/course.toml").tag(config=True)
    budget = Float(LIMITS.task_checks_seconds, help="seconds all calls of one task may take. "
                   "Default: an equal share of checks_seconds of [limits] in coursekit/course.toml").tag(config=True)
    confine = Bool(True, help="run student code in a bubblewrap sandbox (coursekit/sandbox.py)").tag(config=True)
    checks_server = Bool(True, help="check each submission in a child of one pytest process that imported the checks "
                                    "once (checks_server.py), not a new pytest process; not with DROPOUT_GRADING_SIMPLE=1"
                         ).tag(config=True)

    @default("book_url")
    def _book_url_default(self) -> str:
        return public_book_url()

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        """Judge the snapshot, fill the autograded cells, save the verdict."""
        snapshot = resources.pop(SNAPSHOT_KEY, None)
        if snapshot is None:
            raise JudgeError("JudgeCells needs SnapshotSubmission before Execute in "
                             "Autograde.autograde_preprocessors (see assignments/nbgrader_config.py)")
        try:
            cells = [cell for cell in nb.cells
                     if cell.metadata.get("nbgrader", {}).get("grade_id") in self.task_cells]
            tasks = tuple(dict.fromkeys(self.task_cells[c.metadata.nbgrader.grade_id] for c in cells))
            if not tasks:
                return nb, resources
            confine = self.confine and sandbox.require()
            verdict = self._judge(snapshot, tasks, confine)
            for cell in cells:
                self._fill(cell, verdict.tasks[self.task_cells[cell.metadata.nbgrader.grade_id]])
            self._save_verdict(resources, verdict)
        finally:
            shutil.rmtree(snapshot, ignore_errors=True)
        return nb, resources

    def _judge(self, snapshot: str, tasks: tuple[str, ...], confine: bool) -> Verdict:
        limits = dict(op_timeout=self.op_timeout, budget=self.budget, confine=confine)
        server = _checks_server(self.log) if self.checks_server and speedups_on() else None
        if server is None:
            return judge(snapshot, tasks, **limits)
        try:
            return judge(snapshot, tasks, server=server, **limits)
        except ChecksServerError as error:
            self.log.warning("the checks server failed (%s); checking this submission in a new process", error)
            _stop_checks_server()
            return judge(snapshot, tasks, **limits)

    def _save_verdict(self, resources: dict, verdict: Verdict) -> Path:
        """Write the verdict, with how the notebook's run ended (NotebookRun), beside the graded notebook."""
        notebook = resources.get("nbgrader", {}).get("notebook", "notebook")
        saved = resources.get(NOTEBOOK_RUN_KEY, NotebookRun()).verdict(verdict, notebook)
        return saved.save(verdict_path(_notebook_folder(resources), notebook))

    def _fill(self, cell, verdict: TaskVerdict) -> None:
        max_points = float(cell.metadata.nbgrader.points)
        if abs(verdict.max_points - max_points) > 1e-9:
            raise JudgeError(f"cell {cell.metadata.nbgrader.grade_id} is worth {max_points:g} points but its "
                             f"hidden checks add up to {verdict.max_points:g}")
        report = task_report(verdict, self.book_url)
        cell.outputs = [new_output("display_data", data={"text/plain": report, "text/html": _html(report)})]
        if verdict.points == 0:
            cell.outputs.append(new_output("error", ename="HiddenChecksFailed",
                                           evalue=f"0 / {max_points:g} points",
                                           traceback=[f"HiddenChecksFailed: 0 / {max_points:g} points"]))
        elif verdict.points < max_points:
            cell.outputs.append(new_output("execute_result", data={"text/plain": f"{verdict.points:g}"},
                                           execution_count=cell.get("execution_count")))


_server = None
_server_unavailable = False  # it failed to start once: not tried again for every submission


def _checks_server(log: Any) -> ChecksServer | ForkedChecks | None:
    """The grading process's checks server, started on first use; None if it cannot start. In a
    worker of the nbgrader worker server, which collected the checks, none: children of the worker."""
    global _server, _server_unavailable
    if can_fork_here():
        return ForkedChecks()
    if _server is not None and not _server.alive():
        _stop_checks_server()
    if _server is None and not _server_unavailable:
        try:
            _server = ChecksServer(checks_environment())
        except (ChecksServerError, OSError) as error:
            _server_unavailable = True
            log.warning("no checks server (%s); each submission is checked in a new process", error)
    return _server


def _stop_checks_server() -> None:
    global _server
    if _server is not None:
        _server.close()
        _server = None


atexit.register(_stop_checks_server)


def _html(report: str) -> str:
    import html
    import re

    escaped = html.escape(report)
    linked = re.sub(r"(https?://|file://)[^\s<]+", lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
    return f'<pre class="hidden-checks-report" style="white-space: pre-wrap">{linked}</pre>'


def grading_preprocessors(after_execute: Sequence[type] = (), before_judge: Sequence[type] = ()) -> list[type]:
    """nbgrader's autograde steps: the snapshot first, ResilientExecute for Execute, then the
    config's ``after_execute`` steps; ``before_judge`` and JudgeCells right before the grades are
    saved (after LimitOutput, which would cut the report)."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import SaveAutoGrades

    chain = [ResilientExecute if step is Execute else step for step in Autograde.class_traits()["autograde_preprocessors"].default()]
    if ResilientExecute not in chain or SaveAutoGrades not in chain:
        raise RuntimeError(f"unexpected nbgrader autograde preprocessors: {chain}")
    position = chain.index(ResilientExecute) + 1
    chain[position:position] = after_execute
    position = chain.index(SaveAutoGrades)
    chain[position:position] = [*before_judge, JudgeCells]
    return [SnapshotSubmission, *chain]


def sanitize_preprocessors(before_clear: Sequence[type] = ()) -> list[type]:
    """nbgrader's sanitize steps, the config's ``before_clear`` steps right before ClearOutput."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import ClearOutput

    chain = list(Autograde.class_traits()["sanitize_preprocessors"].default())
    if ClearOutput not in chain:
        raise RuntimeError(f"unexpected nbgrader sanitize preprocessors: {chain}")
    position = chain.index(ClearOutput)
    chain[position:position] = before_clear
    return chain
