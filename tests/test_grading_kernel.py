"""How the grading kernel starts (coursekit/kernels/dropout-sandbox/launch.py), with real kernels."""

import pytest

from coursekit import sandbox

pytestmark = pytest.mark.skipif(sandbox.probe() is not None, reason=f"bwrap unusable: {sandbox.probe()}")

FACTS = ("import sys\n"
         "print('debugpy loaded' if 'debugpy' in sys.modules else 'no debugpy')\n"
         "import debugpy\n"  # student code may still import it
         "print('debugpy importable')\n"
         "import source_pkg\n"  # and the notebook's folder is on the module path again
         "print(source_pkg.WHERE)\n")


@pytest.mark.parametrize("confined", [True, False])
def test_the_grading_kernel_starts_without_a_debugger_and_without_the_folders_modules(confined, tmp_path,
                                                                                         monkeypatch):
    """A grading kernel is never debugged: ipykernel's debugger backend (debugpy) is not loaded,
    a fifth of the kernel's start. As with ipykernel_launcher, a student's file named like one of
    the kernel's own modules does not replace it while the kernel loads."""
    from jupyter_client.manager import start_new_kernel

    monkeypatch.setenv("JUPYTER_PATH", str(sandbox.KERNELS_DIR.parent))
    if not confined:
        monkeypatch.setenv(sandbox.UNCONFINED_ENV, "1")
    (tmp_path / "zmq.py").write_text("raise SystemExit('the folder shadowed the kernel')\n")
    (tmp_path / "source_pkg").mkdir()
    (tmp_path / "source_pkg" / "__init__.py").write_text("WHERE = 'from the notebook folder'\n")
    manager, client = start_new_kernel(kernel_name=sandbox.KERNEL_NAME, cwd=str(tmp_path), startup_timeout=60)
    try:
        info = client.kernel_info(reply=True, timeout=30)["content"]
        outputs = []
        client.execute_interactive(FACTS, timeout=60, output_hook=lambda message: outputs.append(
            message["content"].get("text", "")))
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert info["status"] == "ok" and "debugger" not in info["supported_features"]
    assert "".join(outputs).splitlines() == ["no debugpy", "debugpy importable", "from the notebook folder"]


def test_the_kernel_launcher_takes_the_paths_its_grader_found(monkeypatch):
    """The launcher starts once per notebook; the grader above it has asked Python for the
    venv's paths already (to build its own sandbox commands), so the launcher starts no Python
    for them. An answer about another Python is not taken."""
    import json
    import os
    import subprocess
    import sys

    monkeypatch.delenv(sandbox.SITE_PATHS_ENV, raising=False)
    sandbox._site_paths_outside_prefix.cache_clear()
    found = sandbox._site_paths_outside_prefix(sys.executable)
    assert json.loads(os.environ[sandbox.SITE_PATHS_ENV]) == [sys.executable, [str(path) for path in found]]
    child = ("import subprocess, sys; sys.path.insert(0, sys.argv[1]); from coursekit import sandbox\n"
             "real_run = subprocess.run\n"
             "def counting_run(*args, **kwargs):\n    print('started', args[0][0]); return real_run(*args, **kwargs)\n"
             "subprocess.run = counting_run\n"
             "sandbox.bwrap_command([sys.executable, '-c', 'pass'], '.')\nprint('built')\n")

    def child_output(environment):
        return subprocess.run([sys.executable, "-c", child, str(sandbox.REPO_ROOT)], capture_output=True, text=True,
                              env=environment, timeout=60, check=True).stdout.split("\n")

    assert child_output(os.environ.copy())[0] == "built"
    other = {**os.environ, sandbox.SITE_PATHS_ENV: json.dumps(["/another/python", ["/somewhere"]])}
    assert child_output(other)[0] == f"started {sys.executable}"


def test_the_grading_kernels_folder_is_put_first_on_the_jupyter_path_once(monkeypatch):
    import os

    folder = str(sandbox.KERNELS_DIR.parent)
    monkeypatch.setenv("JUPYTER_PATH", os.pathsep.join(["/elsewhere", folder, "", "/more"]))
    for _ in range(2):
        sandbox.find_grading_kernel()
    assert os.environ["JUPYTER_PATH"].split(os.pathsep) == [folder, "/elsewhere", "/more"]
