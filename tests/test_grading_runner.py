"""The runner boundary: student code runs only in runner processes, under time limits."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from coursekit.grading.client import OpFailed, Plan, run_plan
from coursekit.grading.judge import judge
from coursekit.grading.verdict import Verdict
from coursekit.paths import REPO_ROOT
from faults.catalogue import BY_NAME


def _forward_plan(count=3):
    plan = Plan()
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


def test_reference_runs_and_returns_arrays():
    results = run_plan(_forward_plan(), REPO_ROOT)
    assert all(r.ok for r in results.values())
    assert results["f0"]["out"].shape == (4, 5)


def test_a_hang_costs_only_the_calls_it_blocks(tmp_path):
    folder = _package(tmp_path, "    while dropout_param['p'] > 0:\n        pass\n")
    plan = _forward_plan(3)
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
    plan = Plan()
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
