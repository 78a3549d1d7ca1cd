"""Generate the student edition of ``source_pkg`` from the instructor edition.

Exercise code sits between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` lines, right
below a ``# Task: ...`` comment that says what to implement. In the student edition each
region becomes ``# YOUR CODE HERE`` and a ``raise NotImplementedError`` whose message names
the enclosing function, repeats the task and gives the task's id from the course manifest
(the id of its hidden checks and its pytest marker); every other line is kept byte for byte.

Usage: ``python -m coursekit.editions OUT_DIR`` writes OUT_DIR/source_pkg.
"""

import argparse
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from .manifest import COURSE
from .paths import INSTRUCTOR_PACKAGE

PACKAGE_NAME = COURSE.package

BEGIN = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION[ \t]*\r?\n?$")
END = re.compile(r"^[ \t]*### END SOLUTION[ \t]*\r?\n?$")
DEFINITION = re.compile(r"^(?P<indent>[ \t]*)(?:async[ \t]+)?(?:def|class)[ \t]+(?P<name>\w+)")
TASK = re.compile(r"^[ \t]*# Task: (?P<text>.*)$")
CONTINUATION = re.compile(r"^[ \t]*# (?P<text>.*)$")


class EditionError(ValueError):
    """A solution region is malformed; the message names the file and line."""


@dataclass
class SolutionRegion:
    path: Path
    begin: int  # 0-based index of the BEGIN line
    end: int  # 0-based index of the END line
    function: str
    task: str


def _enclosing_name(lines, index):
    """Dotted name of the def/class blocks around line ``index`` (e.g. ``Net.loss``)."""
    names = []
    indent = len(lines[index]) - len(lines[index].lstrip())
    for line in reversed(lines[:index]):
        match = DEFINITION.match(line)
        if match and len(match["indent"].expandtabs()) < indent:
            names.append(match["name"])
            indent = len(match["indent"].expandtabs())
    return ".".join(reversed(names))


def _task_above(lines, index, path):
    """The text of the ``# Task:`` comment that ends right above line ``index``."""
    parts = []
    for line in reversed(lines[:index]):
        task = TASK.match(line)
        if task:
            parts.append(task["text"].strip())
            return " ".join(reversed(parts))
        continuation = CONTINUATION.match(line)
        if not continuation:
            break
        parts.append(continuation["text"].strip())
    raise EditionError(f"{path}:{index + 1}: a solution region needs a '# Task: ...' comment right above it")


def find_regions(path: Path) -> list[SolutionRegion]:
    """All solution regions of one file, in order."""
    lines = Path(path).read_text().splitlines(keepends=True)
    regions, begin = [], None
    for i, line in enumerate(lines):
        if BEGIN.match(line):
            if begin is not None:
                raise EditionError(f"{path}:{i + 1}: BEGIN SOLUTION inside the region opened at line {begin + 1}")
            begin = i
        elif END.match(line):
            if begin is None:
                raise EditionError(f"{path}:{i + 1}: END SOLUTION without a BEGIN SOLUTION")
            regions.append(SolutionRegion(Path(path), begin, i, _enclosing_name(lines, begin),
                                          _task_above(lines, begin, path)))
            begin = None
        elif "BEGIN SOLUTION" in line or "END SOLUTION" in line:
            raise EditionError(f"{path}:{i + 1}: a solution marker must stand alone on its line: {line.strip()!r}")
    if begin is not None:
        raise EditionError(f"{path}:{begin + 1}: BEGIN SOLUTION is never closed by END SOLUTION")
    return regions


def task_of_region(region: SolutionRegion) -> str:
    """The task a solution region belongs to; EditionError if none claims it."""
    task = COURSE.task_of_stub(region.path.name, region.function)
    if task is None:
        raise EditionError(f"{region.path}:{region.begin + 1}: the solution region of {region.function} belongs "
                           f"to no task: add '{region.path.name}:{region.function}' to a task's stubs in "
                           "coursekit/course.toml")
    return task


def stub_region(region: SolutionRegion, indent: str) -> list[str]:
    """The two lines that replace a solution region in the student edition."""
    message = f"{region.function}: {region.task} [task {task_of_region(region)}]"
    return [f"{indent}# YOUR CODE HERE\n", f"{indent}raise NotImplementedError({message!r})\n"]


def student_source(path: Path) -> str:
    """The student edition of one file's text."""
    lines = Path(path).read_text().splitlines(keepends=True)
    out, position = [], 0
    for region in find_regions(path):
        out.extend(lines[position:region.begin])
        out.extend(stub_region(region, BEGIN.match(lines[region.begin])["indent"]))
        position = region.end + 1
    out.extend(lines[position:])
    return "".join(out)


def write_student_edition(out_dir: Path, package: Path = INSTRUCTOR_PACKAGE) -> Path:
    """Write the student edition of ``package`` to ``out_dir/source_pkg`` and return that path.

    Only the package's ``.py`` files are written; an existing ``out_dir/source_pkg`` is replaced.
    """
    package = Path(package)
    target = Path(out_dir) / PACKAGE_NAME
    sources = sorted(package.rglob("*.py"))
    texts = {source.relative_to(package): student_source(source) for source in sources}
    if target.exists():
        shutil.rmtree(target)
    for relative, text in texts.items():
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        (target / relative).write_text(text)
    return target


def solution_lines(package: Path = INSTRUCTOR_PACKAGE) -> set[str]:
    """The stripped, non-blank lines that appear only inside solution regions of ``package``.

    A line that the given code also contains (``if self.use_dropout:``) reveals nothing.
    """
    inside, outside = set(), set()
    for source in sorted(Path(package).rglob("*.py")):
        lines = source.read_text().splitlines()
        in_region = [False] * len(lines)
        for region in find_regions(source):
            for i in range(region.begin, region.end + 1):
                in_region[i] = True
        for line, hidden in zip(lines, in_region):
            (inside if hidden else outside).add(line.strip())
    return {line for line in inside - outside if line and not line.startswith("### ")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="folder that receives source_pkg/")
    args = parser.parse_args(argv)
    try:
        target = write_student_edition(args.out_dir)
    except EditionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote the student edition to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
