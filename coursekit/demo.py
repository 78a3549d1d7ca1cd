"""``make demo``: a small class through the real nbgrader pipeline, then a score table.

The class (built in ``_build/demo``, a course root of its own) hands in each assignment: for
dropout a correct submission written differently from the reference, several faulty ones, a
hanging one, a crashing one and one missing its package; for dropout2 correct, faulty and
untouched ones from its own catalogue entries. The demo releases every assignment of the
manifest, autogrades and generates feedback assignment by assignment, exports grades.csv (a
column per task of every assignment), and leaves all of it in place for a look.
"""

import argparse
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import classroom
from .limits import SHORT
from .manifest import COURSE, Assignment
from .paths import BUILD_DIR

DEMO_ROOT = BUILD_DIR / "demo"
# assignment -> student -> the catalogue entry (tests/faults/) the student hands in.
CLASSES = {
    "dropout": {
        "ana": "default-rng",
        "bo": "keep-drop-swapped",
        "chen": "vanilla-dropout",
        "dara": "new-mask-in-backward",
        "eze": "net-not-in-test-mode",
        "fin": "forward-hangs",
        "gia": "backward-crashes",
        "hob": "missing-package",
    },
    "dropout2": {
        "ana": "d2-binomial-maps",
        "bo": "d2-elementwise",
        "chen": "d2-mc-logits",
        "dara": "d2-mc-bn-train",
        "eze": "d2-student-edition",
    },
}


def run(root: Path = DEMO_ROOT, log: Callable[[str], object] = print) -> int:
    """Build the demo class in ``root``, grade it with nbgrader and print a table; nbgrader's exit code."""
    catalogue = classroom.load_catalogue()
    if root.exists():
        shutil.rmtree(root)
    # Short limits: the hanging submission costs seconds, not minutes.
    classroom.make_course(root, **SHORT)
    classroom.release_course(root)
    exit_code = 0
    entries = {**catalogue.BY_NAME, **catalogue.DROPOUT2_BY_NAME}
    for assignment in COURSE.assignments:
        handed_in = {student: entries[name] for student, name in CLASSES.get(assignment.name, {}).items()}
        if not handed_in:
            log(f"\n{assignment.name}: no demo submissions (add them to CLASSES in {__file__})")
            continue
        for student, variant in handed_in.items():
            classroom.submit(root, student, variant, assignment.name)
        exit_code = max(exit_code, grade(root, assignment, handed_in, log))
    classroom.nbgrader(root, "export")
    log(f"\ngrades: {root / 'grades.csv'}  (a row per student and assignment; the hand-graded parts are "
        "not graded here)")
    return exit_code


def grade(root: Path, assignment: Assignment, handed_in: dict[str, Any], log: Callable[[str], object]) -> int:
    """Autograde the class's submissions of ``assignment`` (student -> catalogue entry), generate
    feedback, print its table."""
    log(f"\n{assignment.name}: autograding {len(handed_in)} submissions in {root} ...")
    started = time.monotonic()
    autograde = classroom.nbgrader(root, "autograde", assignment.name, check=False)
    seconds = time.monotonic() - started
    classroom.nbgrader(root, "generate_feedback", assignment.name)

    widths = [max(len(task.id), 7) for task in assignment.tasks]
    header = " ".join(f"{task.id:>{w}}" for task, w in zip(assignment.tasks, widths))
    log(f"\n{'student':8} {'submission':24} {header} {'total':>6}  mistakes named")
    for student, variant in handed_in.items():
        cells = classroom.cell_scores(root, student, assignment.name)
        parts = " ".join(f"{cells[t.grade_cell][0]:g}/{cells[t.grade_cell][1]:g}".rjust(w)
                         for t, w in zip(assignment.tasks, widths))
        total = sum(cells[t.grade_cell][0] or 0 for t in assignment.tasks)
        named = sorted({m for m in variant.expected.values() if m}) if variant.assignment == assignment.name else []
        log(f"{student:8} {variant.name:24} {parts} {total:>6g}  "
            f"{', '.join(COURSE.mistakes[m] for m in named) or '-'}")
    log(f"\nautograde {assignment.name}: exit code {autograde.returncode}, {seconds:.0f} s for {len(handed_in)} "
        f"submissions ({seconds / len(handed_in):.1f} s each; a hanging one waits out its time limits)")
    manual = sum(part.points for part in assignment.manual)
    log(f"the {len(assignment.manual)} hand-graded parts ({manual:g} points) are not graded here; feedback: "
        f"{root / 'feedback'}/<student>/{assignment.name}/{assignment.notebook}.html")
    return autograde.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEMO_ROOT, help=f"course root to build (default {DEMO_ROOT})")
    args = parser.parse_args(argv)
    return run(args.root.resolve())


if __name__ == "__main__":
    sys.exit(main())
