"""The book's table of mistakes (book/assignment.md), generated from the fault catalogue.

For each mistake of the first assignment's tasks in the course manifest: its title (linked to its section of the mistakes
page), what the feedback says (the recorded message of the catalogue entry that shows it; no
message names the checks' inputs, coursekit/grading/disclosure.py) and what that entry lost per task.
The messages and points come from feedback.json, which tests/test_grading_faults.py keeps equal
to what the judge says today. The credit figures come from tests/faults/credit.py.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from html import escape
from pathlib import Path

from coursekit.manifest import COURSE

DROPOUT = COURSE.assignment_named("dropout")  # the assignment these tests grade
FEEDBACK_FILE = Path(__file__).resolve().with_name("feedback.json")


def rows() -> list[tuple[str, str, str]]:
    """(mistake link in HTML, what the feedback says, points it cost) per mistake of the first
    assignment's tasks, in manifest order."""
    feedback = json.loads(FEEDBACK_FILE.read_text())
    cells = {task.grade_cell: task for task in DROPOUT.tasks}
    named = {mistake for task in DROPOUT.tasks for mistake in task.mistakes}
    table = []
    for mistake, title in COURSE.mistakes.items():
        if mistake not in named:
            continue
        entry = feedback.get(mistake)
        if entry is None:
            raise KeyError(f"{FEEDBACK_FILE}: no recorded feedback for the mistake {mistake!r}")
        cost = ", ".join(f"{lost:g} of {cells[cell].points:g} ({cells[cell].title})"
                         for cell, lost in sorted(entry["cost"].items()))
        table.append((f'<a href="mistakes.html#{mistake}">{escape(title)}</a>', entry["message"], cost))
    return table


def html_table() -> str:
    """The table as HTML (a notebook output: Markdown tables and roles are not parsed there)."""
    body = "".join(f"<tr><td>{link}</td><td>{escape(text)}</td><td>{escape(cost)}</td></tr>"
                   for link, text, cost in rows())
    return ("<table class=\"table\"><thead><tr><th>Mistake</th><th>What the feedback says</th>"
            f"<th>Points it cost the catalogue's example</th></tr></thead><tbody>{body}</tbody></table>")


def credit_markdown() -> str:
    """The credit policy of the manifest, as a Markdown list."""
    credit = COURSE.credit
    items = [f"- `{check.removeprefix('test_')}` needs: {behaviour}" for check, behaviour in credit.presupposes.items()]
    incidental = ", ".join(COURSE.mistakes[mistake] for mistake in credit.incidental)
    return (f"{credit.rule}\n\n" + "\n".join(items)
            + f"\n\nIncidental mistakes, which cost only their property's points: {incidental}.")


def _sibling(name: str):
    """A module of tests/faults, loaded by path (this module is loaded by path from the book)."""
    spec = importlib.util.spec_from_file_location(f"dropout_faults_{name}", FEEDBACK_FILE.with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def figures_markdown() -> str:
    """The credit figures on the catalogue, as a Markdown list."""
    catalogue = _sibling("catalogue")
    found = _sibling("credit").figures(catalogue.FAULTS, catalogue.BROKEN)
    return "\n".join(f"- {line[0].upper()}{line[1:]}." for line in found.lines())
