"""Start an IPython kernel confined by bubblewrap (see coursekit/sandbox.py).

nbgrader starts this through the ``dropout-sandbox`` kernel spec with the notebook's folder
(the student's autograded folder) as working directory; that folder is the kernel's only
writable place. With the ``ipc`` transport (what coursekit's ResilientExecute asks for) the
kernel talks to nbgrader over Unix sockets in a folder of their own and gets no network at
all; with TCP it keeps the host network to answer on its ports.

The course's limits (``coursekit/limits.py``) apply to the kernel and everything it starts:
memory and file size through rlimits, processes through a pids cgroup of the kernel's own
where the machine allows (``coursekit/cgroups.py``) and RLIMIT_NPROC inside the sandbox.
The time of all the notebook's cells together is kept by nbgrader's side (ResilientExecute).
The kernel gets one BLAS thread and malloc settings that keep freed memory (``sandbox.GRADING_PROCESS_ENV``) and matplotlib's font list
prepared outside (``coursekit/matplotlib_cache.py``). It runs as ``nobody`` with no capability,
sees none of the grader's root-only files and none of the grader's environment but
``sandbox.PASSED_ENV_NAMES``, whoever grades (root included).
"""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from coursekit.cgroups import PidsGroup  # noqa: E402
from coursekit.limits import LIMITS  # noqa: E402
from coursekit.matplotlib_cache import KERNEL_CONFIG_DIR, font_list_files  # noqa: E402
from coursekit.sandbox import GRADING_PROCESS_ENV, bwrap_command, require  # noqa: E402


# What ``python -m ipykernel_launcher`` does (the notebook's folder off the module path while the
# kernel loads, so that a student's zmq.py cannot replace the kernel's own; IPython puts it back),
# except that ipykernel finds no debugpy: its debugger backend, which nobody uses in a grading
# kernel, was a fifth of the kernel's start (0.08 of 0.42 CPU-seconds). Student code may still
# import debugpy afterwards.
KERNEL_CODE = ("import sys; sys.path[:] = [p for p in sys.path if p]; sys.modules['debugpy'] = None; "
               "import ipykernel.debugger; del sys.modules['debugpy']; "
               "from ipykernel import kernelapp; kernelapp.launch_new_instance()")


def _limit_this_process() -> None:
    """Put this process (and so the kernel it becomes) under the course's limits."""
    group = PidsGroup.create(LIMITS.processes)
    if group is not None:
        group.enter()
    LIMITS.apply_here()


def main(connection_file: str) -> None:
    """Exec the kernel confined (or unconfined, when chosen on purpose)."""
    kernel = [sys.executable, "-c", KERNEL_CODE, "-f", connection_file]
    confined = require()
    _limit_this_process()
    if not confined:  # chosen on purpose (DROPOUT_GRADING_UNCONFINED=1)
        os.execve(kernel[0], kernel, {**os.environ, **GRADING_PROCESS_ENV})
    folder = Path.cwd().resolve()
    connection = json.loads(Path(connection_file).read_text())
    writable, network = [folder], True
    if connection.get("transport") == "ipc":
        writable.append(Path(connection["ip"]).resolve().parent)
        network = False
    env = {"HOME": "/tmp", "IPYTHONDIR": "/tmp/.ipython", "MPLCONFIGDIR": KERNEL_CONFIG_DIR, **GRADING_PROCESS_ENV}
    # Of this process's environment only sandbox.PASSED_ENV_NAMES pass. Not JPY_PARENT_PID either:
    # ipykernel exits when the process that started it seems gone, and in its own PID namespace
    # its parent is the namespace's init (bwrap --die-with-parent ends the kernel with nbgrader).
    command = bwrap_command(kernel, folder, writable=writable, readonly=[connection_file], network=network, env=env,
                            files=font_list_files())
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1])
