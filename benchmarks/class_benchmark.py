"""Seconds per submission: serial ``nbgrader autograde`` vs the parallel ``coursekit.classgrade``.

Builds a class of synthetic submissions (correct and faulty variants from
tests/faults/catalogue.py, in turn) twice, in two identical course roots with the course's own
configuration, and grades one with plain ``nbgrader autograde dropout`` (serial, nbgrader's
way) and the other with ``python -m coursekit.classgrade dropout --workers N``, in the same
run. Prints seconds per submission for each, their ratio, and whether both gradebooks hold
the same scores.

The parallel command leaves the notebooks' cells unrun by default (grades come from the hidden
checks); ``--modes checks-only run-notebooks`` also times it with ``--run-notebooks``, which
runs every notebook as serial nbgrader does.

Usage: ``python benchmarks/class_benchmark.py [--students 200] [--workers N [N ...]]
[--modes checks-only run-notebooks] [--keep DIR]`` (200 submissions take about 20 minutes of
serial grading on a 2-core machine). Each worker count and mode grades its own copy of the
class once, against the same serial run.
"""

import argparse
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from coursekit import classroom  # noqa: E402
from coursekit.classgrade.scheduler import worker_count  # noqa: E402

MIX = ["reference", "bool-mask", "keep-drop-swapped", "default-rng", "survivors-not-scaled", "binomial",
       "vanilla-dropout", "new-mask-in-backward", "float32-prescaled", "dtype-changed", "net-not-in-test-mode",
       "dropout-not-applied", "student-edition", "backward-raises"]
TARGET = 1.0  # seconds per submission, amortised, on a 2-core machine


def build(root, students):
    catalogue = classroom.load_catalogue()
    classroom.make_course(root)
    classroom.release_course(root)
    for k, variant in zip(range(students), itertools.cycle(MIX)):
        classroom.submit(root, f"student{k:03d}", catalogue.BY_NAME[variant])
    return root


def totals(root):
    """{student: total score} from the course's SQLite gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", "dropout-from-scratch") as gradebook:
        return {s.student_id: round(s.score, 6) for s in gradebook.find_assignment("dropout").submissions}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=200, help="class size (default 200)")
    parser.add_argument("--workers", type=int, nargs="+", default=[worker_count()],
                        help="parallel workers; several numbers: one parallel run each (default: cores)")
    parser.add_argument("--modes", nargs="+", choices=("checks-only", "run-notebooks"), default=["checks-only"],
                        help="how the parallel command grades: checks-only (its default) and/or --run-notebooks")
    parser.add_argument("--keep", type=Path, help="build the course roots in this folder and keep them")
    args = parser.parse_args(argv)
    base = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="class-benchmark-"))
    n = args.students
    try:
        print(f"building {n} submissions in {1 + len(args.workers) * len(args.modes)} course roots under {base} "
              f"(variants in turn: {', '.join(MIX)}) ...", flush=True)
        serial_root = build(base / "serial", n)
        parallel_roots = {(mode, workers): build(base / f"parallel-{mode}-{workers}", n)
                          for mode in args.modes for workers in args.workers}
        load_before = os.getloadavg()

        print("grading serially: nbgrader autograde dropout ...", flush=True)
        started = time.perf_counter()
        serial = classroom.nbgrader(serial_root, "autograde", "dropout", check=False, timeout=24 * 3600)
        serial_seconds = time.perf_counter() - started
        expected = totals(serial_root)

        results = {}
        for (mode, workers), root in parallel_roots.items():
            options = ["--workers", str(workers)] + (["--run-notebooks"] if mode == "run-notebooks" else [])
            print(f"grading in parallel: python -m coursekit.classgrade dropout {' '.join(options)} ...", flush=True)
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "coursekit.classgrade", "dropout", "--course-root",
                                   str(root), *options, "--progress", "none"],
                                  cwd=REPO, capture_output=True, text=True, timeout=24 * 3600)
            results[mode, workers] = (time.perf_counter() - started, done, totals(root) == expected)
            if done.returncode != 0:
                print(done.stderr[-3000:], file=sys.stderr)
        load_after = os.getloadavg()

        print()
        print(f"submissions: {n}; cores: {worker_count()}; load average (1 min) before/after: "
              f"{load_before[0]:.1f} / {load_after[0]:.1f}")
        print(f"serial nbgrader autograde:        {serial_seconds:8.1f} s = {serial_seconds / n:6.2f} s per submission"
              f"  (exit code {serial.returncode})")
        ok = serial.returncode == 0
        for (mode, workers), (seconds, done, agree) in results.items():
            print(f"parallel classgrade, {mode}, {workers} worker(s): {seconds:8.1f} s = {seconds / n:6.2f} s per submission"
                  f"  (exit code {done.returncode}; report included) ratio parallel / serial {seconds / serial_seconds:.2f}"
                  f", speed-up x{serial_seconds / seconds:.2f}; same scores as serial: {'yes' if agree else 'NO'}")
            ok = ok and agree and done.returncode == 0
        for mode in args.modes:
            best = min(seconds for (m, _), (seconds, _, _) in results.items() if m == mode) / n
            print(f"target <= {TARGET:g} s per submission, {mode}: {'reached' if best <= TARGET else 'NOT reached'} "
                  f"(best {best:.2f} s)")
        return 0 if ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
