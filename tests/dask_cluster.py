"""A throwaway Dask cluster on this machine for the tests and benchmarks (not a test module).

``dask_cluster(logs, workers)`` starts ``dask scheduler`` and ``workers`` ``dask worker``
processes (loopback only, a free port, one thread each, no nanny, so a killed worker stays
dead), from the repository folder with it on ``PYTHONPATH`` so the tasks import ``coursekit``;
yields (address, {name: worker process}) and stops them all on exit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from postgres import free_port

from coursekit.paths import REPO_ROOT

DASK = str(Path(sys.executable).with_name("dask"))


def cluster_env() -> dict[str, str]:
    """The environment of the workers and of the class command: coursekit importable, the venv's
    programs first (nbgrader runs alembic)."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _start(*args: str, log: Path) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen([DASK, *args], cwd=REPO_ROOT, env=cluster_env(), stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


@contextmanager
def dask_cluster(logs: Path, workers: int = 2) -> Iterator[tuple[str, dict[str, subprocess.Popen]]]:
    """A scheduler and ``workers`` one-thread workers named w0, w1, ...; see the module's docstring."""
    import distributed

    address = f"tcp://127.0.0.1:{free_port()}"
    processes = [_start("scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard",
                        log=logs / "scheduler.log")]
    named = {}
    for k in range(workers):
        named[f"w{k}"] = _start("worker", address, "--name", f"w{k}", "--nthreads", "1", "--no-nanny", "--host",
                                "127.0.0.1", "--memory-limit", "1GiB", "--no-dashboard", log=logs / f"w{k}.log")
        processes.append(named[f"w{k}"])
    try:
        with distributed.Client(address, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(workers, timeout=60)
        yield address, named
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
