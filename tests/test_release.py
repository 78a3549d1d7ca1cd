"""The release students receive, built by the real nbgrader, and the source notebook behind it.

Every test works on a copy of the course root in a temporary folder, so it never races with
someone releasing or grading in ``assignments/``.
"""

import hashlib
import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbgrader.preprocessors import ClearHiddenTests

from coursekit import classroom, student_setup
from coursekit import release as release_module
from coursekit.editions import INSTRUCTOR_PACKAGE, solution_lines, write_student_edition
from coursekit.gradebook import release_state, sqlite_url
from coursekit.manifest import COURSE
from coursekit.paths import COURSE_ROOT, REPO_ROOT
from coursekit.release import ReleaseError, release

DROPOUT = COURSE.assignment_named("dropout")  # the assignment these tests grade
ASSIGNMENT = DROPOUT.name
NOTEBOOK = f"{DROPOUT.notebook}.ipynb"
SOURCE_NOTEBOOK = COURSE_ROOT / "source" / ASSIGNMENT / NOTEBOOK
AUTOGRADED = {task.grade_cell: task.points for task in DROPOUT.tasks}
BY_HAND = {part.grade_cell: part.points for part in DROPOUT.manual}
# The markers nbgrader would strip as hidden tests, as it knows them.
HIDDEN_MARKERS = (ClearHiddenTests().begin_test_delimeter, ClearHiddenTests().end_test_delimeter)
# The first cell of the notebook that calls an exercise of source_pkg.
FIRST_STUB_CELL = "forward-check"


def copy_course(dest):
    """A copy of the course root at dest/assignments (every assignment's source), laid out like the repository."""
    root = dest / "assignments"
    (root / "source").mkdir(parents=True)
    shutil.copy2(COURSE_ROOT / "nbgrader_config.py", root)
    for name in COURSE.assignment_names:
        shutil.copytree(COURSE_ROOT / "source" / name, root / "source" / name,
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


def hidden_markers(nb):
    """(cell id, marker) of every hidden-test marker in any cell of ``nb``, in any case."""
    return [(cell.get("id"), marker) for cell in nb.cells for marker in HIDDEN_MARKERS
            if marker.lower() in cell.source.lower()]


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = copy_course(tmp_path_factory.mktemp("course"))
    release(root, ASSIGNMENT, log=quiet)
    return root


@pytest.fixture(scope="module")
def release_dir(course):
    return course / "release" / ASSIGNMENT


@pytest.fixture(scope="module")
def source_nb():
    return nbformat.read(SOURCE_NOTEBOOK, as_version=nbformat.NO_CONVERT)


@pytest.fixture(scope="module")
def released_nb(release_dir):
    return nbformat.read(release_dir / NOTEBOOK, as_version=nbformat.NO_CONVERT)


def grade_cells(nb):
    return {cell.metadata["nbgrader"]["grade_id"]: cell for cell in nb.cells
            if cell.metadata.get("nbgrader", {}).get("grade")}


# --- the source notebook ----------------------------------------------------------------

def test_source_notebook_grade_cells_and_points(source_nb):
    nbformat.validate(source_nb)
    cells = grade_cells(source_nb)
    assert {name: cell.metadata["nbgrader"]["points"] for name, cell in cells.items()} == DROPOUT.cell_points
    for name, points in AUTOGRADED.items():
        meta = cells[name].metadata["nbgrader"]
        assert cells[name].cell_type == "code"
        assert meta["locked"] and not meta["solution"] and meta["schema_version"] == 3
        assert cells[name].source.startswith(f"# Autograded ({points:g} points).")
        assert re.search(r"^\s*assert ", cells[name].source, re.M), f"{name}: no visible check"
    for name in BY_HAND:
        meta = cells[name].metadata["nbgrader"]
        assert cells[name].cell_type == "markdown" and meta["solution"] and not meta["locked"]
        assert meta["schema_version"] == 3
        assert cells[name].source.strip() == "YOUR ANSWER HERE"


def test_source_notebook_has_no_hidden_test_region(source_nb):
    """The judge is the only grader: no cell carries tests of its own for nbgrader to hide."""
    assert hidden_markers(source_nb) == []
    assert "HIDDEN TESTS" not in SOURCE_NOTEBOOK.read_text().upper()


def test_points_stated_in_the_notebook_match_the_manifest(source_nb):
    text = "\n".join(cell.source for cell in source_nb.cells if cell.cell_type == "markdown")
    stated = {name: int(points) for name, points in re.findall(r"\|\s*`(\w+)`\s*\|\s*(\d+)", text)}
    assert stated == DROPOUT.cell_points
    assert re.search(rf"\*\*Total\*\*.*\*\*{DROPOUT.total_points:g}\*\*", text)


def test_source_notebook_is_clean_with_stable_ids(source_nb):
    ids = [cell.get("id") for cell in source_nb.cells]
    assert all(ids) and len(set(ids)) == len(ids)
    for cell in source_nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.id


def test_source_notebook_runs_with_the_instructor_edition(tmp_path):
    """Top to bottom against the instructor's source_pkg, as nbgrader executes it."""
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
    # Under autograde the experiment runs in full, as the student ran it: the numbers the
    # inline question quotes are the ones the grader sees.
    assert re.findall(r"dropout = (\S+), (\d+) epochs?:", outputs["experiment"]) == [
        ("0.00", "20"), ("0.25", "20"), ("0.50", "20"), ("0.75", "20")]
    # What inline question 2 asks students to see: without dropout the net fits its 500 examples,
    # the largest p costs accuracy on both sets.
    train, val = zip(*((float(t), float(v)) for t, v in re.findall(
        r"final train accuracy (\S+), final validation accuracy (\S+),", outputs["experiment"])))
    assert train[0] == 1.0 and train[3] < train[0] and val[3] < max(val[:3])


# --- the release ------------------------------------------------------------------------

def test_release_holds_the_notebook_and_the_student_edition(release_dir):
    assert sorted(path.name for path in release_dir.iterdir()) == sorted(
        [NOTEBOOK, COURSE.package, student_setup.README, student_setup.REQUIREMENTS])
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
    nb = nbformat.read(release_dir / NOTEBOOK, as_version=4)
    for cell in nb.cells:
        lines |= {line.strip() for line in cell.source.splitlines()}
    return lines


def test_release_holds_no_solution_line(release_dir):
    secret = solution_lines()
    assert "dx = dout * mask" in secret
    assert not released_lines(release_dir) & secret
    texts = [p.read_text() for p in (release_dir / "source_pkg").rglob("*.py")]
    texts += [cell.source for cell in nbformat.read(release_dir / NOTEBOOK, as_version=4).cells]
    assert not [t for t in texts if "BEGIN SOLUTION" in t or "END SOLUTION" in t]


def test_released_cells_keep_their_grading_metadata(source_nb, released_nb):
    released = grade_cells(released_nb)
    assert {name: cell.metadata["nbgrader"]["points"] for name, cell in released.items()} == DROPOUT.cell_points
    assert hidden_markers(released_nb) == []
    for name in AUTOGRADED:  # students see the very cell the gradebook records
        assert released[name].source == grade_cells(source_nb)[name].source
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
    nb, error = execute(folder / NOTEBOOK, folder, kernel_env())
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
    broken = root / "source" / ASSIGNMENT / NOTEBOOK
    nb = nbformat.read(broken, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION"))
    nbformat.write(nb, broken)
    assert release_module.main(["--course-root", str(root)]) == 1
    message = capsys.readouterr().err
    assert f"nbgrader generate_assignment {ASSIGNMENT} failed with exit code" in message
    assert "Solution region detected in a non-solution cell" in message


def test_release_command_refuses_an_assignment_the_manifest_does_not_name(tmp_path, capsys):
    root = copy_course(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        release_module.main(["no-such-assignment", "--course-root", str(root)])
    assert stopped.value.code == 2
    assert "unknown assignment(s) no-such-assignment" in capsys.readouterr().err
    with pytest.raises(ReleaseError, match="unknown assignment 'no-such-assignment'"):
        release(root, "no-such-assignment", log=quiet)
    assert not (root / "release").exists()


def test_release_command_refuses_a_folder_that_is_no_course(tmp_path, capsys):
    assert release_module.main(["--course-root", str(tmp_path)]) == 1
    assert "has no nbgrader_config.py" in capsys.readouterr().err


@pytest.mark.parametrize("config, words", [
    ("import no_such_module\n", "ModuleNotFoundError: No module named 'no_such_module'"),
    ("c.CourseDirectory.db_url = (\n", "SyntaxError"),
])
def test_release_refuses_a_config_that_fails_to_load(tmp_path, capsys, config, words):
    """nbgrader would log the error and go on with its defaults (another gradebook): release stops."""
    root = copy_course(tmp_path)
    (root / "nbgrader_config.py").write_text((root / "nbgrader_config.py").read_text() + config)
    assert release_module.main(["--course-root", str(root)]) == 1
    message = capsys.readouterr().err
    assert f"{root / 'nbgrader_config.py'} failed to load" in message and words in message
    assert not (root / "release").exists()


def add_submission(course_root, student="someone"):
    from nbgrader.api import Gradebook
    with Gradebook(sqlite_url(course_root / "gradebook.db"), course_id=COURSE.course_id) as gradebook:
        gradebook.update_or_create_student(student)
        gradebook.add_submission(ASSIGNMENT, student)


def change_graded_cell(course_root, grade_id=COURSE.task("fc_net").grade_cell):
    """Edit one autograded cell of the course's source notebook, as an instructor might."""
    notebook = course_root / "source" / ASSIGNMENT / NOTEBOOK
    nb = nbformat.read(notebook, as_version=4)
    cell = grade_cells(nb)[grade_id]
    cell.source += "\nassert True"
    nbformat.write(nb, notebook)


# nbgrader's add_submission triggers SQLAlchemy autoflush warnings inside nbgrader itself.
@pytest.mark.filterwarnings("ignore:Object of type")
def test_release_again_under_submissions_needs_force_only_if_graded_cells_change(tmp_path):
    root = copy_course(tmp_path)
    url = sqlite_url(root / "gradebook.db")
    assert release_state(url, COURSE.course_id, ASSIGNMENT) == (0, {})  # nothing released, nothing created
    assert not (root / "gradebook.db").exists()
    release(root, ASSIGNMENT, log=quiet)
    # The checksums this command predicts are those nbgrader recorded.
    _, recorded = release_state(url, COURSE.course_id, ASSIGNMENT)
    assert recorded == release_module.source_cell_checksums(root / "source" / ASSIGNMENT)
    assert set(cell for _, cell in recorded) >= set(DROPOUT.cell_points)

    add_submission(root)
    release(root, ASSIGNMENT, log=quiet)  # unchanged cells: allowed

    change_graded_cell(root)
    with pytest.raises(ReleaseError, match=rf"1 submission.*{DROPOUT.notebook}\.ipynb:fc_net_checks.*--force"):
        release(root, ASSIGNMENT, log=quiet)
    release(root, ASSIGNMENT, force=True, log=quiet)
    assert release_state(url, COURSE.course_id, ASSIGNMENT)[0] == 1
    assert "assert True" in (root / "release" / ASSIGNMENT / NOTEBOOK).read_text()


def test_release_names_a_gradebook_it_cannot_read_without_its_password(tmp_path):
    root = copy_course(tmp_path)
    with open(root / "nbgrader_config.py", "a") as config:
        config.write('c.CourseDirectory.db_url = "postgresql+psycopg://grader:s3cret@127.0.0.1:1/gradebook"\n')
    with pytest.raises(ReleaseError) as refused:
        release(root, ASSIGNMENT, log=quiet)
    message = str(refused.value)
    assert "postgresql+psycopg://grader:***@127.0.0.1:1/gradebook" in message and "s3cret" not in message
    assert "c.CourseDirectory.db_url" in message
    assert not (root / "release").exists()  # refused before nbgrader ran


# --- every route writes the same release ---------------------------------------------------

def tree(folder):
    """{relative path: sha256} of every file under ``folder``."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("flags", [["--force"], ["--no-db"]])
def test_plain_generate_assignment_writes_the_same_release(release_dir, tmp_path, flags):
    """formgrader's Generate runs generate_assignment --force, which empties release/A/ first."""
    root = copy_course(tmp_path)
    classroom.nbgrader(root, "generate_assignment", ASSIGNMENT, *flags)
    assert tree(root / "release" / ASSIGNMENT) == tree(release_dir)
    classroom.nbgrader(root, "generate_assignment", ASSIGNMENT, "--force")  # again, as the button would
    assert tree(root / "release" / ASSIGNMENT) == tree(release_dir)


def test_a_release_that_cannot_be_completed_fails_loudly(tmp_path):
    """nbgrader only logs a failing post-convert hook: ours makes the command fail."""
    root = copy_course(tmp_path)
    done = classroom.nbgrader(root, "generate_assignment", ASSIGNMENT, "--force",
                              "--CourseDirectory.release_directory=handout", check=False)
    assert done.returncode != 0
    assert f"release of {ASSIGNMENT} is incomplete" in done.stderr and "wrote no notebook" in done.stderr


def test_students_requirements_pin_the_tested_versions(release_dir):
    from importlib.metadata import version

    lines = [line for line in (release_dir / student_setup.REQUIREMENTS).read_text().splitlines()
             if line and not line.startswith("#")]
    assert lines == [f"{name}=={version(name)}" for name in student_setup.STUDENT_PACKAGES]
    readme = (release_dir / student_setup.README).read_text()
    assert f"pip install -r {student_setup.REQUIREMENTS}" in readme and f"jupyter notebook {NOTEBOOK}" in readme


def requirement_problems(pins: dict[str, str]) -> list[str]:
    """What pip check would say about the pinned packages and everything they need, read from the
    installed distributions: a missing dependency or a version outside a declared range."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    problems, seen, todo = [], set(), list(pins)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name} is not installed")
            continue
        if name in pins and dist.version != pins[name]:
            problems.append(f"{name} {dist.version} installed, {pins[name]} pinned")
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            try:
                found = metadata.version(requirement.name)
            except metadata.PackageNotFoundError:
                problems.append(f"{name} needs {requirement}: not installed")
                continue
            if not requirement.specifier.contains(found, prereleases=True):
                problems.append(f"{name} needs {requirement}: {found} installed")
            todo.append(requirement.name)
    return problems


def test_the_release_requirements_hold_together_and_import(release_dir, tmp_path):
    """The cheap, every-run version of the fresh-venv test below: the pins are one consistent set
    (each pinned package's own requirements met by the versions installed with it), and the
    released notebook's imports work from the release folder with the stubs, with no PYTHONPATH or
    user site-packages."""
    import subprocess
    import sys

    from packaging.utils import canonicalize_name

    lines = (release_dir / student_setup.REQUIREMENTS).read_text().splitlines()
    pins = {canonicalize_name(name): version for name, version in
            (line.split("==") for line in lines if line and not line.startswith("#"))}
    assert set(pins) == {canonicalize_name(name) for name in student_setup.STUDENT_PACKAGES}
    assert requirement_problems(pins) == []
    work = tmp_path / "handout"
    shutil.copytree(release_dir, work)
    imports = (f"import numpy, matplotlib.pyplot, sklearn, ipykernel, notebook, {COURSE.package}; "
               f"print({COURSE.package}.__file__)")
    done = subprocess.run([sys.executable, "-E", "-s", "-c", imports], cwd=work, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert Path(done.stdout.strip()).parent == work / COURSE.package  # the released stubs, not the repository's


@pytest.mark.skipif(os.environ.get("DROPOUT_STUDENT_VENV_TEST") != "1",
                    reason="installs the students' requirements from the package registry (minutes): "
                           "DROPOUT_STUDENT_VENV_TEST=1 runs it")
def test_a_fresh_venv_from_the_release_runs_the_solved_notebook(release_dir, tmp_path):
    """What a student does: a venv from requirements.txt, the stubs filled in, the notebook top to bottom."""
    import subprocess
    import sys

    venv = tmp_path / "student venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                    "-r", str(release_dir / student_setup.REQUIREMENTS)], check=True, timeout=1800)
    work = tmp_path / "work"
    shutil.copytree(release_dir, work)
    shutil.rmtree(work / COURSE.package)
    classroom.load_catalogue().BY_NAME["reference"].build(work)  # the stubs, solved
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    done = subprocess.run([str(venv / "bin" / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
                           "--ExecutePreprocessor.timeout=600", "--output", "ran.ipynb", NOTEBOOK],
                          cwd=work, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    ran = nbformat.read(work / "ran.ipynb", as_version=4)
    errors = [o for cell in ran.cells for o in cell.get("outputs", []) if o.output_type == "error"]
    assert not errors and any(cell.get("outputs") for cell in ran.cells if cell.cell_type == "code")
