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
from pathlib import Path

from . import classroom
from .manifest import COURSE
from .release import REPO_ROOT

DEMO_ROOT = REPO_ROOT / "_build" / "demo"
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
AUTO_CELLS = ("dropout_forward_checks", "dropout_backward_checks", "fc_net_checks")


def run(root=DEMO_ROOT, log=print):
    catalogue = classroom.load_catalogue()
    if root.exists():
        shutil.rmtree(root)
    # Short limits: the hanging submission costs seconds, not minutes.
    classroom.make_course(root, cell_timeout=10, op_timeout=3, budget=20)
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

    log(f"\n{'student':8} {'submission':24} {'forward':>8} {'backward':>9} {'net':>5} {'total':>6}  mistakes named")
    for student, variant_name in CLASS.items():
        variant = catalogue.BY_NAME[variant_name]
        cells = classroom.cell_scores(root, student)
        parts = [f"{cells[c][0]:g}/{cells[c][1]:g}" for c in AUTO_CELLS]
        named = sorted({m for m in variant.expected.values() if m})
        log(f"{student:8} {variant_name:24} {parts[0]:>8} {parts[1]:>9} {parts[2]:>5} "
            f"{float(grades[student]['raw_score']):>6g}  {', '.join(COURSE.mistakes[m] for m in named) or '-'}")
    log(f"\nautograde: exit code {autograde.returncode}, {seconds:.0f} s for {len(CLASS)} submissions "
        f"({seconds / len(CLASS):.1f} s each; the hanging one waits out its time limits)")
    log(f"grades: {root / 'grades.csv'}  (the two hand-graded questions, 10 points, are not graded here)")
    log(f"feedback: {root / 'feedback'}/<student>/dropout/dropout.html")
    return autograde.returncode


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEMO_ROOT, help=f"course root to build (default {DEMO_ROOT})")
    args = parser.parse_args(argv)
    return run(args.root.resolve())


if __name__ == "__main__":
    sys.exit(main())
