"""A course root with a class of submissions, graded by the real nbgrader commands.

Used by ``make demo`` and the end-to-end tests. A course root made here holds its own
``nbgrader_config.py`` that loads the repository's (assignments/nbgrader_config.py) and then
adjusts the root and, if asked, the time limits; submissions are built from
``tests/faults/catalogue.py`` variants, the way students hand them in: the released notebook
and their own ``source_pkg`` beside it. A course root holds every assignment of the manifest;
a variant is a submission of the catalogue's assignment unless another is named.
"""

from __future__ import annotations

import csv
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from . import gradebook
from .manifest import COURSE
from .paths import COURSE_ROOT, REPO_ROOT
from .release import course_settings, nbgrader_env, release

CATALOGUE = REPO_ROOT / "tests" / "faults" / "catalogue.py"


class NbgraderError(RuntimeError):
    """An nbgrader command failed; the message holds its command line and last output."""


def load_catalogue() -> ModuleType:
    if "dropout_fault_catalogue" in sys.modules:
        return sys.modules["dropout_fault_catalogue"]
    spec = importlib.util.spec_from_file_location("dropout_fault_catalogue", CATALOGUE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def make_course(root: Path, cell_timeout: float | None = None, op_timeout: float | None = None,
                budget: float | None = None, plain_nbgrader: bool = False) -> Path:
    """A fresh course root at ``root`` with the repository's config and every assignment's source.

    ``plain_nbgrader`` restores nbgrader's own autograde steps (the grade cells' own code is
    their only check), the baseline the benchmark compares with.
    """
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    lines = [f"load_subconfig({str(COURSE_ROOT / 'nbgrader_config.py')!r})",
             f"c.CourseDirectory.root = {str(root)!r}"]
    if cell_timeout is not None:
        lines.append(f"c.Execute.timeout = {int(cell_timeout)}")
    if op_timeout is not None:
        lines.append(f"c.JudgeCells.op_timeout = {float(op_timeout)}")
    if budget is not None:
        lines.append(f"c.JudgeCells.budget = {float(budget)}")
    if plain_nbgrader:
        lines.append("from nbgrader.converters import Autograde")
        lines.append('c.Autograde.autograde_preprocessors = Autograde.class_traits()["autograde_preprocessors"].default()')
    (root / "nbgrader_config.py").write_text("\n".join(lines) + "\n")
    for assignment in COURSE.assignment_names:
        source = root / "source" / assignment
        if source.exists():
            shutil.rmtree(source)
        shutil.copytree(COURSE_ROOT / "source" / assignment, source)
    return root


def release_course(root: Path, assignments: tuple[str, ...] = ()) -> list[Path]:
    """Release ``assignments`` (default: every assignment of the manifest); their release folders."""
    return [release(root, name, log=lambda *_: None) for name in assignments or COURSE.assignment_names]


def catalogue_assignment() -> str:
    """The assignment the fault catalogue's variants are submissions of."""
    return load_catalogue().ASSIGNMENT


def submit(root: Path, student: str, variant: Any, assignment: str | None = None) -> Path:
    """Hand in ``assignment``'s released notebook (default: the variant's assignment) with
    ``variant``'s package as ``student``'s submission."""
    assignment = assignment or variant.assignment
    folder = Path(root) / "submitted" / student / assignment
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for notebook in (Path(root) / "release" / assignment).glob("*.ipynb"):
        shutil.copy2(notebook, folder / notebook.name)
    variant.build(folder)
    return folder


def answer_inline_questions(folder: Path, answer: str = "Dropout zeroes units at random; see my experiment.") -> None:
    """Write ``answer`` into each hand-graded cell of a submission (``submitted/<student>/<assignment>``),
    as a student does (a cell left as handed out scores 0 in nbgrader)."""
    import nbformat

    assignment = COURSE.assignment_named(Path(folder).name)
    path = Path(folder) / f"{assignment.notebook}.ipynb"
    nb = nbformat.read(path, as_version=4)
    manual = {part.grade_cell for part in assignment.manual}
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") in manual:
            cell.source = answer
    nbformat.write(nb, path)


def nbgrader(root: Path, *args: str, check: bool = True, timeout: float = 3600) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in the course root; returns the CompletedProcess."""
    command = [sys.executable, "-m", "nbgrader", *args]
    env = nbgrader_env()
    env["DROPOUT_COURSE_REPO"] = str(REPO_ROOT)
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-30:])
        raise NbgraderError(f"nbgrader {' '.join(args)} failed with exit code {done.returncode} in {root}:\n{tail}")
    return done


def read_grades(root: Path, assignment: str | None = None) -> dict[str, dict[str, str]]:
    """Rows of nbgrader export's grades.csv for ``assignment`` (default: the catalogue's), keyed by
    student id."""
    assignment = assignment or catalogue_assignment()
    with open(Path(root) / "grades.csv", newline="") as file:
        return {row["student_id"]: row for row in csv.DictReader(file) if row["assignment"] == assignment}


def cell_scores(root: Path, student: str, assignment: str | None = None) -> dict[str, tuple[float | None, float]]:
    """{grade_id: (auto_score, max_score)} of one student's submission of ``assignment`` (default:
    the catalogue's), read from the course's gradebook."""
    assignment = assignment or catalogue_assignment()
    settings = course_settings(root, assignment)
    notebook = COURSE.assignment_named(assignment).notebook
    return gradebook.cell_scores(settings.db_url, settings.course_id, assignment, notebook, student)
