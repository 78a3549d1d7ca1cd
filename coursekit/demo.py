"""``make demo``: a small class through the real nbgrader pipeline, then a score table.

The class (built in ``_build/demo``, a course root of its own): a correct submission written
differently from the reference, several faulty ones, a hanging one, a crashing one and one
missing its package. The demo releases the assignment, autogrades, generates feedback and
exports grades.csv, and leaves all of it in place for a look.
"""

import argparse
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from . import classroom
from .limits import SHORT
from .manifest import COURSE
from .paths import BUILD_DIR

DEMO_ROOT = BUILD_DIR / "demo"
CLASS = {
    "ana": "default-rng",
    "bo": "keep-drop-swapped",
    "chen": "vanilla-dropout",
    "dara": "new-mask-in-backward",
    "eze": "net-not-in-test-mode",
    "fin": "forward-hangs",
    "gia": "backward-crashes",
    "hob": "missing-package",
}


def run(root: Path = DEMO_ROOT, log: Callable[[str], object] = print) -> int:
    """Build the demo class in ``root``, grade it with nbgrader and print a table; nbgrader's exit code."""
    catalogue = classroom.load_catalogue()
    if root.exists():
        shutil.rmtree(root)
    # Short limits: the hanging submission costs seconds, not minutes.
    classroom.make_course(root, **SHORT)
    classroom.release_course(root)
    for student, variant in CLASS.items():
        classroom.submit(root, student, catalogue.BY_NAME[variant])
    log(f"Autograding {len(CLASS)} submissions in {root} ...")
    started = time.monotonic()
    autograde = classroom.nbgrader(root, "autograde", "dropout", check=False)
    seconds = time.monotonic() - started
    classroom.nbgrader(root, "generate_feedback", "dropout")
    classroom.nbgrader(root, "export")
    grades = classroom.read_grades(root)

    widths = [max(len(task.id), 7) for task in COURSE.tasks]
    header = " ".join(f"{task.id:>{w}}" for task, w in zip(COURSE.tasks, widths))
    log(f"\n{'student':8} {'submission':24} {header} {'total':>6}  mistakes named")
    for student, variant_name in CLASS.items():
        variant = catalogue.BY_NAME[variant_name]
        cells = classroom.cell_scores(root, student)
        parts = " ".join(f"{cells[t.grade_cell][0]:g}/{cells[t.grade_cell][1]:g}".rjust(w)
                         for t, w in zip(COURSE.tasks, widths))
        named = sorted({m for m in variant.expected.values() if m})
        log(f"{student:8} {variant_name:24} {parts} {float(grades[student]['raw_score']):>6g}  "
            f"{', '.join(COURSE.mistakes[m] for m in named) or '-'}")
    log(f"\nautograde: exit code {autograde.returncode}, {seconds:.0f} s for {len(CLASS)} submissions "
        f"({seconds / len(CLASS):.1f} s each; the hanging one waits out its time limits)")
    manual = sum(part.points for part in COURSE.manual)
    log(f"grades: {root / 'grades.csv'}  (the {len(COURSE.manual)} hand-graded parts, {manual:g} points, "
        "are not graded here)")
    log(f"feedback: {root / 'feedback'}/<student>/dropout/dropout.html")
    return autograde.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEMO_ROOT, help=f"course root to build (default {DEMO_ROOT})")
    args = parser.parse_args(argv)
    return run(args.root.resolve())


if __name__ == "__main__":
    sys.exit(main())
