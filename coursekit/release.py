"""Release the assignments: nbgrader's student notebook plus the student edition of source_pkg.

Usage, from the repository root: ``python -m coursekit.release [ASSIGNMENT...] [--force]
[--course-root DIR]``; without a name every assignment of the manifest is released (``make
release`` does that). Three steps for each assignment A:

1. ``nbgrader generate_assignment A --force`` in the course root (the folder holding
   ``nbgrader_config.py``): it strips solutions from the notebook, records the assignment and
   its graded cells in the gradebook (``CourseDirectory.db_url``: ``gradebook.db`` or a database
   server) and writes ``release/A/``. It runs with this Python's
   ``bin/`` first on PATH (nbgrader starts ``alembic``) and without PYTHONPATH, so nothing from
   the repository is importable by accident.
2. The student edition of ``source_pkg`` (solutions replaced by loud stubs) is written to
   ``release/A/source_pkg``, next to the notebook that imports it.
3. The release is checked for grading code: no ``tests/`` or ``coursekit/`` folder, no Python
   file outside ``source_pkg``, nothing naming ``coursekit``.

Steps 2 and 3, and the students' set-up files (``coursekit/student_setup.py``), run as
nbgrader's ``GenerateAssignment.post_convert_hook`` (``post_generate``, set in the course's
``nbgrader_config.py``): so formgrader's Generate button and ``nbgrader generate_assignment``
with any flags write the same release as ``make release``.

Re-releasing after students have submitted changes what autograde compares their notebooks
with: the gradebook keeps every graded or locked cell as released. So when the gradebook holds
submissions of the assignment and those cells differ from the source notebook's, the command
stops and names the cells; ``--force`` releases anyway. Without submissions, or with the
cells unchanged, releasing again is always allowed. The gradebook is the one nbgrader uses:
``db_url`` and ``course_id`` are read from the course root's settings as nbgrader reads them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from .course_settings import CourseSettings, CourseSettingsError, read_settings
from .editions import PACKAGE_NAME, EditionError, write_student_edition
from .gradebook import GradebookError, release_state, safe_url
from .manifest import COURSE
from .paths import COURSE_ROOT, REPO_ROOT
from .preflight import check_course
from .student_setup import SetupError, write_student_setup

# Names that must never reach students: the grading package, the hidden checks.
FORBIDDEN_DIRS = ("tests", "coursekit")
TAIL_LINES = 25


class ReleaseError(RuntimeError):
    """A release step failed; the message says which one and why."""


def nbgrader_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for nbgrader: this interpreter's bin/ first on PATH, no PYTHONPATH.

    Nothing of the repository is importable by accident: under autograde, a PYTHONPATH would
    reach the students' kernels and could put the instructor's source_pkg before their own.
    """
    env = dict(os.environ if base is None else base)
    env.pop("PYTHONPATH", None)
    # nbgrader_config.py imports the grading plugin from the course's repository: this one.
    env.setdefault("DROPOUT_COURSE_REPO", str(REPO_ROOT))
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, *[p for p in env.get("PATH", "").split(os.pathsep) if p and p != bin_dir]])
    return env


def _tail(text: str, lines: int = TAIL_LINES) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def source_cell_checksums(source_dir: Path) -> dict[tuple[str, str], str]:
    """{(notebook, grade_id): checksum} of the cells nbgrader records, as it records them.

    generate_assignment stores a cell's checksum after clearing solutions and before removing
    hidden tests; this applies the same two nbgrader steps to the source notebooks.
    """
    import nbformat
    from nbgrader import utils
    from nbgrader.preprocessors import ClearSolutions

    checksums = {}
    for path in sorted(Path(source_dir).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
        nb, _ = ClearSolutions().preprocess(nb, {})
        for cell in nb.cells:
            if utils.is_grade(cell) or utils.is_solution(cell) or utils.is_locked(cell) or utils.is_task(cell):
                checksums[(path.stem, cell.metadata["nbgrader"]["grade_id"])] = utils.compute_checksum(cell)
    return checksums


def course_settings(course_root: Path, assignment: str = "") -> CourseSettings:
    """The course's nbgrader settings (db_url, course_id), read as nbgrader reads them."""
    try:
        return read_settings(course_root, assignment)
    except (FileNotFoundError, CourseSettingsError) as error:
        raise ReleaseError(str(error)) from error


def changed_cells(course_root: Path, assignment: str) -> tuple[int, list[str]]:
    """(submissions, sorted names of graded/locked cells a new release would change)."""
    settings = course_settings(course_root, assignment)
    try:
        submissions, stored = release_state(settings.db_url, settings.course_id, assignment)
    except GradebookError as error:
        raise ReleaseError(
            f"could not read the gradebook at {safe_url(settings.db_url)} (c.CourseDirectory.db_url of "
            f"{settings.root}) to check for graded submissions before releasing: {error}") from error
    if not submissions:
        return 0, []
    current = source_cell_checksums(Path(course_root) / "source" / assignment)
    changed = {key for key in stored.keys() | current.keys() if stored.get(key) != current.get(key)}
    return submissions, sorted(f"{notebook}.ipynb:{cell}" for notebook, cell in changed)


def generate_assignment(course_root: Path, assignment: str) -> subprocess.CompletedProcess:
    """Run ``nbgrader generate_assignment ASSIGNMENT --force`` in ``course_root``."""
    command = [sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force"]
    try:
        done = subprocess.run(command, cwd=course_root, env=nbgrader_env(), capture_output=True, text=True)
    except OSError as error:
        raise ReleaseError(f"could not start nbgrader ({' '.join(command)}): {error}") from error
    if done.returncode != 0:
        raise ReleaseError(
            f"nbgrader generate_assignment {assignment} failed with exit code {done.returncode} "
            f"(run in {course_root}); its last lines:\n{_tail(done.stderr + done.stdout)}")
    return done


def grading_code_in(release_dir: Path) -> list[str]:
    """Paths in ``release_dir`` that look like grading code, each with the reason."""
    release_dir = Path(release_dir)
    problems = []
    for path in sorted(release_dir.rglob("*")):
        relative = path.relative_to(release_dir)
        if path.is_dir() and path.name in FORBIDDEN_DIRS:
            problems.append(f"{relative}/: a {path.name} folder")
        elif path.is_file() and path.suffix == ".py" and relative.parts[0] != PACKAGE_NAME:
            problems.append(f"{relative}: a Python file outside {PACKAGE_NAME}/")
        elif path.is_file() and path.suffix in (".py", ".ipynb") and "coursekit" in path.read_text(errors="replace"):
            problems.append(f"{relative}: mentions coursekit")
    return problems


def complete_release(release_dir: Path, source_dir: Path) -> Path:
    """Add the student edition and set-up files to nbgrader's release, then check it for
    grading code; return the package folder."""
    try:
        package = write_student_edition(release_dir)
        write_student_setup(release_dir)
    except (EditionError, SetupError) as error:
        raise ReleaseError(f"could not complete the release in {release_dir}: {error}") from error
    problems = grading_code_in(release_dir)
    if problems:
        raise ReleaseError(f"{release_dir} holds grading code; remove it from {source_dir}:\n  "
                           + "\n  ".join(problems))
    return package


def post_generate(assignment: str, student: str, notebooks: list[str]) -> None:
    """nbgrader's ``GenerateAssignment.post_convert_hook``: complete the release just written.

    nbgrader only logs an exception of a hook, so a failure here is a SystemExit: the command
    (or formgrader's Generate button) fails with this message instead of reporting success.
    """
    if not notebooks:
        return
    source_dir = Path(notebooks[0]).resolve().parent
    release_dir = source_dir.parents[1] / "release" / assignment
    try:
        if not any(release_dir.glob("*.ipynb")):
            raise ReleaseError(f"nbgrader wrote no notebook to {release_dir} (a release_directory other than "
                               "'release' is not supported)")
        complete_release(release_dir, source_dir)
    except ReleaseError as error:
        message = f"release of {assignment} is incomplete: {error}"
        print(message, file=sys.stderr)
        raise SystemExit(message) from error


def release(course_root: Path, assignment: str, force: bool = False,
            log: Callable[[str], object] = print) -> Path:
    """Release ``assignment`` of the course in ``course_root``; return the release folder."""
    try:
        COURSE.assignment_named(assignment)
    except KeyError as error:
        raise ReleaseError(error.args[0]) from error
    course_root = Path(course_root).resolve()
    source_dir = course_root / "source" / assignment
    if not (course_root / "nbgrader_config.py").is_file():
        raise ReleaseError(f"{course_root} is not an nbgrader course root: it has no nbgrader_config.py")
    if not sorted(source_dir.glob("*.ipynb")):
        raise ReleaseError(f"no notebook to release in {source_dir}")
    check_course(course_root, "make release")  # who can read the course (coursekit/preflight.py)

    submissions, changed = changed_cells(course_root, assignment)
    if changed and not force:
        raise ReleaseError(
            f"the gradebook holds {submissions} submission(s) of '{assignment}', and releasing again "
            f"would change these graded or locked cells: {', '.join(changed)}. Autograde would "
            f"then compare those submissions with the new cells. Rerun with --force to release anyway.")

    generate_assignment(course_root, assignment)
    release_dir = course_root / "release" / assignment
    if not sorted(release_dir.glob("*.ipynb")):
        raise ReleaseError(f"nbgrader reported success but {release_dir} holds no notebook")

    package = complete_release(release_dir, source_dir)

    notebooks = ", ".join(path.name for path in sorted(release_dir.glob("*.ipynb")))
    log(f"Released '{assignment}' to {release_dir}:")
    log(f"  {notebooks} (nbgrader: solutions removed)")
    log(f"  {package.relative_to(release_dir)}/ (student edition: every exercise a stub)")
    log("  README.md, requirements.txt (the students' set-up, pinned to this environment)")
    log("Students get the whole folder.")
    return release_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", metavar="ASSIGNMENT",
                        help=f"the assignments to release (default: all of the manifest: "
                             f"{', '.join(COURSE.assignment_names)})")
    parser.add_argument("--force", action="store_true",
                        help="release even if it changes graded cells of existing submissions")
    parser.add_argument("--course-root", type=Path, default=COURSE_ROOT,
                        help=f"nbgrader course root (default: {COURSE_ROOT})")
    args = parser.parse_args(argv)
    unknown = [name for name in args.assignments if name not in COURSE.assignment_names]
    if unknown:
        parser.error(f"unknown assignment(s) {', '.join(unknown)}; the manifest's: {', '.join(COURSE.assignment_names)}")
    for assignment in args.assignments or COURSE.assignment_names:
        try:
            release(args.course_root, assignment, force=args.force)
        except ReleaseError as error:
            print(f"release of {assignment} failed: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
