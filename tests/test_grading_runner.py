"""The runner boundary: student code runs only in runner processes, under time limits."""

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from coursekit.cgroups import PidsGroup
from coursekit.grading.client import OpFailed, Plan, run_plan
from coursekit.grading.judge import judge
from coursekit.grading.reference import read_array, write_array
from coursekit.grading.verdict import Verdict
from coursekit.paths import REPO_ROOT
from faults.catalogue import BY_NAME


def _forward_plan(count=3, task="dropout_forward"):
    plan = Plan(task)
    plan.array("x", np.ones((4, 5)))
    for k in range(count):
        plan.add(f"f{k}", {"op": "dropout_forward", "x": "x", "param": {"p": 0.5, "mode": "train"}},
                 f"dropout_forward call {k}")
    return plan


def _package(tmp_path, body):
    package = tmp_path / "source_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "fc_net.py").write_text("")
    (package / "layers.py").write_text("import numpy as np\n\ndef dropout_forward(x, dropout_param):\n" + body)
    return tmp_path


def test_an_operation_the_tasks_calls_lack_is_refused_when_planned():
    """Op names resolve against the plan's task's calls.py only: the forward task has no backward."""
    plan = Plan("dropout_forward")
    with pytest.raises(ValueError, match=r"dropout_forward/calls\.py has no operation 'dropout_backward'"):
        plan.add("b", {"op": "dropout_backward", "dout": "x", "cache": "c"}, "dropout_backward")
    with pytest.raises(KeyError, match="unknown task"):
        Plan("no_such_task")


def test_reference_runs_and_returns_arrays():
    results = run_plan(_forward_plan(), REPO_ROOT)
    assert all(r.ok for r in results.values())
    assert results["f0"]["out"].shape == (4, 5)


def test_a_hang_costs_only_the_calls_it_blocks(tmp_path):
    folder = _package(tmp_path, "    while dropout_param['p'] > 0:\n        pass\n")
    plan = _forward_plan(3, task="dropout_backward")  # the task whose calls include a backward
    plan.add("other", {"op": "dropout_backward", "dout": "x", "cache": "none"}, "dropout_backward")
    started = time.monotonic()
    results = run_plan(plan, folder, op_timeout=1, budget=20)
    assert time.monotonic() - started < 8  # one timeout, not one per call
    assert results["f0"].status == "timeout"
    assert results["f1"].status == results["f2"].status == "not-run"
    assert "did not finish" in results["f1"].why()
    assert results["other"].status == "error"  # still run, after a restart
    with pytest.raises(OpFailed, match="did not finish within 1 s"):
        results["f0"]["out"]


def test_a_crash_is_reported_and_later_calls_still_run(tmp_path):
    folder = _package(tmp_path, "    import os\n    if dropout_param.get('seed') == 1:\n        os._exit(7)\n"
                                "    return x * 2, None\n")
    plan = Plan("dropout_forward")
    plan.array("x", np.ones(3))
    plan.add("dies", {"op": "dropout_forward", "x": "x", "param": {"p": 0.5, "mode": "train", "seed": 1}}, "dies")
    plan.add("lives", {"op": "dropout_forward", "x": "x", "param": {"p": 0.5, "mode": "train"}}, "lives")
    results = run_plan(plan, folder)
    assert results["dies"].status == "crashed" and "exit code 7" in results["dies"].why()
    assert results["lives"].ok and np.array_equal(results["lives"]["out"], [2, 2, 2])


def test_missing_package_is_never_graded_against_the_instructor_edition(tmp_path, monkeypatch):
    # Even with the repository on PYTHONPATH (as in a careless instructor shell).
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    results = run_plan(_forward_plan(1), tmp_path)
    assert results["import"].status == "error"
    assert results["import"].error["type"] == "ModuleNotFoundError"
    assert results["f0"].status == "not-run"


def test_patches_in_student_code_do_not_reach_the_checks(tmp_path):
    """A package that patches numpy and builtins at import scores what its stubs deserve: 0."""
    verdict = judge(BY_NAME["patches-checks"].build(tmp_path / "s"), tasks=("dropout_forward",))
    assert list(verdict.tasks) == ["dropout_forward"]
    assert verdict.tasks["dropout_forward"].points == 0


def test_judge_command_line_prints_the_reports(tmp_path):
    folder = BY_NAME["survivors-not-scaled"].build(tmp_path / "s")
    completed = subprocess.run([sys.executable, "-m", "coursekit.grading.judge", str(folder), "--task",
                                "dropout_forward", "--json"], cwd=REPO_ROOT, capture_output=True, text=True,
                               env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, check=True)
    verdict = Verdict.from_json(completed.stdout)
    assert {c.check for c in verdict.tasks["dropout_forward"].failed} == set(BY_NAME["survivors-not-scaled"].expected)
    assert "nodeid" not in json.loads(completed.stdout)["tasks"]["dropout_forward"]["checks"][0]


# A call that leaves a process behind, out of its session: a "heartbeat" file it keeps rewriting
# in the runner's writable folder, where the next plan's job folder will be.
LEAVES_A_PROCESS = """\
    import os, time
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            while True:
                with open(dropout_param['heartbeat'], 'a') as beat:
                    beat.write('.')
                time.sleep(0.02)
        os._exit(0)
    for _ in range(200):  # return once the left process is at work
        if os.path.exists(dropout_param['heartbeat']):
            break
        time.sleep(0.01)
    return x, None
"""


@pytest.mark.parametrize("confine", [False, True], ids=["unconfined", "confined"])
def test_nothing_a_plan_leaves_running_outlives_it(tmp_path, confine):
    """One serving runner forks every plan of a submission; what a plan's student code left
    running (even in a session of its own) is killed before the next plan runs: confined, every
    other process of the sandbox; unconfined, every other process of the runner's pids cgroup."""
    from coursekit import sandbox
    from coursekit.grading import serving

    if confine and sandbox.probe() is not None:
        pytest.skip(f"bwrap unusable: {sandbox.probe()}")
    group = PidsGroup.create(2)
    if not confine and group is None:
        pytest.skip("no pids cgroup here: unconfined, only the job's own session is killed")
    if group is not None:
        group.remove()
    folder = _package(tmp_path, LEAVES_A_PROCESS)
    serving.close_runner()
    first = Plan("dropout_forward")
    first.array("x", np.ones(3))
    first.add("leaves", {"op": "dropout_forward", "x": "x", "param": {"p": 0.5, "mode": "train", "heartbeat": ""}},
              "dropout_forward")
    heartbeat = None
    try:
        probe = run_plan(Plan("dropout_forward"), folder, confine=confine)  # starts the submission's serving runner
        assert probe["import"].ok
        heartbeat = serving._SERVING.folder / "heartbeat"
        first.ops[1]["param"]["heartbeat"] = str(heartbeat)
        serving_pid = serving._SERVING.process.pid
        assert run_plan(first, folder, confine=confine)["leaves"].ok
        assert serving._SERVING.process.pid == serving_pid  # the same serving runner, not a restart
        second = run_plan(_forward_plan(1), folder, confine=confine)
        assert second["import"].ok and serving._SERVING.process.pid == serving_pid
        assert heartbeat.exists()  # the left process ran ...
        size = heartbeat.stat().st_size
        time.sleep(0.5)
        assert heartbeat.stat().st_size == size  # ... and was gone before the next plan started
    finally:
        serving.close_runner()


def test_a_call_that_hangs_is_stopped_not_left_running(tmp_path):
    """The hanging call's process is killed with its serving runner (unconfined, where no PID
    namespace would end it): nothing keeps a core busy after grading."""
    from coursekit.grading import serving

    pid_file = tmp_path / "pid"
    folder = _package(tmp_path, f"    import os\n    open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
                                "    while True:\n        pass\n")
    results = run_plan(_forward_plan(1), folder, op_timeout=1, budget=10)
    serving.close_runner()
    assert results["f0"].status == "timeout"
    pid = int(pid_file.read_text())
    time.sleep(0.2)
    state = ""
    if os.path.exists(f"/proc/{pid}/stat"):
        stat = open(f"/proc/{pid}/stat").read()
        state = stat[stat.rindex(")") + 2]
    assert state in ("", "Z"), f"the hanging call's process {pid} is still running (state {state})"


def test_a_runner_that_cannot_start_is_a_crash_of_the_plan_not_an_error(tmp_path):
    """A Python that exits at once (here: not a Python at all) gives crashed operations."""
    from coursekit.grading import serving

    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\nexit 5\n")
    fake.chmod(0o755)
    serving.close_runner()
    try:
        results = run_plan(_forward_plan(1), REPO_ROOT, python=str(fake), budget=10)
    finally:
        serving.close_runner()
    assert results["import"].status == "crashed" and "exit code 5" in results["import"].why()
    assert results["f0"].status == "not-run"


def test_the_runner_works_in_memory_when_there_is_room(tmp_path, monkeypatch):
    from coursekit.grading import serving

    monkeypatch.setattr(serving, "MEMORY_FOLDER", tmp_path)
    assert serving.scratch_root() == tmp_path
    monkeypatch.setattr(serving, "MEMORY_FOLDER_FREE_BYTES", 1 << 60)  # a container's small /dev/shm
    assert serving.scratch_root() is None
    monkeypatch.setattr(serving, "MEMORY_FOLDER", tmp_path / "missing")
    assert serving.scratch_root() is None

    monkeypatch.setattr(serving, "scratch_root", lambda: tmp_path / "memory")
    (tmp_path / "memory").mkdir()
    (tmp_path / "given").mkdir()
    try:
        assert serving.serving_runner(REPO_ROOT, None, False).folder.parent == tmp_path / "memory"
        assert serving.serving_runner(REPO_ROOT, None, False, tmp_path / "given").folder.parent == tmp_path / "given"
        assert run_plan(_forward_plan(1), REPO_ROOT, scratch=tmp_path / "given")["f0"].ok
    finally:
        serving.close_runner()
    assert not list((tmp_path / "given").iterdir()) and not list((tmp_path / "memory").iterdir())


def test_checks_killed_at_their_timeout_leave_no_runner_folder(tmp_path, monkeypatch):
    """The runner's folder is made in the judge's own, which the judge removes whatever became of
    the checks' process; before, a killed process left it (and its arrays) in the scratch folder."""
    from coursekit.grading import judge as judging
    from coursekit.grading.serving import scratch_root

    marker = f"marker-{uuid.uuid4().hex}"
    package = tmp_path / "submission" / "source_pkg"
    package.mkdir(parents=True)
    # At import: write a file in the serving runner's folder (its current folder), then hang.
    (package / "__init__.py").write_text(
        f"import os, time\nfolder = os.readlink(f'/proc/{{os.getppid()}}/cwd')\n"
        f"open(os.path.join(folder, '{marker}'), 'w').close()\ntime.sleep(3600)\n")
    monkeypatch.setattr(judging, "OVERHEAD_SECONDS", -95)  # the checks are killed after 5 s
    monkeypatch.setattr(judging, "scratch_root", lambda: tmp_path / "scratch")
    (tmp_path / "scratch").mkdir()
    with pytest.raises(judging.JudgeError, match="did not finish within 5 s"):
        judging.judge(tmp_path / "submission", ("dropout_forward",), op_timeout=100, budget=100, confine=True)
    places = {tmp_path / "scratch", Path(tempfile.gettempdir()), *filter(None, [scratch_root()])}
    time.sleep(0.5)  # the sandbox dies with the killed checks
    patterns = (f"dropout-runner-*/{marker}", f"dropout-judge-*/dropout-runner-*/{marker}")
    assert not [found for place in places for pattern in patterns for found in place.glob(pattern)]
    assert not list((tmp_path / "scratch").iterdir())


def test_an_array_of_python_objects_is_an_error_of_the_call_not_unpickled(tmp_path):
    """The judge never unpickles what a runner wrote: an object array comes back as the call's error."""
    folder = _package(tmp_path, "    return np.array([None, 'x'], dtype=object), None\n")
    results = run_plan(_forward_plan(2), folder, op_timeout=10, budget=30)
    assert results["f0"].status == results["f1"].status == "error"
    assert "returned something that is not a numeric array" in results["f0"].why()
    assert results["import"].ok


def test_arrays_come_back_with_their_values_dtype_and_shape_whatever_their_layout(tmp_path):
    """Outputs pass as raw values described in the result's JSON: a Fortran-ordered float32 array,
    a bool array and a 0-d array keep their values, dtypes and shapes."""
    folder = _package(tmp_path, "    kind = dropout_param['kind']\n"
                                "    if kind == 'fortran': return np.asfortranarray((x * 2).astype(np.float32)), None\n"
                                "    if kind == 'bool': return x > 1, None\n"
                                "    return np.array(x.sum()), None\n")
    plan = Plan("dropout_forward")
    plan.array("x", np.arange(12.0).reshape(3, 4))
    for kind in ("fortran", "bool", "scalar"):
        plan.add(kind, {"op": "dropout_forward", "x": "x", "param": {"kind": kind}}, f"a {kind} call")
    results = run_plan(plan, folder, op_timeout=10, budget=30)
    x = np.arange(12.0).reshape(3, 4)
    assert results["fortran"]["out"].dtype == np.float32
    np.testing.assert_array_equal(results["fortran"]["out"], (x * 2).astype(np.float32))
    np.testing.assert_array_equal(results["bool"]["out"], x > 1)
    assert results["scalar"]["out"].shape == () and results["scalar"]["out"] == x.sum()


def test_an_array_of_strings_is_an_error_of_the_call(tmp_path):
    folder = _package(tmp_path, "    return np.array(['a', 'b']), None\n")
    results = run_plan(_forward_plan(1), folder, op_timeout=10, budget=30)
    assert results["f0"].status == "error"
    assert "not a numeric array (its values are strings, not numbers)" in results["f0"].why()


@pytest.mark.parametrize("description, named", [
    ({"dtype": "<f8", "shape": [10**9, 10**9]}, "holds 96 bytes, not the 8000000000000000000 of a float64 array"),
    ({"dtype": "<f8", "shape": [4, 4]}, "holds 96 bytes, not the 128"),
    ({"dtype": "|O", "shape": [12]}, "its values are Python objects, not numbers"),
    ({"dtype": "no such dtype", "shape": [12]}, "dtype 'no such dtype' is not a dtype"),
    ({"dtype": "<f8", "shape": [12.0]}, "shape [12.0] is not a list of sizes"),
    ({"dtype": "<f8", "shape": [-1, -12]}, "shape [-1, -12] is not a list of sizes"),
    ({"dtype": "<f8", "shape": "12"}, "shape '12' is not a list of sizes"),
    (["<f8", [12]], "no description of the array in values.bin"),
])
def test_a_wrong_description_of_an_array_is_refused_before_anything_is_allocated(tmp_path, description, named):
    """The judge reads what a runner wrote without trusting it: a description that does not fit
    the file is refused with what is wrong, never allocated (a declared shape of 10^18 entries
    against 96 bytes is refused, not a MemoryError)."""
    path = tmp_path / "values.bin"
    assert write_array(path, np.arange(12.0)) == {"dtype": "<f8", "shape": [12]}
    with pytest.raises(ValueError) as refused:
        read_array(path, description)
    assert named in str(refused.value)
    np.testing.assert_array_equal(read_array(path, {"dtype": "<f8", "shape": [3, 4]}), np.arange(12.0).reshape(3, 4))


# A call that lists every file it can see inside the repository but the environment's, in the
# message of its exception.
LISTS_THE_REPOSITORY = """\
    import os, sys
    seen = []
    for folder, subfolders, names in os.walk(dropout_param['repo']):
        subfolders[:] = [name for name in subfolders if os.path.join(folder, name) != sys.prefix]
        seen += [os.path.join(folder, name) for name in names]
    raise RuntimeError('|'.join(sorted(seen)))
"""


def test_confined_the_runner_sees_the_task_calls_but_never_the_checks(tmp_path):
    """Of the repository, the sandboxed runner sees only runner.py, reference.py and each task
    folder's modules but its checks (serving.trusted_files): calls.py is reachable, test_*.py is not."""
    from coursekit import sandbox
    from coursekit.grading import serving
    from coursekit.manifest import COURSE

    if sandbox.probe() is not None:
        pytest.skip(f"bwrap unusable: {sandbox.probe()}")
    plan = Plan(COURSE.tasks[0].id)
    plan.array("x", np.ones(3))
    operation = "dropout_forward"
    plan.add("look", {"op": operation, "x": "x", "param": {"repo": str(REPO_ROOT)}}, "a look around")
    serving.close_runner()
    try:
        result = run_plan(plan, _package(tmp_path, LISTS_THE_REPOSITORY), confine=True)["look"]
    finally:
        serving.close_runner()
    # Bytecode the runner wrote into its own private copy of the folders is left out.
    seen = {path for path in result.error["message"].split("|") if "/__pycache__/" not in path}
    assert seen == {str(path) for path in serving.trusted_files()}
    assert {str(task.calls_path) for task in COURSE.tasks} <= seen
    assert not [path for path in seen if os.path.basename(path).startswith("test_")]
