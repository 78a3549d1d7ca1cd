"""The plain-text report of one task's verdict, as students read it in their feedback.

One line per check, then what went wrong in each failed check: the message, where the student's
code broke (file, line and source line, when it raised), the likely mistake and where the book
explains it; then the book section that teaches the task. Titles and links come from the course
manifest.
"""

from __future__ import annotations

from ..manifest import COURSE
from .verdict import CheckResult, TaskVerdict


def _plural(points: float) -> str:
    return f"{points:g} point{'s' if points != 1 else ''}"


def where_line(check: CheckResult) -> str:
    """``  Where: source_pkg/layers.py, line 12: <source line>`` when the check names the student's code, else ""."""
    if not check.student_file:
        return ""
    line = f", line {check.student_line}" if check.student_line else ""
    source = f": {check.student_source}" if check.student_source else ""
    return f"  Where: {check.student_file}{line}{source}"


def task_report(verdict: TaskVerdict, book_url: str = "") -> str:
    """The report of ``verdict``; links are relative to ``book_url`` (the book's root)."""
    task = COURSE.task(verdict.task) if verdict.task in COURSE.task_ids else None
    title = task.title if task else verdict.task
    lines = [f"{title}: {verdict.points:g} / {verdict.max_points:g} points from the hidden checks"]
    for check in verdict.checks:
        lines.append(f"  {'✓' if check.passed else '✗'} {check.name} ({_plural(check.points)})")
    said: dict[str, str] = {}
    for check in verdict.failed:
        lines.append("")
        if check.message in said:
            lines.append(f"✗ {check.name}: for the same reason as '{said[check.message]}'.")
            continue
        said[check.message] = check.name
        lines.append(f"✗ {check.name}: {check.message}")
        if where_line(check):
            lines.append(where_line(check))
        if check.mistake:
            lines.append(f"  Likely mistake: {COURSE.mistakes[check.mistake]}. "
                         f"Read: {COURSE.mistake_link(check.mistake, book_url)}")
    if task is not None:
        lines += ["", f"The book's section on {title}: {task.book_link(book_url)}"]
    return "\n".join(lines)
