"""Seconds per submission: nbgrader's own autograde vs autograde with the isolated hidden checks.

Builds one class of synthetic submissions (correct and faulty, from tests/faults/catalogue.py)
and grades it twice in the same run with plain ``nbgrader autograde``: once with nbgrader's
default steps (hidden tests in the student's kernel: the baseline) and once with this course's
configuration (the judge's runner processes). Prints seconds per submission and the ratio.

Usage: ``python benchmarks/autograde_benchmark.py [--students N] [--keep DIR]``
"""

import argparse
import itertools
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from coursekit import classroom  # noqa: E402

MIX = ["reference", "bool-mask", "default-rng", "keep-drop-swapped", "survivors-not-scaled",
       "vanilla-dropout", "new-mask-in-backward", "dtype-changed", "net-not-in-test-mode",
       "dropout-not-applied", "student-edition"]


def grade_class(root, students, plain):
    catalogue = classroom.load_catalogue()
    classroom.make_course(root, plain_nbgrader=plain)
    classroom.release_course(root)
    for k, variant in zip(range(students), itertools.cycle(MIX)):
        classroom.submit(root, f"student{k:03d}", catalogue.BY_NAME[variant])
    started = time.perf_counter()
    done = classroom.nbgrader(root, "autograde", classroom.catalogue_assignment(), check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        print(f"warning: autograde exited with {done.returncode} ({'plain' if plain else 'course'})", file=sys.stderr)
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=22)
    parser.add_argument("--keep", type=Path, help="keep the course roots in this folder")
    args = parser.parse_args(argv)
    base = args.keep or Path(tempfile.mkdtemp(prefix="autograde-benchmark-"))
    try:
        plain = grade_class(base / "plain", args.students, plain=True)
        course = grade_class(base / "course", args.students, plain=False)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    n = args.students
    print(f"submissions: {n}")
    print(f"nbgrader, hidden tests in the kernel (baseline): {plain / n:.2f} s per submission")
    print(f"nbgrader + isolated hidden checks (this course):  {course / n:.2f} s per submission")
    print(f"ratio course / baseline: {course / plain:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
