"""Seconds per submission of the class command on a Dask cluster, against local workers.

Builds a class of synthetic submissions (the variants of ``class_benchmark.py``, in turn) in
two identical course roots, starts a ``dask scheduler`` and W one-thread ``dask worker``
processes on this machine (tests/dask_cluster.py), and grades one root with
``python -m coursekit.classgrade --scheduler ADDRESS`` and the other with ``--workers W``, in
the same run. Prints seconds per submission for each, their ratio, and whether both
gradebooks hold the same scores. The ratio carries the cluster's own cost (one nbgrader
start-up per submission, instead of one per batch, and Dask's) to the figures of
``class_benchmark.py``: see docs/grading-a-class.md, "How long a class takes".

Usage: ``python benchmarks/cluster_benchmark.py [--students 24] [--workers 2]``
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "benchmarks")]

from class_benchmark import ASSIGNMENT, build, totals  # noqa: E402
from dask_cluster import cluster_env, dask_cluster  # noqa: E402


def grade(root: Path, *options: str) -> float:
    """Seconds ``python -m coursekit.classgrade ASSIGNMENT`` takes on ``root`` with ``options``."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "coursekit.classgrade", ASSIGNMENT, "--course-root", str(root),
                           "--progress", "none", *options], cwd=REPO, env=cluster_env(), capture_output=True,
                          text=True)
    if done.returncode != 0:
        sys.exit(f"classgrade {' '.join(options)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return time.monotonic() - started


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=24, help="class size (default 24)")
    parser.add_argument("--workers", type=int, default=2, help="Dask workers and local workers (default 2)")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="cluster-benchmark-"))
    try:
        print(f"building {args.students} submissions in 2 course roots under {base} ...", flush=True)
        local = build(base / "local", args.students)
        cluster = base / "cluster"
        shutil.copytree(local, cluster, symlinks=True)
        (cluster / "nbgrader_config.py").write_text(
            (local / "nbgrader_config.py").read_text().replace(repr(str(local)), repr(str(cluster))))
        (base / "logs").mkdir()
        local_seconds = grade(local, "--workers", str(args.workers))
        with dask_cluster(base / "logs", args.workers) as (address, _):
            cluster_seconds = grade(cluster, "--scheduler", address)
        n = args.students
        print(f"\nsubmissions: {n}; workers: {args.workers}")
        print(f"local classgrade --workers {args.workers}: {local_seconds:8.1f} s = {local_seconds / n:6.2f} s per submission")
        print(f"classgrade --scheduler (Dask):  {cluster_seconds:8.1f} s = {cluster_seconds / n:6.2f} s per submission"
              f"  ratio to local {cluster_seconds / local_seconds:.2f}")
        same = totals(local) == totals(cluster)
        print(f"same scores: {'yes' if same else 'NO'}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
