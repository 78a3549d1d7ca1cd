"""The student edition: no solution line, loud stubs, everything else identical."""

import importlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from coursekit import editions
from coursekit.editions import EditionError, find_regions, solution_lines, write_student_edition
from coursekit.manifest import COURSE
from coursekit.paths import REPO_ROOT


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    write_student_edition(out)
    return out


def run_in(folder, code):
    """Run code with only ``folder`` providing source_pkg; return the completed process."""
    return subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(folder)!r})\n" + code],
                          capture_output=True, text=True, timeout=120)


def test_solution_regions_are_exactly_the_manifests_stubs():
    regions = [r for path in sorted(editions.INSTRUCTOR_PACKAGE.glob("*.py")) for r in find_regions(path)]
    claimed = {s for task in COURSE.tasks for s in task.stubs}
    assert {f"{r.path.name}:{r.function}" for r in regions} == claimed
    assert all(r.task for r in regions)


def test_a_region_no_task_claims_is_refused(tmp_path):
    path = tmp_path / "layers.py"
    path.write_text("def extra():\n    # Task: x\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION\n")
    with pytest.raises(EditionError, match=r"layers\.py:3: .*extra belongs to no task.*course\.toml"):
        editions.student_source(path)


def test_student_edition_holds_no_solution_line(student_dir):
    secret = solution_lines()
    assert "dx = dout * mask" in secret
    for path in (student_dir / "source_pkg").rglob("*.py"):
        lines = {line.strip() for line in path.read_text().splitlines()}
        assert not lines & secret, path
        assert "BEGIN SOLUTION" not in path.read_text()


def test_outside_regions_byte_identical(student_dir):
    for path in sorted(editions.INSTRUCTOR_PACKAGE.glob("*.py")):
        original = path.read_text().splitlines(keepends=True)
        student = (student_dir / "source_pkg" / path.name).read_text().splitlines(keepends=True)
        kept = list(original)
        for region in reversed(find_regions(path)):
            kept[region.begin:region.end + 1] = editions.stub_region(region, original[region.begin][:original[region.begin].index("#")])
        assert student == kept, path


STUB_CALLS = {
    "dropout_forward": "from source_pkg.layers import dropout_forward\n"
                       "dropout_forward(np.ones((3, 3)), {'p': 0.5, 'mode': 'train'})",
    "dropout_backward": "from source_pkg.layers import dropout_backward\n"
                        "dropout_backward(np.ones((3, 3)), ({'p': 0.5, 'mode': 'train'}, np.ones((3, 3))))",
    "FullyConnectedNet.loss": "from source_pkg.fc_net import FullyConnectedNet\n"
                              "FullyConnectedNet([4], input_dim=3, dropout=0.5).loss(np.ones((2, 3)), np.zeros(2, int))",
    "spatial_dropout_forward": "from source_pkg.layers import spatial_dropout_forward\n"
                               "spatial_dropout_forward(np.ones((2, 3, 2, 2)), {'p': 0.5, 'mode': 'train'})",
    "spatial_dropout_backward": "from source_pkg.layers import spatial_dropout_backward\n"
                                "spatial_dropout_backward(np.ones((2, 3, 2, 2)), ({'p': 0.5, 'mode': 'train'}, None))",
    "mc_dropout_predict": "from source_pkg.fc_net import FullyConnectedNet, mc_dropout_predict\n"
                          "mc_dropout_predict(FullyConnectedNet([4], input_dim=3, dropout=0.5), np.ones((2, 3)), 2)",
}
FILE_OF = {"FullyConnectedNet.loss": "fc_net.py", "mc_dropout_predict": "fc_net.py"}


@pytest.mark.parametrize("function", sorted(STUB_CALLS))
def test_stubs_raise_not_implemented_naming_the_function(student_dir, function):
    result = run_in(student_dir, "import numpy as np\n" + STUB_CALLS[function])
    assert "NotImplementedError" in result.stderr
    assert f"{function}:" in result.stderr
    task = COURSE.task_of_stub(FILE_OF.get(function, "layers.py"), function)
    assert task and f"[task {task}]" in result.stderr


def test_student_edition_imports_and_given_functions_behave_identically(student_dir, tmp_path):
    code = textwrap.dedent("""
        import numpy as np, source_pkg, json
        from source_pkg import layers, optim, gradient_check, data
        from source_pkg.solver import Solver
        assert source_pkg.__file__.startswith(sys.path[0])
        rng = np.random.RandomState(0)
        x, w, b = rng.randn(4, 5), rng.randn(5, 3), rng.randn(3)
        gamma, beta = rng.randn(3), rng.randn(3)
        dout = rng.randn(4, 3)
        out = {}
        a, c = layers.affine_forward(x, w, b); out["affine"] = [a, *layers.affine_backward(dout, c)]
        a, c = layers.relu_forward(x); out["relu"] = [a, layers.relu_backward(x, c)]
        a, c = layers.affine_relu_forward(x, w, b); out["affine_relu"] = [a, *layers.affine_relu_backward(dout, c)]
        a, c = layers.affine_bn_relu_forward(x, w, b, gamma, beta, {"mode": "train"})
        out["bn"] = [a, *layers.affine_bn_relu_backward(dout, c)]
        out["softmax"] = list(layers.softmax_loss(a, np.array([0, 1, 2, 0])))
        out["test_dropout"] = [layers.dropout_forward(x, {"p": 0.3, "mode": "test"})[0]]
        for rule in ("sgd", "sgd_momentum", "rmsprop", "adam"):
            out[rule] = [getattr(optim, rule)(w, w * 0.1)[0]]
        out["rel_error"] = [gradient_check.rel_error(x, x + 1e-3)]
        out["numeric"] = [gradient_check.eval_numerical_gradient(lambda v: float((v ** 2).sum()), x.copy(), verbose=False)]
        out["digits"] = [data.load_digits_data()["X_val"][:5]]
        np.savez(sys.argv[1] if len(sys.argv) > 1 else "out.npz", **{f"{k}_{i}": np.asarray(v) for k, vs in out.items() for i, v in enumerate(vs)})
    """)
    results = {}
    for name, folder in (("student", student_dir), ("instructor", REPO_ROOT)):
        target = tmp_path / f"given-{name}.npz"
        result = run_in(folder, code.replace('"out.npz"', repr(str(target))))
        assert result.returncode == 0, result.stderr
        results[name] = dict(np.load(target))
    assert results["student"].keys() == results["instructor"].keys()
    for key in results["student"]:
        assert np.array_equal(results["student"][key], results["instructor"][key]), key


@pytest.mark.parametrize("text, problem", [
    ("def f():\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION\n", "Task"),
    ("def f():\n    # Task: x\n    ### BEGIN SOLUTION\n    pass\n", "never closed"),
    ("def f():\n    ### END SOLUTION\n", "without a BEGIN"),
    ("def f():\n    # Task: x\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n", "inside the region"),
    ("x = 1  ### BEGIN SOLUTION\n", "stand alone"),
])
def test_malformed_regions_are_reported_with_file_and_line(tmp_path, text, problem):
    path = tmp_path / "bad.py"
    path.write_text(text)
    with pytest.raises(EditionError, match=problem) as error:
        find_regions(path)
    assert str(path) in str(error.value)


def test_generator_command_writes_the_package(tmp_path):
    result = subprocess.run([sys.executable, "-m", "coursekit.editions", str(tmp_path)],
                            capture_output=True, text=True, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "source_pkg" / "layers.py").is_file()
    assert "NotImplementedError" in (tmp_path / "source_pkg" / "layers.py").read_text()
