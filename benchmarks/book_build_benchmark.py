"""How long `make book` takes: a clean build and a no-change rebuild, against a baseline.

    .venv/bin/python benchmarks/book_build_benchmark.py [--baseline REV]

Builds the book of git revision REV (default: the parent of the first commit of the accessible
book, d002a05^) and of the working tree, each in a fresh copy under a temporary folder, first
from scratch (every page executed) and then again with nothing changed. Both run in the same
invocation on the same machine, so the ratios hold even when the machine is busy; the issue's
targets are a clean build within 90 s of the baseline's and a no-change rebuild under 10 s.
Each build also reports the CPU seconds of the build and its kernels, which other jobs on a
shared machine inflate much less than the wall-clock time.
"""

import argparse
import os
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def checkout(revision: str | None, into: Path) -> Path:
    """The repository's files at `revision` (None: the working tree, untracked files too)."""
    into.mkdir(parents=True)
    if revision is None:
        listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
                                 "--exclude-standard"], check=True, capture_output=True).stdout
        for name in filter(None, listed.decode().split("\0")):
            source = ROOT / name
            if source.is_file():
                (into / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, into / name)
    else:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def build(folder: Path) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one strict `jupyter-book build` of `folder`, as `make book` runs it."""
    env = dict(os.environ, PYTHONPATH=str(folder), MPLBACKEND="Agg",
               PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}")
    start, cpu = time.perf_counter(), children_cpu()
    result = subprocess.run(["jupyter-book", "build", ".", "-W", "-n", "--keep-going"], cwd=folder,
                            env=env, capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - start, children_cpu() - cpu
    if result.returncode != 0:
        raise SystemExit(f"the build of {folder} failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
    return seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="d002a05^", help="git revision of the baseline book")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="book-bench-") as scratch:
        times = {}
        for label, revision in [("baseline", args.baseline), ("current", None)]:
            folder = checkout(revision, Path(scratch) / label)
            (clean, clean_cpu), (again, again_cpu) = build(folder), build(folder)
            times[label] = (clean, again)
            print(f"{label:>8}: clean {clean:6.1f} s ({clean_cpu:5.1f} CPU-s), "
                  f"no-change rebuild {again:5.1f} s ({again_cpu:4.1f} CPU-s)", flush=True)
    (base_clean, base_again), (clean, again) = times["baseline"], times["current"]
    print(f"clean build: {clean / base_clean:.2f} x the baseline ({clean - base_clean:+.1f} s; target: within +90 s)")
    print(f"no-change rebuild: {again / base_again:.2f} x the baseline ({again:.1f} s; target: under 10 s)")


if __name__ == "__main__":
    main()
