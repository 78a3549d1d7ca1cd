"""What a student of each assignment meets: the release runs top to bottom once the package is
right, and the visible checks of dropout2 fail on the mistakes they name.

The release is built by the real nbgrader (``classroom.release_course``) in a temporary course
root. Run time of each released notebook with the instructor's package is printed (issue 31: a
minute at most on the student's side), never asserted: run with ``-s`` to read it.
"""

import ast
import os
import shutil
import subprocess
import sys
import time

import nbformat
import pytest
from nbclient import NotebookClient

from coursekit import classroom
from coursekit.editions import INSTRUCTOR_PACKAGE
from coursekit.manifest import COURSE

CATALOGUE = classroom.load_catalogue()
DROPOUT2 = COURSE.assignment_named("dropout2")
Variant = CATALOGUE.Variant


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """The course root every assignment is released into."""
    root = classroom.make_course(tmp_path_factory.mktemp("student") / "course")
    classroom.release_course(root)
    return root


def student_env():
    """The student's kernel: no grading variables, nothing of the repository on the path."""
    return {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "NBGRADER_EXECUTION")}


@pytest.mark.parametrize("assignment", COURSE.assignments, ids=COURSE.assignment_names)
def test_the_release_runs_top_to_bottom_with_a_correct_package(released, assignment, tmp_path):
    folder = shutil.copytree(released / "release" / assignment.name, tmp_path / assignment.name)
    shutil.rmtree(folder / assignment.package)
    shutil.copytree(INSTRUCTOR_PACKAGE, folder / assignment.package, ignore=shutil.ignore_patterns("__pycache__"))
    nb = nbformat.read(folder / f"{assignment.notebook}.ipynb", as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    started = time.monotonic()
    client.execute(env=student_env())  # raises CellExecutionError at the first failing cell
    seconds = time.monotonic() - started
    print(f"\n{assignment.name}: the released notebook ran top to bottom in {seconds:.1f} s "
          f"(target: under 60 s on the student's machine)")
    checks = {cell.metadata.get("nbgrader", {}).get("grade_id"): cell for cell in nb.cells}
    for task in assignment.tasks:
        text = "".join(output.get("text", "") for output in checks[task.grade_cell].outputs)
        assert "visible checks" in text and "pass" in text, (task.grade_cell, text)


# Each visible check of dropout2's tasks (its failure message, in part) and a submission with the mistake
# it names: catalogue entries where one shows that check failing first; written here otherwise.
SPATIAL_TEST_MODE_SCALED = Variant(
    "scaled-in-test-mode", "test mode scales by 1 - p (vanilla dropout's test branch)", assignment=DROPOUT2.name,
    edits=[("layers.py:spatial_dropout_forward", "        out = x.copy()\n", "        out = x * (1 - p)\n")])
SPATIAL_SHARED_BY_BATCH = Variant(
    "maps-shared-by-batch", "one (1, C, 1, 1) mask for the whole batch", assignment=DROPOUT2.name,
    # Exactly 2 maps in 5 dropped (p = 0.4 in the cell), so only the batch check can fail.
    regions={"spatial_dropout_forward": "keep = np.arange(x.shape[1]) % 5 >= 2\n"
                                        "out = x * (keep[None, :, None, None] / (1 - p))\nmask = keep"})
SPATIAL_SHAPE = Variant(
    "shape-changed", "the output loses the last column", assignment=DROPOUT2.name,
    regions={"spatial_dropout_forward": "mask = (np.random.rand(*x.shape[:2], 1, 1) >= p) / (1 - p)\n"
                                        "out = (x * mask)[..., :-1]"})
MC_ENTROPY = "        entropy = -(mean_probs * logs).sum(axis=1)\n"
MC_PARAMS_CHANGED = Variant(
    "params-changed", "the passes are right, then the last bias is changed in place", assignment=DROPOUT2.name,
    edits=[("fc_net.py:mc_dropout_predict", MC_ENTROPY, MC_ENTROPY + '        model.params[f"b{last}"] += 1e-4\n')])
MC_SHAPE = Variant(
    "entropy-keepdims", "the entropy kept as a column (N, 1)", assignment=DROPOUT2.name,
    edits=[("fc_net.py:mc_dropout_predict", MC_ENTROPY, MC_ENTROPY.replace("axis=1", "axis=1, keepdims=True"))])
MC_ONE_PASS_OFF = Variant(
    "one-pass-without-dropout", "a single pass (T = 1) run with dropout off", assignment=DROPOUT2.name,
    edits=[("fc_net.py:mc_dropout_predict", "        mean_probs = 0.0\n",
            "        mean_probs = 0.0\n        if num_samples == 1:\n            pass_param = None\n")])
# Visible checks no submission here shows failing, and why.
NOT_SHOWN = {
    "without dropout, expected the net's softmax":
        "a net built without dropout: a prediction that ignores use_dropout fails with a KeyError before it",
}
D2 = CATALOGUE.DROPOUT2_BY_NAME
VISIBLE = {
    "spatial_dropout": [
        ("the train-mode output has shape", SPATIAL_SHAPE),
        ("the train-mode output has dtype", D2["d2-dtype"]),
        ("modified its input x in place", D2["d2-in-place"]),
        ("dropped in part", D2["d2-elementwise"]),
        ("dropped in part", D2["d2-channels-last"]),
        ("of the maps are dropped, expected about", D2["d2-swapped"]),
        ("of the maps are dropped, expected about", D2["d2-drops-nothing"]),
        ("multiplied by 1 / (1 - p)", D2["d2-unscaled"]),
        ("every example gets the same maps dropped", SPATIAL_SHARED_BY_BATCH),
        ("each example drops all its maps together", D2["d2-per-example"]),
        ("test mode must return x unchanged", SPATIAL_TEST_MODE_SCALED),
        ("dx must be dout times the forward's mask", D2["d2-new-mask-backward"]),
    ],
    "mc_dropout": [
        ("expected mean_probs (N, C) and entropy (N,)", MC_SHAPE),
        ("far from the exact mean", D2["d2-mc-logits"]),
        ("far from the exact mean", D2["d2-mc-dropout-off"]),
        ("far from the exact mean", D2["d2-mc-mask-once"]),
        ("entropy must be -sum_c", D2["d2-mc-bits"]),
        ("entropy must be -sum_c", D2["d2-mc-entropy-each-pass"]),
        ("the model's modes changed", D2["d2-mc-modes-left"]),
        ("the model's parameters changed", MC_PARAMS_CHANGED),
        ("with T = 1, expected each example's probabilities under one mask", MC_ONE_PASS_OFF),
    ],
}
CASES = [(COURSE.task(task).grade_cell, words, variant) for task, cases in VISIBLE.items() for words, variant in cases]


def run_cell(released, cell, variant, folder):
    """Run the released notebook's visible-check cell ``cell`` against ``variant``'s package."""
    nb = nbformat.read(released / "release" / DROPOUT2.name / f"{DROPOUT2.notebook}.ipynb", as_version=4)
    source = next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == cell)
    variant.build(folder)
    # The global generator seeded as an earlier cell of the notebook does: the same draws every run.
    return subprocess.run([sys.executable, "-c", "import numpy\nnumpy.random.seed(231)\n" + source], cwd=folder,
                          env=student_env(),
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("cell", [COURSE.task(task).grade_cell for task in VISIBLE])
def test_the_visible_checks_pass_on_a_correct_package(released, cell, tmp_path):
    done = run_cell(released, cell, CATALOGUE.DROPOUT2_CORRECT_SPATIAL[0], tmp_path)
    assert done.returncode == 0 and "visible checks" in done.stdout, done.stderr[-2000:]


@pytest.mark.parametrize("cell, words, variant", CASES, ids=[f"{c}-{v.name}" for c, _, v in CASES])
def test_each_visible_check_catches_the_mistake_it_names(released, cell, words, variant, tmp_path):
    done = run_cell(released, cell, variant, tmp_path)
    assert done.returncode != 0, f"{variant.name} passes the visible checks of {cell}"
    assert "AssertionError" in done.stderr and words in done.stderr, done.stderr[-2000:]


def test_every_visible_check_of_dropout2_is_shown_failing(released):
    """Each assert of each visible-check cell: a case above fails it, or NOT_SHOWN says why none does."""
    nb = nbformat.read(released / "release" / DROPOUT2.name / f"{DROPOUT2.notebook}.ipynb", as_version=4)
    for task in DROPOUT2.tasks:
        source = next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == task.grade_cell)
        messages = [ast.get_source_segment(source, node.msg) for node in ast.walk(ast.parse(source))
                    if isinstance(node, ast.Assert)]
        shown = [words for cell, words, _ in CASES if cell == task.grade_cell]
        uncovered = [m for m in messages if not any(w in m for w in [*shown, *NOT_SHOWN])]
        assert messages and uncovered == [], (task.grade_cell, uncovered)
        print(f"\n{task.grade_cell}: {len(messages)} visible checks, "
              f"{sum(any(w in m for w in shown) for m in messages)} shown failing")
