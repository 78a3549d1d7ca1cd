"""The release students receive, built by the real nbgrader, and the source notebook behind it.

Every test works on a copy of the course root in a temporary folder, so it never races with
someone releasing or grading in ``assignments/``.
"""

import hashlib
import os
import re
import shutil
import sqlite3

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from coursekit import release as release_module
from coursekit.editions import INSTRUCTOR_PACKAGE, solution_lines, write_student_edition
from coursekit.release import ASSIGNMENT, COURSE_ROOT, REPO_ROOT, ReleaseError, release

SOURCE_NOTEBOOK = COURSE_ROOT / "source" / ASSIGNMENT / "dropout.ipynb"
AUTOGRADED = {"dropout_forward_checks": 10, "dropout_backward_checks": 6, "fc_net_checks": 9}
BY_HAND = {"question_scaling": 5, "question_curves": 5}
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
# The first cell of the notebook that calls an exercise of source_pkg.
FIRST_STUB_CELL = "forward-check"


def copy_course(dest):
    """A copy of the course root at dest/assignments, laid out like the repository."""
    root = dest / "assignments"
    (root / "source").mkdir(parents=True)
    shutil.copy2(COURSE_ROOT / "nbgrader_config.py", root)
    shutil.copytree(COURSE_ROOT / "source" / ASSIGNMENT, root / "source" / ASSIGNMENT,
                    ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    # The config puts its parent folder on nbgrader's sys.path for coursekit.
    (dest / "coursekit").symlink_to(REPO_ROOT / "coursekit", target_is_directory=True)
    return root


def quiet(*_):
    pass


def kernel_env(**extra):
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "NBGRADER_EXECUTION")}
    env.update(extra)
    return env


def execute(path, cwd, env):
    """Run a notebook like a student would: stop at the first error. Returns (nb, error)."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    try:
        client.execute(env=env)
    except CellExecutionError as error:
        return nb, error
    return nb, None


def cell_text(cell):
    return "".join(output.get("text", "") for output in cell.get("outputs", []) if output.output_type == "stream")


def hidden_regions(source):
    """(lines inside hidden-test regions, lines outside them) of one cell's source."""
    inside, outside, hidden = [], [], False
    for line in source.splitlines():
        if line.strip() == BEGIN_HIDDEN:
            hidden = True
        elif line.strip() == END_HIDDEN:
            hidden = False
        else:
            (inside if hidden else outside).append(line.strip())
    return inside, outside


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = copy_course(tmp_path_factory.mktemp("course"))
    release(root, log=quiet)
    return root


@pytest.fixture(scope="module")
def release_dir(course):
    return course / "release" / ASSIGNMENT


@pytest.fixture(scope="module")
def source_nb():
    return nbformat.read(SOURCE_NOTEBOOK, as_version=nbformat.NO_CONVERT)


@pytest.fixture(scope="module")
def released_nb(release_dir):
    return nbformat.read(release_dir / "dropout.ipynb", as_version=nbformat.NO_CONVERT)


def grade_cells(nb):
    return {cell.metadata["nbgrader"]["grade_id"]: cell for cell in nb.cells
            if cell.metadata.get("nbgrader", {}).get("grade")}


# --- the source notebook ----------------------------------------------------------------

def test_source_notebook_grade_cells_and_points(source_nb):
    nbformat.validate(source_nb)
    cells = grade_cells(source_nb)
    assert {name: cell.metadata["nbgrader"]["points"] for name, cell in cells.items()} == {**AUTOGRADED, **BY_HAND}
    for name, points in AUTOGRADED.items():
        meta = cells[name].metadata["nbgrader"]
        assert cells[name].cell_type == "code"
        assert meta["locked"] and not meta["solution"] and meta["schema_version"] == 3
        assert cells[name].source.startswith(f"# Autograded ({points} points).")
        assert cells[name].source.count(BEGIN_HIDDEN) == 1 and cells[name].source.count(END_HIDDEN) == 1
        assert re.search(r"^\s*assert ", cells[name].source.split(BEGIN_HIDDEN)[0], re.M), f"{name}: no visible check"
    for name in BY_HAND:
        meta = cells[name].metadata["nbgrader"]
        assert cells[name].cell_type == "markdown" and meta["solution"] and not meta["locked"]
        assert meta["schema_version"] == 3
        assert cells[name].source.strip() == "YOUR ANSWER HERE"


def test_points_stated_in_the_notebook_match_the_metadata(source_nb):
    text = "\n".join(cell.source for cell in source_nb.cells if cell.cell_type == "markdown")
    stated = {name: int(points) for name, points in re.findall(r"\|\s*`(\w+)`\s*\|\s*(\d+)", text)}
    assert stated == {**AUTOGRADED, **BY_HAND}
    assert re.search(r"\*\*Total\*\*.*\*\*35\*\*", text)
    assert sum(stated.values()) == 35


def test_source_notebook_is_clean_with_stable_ids(source_nb):
    ids = [cell.get("id") for cell in source_nb.cells]
    assert all(ids) and len(set(ids)) == len(ids)
    for cell in source_nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.id


def test_source_notebook_runs_with_the_instructor_edition(tmp_path):
    """Top to bottom against the instructor's source_pkg, as nbgrader executes it (short experiment)."""
    folder = shutil.copytree(SOURCE_NOTEBOOK.parent, tmp_path / ASSIGNMENT)
    nb, error = execute(folder / SOURCE_NOTEBOOK.name, folder,
                        kernel_env(PYTHONPATH=str(REPO_ROOT), NBGRADER_EXECUTION="autograde"))
    assert error is None, str(error)[-3000:]
    outputs = {cell.id: cell_text(cell) for cell in nb.cells if cell.cell_type == "code"}
    assert f"source_pkg imported from {INSTRUCTOR_PACKAGE}" in outputs["setup"]
    assert "X_train: (1200, 64)" in outputs["setup"]
    for name in AUTOGRADED:
        assert "visible checks" in outputs[name.replace("_", "-")] and "pass" in outputs[name.replace("_", "-")]
    fractions = [float(v) for v in re.findall(r"Fraction of train-time output set to zero:\s+(\S+)", outputs["forward-check"])]
    assert fractions == pytest.approx([0.25, 0.4, 0.7], abs=0.01)
    error = float(re.search(r"dx relative error:\s+(\S+)", outputs["backward-check"])[1])
    assert error < 1e-8
    # The experiment is kept short under NBGRADER_EXECUTION: one epoch per dropout value.
    assert re.findall(r"dropout = (\S+), (\d+) epochs?:", outputs["experiment"]) == [
        ("0.00", "1"), ("0.25", "1"), ("0.50", "1"), ("0.75", "1")]


# --- the release ------------------------------------------------------------------------

def test_release_holds_the_notebook_and_the_student_edition(release_dir):
    assert sorted(path.name for path in release_dir.iterdir()) == ["dropout.ipynb", "source_pkg"]
    package = release_dir / "source_pkg"
    assert sorted(p.name for p in package.rglob("*.py")) == sorted(p.name for p in INSTRUCTOR_PACKAGE.rglob("*.py"))
    assert not [p for p in package.rglob("*") if p.suffix != ".py"]
    layers = (package / "layers.py").read_text()
    assert "raise NotImplementedError('dropout_forward:" in layers
    assert "raise NotImplementedError('dropout_backward:" in layers
    assert "raise NotImplementedError('FullyConnectedNet.loss:" in (package / "fc_net.py").read_text()


def released_lines(release_dir):
    """Every stripped line a student receives: package files and notebook cell sources."""
    lines = set()
    for path in (release_dir / "source_pkg").rglob("*.py"):
        lines |= {line.strip() for line in path.read_text().splitlines()}
    nb = nbformat.read(release_dir / "dropout.ipynb", as_version=4)
    for cell in nb.cells:
        lines |= {line.strip() for line in cell.source.splitlines()}
    return lines


def test_release_holds_no_solution_line(release_dir):
    secret = solution_lines()
    assert "dx = dout * mask" in secret
    assert not released_lines(release_dir) & secret
    texts = [p.read_text() for p in (release_dir / "source_pkg").rglob("*.py")]
    texts += [cell.source for cell in nbformat.read(release_dir / "dropout.ipynb", as_version=4).cells]
    assert not [t for t in texts if "BEGIN SOLUTION" in t or "END SOLUTION" in t]


def test_release_holds_no_hidden_test_line(source_nb, released_nb, release_dir):
    inside, outside = set(), set()
    for cell in source_nb.cells:
        hidden, visible = hidden_regions(cell.source)
        inside |= set(hidden)
        outside |= set(visible)
    secret = {line for line in inside - outside if line}
    assert len(secret) > 20  # the three autograded cells each hide several checks
    assert not released_lines(release_dir) & secret
    assert not [cell.id for cell in released_nb.cells if "HIDDEN TESTS" in cell.source]


def test_released_cells_keep_their_grading_metadata(source_nb, released_nb):
    released = grade_cells(released_nb)
    assert {name: cell.metadata["nbgrader"]["points"] for name, cell in released.items()} == {**AUTOGRADED, **BY_HAND}
    for name in AUTOGRADED:
        visible = grade_cells(source_nb)[name].source.split(BEGIN_HIDDEN)[0].rstrip()
        assert released[name].source.rstrip() == visible
    for name in BY_HAND:
        assert released[name].source == "YOUR ANSWER HERE"
    assert [cell.id for cell in released_nb.cells] == [cell.id for cell in source_nb.cells]


def test_release_holds_no_grading_code(release_dir, tmp_path):
    assert release_module.grading_code_in(release_dir) == []
    assert not [p for p in release_dir.rglob("*") if p.is_dir() and p.name in ("tests", "coursekit")]
    # No file of coursekit/ or tests/ was copied in, except copies of source_pkg files that
    # tests/ may hold (example submissions) and that the student edition legitimately holds.
    def digest(path):
        return hashlib.sha256(path.read_bytes()).hexdigest()

    allowed = {digest(p) for p in INSTRUCTOR_PACKAGE.rglob("*.py")}
    allowed |= {digest(p) for p in write_student_edition(tmp_path).rglob("*.py")}
    grading = {digest(p) for folder in ("coursekit", "tests") for p in (REPO_ROOT / folder).rglob("*")
               if p.is_file()} - allowed
    assert [p for p in release_dir.rglob("*") if p.is_file() and digest(p) in grading] == []
    for path in release_dir.rglob("*"):
        if path.is_file():
            assert "coursekit" not in path.read_text(errors="replace"), path


def test_released_notebook_stops_at_the_first_stub(release_dir, tmp_path):
    """Run from the release folder with nothing of the repository importable, as a student would."""
    folder = shutil.copytree(release_dir, tmp_path / ASSIGNMENT)
    nb, error = execute(folder / "dropout.ipynb", folder, kernel_env())
    assert error is not None, "the released notebook ran to the end without any exercise done"
    assert error.ename == "NotImplementedError"
    assert error.evalue.startswith("dropout_forward:")
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    ran = [cell.id for cell in code if cell.execution_count is not None]
    assert ran[-1] == FIRST_STUB_CELL
    stop = [cell.id for cell in code].index(FIRST_STUB_CELL)
    assert ran == [cell.id for cell in code[:stop + 1]]
    assert not [c.id for c in code[:stop] if any(o.output_type == "error" for o in c.outputs)]
    assert not [c.id for c in code[stop + 1:] if c.outputs]
    setup = cell_text(next(cell for cell in code if cell.id == "setup"))
    assert f"source_pkg imported from {(folder / 'source_pkg').resolve()}" in setup


# --- the command ------------------------------------------------------------------------

def test_release_command_names_a_failing_nbgrader(tmp_path, capsys):
    root = copy_course(tmp_path)
    broken = root / "source" / ASSIGNMENT / "dropout.ipynb"
    nb = nbformat.read(broken, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION"))
    nbformat.write(nb, broken)
    assert release_module.main(["--course-root", str(root)]) == 1
    message = capsys.readouterr().err
    assert "nbgrader generate_assignment dropout failed with exit code" in message
    assert "Solution region detected in a non-solution cell" in message


def test_release_command_refuses_a_folder_that_is_no_course(tmp_path, capsys):
    assert release_module.main(["--course-root", str(tmp_path)]) == 1
    assert "has no nbgrader_config.py" in capsys.readouterr().err


def add_submission(course_root, student="someone"):
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course_root / 'gradebook.db'}", course_id="dropout-from-scratch") as gradebook:
        gradebook.update_or_create_student(student)
        gradebook.add_submission(ASSIGNMENT, student)


# nbgrader's add_submission triggers SQLAlchemy autoflush warnings inside nbgrader itself.
@pytest.mark.filterwarnings("ignore:Object of type")
def test_release_again_under_submissions_needs_force_only_if_graded_cells_change(tmp_path):
    root = copy_course(tmp_path)
    release(root, log=quiet)
    # The checksums this command predicts are those nbgrader recorded.
    _, recorded = release_module.gradebook_state(root / "gradebook.db")
    assert recorded == release_module.source_cell_checksums(root / "source" / ASSIGNMENT)
    assert set(cell for _, cell in recorded) >= set(AUTOGRADED) | set(BY_HAND)

    add_submission(root)
    release(root, log=quiet)  # unchanged cells: allowed

    notebook = root / "source" / ASSIGNMENT / "dropout.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    cell = grade_cells(nb)["fc_net_checks"]
    cell.source = cell.source.replace(END_HIDDEN, "assert True\n" + END_HIDDEN)
    nbformat.write(nb, notebook)
    with pytest.raises(ReleaseError, match=r"1 submission.*dropout\.ipynb:fc_net_checks.*--force"):
        release(root, log=quiet)
    release(root, force=True, log=quiet)
    with sqlite3.connect(root / "gradebook.db") as db:
        assert db.execute("SELECT COUNT(*) FROM submitted_assignment").fetchone()[0] == 1
    assert "assert True" not in (root / "release" / ASSIGNMENT / "dropout.ipynb").read_text()
