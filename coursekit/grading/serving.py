"""The serving runner: one ``runner.py --serve`` process per submission, which forks a runner
for each plan the checks send (coursekit/grading/client.py); with the speed-ups off
(``speedups.py``), the plain path: ``python -I runner.py JOB_DIR`` started for each plan
(``OneShotRunner``).

Starting Python and importing numpy costs about 0.3 CPU-seconds, more than the checks of a task
take; one start per submission instead of one per task's plan saves two of them. Each plan
still runs in a process of its own that starts from the same state (numpy and the trusted
reference imported, no student code), and what it leaves running is killed before the next
plan starts (runner.py). A plan that hangs takes the whole serving runner with it; the next
plan gets a new one.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..cgroups import PidsGroup
from ..limits import LIMITS
from ..manifest import COURSE
from ..sandbox import bwrap_command, grading_process_env
from ..speedups import speedups_on

RUNNER = Path(__file__).resolve().with_name("runner.py")
REFERENCE = RUNNER.with_name("reference.py")  # trusted code the runner loads by path
FORKING = RUNNER.parent.parent / "forking.py"  # the serving runner's fork loop, loaded by path
LOADED_BY_PATH = (FORKING,)  # bound read-only into the runner's sandbox (trusted_files)
MEMORY_FOLDER = Path("/dev/shm")
MEMORY_FOLDER_FREE_BYTES = 1 << 30  # less room than this (a container's 64 MiB): the usual temporary folder


def trusted_files() -> list[Path]:
    """What the confined runner sees of the repository, read-only: itself, ``reference.py``,
    ``forking.py`` and the modules of each task's folder it may load (``calls.py``; never the checks)."""
    return [RUNNER, REFERENCE, *LOADED_BY_PATH, *(path for task in COURSE.tasks for path in task.runner_files)]


def scratch_root() -> Path | None:
    """Where the checks and their runner keep their files: ``/dev/shm`` when it is a writable
    folder with 1 GiB free and the speed-ups are on, else None (the system's temporary folder).

    A submission's jobs write, and its checks read, some 20 MB of arrays. In a folder in memory
    the runner's jobs take half the CPU time they take on a disk's file system (ext4, 48
    submissions, three workers), most of it in the file system's own work, not in copying.
    """
    if not speedups_on():
        return None
    try:
        stats = os.statvfs(MEMORY_FOLDER)
    except OSError:
        return None
    if stats.f_bavail * stats.f_frsize < MEMORY_FOLDER_FREE_BYTES or not os.access(MEMORY_FOLDER, os.W_OK | os.X_OK):
        return None
    return MEMORY_FOLDER


def _limiter(group: PidsGroup | None):
    """What the runner's process does before it starts: its own session, the course's limits."""
    def limit_resources():
        os.setsid()
        if group is not None:
            group.enter()
        LIMITS.apply_here()
    return limit_resources


def _runner_environment():
    keep = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT")
    env = {key: os.environ[key] for key in keep if key in os.environ}
    env.update(grading_process_env(), MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0")
    return env


def exit_description(code: int | None) -> str:
    """How a process ended, in words."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass
class ServingRunner:
    """One ``runner.py --serve`` process for one submission: it forks a runner for each job."""

    key: tuple
    process: subprocess.Popen
    folder: Path  # holds the job folders; the only place the runner may write
    group: PidsGroup | None
    jobs: int = 0

    def alive(self) -> bool:
        return self.process.poll() is None

    def start(self, job_dir: Path, tag: str) -> "Job":
        """Send the job; a runner that already ended (it could not start) makes a job that
        reports the runner's exit, as a crash of the plan, never an error of the checks."""
        try:
            self.process.stdin.write(f"{job_dir} {tag}\n".encode())
            self.process.stdin.flush()
        except OSError:  # BrokenPipeError: the runner is gone
            self.process.wait()
        return Job(self, job_dir / f"exit-{tag}.json")

    def close(self) -> None:
        kill(self.process)
        if self.group is not None:
            self.group.remove()
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class Job:
    """One run of a plan's operations, in a child of the serving runner."""

    server: ServingRunner
    exit_file: Path

    def poll(self) -> int | None:
        """The job's exit code once it ended; the serving runner's own if that one died."""
        if self.exit_file.exists():
            return json.loads(self.exit_file.read_text())["code"]
        return self.server.process.poll()

    def kill(self) -> None:
        """Stop the job: the whole serving runner goes (its folder stays until the next job has
        read what this one wrote), and a new one serves the next job."""
        kill(self.server.process)


@dataclass
class OneShotRunner:
    """The plain path: no process kept between plans; each job is a new ``python -I runner.py
    JOB_DIR`` (in the sandbox when confined), and what it leaves running is killed when it ends."""

    key: tuple
    submission: Path
    python: str
    confine: bool
    folder: Path
    jobs: int = 0

    def alive(self) -> bool:
        return True

    def start(self, job_dir: Path, tag: str) -> "OneShotJob":
        group = PidsGroup.create(LIMITS.processes)
        command = [self.python, "-I", str(RUNNER), str(job_dir)]
        if self.confine:
            command = bwrap_command(command, self.folder, writable=[self.folder],
                                    readonly=[*trusted_files(), self.submission], env=_runner_environment())
        with open(job_dir / f"stderr-{tag}.txt", "wb") as output:
            process = subprocess.Popen(command, cwd=self.folder, env=_runner_environment(), stdin=subprocess.DEVNULL,
                                       stdout=output, stderr=output, preexec_fn=_limiter(group))
        return OneShotJob(process, group)

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class OneShotJob:
    """One ``runner.py JOB_DIR`` process: its session (and its pids cgroup) is killed at its end."""

    process: subprocess.Popen
    group: PidsGroup | None

    def poll(self) -> int | None:
        code = self.process.poll()
        if code is not None:
            self._kill_leftovers()
        return code

    def kill(self) -> None:
        kill(self.process)
        self._kill_leftovers()

    def _kill_leftovers(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.group is not None:
            try:
                members = [int(pid) for pid in (self.group.path / "cgroup.procs").read_text().split()]
            except (OSError, ValueError):
                members = []
            for pid in members:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.group.remove()


_SERVING: ServingRunner | OneShotRunner | None = None


def serving_runner(submission: Path, python: str | None, confine: bool,
                   scratch: Path | str | None = None) -> ServingRunner | OneShotRunner:
    """The serving runner of ``submission``, started when there is none (or only another's); its
    folder is made in ``scratch`` (default: ``scratch_root()``). With the speed-ups off, a
    ``OneShotRunner`` in its place."""
    global _SERVING
    key = (str(submission), python or sys.executable, confine, str(scratch), speedups_on())
    if _SERVING is not None and (_SERVING.key != key or not _SERVING.alive()):
        close_runner()
    if _SERVING is None:
        folder = Path(tempfile.mkdtemp(prefix="dropout-runner-", dir=scratch or scratch_root()))
        if not speedups_on():
            _SERVING = OneShotRunner(key, submission, python or sys.executable, confine, folder)
            return _SERVING
        group = PidsGroup.create(LIMITS.processes)
        command = [python or sys.executable, "-I", str(RUNNER), "--serve"]
        if confine:
            command = bwrap_command(command + ["--confined"], folder, writable=[folder],
                                    readonly=[*trusted_files(), submission], env=_runner_environment())
        elif group is not None:  # what a job leaves running is found by its cgroup
            command += ["--group-procs", str(group.path / "cgroup.procs")]
        with open(folder / "serving-stderr.txt", "wb") as stderr:
            process = subprocess.Popen(command, cwd=folder, env=_runner_environment(), stdin=subprocess.PIPE,
                                       stdout=subprocess.DEVNULL, stderr=stderr, preexec_fn=_limiter(group))
        _SERVING = ServingRunner(key, process, folder, group)
    return _SERVING


def close_runner() -> None:
    """Stop the serving runner, if any (the checks do at the end of their session)."""
    global _SERVING
    if _SERVING is not None:
        serving, _SERVING = _SERVING, None
        serving.close()


atexit.register(close_runner)


def kill(process: subprocess.Popen) -> None:
    """Kill the process and its session; wait for it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
