"""Grading follows the course manifest, and its trusted code stays apart from student code.

The hidden checks' markers and points come from ``COURSE``; a module whose points disagree with
the manifest stops collection; a malformed credit policy is refused naming file, key and value;
``reference.py`` and the modules of the task folders the runner loads by path (``calls.py``,
the net driver that the runner and the hidden checks share) import nothing but numpy and the
standard library.
"""

import json
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from coursekit.grading.judge import checks_arguments, checks_environment
from coursekit.manifest import COURSE, ManifestError, load
from coursekit.paths import MANIFEST_FILE, REPO_ROOT

REFERENCE = REPO_ROOT / "coursekit" / "grading" / "reference.py"
LOADED_BY_PATH = [REFERENCE, *(path for task in COURSE.tasks for path in task.runner_files)]


def _pytest(code, *args):
    """Run ``code`` then pytest on ``args`` in a fresh process, as the judge runs the checks."""
    script = textwrap.dedent(code) + f"\nimport pytest, sys\nsys.exit(pytest.main({[str(a) for a in args]!r}))\n"
    return subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, env=checks_environment(),
                          capture_output=True, text=True, timeout=120)


def test_each_task_marker_selects_exactly_its_checks():
    for task in COURSE.tasks:
        done = _pytest("", *checks_arguments(), "--collect-only", "-m", task.id)
        assert done.returncode == 0, done.stdout + done.stderr
        collected = {line.split("::")[0] for line in done.stdout.splitlines() if "::" in line}
        assert collected == {task.checks_path.relative_to(REPO_ROOT).as_posix()}, task.id


def test_points_that_disagree_with_the_manifest_stop_collection():
    task = COURSE.tasks[-1]
    done = _pytest(f"""
        import dataclasses
        from coursekit.grading import pytest_plugin
        from coursekit.manifest import COURSE
        pytest_plugin.COURSE = dataclasses.replace(COURSE, tasks=tuple(
            dataclasses.replace(t, points=t.points + 1) if t.id == {task.id!r} else t for t in COURSE.tasks))
    """, task.checks_path, "--collect-only", "-q", "-p", "no:cacheprovider", "--rootdir", REPO_ROOT)
    output = done.stdout + done.stderr
    assert done.returncode == 4, output  # pytest's usage error
    assert str(task.checks_path) in output and task.id in output
    assert f"add up to {task.points:g} points" in output and f"{task.points + 1:g} points" in output


@pytest.mark.parametrize("path", LOADED_BY_PATH, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_what_the_runner_loads_by_path_pulls_in_no_course_code(path):
    probe = f"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("_loaded", {str(path)!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps(sorted(sys.modules)))
"""
    done = subprocess.run([sys.executable, "-I", "-c", probe], cwd="/", capture_output=True, text=True, check=True)
    modules = json.loads(done.stdout)
    assert not [m for m in modules if m.split(".")[0] in {COURSE.package, "coursekit", "tests", "faults"}]


def test_the_driver_restores_the_modules_it_scripts():
    import source_pkg.fc_net as fc_net
    import source_pkg.layers as layers
    from hidden.fc_net.net_driver import run_net

    before = (layers.dropout_forward, fc_net.dropout_forward, layers.dropout_backward, fc_net.dropout_backward)
    rng = np.random.RandomState(0)
    init = {"hidden_dims": [4], "input_dim": 3, "num_classes": 2, "dropout": 0.5}
    params = {"W1": rng.randn(3, 4), "b1": np.zeros(4), "W2": rng.randn(4, 2), "b2": np.zeros(2)}
    X, y = rng.randn(5, 3), np.array([0, 1, 0, 1, 1])
    outputs, facts = {}, {}
    run_net(fc_net, layers, init, params, [(X, y), (X, None)], 3, outputs, facts)
    assert facts["calls_done"] == 2 and {"0/loss", "0/grad/W1", "1/scores"} <= set(outputs)
    assert [c["mode"] for c in facts["trace"] if c["kind"] == "forward"] == ["train", "test"]
    assert (layers.dropout_forward, fc_net.dropout_forward, layers.dropout_backward,
            fc_net.dropout_backward) == before


@pytest.mark.parametrize("old, new, words", [
    ('incidental = ["dtype-changed",', 'incidental = ["dtype-changd",',
     [r"\[credit\]\.incidental = \[", "'dtype-changd' is not a mistake id"]),
    ("behaviour_kept_max = 0.4", "behaviour_kept_max = 4", [r"\[credit\]\.behaviour_kept_max = 4", "fraction"]),
    ("behaviour_kept_max = 0.4", "faulty_kept_max = 0.4", [r"\[credit\] has unknown key\(s\) faulty_kept_max"]),
    ('incidental = ["dtype-changed",', 'incidental = [3, "dtype-changed",', [r"\[credit\]\.incidental", "list of"]),
])
def test_a_broken_credit_table_is_refused_naming_file_key_and_value(tmp_path, old, new, words):
    text = MANIFEST_FILE.read_text()
    assert text.count(old) == 1, old
    path = tmp_path / "course.toml"
    path.write_text(text.replace(old, new))
    with pytest.raises(ManifestError, match=re.escape(str(path))) as error:
        load(path)
    assert all(re.search(pattern, str(error.value)) for pattern in words), str(error.value)


def test_incidental_mistakes_are_known_and_credit_is_read():
    credit = COURSE.credit
    assert set(credit.incidental) <= set(COURSE.mistakes) and credit.incidental
    assert 0 < credit.behaviour_kept_max <= 1 and credit.identity_max_points > 0
