"""Confine the processes that run student code during grading, with bubblewrap (``bwrap``).

Two kinds of process run student code: the notebook's kernel (started by nbgrader through the
``dropout-sandbox`` kernel spec in ``coursekit/kernels``) and the hidden checks' runner
(started by ``coursekit.grading.client``). Both see the whole system read-only, except:

- hidden (an empty tmpfs over them): the repository (instructor ``source_pkg``, ``tests/``,
  ``coursekit/``, ``assignments/``), the course root (every student's folders, the gradebook)
  and any other path named in ``DROPOUT_SANDBOX_HIDE``;
- visible again, read-only: the virtual environment (and, for the runner, ``runner.py``);
- writable: only the process's own folder (the kernel: the student's autograded folder; the
  runner: its job folder), plus a private, empty ``/tmp``;
- their own PID namespace (no view of other processes, so no way into other folders through
  ``/proc/<pid>/cwd``); the runner also gets no network at all.

Where bwrap cannot run, grading refuses to start unless ``DROPOUT_GRADING_UNCONFINED=1`` is set
on purpose.
"""

import os
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
KERNELS_DIR = REPO_ROOT / "coursekit" / "kernels"
KERNEL_NAME = "dropout-sandbox"
UNCONFINED_ENV = "DROPOUT_GRADING_UNCONFINED"
BWRAP_ENV = "DROPOUT_BWRAP"  # the bwrap program to use (default: bwrap on PATH)
HIDE_ENV = "DROPOUT_SANDBOX_HIDE"


class SandboxUnavailable(RuntimeError):
    """bwrap cannot confine processes here; the message says why and how to opt out."""


def _bwrap():
    return shutil.which(os.environ.get(BWRAP_ENV) or "bwrap")


def unconfined_on_purpose():
    return os.environ.get(UNCONFINED_ENV, "") == "1"


@lru_cache(maxsize=None)
def _probe(bwrap):
    if bwrap is None:
        return f"bwrap is not installed (Debian package: bubblewrap), or {BWRAP_ENV} names no program"
    try:
        done = subprocess.run([bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
                               "--unshare-pid", "--unshare-net", "--die-with-parent", "true"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap could not be started: {error}"
    if done.returncode != 0:
        return f"bwrap failed to create a sandbox: {done.stderr.strip() or f'exit code {done.returncode}'}"
    return None


def probe():
    """None if bwrap can confine a process here, else the reason it cannot."""
    return _probe(_bwrap())


def require():
    """Raise SandboxUnavailable unless bwrap works or unconfined grading was chosen on purpose."""
    reason = probe()
    if reason and not unconfined_on_purpose():
        raise SandboxUnavailable(
            f"grading refuses to run student code unconfined: {reason}. Install bubblewrap "
            f"(apt-get install bubblewrap), or, knowing that student code will then be able to read "
            f"the solutions and write to the gradebook, set {UNCONFINED_ENV}=1 to grade unconfined.")
    return reason is None


def hidden_paths(extra=()):
    """The folders student code must not see: the repository, plus HIDE_ENV's, plus ``extra``."""
    paths = [REPO_ROOT, *extra]
    paths += [Path(p) for p in os.environ.get(HIDE_ENV, "").split(os.pathsep) if p]
    return _existing_unique(paths)


def _existing_unique(paths):
    seen, out = set(), []
    for path in paths:
        path = Path(path).resolve()
        if path.exists() and path not in seen:
            seen.add(path)
            out.append(path)
    return out


def bwrap_command(command, cwd, writable=(), readonly=(), hide=(), network=False, env=None):
    """The bwrap command line that runs ``command`` confined as described in this module."""
    args = [_bwrap() or "bwrap", "--die-with-parent", "--unshare-pid",
            "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    if not network:
        args.append("--unshare-net")
    for path in hidden_paths(hide):
        if path.is_dir():
            args += ["--tmpfs", str(path)]
        else:
            args += ["--ro-bind", "/dev/null", str(path)]
    venv = Path(sys.prefix).resolve()
    for path in _existing_unique([venv, *readonly]):
        args += ["--ro-bind", str(path), str(path)]
    for path in _existing_unique(writable):
        args += ["--bind", str(path), str(path)]
    for key, value in (env or {}).items():
        args += ["--setenv", key, value]
    args += ["--chdir", str(Path(cwd).resolve()), "--"]
    return args + list(command)
