"""The course manifest (``coursekit/course.toml``), read and checked once.

A course lists its assignments (``COURSE.assignments``, in manifest order) and each assignment
its tasks and hand-graded parts (``COURSE.assignment_named(name)``). Every list of assignments,
tasks, grade cells, points, task folders, stubs, book sections and mistakes in the
project derives from ``COURSE``; nothing restates them. Task ids, grade cells and mistakes are
unique course-wide, so ``COURSE.task(id)`` and ``COURSE.cell_tasks`` need no assignment. A
manifest that does not make sense stops the import with a ``ManifestError`` naming the file,
the key and the value.
A task is a folder (``folder``): its hidden checks ``test_<id>.py``, the calls they may make
into student code ``calls.py`` (run by the runner, which loads the folder's modules but never
its checks) and an ``__init__.py``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .paths import COURSE_ROOT, INSTRUCTOR_PACKAGE, MANIFEST_FILE, REPO_ROOT
from .credit import Credit, read_credit
from .mistake_table import read_mistakes
from .toml_tables import ManifestError, TableReader, unique

TASK_ID = re.compile(r"^[a-z][a-z0-9_]*$")  # a Python identifier: it is a pytest marker too
ASSIGNMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")  # nbgrader's assignment id: a folder name


@dataclass(frozen=True)
class Task:
    """One autograded part of an assignment."""

    id: str
    title: str
    grade_cell: str
    points: float
    folder: str  # the task's folder, relative to the repository
    stubs: tuple[str, ...]  # "file.py:function" of each solution region it covers
    book: str  # "page#label" of the section that teaches it
    mistakes: tuple[str, ...]
    assignment: str = ""  # the name of the assignment it belongs to

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
    assignment: str = ""  # the name of the assignment it belongs to


@dataclass(frozen=True)
class Assignment:
    """One assignment: its notebook, its autograded tasks and its parts graded by hand."""

    name: str  # nbgrader's assignment id: assignments/source/<name>/
    notebook: str  # assignments/source/<name>/<notebook>.ipynb
    title: str
    package: str  # the package students complete, beside the notebook
    tasks: tuple[Task, ...]
    manual: tuple[ManualPart, ...]

    @property
    def task_ids(self) -> tuple[str, ...]:
        return tuple(task.id for task in self.tasks)

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

    def student_files(self, package_dir: Path = INSTRUCTOR_PACKAGE) -> list[str]:
        """The files students hand in, relative to the assignment folder: the package's modules."""
        return sorted(f"{self.package}/{path.relative_to(package_dir).as_posix()}"
                      for path in Path(package_dir).rglob("*.py") if "__pycache__" not in path.parts)


@dataclass(frozen=True)
class Course:
    assignments: tuple[Assignment, ...]  # in manifest order
    package: str
    course_id: str
    mistakes_page: str
    tasks: tuple[Task, ...]  # every assignment's, assignment by assignment
    mistakes: dict[str, str]  # id -> title
    credit: Credit | None = None
    mistake_pages: dict[str, str] | None = None  # id -> the page of its section; None: all on mistakes_page

    @property
    def assignment_names(self) -> tuple[str, ...]:
        return tuple(assignment.name for assignment in self.assignments)

    def assignment_named(self, name: str) -> Assignment:
        """The assignment called ``name``; a KeyError lists the manifest's assignments."""
        for assignment in self.assignments:
            if assignment.name == name:
                return assignment
        raise KeyError(f"unknown assignment {name!r}; the manifest's assignments: {', '.join(self.assignment_names)}")

    @property
    def task_ids(self) -> tuple[str, ...]:
        return tuple(task.id for task in self.tasks)

    @property
    def student_modules(self) -> tuple[str, ...]:
        """The package's modules every assignment's stubs name, in order (``layers.py`` -> ``layers``): what the
        runner imports from a submission."""
        files = (stub.partition(":")[0] for task in self.tasks for stub in task.stubs)
        return tuple(dict.fromkeys(file.removesuffix(".py").replace("/", ".") for file in files))

    def task(self, task_id: str) -> Task:
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise KeyError(f"unknown task {task_id!r}; the manifest's tasks: {', '.join(self.task_ids)}")

    @property
    def cell_tasks(self) -> dict[str, str]:
        """grade_id of every assignment's autograded cells -> its task (grade ids are unique course-wide)."""
        return {task.grade_cell: task.id for task in self.tasks}

    def task_of_checks(self, path: Path) -> str | None:
        """The task whose hidden-checks module is ``path``, or None."""
        path = Path(path).resolve()
        return next((task.id for task in self.tasks if task.checks_path.resolve() == path), None)

    def task_of_stub(self, file: str, function: str) -> str | None:
        """The task whose stubs include ``function`` of ``file`` (relative to the package), or None."""
        return next((task.id for task in self.tasks if f"{file}:{function}" in task.stubs), None)

    def mistake_link(self, mistake_id: str, book_url: str = "") -> str:
        """Where the book explains a mistake, relative to ``book_url`` (the site's root)."""
        return _join(book_url, f"{self.mistake_page(mistake_id)}.html#{mistake_id}")

    def mistake_page(self, mistake_id: str) -> str:
        """The book page whose section (anchor: the id) explains the mistake."""
        if mistake_id not in self.mistakes:
            raise KeyError(f"unknown mistake id {mistake_id!r}; known: {', '.join(self.mistakes)}")
        return (self.mistake_pages or {}).get(mistake_id, self.mistakes_page)


def _join(book_url: str, relative: str) -> str:
    return f"{book_url.rstrip('/')}/{relative}" if book_url else relative


TASK_KEYS = {"id", "assignment", "title", "grade_cell", "points", "folder", "stubs", "book", "mistakes"}
MANUAL_KEYS = {"assignment", "grade_cell", "title", "points"}
COURSE_KEYS = {"package", "course_id", "mistakes_page"}
ASSIGNMENT_KEYS = {"name", "notebook", "title"}


def load(path: Path = MANIFEST_FILE, course_root: Path = COURSE_ROOT) -> Course:
    """Read and check the manifest at ``path``; notebooks are looked for under ``course_root``."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ManifestError(f"{path}: cannot read the course manifest: {error}") from error
    except tomllib.TOMLDecodeError as error:
        raise ManifestError(f"{path}: not valid TOML: {error}") from error

    if "assignment" in data and not isinstance(data["assignment"], list):
        raise ManifestError(f"{path}: [assignment] is a single table: the course's keys go to [course], "
                            "each assignment to an [[assignment]] table (name, notebook, title)")
    course = TableReader(path, data.get("course") or {}, "[course]")
    course.unknown_keys(COURSE_KEYS)
    mistakes, mistake_pages = read_mistakes(path, data.get("mistakes"), course.text("mistakes_page"))

    headers = []
    for index, table in enumerate(data.get("assignment") or []):
        reader = TableReader(path, table, f"[[assignment]] #{index + 1}")
        reader.unknown_keys(ASSIGNMENT_KEYS)
        name, notebook = reader.text("name", ASSIGNMENT_NAME), reader.text("notebook")
        if not (Path(course_root) / "source" / name / f"{notebook}.ipynb").is_file():
            raise reader.fail("notebook", f"no such file {Path(course_root) / 'source' / name / f'{notebook}.ipynb'}")
        headers.append((name, notebook, reader.text("title")))
    if not headers:
        raise ManifestError(f"{path}: no [[assignment]]: the course needs at least one assignment")
    unique(path, "[[assignment]] name", [name for name, _, _ in headers])
    names = [name for name, _, _ in headers]

    tasks = []
    for index, table in enumerate(data.get("task") or []):
        reader = TableReader(path, table, f"[[task]] #{index + 1}")
        reader.unknown_keys(TASK_KEYS)
        task = Task(id=reader.text("id", TASK_ID), title=reader.text("title"),
                    grade_cell=reader.text("grade_cell"), points=reader.number("points"),
                    folder=reader.text("folder"), stubs=reader.texts("stubs"), book=reader.text("book"),
                    mistakes=reader.texts("mistakes") if "mistakes" in table else (),
                    assignment=_assignment_of(reader, names))
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
        reader = TableReader(path, table, f"[[manual]] #{index + 1}")
        reader.unknown_keys(MANUAL_KEYS)
        manual.append(ManualPart(grade_cell=reader.text("grade_cell"), title=reader.text("title"),
                                 points=reader.number("points"), assignment=_assignment_of(reader, names)))

    unique(path, "[[task]] id", [t.id for t in tasks])
    unique(path, "grade_cell", [t.grade_cell for t in tasks] + [m.grade_cell for m in manual])
    unique(path, "[[task]] folder", [t.folder for t in tasks])
    unique(path, "[[task]] stubs", [s for t in tasks for s in t.stubs])
    package = course.text("package")
    assignments = []
    for name, notebook, title in headers:
        mine = tuple(t for t in tasks if t.assignment == name)
        if not mine:
            raise ManifestError(f"{path}: [[assignment]] {name!r} has no [[task]] with assignment = {name!r}")
        assignments.append(Assignment(name=name, notebook=notebook, title=title, package=package, tasks=mine,
                                      manual=tuple(m for m in manual if m.assignment == name)))
    return Course(assignments=tuple(assignments), package=package, course_id=course.text("course_id"),
                  mistakes_page=course.text("mistakes_page"),
                  tasks=tuple(task for assignment in assignments for task in assignment.tasks),
                  mistakes=mistakes, credit=read_credit(path, data.get("credit"), mistakes),
                  mistake_pages=mistake_pages)


# What a task's folder must hold besides its checks, and why.
FOLDER_FILES = {"calls.py": "the calls its checks may make into student code",
                "__init__.py": "it names the checks module hidden.<id>.test_<id>, apart from tests/test_<id>.py"}


def _check_folder(reader: TableReader, task: Task) -> None:
    """Refuse a task whose folder is missing, or lacks its checks or the files beside them."""
    if not task.folder_path.is_dir():
        raise reader.fail("folder", f"no such folder {task.folder_path}")
    needed = {task.checks_path.name: "the task's hidden checks", **FOLDER_FILES}
    for name, what in needed.items():
        if not (task.folder_path / name).is_file():
            raise reader.fail("folder", f"the folder holds no {name} ({what})")


def _assignment_of(reader: TableReader, names: list[str]) -> str:
    """The ``assignment`` key of a [[task]] or [[manual]]: one of the [[assignment]] names."""
    name = reader.text("assignment")
    if name not in names:
        raise reader.fail("assignment", f"no [[assignment]] is named {name!r}; the manifest's: {', '.join(names)}")
    return name


COURSE = load()
