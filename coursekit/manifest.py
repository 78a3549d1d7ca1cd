"""The course manifest (``coursekit/course.toml``), read and checked once.

Every list of tasks, grade cells, points, task folders, stubs, book sections and mistakes in
the project derives from ``COURSE``; nothing restates them. A task is a folder (``folder``):
its hidden checks ``test_<id>.py``, the calls they may make into student code ``calls.py``
(run by the runner, which loads the folder's modules but never its checks) and an
``__init__.py``. A manifest that does not make sense stops the import with a
``ManifestError`` naming the file, the key and the value.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .paths import INSTRUCTOR_PACKAGE, MANIFEST_FILE, REPO_ROOT

TASK_ID = re.compile(r"^[a-z][a-z0-9_]*$")  # a Python identifier: it is a pytest marker too
MISTAKE_ID = re.compile(r"^[a-z][a-z0-9-]*$")  # an HTML anchor


class ManifestError(ValueError):
    """The manifest is malformed; the message names the file, the key and the value."""


@dataclass(frozen=True)
class Task:
    """One autograded part of the assignment."""

    id: str
    title: str
    grade_cell: str
    points: float
    folder: str  # the task's folder, relative to the repository
    stubs: tuple[str, ...]  # "file.py:function" of each solution region it covers
    book: str  # "page#label" of the section that teaches it
    mistakes: tuple[str, ...]

    @property
    def folder_path(self) -> Path:
        return REPO_ROOT / self.folder

    @property
    def checks_path(self) -> Path:
        """The module of hidden checks: ``test_<id>.py`` in the task's folder."""
        return self.folder_path / f"test_{self.id}.py"

    @property
    def calls_path(self) -> Path:
        """The calls the checks may make into student code: ``calls.py`` in the task's folder."""
        return self.folder_path / "calls.py"

    @property
    def runner_files(self) -> tuple[Path, ...]:
        """The folder's modules the runner may load (calls.py and what it loads): all but
        ``__init__.py`` and the checks, which student code must never see."""
        return tuple(sorted(path for path in self.folder_path.glob("*.py")
                            if not path.name.startswith("test_") and path.name != "__init__.py"))

    def book_link(self, book_url: str = "") -> str:
        """The teaching section's address, relative to ``book_url`` (the site's root)."""
        page, _, label = self.book.partition("#")
        return _join(book_url, f"{page}.html" + (f"#{label}" if label else ""))


@dataclass(frozen=True)
class ManualPart:
    """A part graded by hand (formgrader)."""

    grade_cell: str
    title: str
    points: float


@dataclass(frozen=True)
class Credit:
    """The credit policy: which behaviour each check presupposes, and its targets."""

    rule: str
    identity_max_points: float
    behaviour_kept_max: float  # mean fraction of a broken cell's points a fault of the behaviour keeps
    presupposes: dict[str, str]  # check name -> the behaviour it presupposes
    incidental: tuple[str, ...] = ()  # mistake ids that break one incidental property only


@dataclass(frozen=True)
class Course:
    assignment: str
    notebook: str
    package: str
    course_id: str
    mistakes_page: str
    tasks: tuple[Task, ...]
    manual: tuple[ManualPart, ...]
    mistakes: dict[str, str]  # id -> title
    credit: Credit | None = None

    @property
    def task_ids(self) -> tuple[str, ...]:
        return tuple(task.id for task in self.tasks)

    def task(self, task_id: str) -> Task:
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise KeyError(f"unknown task {task_id!r}; the manifest's tasks: {', '.join(self.task_ids)}")

    @property
    def student_modules(self) -> tuple[str, ...]:
        """The package's modules the stubs name, in order (``layers.py`` -> ``layers``): what the
        runner imports from a submission."""
        files = (stub.partition(":")[0] for task in self.tasks for stub in task.stubs)
        return tuple(dict.fromkeys(file.removesuffix(".py").replace("/", ".") for file in files))

    @property
    def cell_tasks(self) -> dict[str, str]:
        """grade_id of each autograded cell -> the task whose hidden checks grade it."""
        return {task.grade_cell: task.id for task in self.tasks}

    @property
    def cell_points(self) -> dict[str, float]:
        """grade_id -> points of every graded cell, autograded first, then the manual ones."""
        return {**{t.grade_cell: t.points for t in self.tasks}, **{m.grade_cell: m.points for m in self.manual}}

    @property
    def auto_points(self) -> float:
        return sum(task.points for task in self.tasks)

    @property
    def total_points(self) -> float:
        return sum(self.cell_points.values())

    def task_of_checks(self, path: Path) -> str | None:
        """The task whose hidden-checks module is ``path``, or None."""
        path = Path(path).resolve()
        return next((task.id for task in self.tasks if task.checks_path.resolve() == path), None)

    def task_of_stub(self, file: str, function: str) -> str | None:
        """The task whose stubs include ``function`` of ``file`` (relative to the package), or None."""
        return next((task.id for task in self.tasks if f"{file}:{function}" in task.stubs), None)

    def student_files(self, package_dir: Path = INSTRUCTOR_PACKAGE) -> list[str]:
        """The files students hand in, relative to the assignment folder: the package's modules."""
        return sorted(f"{self.package}/{path.relative_to(package_dir).as_posix()}"
                      for path in Path(package_dir).rglob("*.py") if "__pycache__" not in path.parts)

    def mistake_link(self, mistake_id: str, book_url: str = "") -> str:
        """Where the book explains a mistake, relative to ``book_url`` (the site's root)."""
        if mistake_id not in self.mistakes:
            raise KeyError(f"unknown mistake id {mistake_id!r}; known: {', '.join(self.mistakes)}")
        return _join(book_url, f"{self.mistakes_page}.html#{mistake_id}")


def _join(book_url: str, relative: str) -> str:
    return f"{book_url.rstrip('/')}/{relative}" if book_url else relative


class _Reader:
    """Typed access to one table of the manifest, with errors that say where."""

    def __init__(self, path: Path, table: dict, where: str):
        self.path, self.table, self.where = path, table, where

    def fail(self, key: str, problem: str) -> ManifestError:
        value = self.table.get(key, "<missing>")
        return ManifestError(f"{self.path}: {self.where}.{key} = {value!r}: {problem}")

    def text(self, key: str, pattern: re.Pattern | None = None) -> str:
        value = self.table.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "expected a non-empty string")
        if pattern is not None and not pattern.match(value):
            raise self.fail(key, f"must match {pattern.pattern}")
        return value

    def number(self, key: str) -> float:
        value = self.table.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise self.fail(key, "expected a positive number")
        return float(value)

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.table.get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(key, "expected a list of non-empty strings")
        return tuple(value)

    def unknown_keys(self, known: set[str]) -> None:
        extra = sorted(set(self.table) - known)
        if extra:
            raise ManifestError(f"{self.path}: {self.where} has unknown key(s) {', '.join(extra)}; "
                                f"known: {', '.join(sorted(known))}")


TASK_KEYS = {"id", "title", "grade_cell", "points", "folder", "stubs", "book", "mistakes"}
MANUAL_KEYS = {"grade_cell", "title", "points"}
ASSIGNMENT_KEYS = {"name", "notebook", "package", "course_id", "mistakes_page"}


def load(path: Path = MANIFEST_FILE) -> Course:
    """Read and check the manifest at ``path``."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ManifestError(f"{path}: cannot read the course manifest: {error}") from error
    except tomllib.TOMLDecodeError as error:
        raise ManifestError(f"{path}: not valid TOML: {error}") from error

    assignment = _Reader(path, data.get("assignment") or {}, "[assignment]")
    assignment.unknown_keys(ASSIGNMENT_KEYS)
    mistakes_table = data.get("mistakes")
    if not isinstance(mistakes_table, dict) or not mistakes_table:
        raise ManifestError(f"{path}: [mistakes] must map each mistake id to its title")
    mistakes_reader = _Reader(path, mistakes_table, "[mistakes]")
    mistakes = {key: mistakes_reader.text(key) for key in mistakes_table}
    for key in mistakes:
        if not MISTAKE_ID.match(key):
            raise mistakes_reader.fail(key, f"the id {key!r} must match {MISTAKE_ID.pattern} (it is an anchor)")

    tasks = []
    for index, table in enumerate(data.get("task") or []):
        reader = _Reader(path, table, f"[[task]] #{index + 1}")
        reader.unknown_keys(TASK_KEYS)
        task = Task(id=reader.text("id", TASK_ID), title=reader.text("title"),
                    grade_cell=reader.text("grade_cell"), points=reader.number("points"),
                    folder=reader.text("folder"), stubs=reader.texts("stubs"), book=reader.text("book"),
                    mistakes=reader.texts("mistakes") if "mistakes" in table else ())
        _check_folder(reader, task)
        for stub in task.stubs:
            if ":" not in stub:
                raise reader.fail("stubs", f"{stub!r} is not 'file.py:function'")
        for mistake in task.mistakes:
            if mistake not in mistakes:
                raise reader.fail("mistakes", f"{mistake!r} is not in [mistakes]")
        tasks.append(task)
    if not tasks:
        raise ManifestError(f"{path}: no [[task]]: the course needs at least one autograded task")

    manual = []
    for index, table in enumerate(data.get("manual") or []):
        reader = _Reader(path, table, f"[[manual]] #{index + 1}")
        reader.unknown_keys(MANUAL_KEYS)
        manual.append(ManualPart(grade_cell=reader.text("grade_cell"), title=reader.text("title"),
                                 points=reader.number("points")))

    _unique(path, "[[task]] id", [t.id for t in tasks])
    _unique(path, "grade_cell", [t.grade_cell for t in tasks] + [m.grade_cell for m in manual])
    _unique(path, "[[task]] folder", [t.folder for t in tasks])
    _unique(path, "[[task]] stubs", [s for t in tasks for s in t.stubs])
    return Course(assignment=assignment.text("name"), notebook=assignment.text("notebook"),
                  package=assignment.text("package"), course_id=assignment.text("course_id"),
                  mistakes_page=assignment.text("mistakes_page"), tasks=tuple(tasks), manual=tuple(manual),
                  mistakes=mistakes, credit=_credit(path, data.get("credit"), mistakes))


# What a task's folder must hold besides its checks, and why.
FOLDER_FILES = {"calls.py": "the calls its checks may make into student code",
                "__init__.py": "it names the checks module hidden.<id>.test_<id>, apart from tests/test_<id>.py"}


def _check_folder(reader: _Reader, task: Task) -> None:
    """Refuse a task whose folder is missing, or lacks its checks or the files beside them."""
    if not task.folder_path.is_dir():
        raise reader.fail("folder", f"no such folder {task.folder_path}")
    needed = {task.checks_path.name: "the task's hidden checks", **FOLDER_FILES}
    for name, what in needed.items():
        if not (task.folder_path / name).is_file():
            raise reader.fail("folder", f"the folder holds no {name} ({what})")


def _credit(path: Path, table: object, mistakes: dict[str, str]) -> Credit | None:
    """The [credit] table, or None when the manifest has none."""
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ManifestError(f"{path}: [credit] = {table!r}: expected a table")
    reader = _Reader(path, table, "[credit]")
    reader.unknown_keys({"rule", "identity_max_points", "behaviour_kept_max", "incidental", "presupposes"})
    presupposes = table.get("presupposes") or {}
    checks = _Reader(path, presupposes, "[credit.presupposes]")
    if not isinstance(presupposes, dict):
        raise reader.fail("presupposes", "expected a table: check name -> behaviour")
    kept = reader.number("behaviour_kept_max")
    if kept > 1:
        raise reader.fail("behaviour_kept_max", "expected a fraction between 0 and 1")
    incidental = reader.texts("incidental") if "incidental" in table else ()
    unknown = [mistake for mistake in incidental if mistake not in mistakes]
    if unknown:
        raise reader.fail("incidental", f"{unknown[0]!r} is not a mistake id of [mistakes]")
    return Credit(rule=reader.text("rule"), identity_max_points=reader.number("identity_max_points"),
                  behaviour_kept_max=kept, presupposes={key: checks.text(key) for key in presupposes},
                  incidental=incidental)


def _unique(path: Path, what: str, values: list[str]) -> None:
    seen = set()
    for value in values:
        if value in seen:
            raise ManifestError(f"{path}: {what} {value!r} appears twice")
        seen.add(value)


COURSE = load()
