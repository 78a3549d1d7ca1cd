"""Confine the processes that run student code during grading, with bubblewrap (``bwrap``).

Two kinds of process run student code: the notebook's kernel (started by nbgrader through the
``dropout-sandbox`` kernel spec in ``coursekit/kernels``) and the hidden checks' runner
(started by ``coursekit.grading.client``). Of the file system they see only:

- read-only: the system's programs and libraries (SYSTEM_PATHS) and configuration (/etc), the Python
  installation and the virtual environment (and, for the runner, ``runner.py``, the trusted
  ``reference.py`` it loads and the submission's snapshot);
- writable: only the process's own folder (the kernel: the student's autograded folder; the
  runner: its job folder), plus a private, empty ``/tmp`` (the kernel's holds one read-only
  file: matplotlib's font list, ``coursekit/matplotlib_cache.py``).

So no copy of the repository (instructor ``source_pkg``, ``tests/``, ``coursekit/``), no
course root (other students' folders, the gradebook) and no home folder is visible. Where a
visible folder lies inside one of those (the virtual environment inside the repository), the
repository and the paths named in ``DROPOUT_SANDBOX_HIDE`` are covered by an empty tmpfs first.
They also get their own PID namespace (no view of other processes, so no way into other
folders through ``/proc/<pid>/cwd``) and no network (the kernel reaches nbgrader over Unix
sockets).

Whoever grades (root included), student code has no privilege of the grader's:

- it runs as ``nobody`` (SANDBOX_UID) in a user namespace of its own, with no
  capability: no way past the permissions of a file it does not own (another account's home);
- its ``/etc`` is a copy of what every account may read there (a root grader's files are
  still the namespace's own); ``/root`` and ``/home`` are not bound (``sandbox_privacy.py``);
- of the grader's environment only the names in PASSED_ENV_NAMES pass (``--clearenv``): a
  token or password in the grading process never reaches student code.

Inside the sandbox the command starts under ``prlimit`` with the course's limits on memory,
processes and file size (``coursekit/limits.py``, ``[limits]`` of ``coursekit/course.toml``);
the processes that start sandboxes also put each one in a pids cgroup of its own where the
machine allows (``coursekit/cgroups.py``), since root is exempt from RLIMIT_NPROC.

Where bwrap cannot run, grading refuses to start unless ``DROPOUT_GRADING_UNCONFINED=1`` is set
on purpose.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

from .limits import LIMITS, Limits
from .sandbox_privacy import PASSED_ENV_NAMES, SANDBOX_UID, as_nobody, passed_environment, public_etc  # noqa: F401
from .paths import REPO_ROOT
from .speedups import speedups_on

KERNELS_DIR = REPO_ROOT / "coursekit" / "kernels"
KERNEL_NAME = "dropout-sandbox"
UNCONFINED_ENV = "DROPOUT_GRADING_UNCONFINED"
BWRAP_ENV = "DROPOUT_BWRAP"  # the bwrap program to use (default: bwrap on PATH)
HIDE_ENV = "DROPOUT_SANDBOX_HIDE"
# Student code gets one BLAS thread. Graders run a worker per core or more, and a pool of
# BLAS threads per kernel spins against the other workers: with two workers on two cores,
# --run-notebooks took 4.15 s per submission instead of 2.48 s (class_benchmark.py, 2026-12-01).
ONE_BLAS_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# glibc's malloc hands a freed block of 128 KiB or more back to the system, so a process that
# makes arrays of a few MiB again and again (the hidden checks' 500 x 500 inputs, a notebook's
# training loop) faults in fresh zeroed pages for every one. Freed memory kept for reuse
# (mallopt(3): M_MMAP_THRESHOLD, M_TRIM_THRESHOLD; other C libraries ignore these) took the
# forward checks' runner job from 0.11 to 0.07 CPU-s and the checks' pytest child from 0.25 to 0.20.
KEEP_FREED_MEMORY = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(64 << 20)}


def grading_process_env() -> dict[str, str]:
    """The environment every process that runs or judges student code gets on top of its own:
    one BLAS thread; and freed memory kept, a speed-up only, left out with the speed-ups off
    (``speedups.py``)."""
    return {**ONE_BLAS_THREAD, **(KEEP_FREED_MEMORY if speedups_on() else {})}


# As this process's environment asks (the kernel's launcher reads it once, at its start).
GRADING_PROCESS_ENV = grading_process_env()


class SandboxUnavailable(RuntimeError):
    """bwrap cannot confine processes here; the message says why and how to opt out."""


def find_grading_kernel() -> None:
    """Put the folder of the grading kernel's spec (KERNEL_NAME) first on ``JUPYTER_PATH``, for
    this process and the ones it starts; once, however often it is called."""
    others = [path for path in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if path]
    folder = str(KERNELS_DIR.parent)
    os.environ["JUPYTER_PATH"] = os.pathsep.join([folder, *(path for path in others if path != folder)])


def _bwrap() -> str | None:
    return shutil.which(os.environ.get(BWRAP_ENV) or "bwrap")


def unconfined_on_purpose() -> bool:
    """Whether unconfined grading was chosen on purpose (UNCONFINED_ENV=1)."""
    return os.environ.get(UNCONFINED_ENV, "") == "1"


# The start-up check runs a command built exactly as grading builds its commands (same Python
# as named, same binds): binding "/" would pass even where the real command cannot start.
PROBE_CODE = "import numpy, sys; print(sys.prefix)"


# Only a pass is remembered (a fixed machine works without a restart), in the environment, so
# that child processes inherit it: the kernel launcher, started once per notebook by an
# nbgrader that has probed, would otherwise run the probe again (0.13 s each).
PASSED_ENV = "DROPOUT_SANDBOX_PASSED"


def _probe(bwrap: str | None, python: str) -> str | None:
    key = f"{bwrap}{os.pathsep}{python}"
    if os.environ.get(PASSED_ENV) == key:
        return None
    reason = _run_probe(bwrap, python)
    if reason is None:
        os.environ[PASSED_ENV] = key
    return reason


def _run_probe(bwrap: str | None, python: str) -> str | None:
    if bwrap is None:
        return f"bwrap is not installed (Debian package: bubblewrap), or {BWRAP_ENV} names no program"
    with tempfile.TemporaryDirectory(prefix="dropout-sandbox-probe-") as work:
        command = bwrap_command([python, "-I", "-c", PROBE_CODE], work, writable=[work])
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"bwrap could not be started: {error}"
    if done.returncode != 0:
        why = done.stderr.strip()[-600:] or f"exit code {done.returncode}"
        return (f"the sandboxed Python ({python}) could not start under bwrap: {why} "
                f"(command: {shlex.join(command)})")
    return None


def probe() -> str | None:
    """None if grading's own sandboxed command line starts here, else the reason it cannot."""
    return _probe(_bwrap(), sys.executable)


# Where bwrap is installed but cannot make its namespaces (docs/hub-instructors.md).
NO_NAMESPACES_WAY_OUT = ("Where unprivileged user namespaces are off (most Kubernetes pods), grade in a pod or on "
                         "a machine that allows them, or with the class command's Dask workers there")


def require() -> bool:
    """Raise SandboxUnavailable unless bwrap works or unconfined grading was chosen on purpose;
    True when bwrap works (False: unconfined on purpose)."""
    reason = probe()
    if reason and not unconfined_on_purpose():
        way_out = "Install bubblewrap (apt-get install bubblewrap)" if _bwrap() is None else NO_NAMESPACES_WAY_OUT
        raise SandboxUnavailable(
            f"grading refuses to run student code unconfined: {reason}. {way_out}, or, knowing that student "
            f"code will then be able to read the solutions and write to the gradebook, set "
            f"{UNCONFINED_ENV}=1 to grade unconfined.")
    return reason is None


def hidden_paths(extra: Iterable[Path] = ()) -> list[Path]:
    """The folders student code must not see: the repository, plus HIDE_ENV's, plus ``extra``."""
    paths = [REPO_ROOT, *extra]
    paths += [Path(p) for p in os.environ.get(HIDE_ENV, "").split(os.pathsep) if p]
    return _existing_unique(paths)


def _existing_unique(paths: Iterable[Path | str]) -> list[Path]:
    seen, out = set(), []
    for path in paths:
        path = Path(path).resolve()
        if path.exists() and path not in seen:
            seen.add(path)
            out.append(path)
    return out


# What a confined process sees of the system, read-only: programs, libraries, configuration.
# /etc is seen as the copy sandbox_privacy.public_etc makes of what every account may read there.
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


def _system_binds() -> list[str]:
    args = ["--ro-bind", str(public_etc()), "/etc"]
    for name in SYSTEM_PATHS:
        path = Path(name)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), name]
        elif path.is_dir():
            args += ["--ro-bind", name, name]
    return args


def sandbox_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """The whole environment of a sandbox: PASSED_ENV_NAMES from this process's environment,
    GRADING_PROCESS_ENV, then ``env``."""
    return {**passed_environment(), **GRADING_PROCESS_ENV, **(env or {})}


def bwrap_command(command: Sequence[str], cwd: Path | str, writable: Iterable[Path | str] = (),
                  readonly: Iterable[Path | str] = (), hide: Iterable[Path] = (), network: bool = False,
                  env: dict[str, str] | None = None, limits: Limits | None = LIMITS,
                  files: dict[str, Path] | None = None) -> list[str]:
    """The bwrap command line that runs ``command`` confined as described in this module,
    under ``limits`` (None: no rlimits), with each of ``files`` ({path inside: file outside})
    read-only at its path inside.

    Nothing of the file system is visible but SYSTEM_PATHS, a copy of what every account may
    read of /etc, the Python installation and the virtual environment (read-only), ``readonly``,
    ``writable`` and a private /tmp. Hidden paths that lie inside those (the repository around
    the virtual environment, say) are covered again by an empty tmpfs. The command runs as
    SANDBOX_UID with no capability, in the environment ``sandbox_environment(env)``.
    """
    readonly, writable = list(readonly), list(writable)
    args = [_bwrap() or "bwrap", "--die-with-parent", "--unshare-pid", *as_nobody(), "--clearenv", *_system_binds(),
            "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    if not network:
        args.append("--unshare-net")
    hidden = hidden_paths(hide)
    python = [Path(sys.base_prefix), Path(sys.prefix), Path(sys.executable).parent]
    python += [path for path in _site_paths_outside_prefix(sys.executable)
               if not any(path.resolve().is_relative_to(h) or h.is_relative_to(path.resolve()) for h in hidden)]
    visible = _existing_unique([*python, *readonly, *writable])
    for path in hidden:
        if any(_inside(other, path) for other in visible):  # e.g. the repository around the venv
            args += ["--tmpfs", str(path)] if path.is_dir() else ["--ro-bind", "/dev/null", str(path)]
    ro_paths, rw_paths = _existing_unique([*python, *readonly]), _existing_unique(writable)
    for path in ro_paths:
        args += ["--ro-bind", str(path), str(path)]
    for path in rw_paths:
        args += ["--bind", str(path), str(path)]
    # Also bind each path where it is named through a symlink (a symlinked clone, venv, home or
    # course folder): sys.executable and the command line keep those names.
    bound = [*ro_paths, *rw_paths]
    for option, paths in (("--ro-bind", [*python, *readonly]), ("--bind", writable)):
        for named, real in _symlinked_names(paths, bound):
            args += [option, str(real), str(named)]
    for inside, outside in (files or {}).items():
        args += ["--ro-bind", str(outside), inside]
    for key, value in sandbox_environment(env).items():
        args += ["--setenv", key, value]
    args += ["--chdir", str(Path(cwd).resolve()), "--"]
    return args + (limits.prlimit_command() if limits else []) + list(command)


def find_site_paths(python: str = sys.executable) -> None:
    """Ask ``python`` now for what ``bwrap_command`` needs of it (it starts that Python once per
    process): a process that forks the checks of many submissions calls this first, so that
    its children do not each start one (about 0.015 CPU-seconds a submission)."""
    _site_paths_outside_prefix(python)


# Like PASSED_ENV, the answer is handed down in the environment: the kernel launcher, started
# once per notebook by an nbgrader that has built a sandbox command already, would otherwise
# start that Python again (0.03 of its 0.11 CPU-seconds).
SITE_PATHS_ENV = "DROPOUT_SANDBOX_SITE_PATHS"


@functools.lru_cache(maxsize=None)
def _site_paths_outside_prefix(python: str) -> tuple[Path, ...]:
    """Folders on the isolated (``-I``) module path of ``python`` outside its installation and
    venv: what the venv's ``.pth`` files add (a department's shared site-packages, say), as
    named. Hidden folders among them (an editable install of this repository) are left out
    by the caller."""
    try:
        named, paths = json.loads(os.environ.get(SITE_PATHS_ENV, "null"))
        if named == python:
            return tuple(Path(path) for path in paths)
    except (TypeError, ValueError):
        pass  # not set, or not ours: ask
    found = _ask_site_paths(python)
    if found is not None:
        os.environ[SITE_PATHS_ENV] = json.dumps([python, [str(path) for path in found]])
    return found or ()


def _ask_site_paths(python: str) -> tuple[Path, ...] | None:
    code = "import sys; print(sys.prefix); print(sys.base_prefix); print('\\n'.join(sys.path))"
    try:
        done = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None  # the start-up check then names the failure
    lines = done.stdout.splitlines()
    if done.returncode != 0 or len(lines) < 2:
        return None
    prefixes = [Path(line).resolve() for line in lines[:2]]
    found = []
    for line in lines[2:]:
        if line and Path(line).is_dir() and not any(Path(line).resolve().is_relative_to(p) for p in prefixes):
            found.append(Path(os.path.abspath(line)))  # as named: the binds add the link's name too
    return tuple(found)


def _symlinked_names(paths: Iterable[Path | str], bound: Iterable[Path] = ()) -> list[tuple[Path, Path]]:
    """(name as given, resolved path) of each existing path whose name goes through a symlink,
    except a link that lies inside a bound folder: it is there already, and bwrap cannot mount
    over a symlink."""
    out, seen, bound = [], set(), list(bound)
    for path in paths:
        named, real = Path(os.path.abspath(path)), Path(path).resolve()
        if any(named.parent.resolve().is_relative_to(folder) for folder in bound):
            continue
        if named != real and real.exists() and named not in seen:
            seen.add(named)
            out.append((named, real))
    return out


def _inside(path: Path, folder: Path) -> bool:
    return Path(path).is_relative_to(folder) and Path(path) != Path(folder)
