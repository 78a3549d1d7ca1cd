"""The bubblewrap sandbox around student code (coursekit/sandbox.py), tested with real bwrap."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from coursekit import classroom, sandbox
from coursekit.grading.judge import judge
from faults.catalogue import BASELINES, BY_NAME

pytestmark = pytest.mark.skipif(sandbox.probe() is not None, reason=f"bwrap unusable: {sandbox.probe()}")

PROBE = r"""
import json, os, socket, sys
facts = {
    "repo_visible": os.path.exists(sys.argv[1] + "/source_pkg/layers.py"),
    "checks_visible": os.path.exists(sys.argv[1] + "/tests/hidden"),
    "venv_visible": os.path.exists(sys.prefix + "/bin/python"),
    "beside_work": sorted(os.listdir(os.path.dirname(os.getcwd()))),
    "processes": len([p for p in os.listdir("/proc") if p.isdigit()]),
}
try:
    open("written.txt", "w").write("ok"); facts["cwd_writable"] = True
except OSError:
    facts["cwd_writable"] = False
try:
    open(sys.argv[2] + "/escape.txt", "w").write("no"); facts["elsewhere_writable"] = True
except OSError:
    facts["elsewhere_writable"] = False
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2); facts["network"] = True
except OSError:
    facts["network"] = False
print(json.dumps(facts))
"""


def test_confined_process_sees_and_writes_only_what_it_should(tmp_path):
    import json

    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    command = sandbox.bwrap_command([sys.executable, "-c", PROBE, str(sandbox.REPO_ROOT), str(elsewhere)],
                                    work, writable=[work])
    facts = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    processes = facts.pop("processes")
    assert facts == {"repo_visible": False, "checks_visible": False, "venv_visible": True,
                     "beside_work": ["work"],  # a private /tmp: the folder next to it is not there
                     "cwd_writable": True, "elsewhere_writable": False, "network": False}
    assert processes <= 3  # its own PID namespace
    assert (work / "written.txt").exists() and not (elsewhere / "escape.txt").exists()


def test_nothing_but_system_python_and_own_folder_is_visible(tmp_path):
    """No other checkout of the course, home folder or course root anywhere on the machine."""
    work = tmp_path / "work"
    work.mkdir()
    script = r"""
import os, sys
skip = {"/proc", "/sys", "/dev", "/usr", "/etc", os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)}
seen = []
for folder, subfolders, files in os.walk("/"):
    subfolders[:] = [d for d in subfolders if os.path.join(folder, d) not in skip and not os.path.islink(os.path.join(folder, d))]
    seen += [os.path.join(folder, f) for f in files]
print("\n".join(seen))
"""
    command = sandbox.bwrap_command([sys.executable, "-c", script], work, writable=[work])
    (work / "mine.txt").write_text("mine")
    seen = subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()
    assert seen == [str(work / "mine.txt")]


@pytest.mark.parametrize("attack", ["attack-delegate", "attack-rewrite-self"])
def test_attacks_gain_nothing_confined_and_would_gain_unconfined(attack, tmp_path):
    """The same submission judged with and without the sandbox: confinement is what protects."""
    def scores(variant, confine):
        folder = BY_NAME[variant].build(tmp_path / f"{variant}-{confine}")
        return {task: v.points for task, v in judge(folder, confine=confine).tasks.items()}

    baseline = scores(BASELINES[attack], confine=True)
    assert scores(attack, confine=True) == baseline
    unconfined = scores(attack, confine=False)
    assert sum(unconfined.values()) > sum(baseline.values())


def test_autograde_refuses_to_start_without_bwrap(tmp_path):
    root = classroom.make_course(tmp_path / "course")
    env = {sandbox.BWRAP_ENV: "/nonexistent/bwrap"}
    refused = _autograde(root, env)
    assert refused.returncode == 2
    assert "refuses to run student code unconfined" in refused.stderr
    assert sandbox.UNCONFINED_ENV in refused.stderr
    assert not (root / "autograded").exists()
    allowed = _autograde(root, {**env, sandbox.UNCONFINED_ENV: "1"})
    assert "grading UNCONFINED" in allowed.stderr


def _autograde(root, extra_env):
    from coursekit.release import nbgrader_env

    env = {**nbgrader_env(), "DROPOUT_COURSE_REPO": str(sandbox.REPO_ROOT), **extra_env}
    return subprocess.run([sys.executable, "-m", "nbgrader", "autograde", "dropout"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


def test_folders_a_venv_adds_with_pth_files_are_visible_but_the_repository_is_not(tmp_path):
    """A venv whose ``.pth`` adds a shared package folder (a department's site-packages) and an
    editable install of this repository: the first is bound read-only, the second stays hidden."""
    made = tmp_path / "env"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(made)], check=True)
    python = made / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    shared = tmp_path / "department packages"
    shared.mkdir()
    (shared / "department_module.py").write_text("WHERE = 'shared'\n")
    (made / "linked packages").symlink_to(shared, target_is_directory=True)  # named through a link
    (tmp_path / "site.pth").write_text(f"{made / 'linked packages'}\n{sandbox.REPO_ROOT}\n")
    (tmp_path / "site.pth").rename(os.path.join(site, "extra.pth"))
    work = tmp_path / "work"
    work.mkdir()
    # Run by the venv's Python, as grading would be: bwrap_command looks at the running interpreter.
    script = tmp_path / "confine.py"
    script.write_text(
        "import subprocess, sys\n"
        "repo, work = sys.argv[1:3]\n"
        "sys.path.insert(0, repo)\n"
        "from coursekit import sandbox\n"
        "inner = f'import department_module, os; print(department_module.WHERE, os.path.exists({repo!r} + \"/source_pkg\"))'\n"
        "command = sandbox.bwrap_command([sys.executable, '-I', '-c', inner], work, writable=[work])\n"
        "done = subprocess.run(command, capture_output=True, text=True)\n"
        "print(done.stdout.strip(), done.stderr[-1500:])\n")
    done = subprocess.run([str(python), str(script), str(sandbox.REPO_ROOT), str(work)],
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "shared False", done.stdout + done.stderr


class _Kernel:
    """What ``kernel_exit`` reads of a kernel manager: its provisioner's process."""

    def __init__(self, process):
        self.provisioner = type("Provisioner", (), {"process": process})()


@pytest.mark.parametrize("command, says", [
    # bubblewrap ends with 128 + N when the process inside was killed by signal N.
    (["bwrap", "--dev-bind", "/", "/", "--unshare-pid", "sh", "-c", "kill -9 $$"], "killed by signal SIGKILL"),
    (["bwrap", "--dev-bind", "/", "/", "--unshare-pid", sys.executable, "-c", "import os; os.abort()"],
     "killed by signal SIGABRT"),
    ([sys.executable, "-c", "import os; os._exit(3)"], "exit code 3"),
    ([sys.executable, "-c", "import time; time.sleep(30)"], ""),  # still running: nothing said
])
def test_a_dead_kernels_end_is_said_in_words(command, says):
    from coursekit.grading.notebook_run import kernel_exit

    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    try:
        assert kernel_exit(_Kernel(process), wait_seconds=5 if says else 0.2) == says
    finally:
        process.kill()
        process.wait()


def test_a_kernel_without_a_local_process_says_nothing():
    from coursekit.grading.notebook_run import kernel_exit

    assert kernel_exit(object()) == ""


@pytest.mark.parametrize("confined", [True, False])
def test_the_grading_kernel_has_one_blas_thread(confined, tmp_path, monkeypatch):
    """Two workers' kernels each with a BLAS thread pool spin against each other on two cores."""
    from jupyter_client.manager import start_new_kernel

    monkeypatch.setenv("JUPYTER_PATH", str(sandbox.KERNELS_DIR.parent))
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")  # what the grader's own environment says is overridden
    if not confined:
        monkeypatch.setenv(sandbox.UNCONFINED_ENV, "1")
    manager, client = start_new_kernel(kernel_name=sandbox.KERNEL_NAME, cwd=str(tmp_path), startup_timeout=60)
    try:
        outputs = []
        client.execute_interactive(
            "import numpy, threadpoolctl\n"
            "print(sorted({pool['num_threads'] for pool in threadpoolctl.threadpool_info()}))",
            timeout=60, output_hook=lambda message: outputs.append(message["content"].get("text", "")))
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert "".join(outputs).strip() == "[1]"


REUSE_CHECK = ("import numpy, resource\n"
               "def faults():\n    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
               "x = numpy.ones((500, 500))\n"
               "before = faults()\n"
               "for p in (0.1, 0.25, 0.4, 0.5, 0.7, 0.9) * 3:\n"  # what dropout and its checks make
               "    out = x.copy() * (numpy.random.rand(*x.shape) >= p) / (1 - p)\n"
               "    kept = out != 0\n"
               "    ratio = out[kept] / x[kept]\n"
               "    del out, kept, ratio\n"
               "print(faults() - before)\n")


@pytest.mark.parametrize("confined", [True, False])
def test_the_grading_kernel_reuses_freed_memory(confined, tmp_path, monkeypatch):
    """Arrays of a few MiB made again and again (dropout and its checks, a training loop) reuse
    freed memory instead of faulting in fresh pages: about 2,000 page faults here, not 20,000."""
    from jupyter_client.manager import start_new_kernel

    monkeypatch.setenv("JUPYTER_PATH", str(sandbox.KERNELS_DIR.parent))
    for name in sandbox.KEEP_FREED_MEMORY:
        monkeypatch.delenv(name, raising=False)
    if not confined:
        monkeypatch.setenv(sandbox.UNCONFINED_ENV, "1")
    manager, client = start_new_kernel(kernel_name=sandbox.KERNEL_NAME, cwd=str(tmp_path), startup_timeout=60)
    try:
        outputs = []
        client.execute_interactive(REUSE_CHECK, timeout=60,
                                   output_hook=lambda message: outputs.append(message["content"].get("text", "")))
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert int("".join(outputs).strip()) < 5000
    # The same snippet without the settings faults in every page of every array (the check can fail).
    plain = subprocess.run([sys.executable, "-c", REUSE_CHECK], capture_output=True, text=True, timeout=60,
                           env={k: v for k, v in os.environ.items() if k not in sandbox.KEEP_FREED_MEMORY})
    assert int(plain.stdout) > 10 * 1024


def test_the_runner_and_the_checks_reuse_freed_memory(monkeypatch):
    from coursekit.grading import serving
    from coursekit.grading.checks_server import ChecksServer
    from coursekit.grading.judge import checks_environment

    assert sandbox.KEEP_FREED_MEMORY.items() <= serving._runner_environment().items()
    for name in sandbox.KEEP_FREED_MEMORY:
        monkeypatch.delenv(name, raising=False)
    server = ChecksServer(checks_environment())
    try:
        raw = Path(f"/proc/{server.process.pid}/environ").read_bytes()
    finally:
        server.close()
    environment = dict(entry.split("=", 1) for entry in raw.decode().split("\0") if "=" in entry)
    assert sandbox.KEEP_FREED_MEMORY.items() <= environment.items()


FONT_CHECK = ("import io, logging\nlog = io.StringIO()\nlogging.basicConfig(stream=log, level=logging.INFO)\n"
              "import matplotlib.font_manager\n"
              "print('scanned' if 'generated new fontManager' in log.getvalue() else 'reused')")


@pytest.mark.parametrize("prepared", [True, False])
def test_the_grading_kernel_reuses_the_font_list_prepared_outside(prepared, tmp_path, monkeypatch):
    """Without the prepared list, each sandboxed kernel scans the fonts again (its /tmp is new)."""
    from jupyter_client.manager import start_new_kernel

    from coursekit import matplotlib_cache

    cache = tmp_path / "cache"
    if not prepared:  # a cache folder that cannot be made: the kernel is on its own
        cache.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("JUPYTER_PATH", str(sandbox.KERNELS_DIR.parent))
    work = tmp_path / "work"
    work.mkdir()
    outputs = []
    for _ in range(2):  # the first kernel may build the list; the second must find it
        manager, client = start_new_kernel(kernel_name=sandbox.KERNEL_NAME, cwd=str(work), startup_timeout=60)
        try:
            client.execute_interactive(FONT_CHECK, timeout=60, output_hook=lambda message: outputs.append(
                message["content"].get("text", "")))
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
    assert "".join(outputs).split() == (["reused", "reused"] if prepared else ["scanned", "scanned"])
    assert bool(matplotlib_cache.font_list_files()) == prepared


def test_a_passed_probe_is_handed_to_child_processes_and_not_run_again(tmp_path, monkeypatch):
    """The kernel launcher starts once per notebook; the nbgrader above it has probed already."""
    import shutil

    calls = tmp_path / "calls.txt"
    counting = tmp_path / "counting-bwrap"
    counting.write_text(f"#!/bin/sh\necho run >> '{calls}'\nexec '{shutil.which('bwrap')}' \"$@\"\n")
    counting.chmod(0o755)
    monkeypatch.setenv(sandbox.BWRAP_ENV, str(counting))
    monkeypatch.delenv(sandbox.PASSED_ENV, raising=False)
    assert sandbox.probe() is None
    assert calls.read_text().count("run") == 1

    def child_requires() -> None:
        child = "import sys; sys.path.insert(0, sys.argv[1]); from coursekit import sandbox; print(sandbox.require())"
        done = subprocess.run([sys.executable, "-c", child, str(sandbox.REPO_ROOT)], capture_output=True, text=True,
                              env=os.environ.copy(), timeout=60)
        assert done.stdout.strip() == "True", done.stderr

    child_requires()
    assert calls.read_text().count("run") == 1  # the child trusted its parent's pass
    monkeypatch.setenv(sandbox.PASSED_ENV, "another-bwrap" + os.pathsep + sys.executable)
    child_requires()
    assert calls.read_text().count("run") == 2  # a pass of another bwrap is no pass of this one


def test_a_process_that_forks_the_checks_asks_python_for_its_paths_once(tmp_path, monkeypatch):
    """After the checks' warm-up, building a sandbox command (each submission's runner) starts
    no Python; before, every submission's checks started one to read the venv's paths."""
    import pytest as pytest_module

    from coursekit.grading import checks_server

    sandbox._site_paths_outside_prefix.cache_clear()
    monkeypatch.setattr(pytest_module, "main", lambda args: 0)  # the collection itself is not the point
    checks_server._warm_up()
    monkeypatch.setattr(sandbox.subprocess, "run", lambda *args, **kwargs: pytest.fail(f"started {args[0]}"))
    command = sandbox.bwrap_command([sys.executable, "-I", "-c", "pass"], tmp_path)
    assert str(Path(sys.prefix)) in command
