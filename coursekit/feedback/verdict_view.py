"""A submission's ``Verdict`` as the feedback page shows it: tasks, checks, mistakes, book sections.

Everything comes from the verdict and the course manifest; nothing of the grader's inside (the
checks' code, their inputs, the judge's tracebacks, server paths) is in a ``CheckResult``'s
student-facing fields, and paths that slip into a message are cut down to the student's file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..grading.verdict import CheckResult, TaskVerdict, Verdict
from ..manifest import COURSE
from .book import book_reference, mistake_chapter, mistake_section
from .code import CheckLocation, locations_in_message

# Optional fields a CheckResult may carry about the student's own exception (issue 13).
LOCATION_FIELDS = (("student_file", "student_line", "student_source"), ("file", "line", "source_line"))


@dataclass
class MistakeView:
    id: str
    title: str
    href: str  # the book's public address of the section, or ""
    where: str  # the section's place in the book when there is no address
    section_markdown: str  # the section's text, shown when there is no address
    chapter: str = "Common mistakes"  # the title of the book page that explains it


@dataclass
class CheckView:
    name: str
    passed: bool
    points: float
    message: str
    same_as: str = ""  # the earlier check whose message this one repeats
    mistake: MistakeView | None = None
    locations: list[CheckLocation] = field(default_factory=list)


@dataclass
class TaskView:
    id: str
    title: str
    points: float
    max_points: float
    checks: list[CheckView]
    book_href: str
    book_where: str


_PATH = re.compile(r"(?:/[^\s/'\"]+)+?/(?P<tail>" + re.escape(COURSE.package) + r"/[\w./-]+|[\w.-]+\.py)")


def scrub_paths(text: str) -> str:
    """Absolute paths cut to what the student knows: ``/srv/.../source_pkg/layers.py`` -> ``source_pkg/layers.py``;
    other absolute paths of the grading machine vanish."""
    text = _PATH.sub(lambda m: m["tail"], text or "")
    return re.sub(r"(?<![\w.])/(?:[\w.-]+/){2,}[\w.-]*", "…", text)


def check_locations(check: CheckResult) -> list[CheckLocation]:
    """Where the student's code raised, from the optional fields when present, else from the message."""
    for file_field, line_field, source_field in LOCATION_FIELDS:
        file, line = getattr(check, file_field, None), getattr(check, line_field, None)
        if file and isinstance(line, int):
            return [CheckLocation(str(file).rsplit("/", 1)[-1], line, str(getattr(check, source_field, "") or ""))]
    return locations_in_message(check.message)


def mistake_view(mistake: str, book_url: str) -> MistakeView:
    href, where = book_reference(COURSE.mistake_link(mistake), book_url)
    return MistakeView(mistake, COURSE.mistakes.get(mistake, mistake), href, where,
                       "" if href else mistake_section(mistake), mistake_chapter(mistake))


def task_view(verdict: TaskVerdict, book_url: str) -> TaskView:
    """The view of one task's verdict; a check repeating an earlier message says so instead."""
    known = verdict.task in COURSE.task_ids
    task = COURSE.task(verdict.task) if known else None
    href, where = book_reference(task.book_link(), book_url) if task else ("", "")
    said: dict[str, str] = {}
    checks = []
    for check in verdict.checks:
        view = CheckView(check.name, check.passed, check.points, scrub_paths(check.message))
        if not check.passed:
            if check.message in said:
                view.same_as = said[check.message]
            said.setdefault(check.message, check.name)
            if check.mistake and check.mistake in COURSE.mistakes:
                view.mistake = mistake_view(check.mistake, book_url)
            view.locations = check_locations(check)
        checks.append(view)
    return TaskView(verdict.task, task.title if task else verdict.task, verdict.points, verdict.max_points,
                    checks, href, where)


def verdict_views(verdict: Verdict, book_url: str) -> list[TaskView]:
    """Every task of the verdict, in the manifest's order."""
    order = {task: i for i, task in enumerate(COURSE.task_ids)}
    views = [task_view(v, book_url) for _, v in sorted(verdict.tasks.items(), key=lambda kv: order.get(kv[0], 99))]
    shown: set[str] = set()
    for check in (c for view in views for c in view.checks if c.mistake):
        if check.mistake.id in shown:
            check.mistake.section_markdown = ""  # the page carries each section once
        shown.add(check.mistake.id)
    return views
