"""The book's table of mistakes (book/assignment.md), generated from the fault catalogue.

For each mistake of the course manifest: its title (linked to its section of the mistakes
page), what the feedback says (the recorded message of the catalogue entry that shows it, up to
the measurements, which name hidden inputs) and what that entry lost per task. The messages and
points come from feedback.json, which tests/test_grading_faults.py keeps equal to what the
judge says today.
"""

from __future__ import annotations

import json
import re
from html import escape
from pathlib import Path

from coursekit.manifest import COURSE

FEEDBACK_FILE = Path(__file__).resolve().with_name("feedback.json")
# Where a message turns from what is wrong to the measurements (hidden p values, shapes, errors).
MEASUREMENTS = re.compile(r": \(drop probability\)|\s+\(they agree|\s+\(W\d|\s+\(relative errors|:\s+with p=|\s+\(relative error|: loss \d|, with p=|: dropout_forward was|"
                          r" \(neighbouring| \(by up to|: with the same|: gradients differ")


def said(message: str) -> str:
    """The part of a feedback message that says what is wrong, without the measurements."""
    message = re.sub(r"^FullyConnectedNet\([^)]*\): ", "", message)
    message = re.sub(r"(?i)\b(in test mode )?with p=[\d.]+,?\s*", lambda m: m.group(1) or "", message)
    message = re.sub(r"\(x of shape \([^)]*\) and dtype \w+, \{[^}]*\}\)", "(x, dropout_param)", message)
    message = re.sub(r"^Loss [\d.]+ instead of [\d.]+\. ", "", message)
    head = MEASUREMENTS.split(message, maxsplit=1)[0].rstrip(" .:;")
    return head + ("." if head == message.rstrip(" .") else " …")


def rows() -> list[tuple[str, str, str]]:
    """(mistake link in HTML, what the feedback says, points it cost) per mistake, in manifest order."""
    feedback = json.loads(FEEDBACK_FILE.read_text())
    cells = {task.grade_cell: task for task in COURSE.tasks}
    table = []
    for mistake, title in COURSE.mistakes.items():
        entry = feedback.get(mistake)
        if entry is None:
            raise KeyError(f"{FEEDBACK_FILE}: no recorded feedback for the mistake {mistake!r}")
        cost = ", ".join(f"{lost:g} of {cells[cell].points:g} ({cells[cell].title})"
                         for cell, lost in sorted(entry["cost"].items()))
        table.append((f'<a href="mistakes.html#{mistake}">{escape(title)}</a>', said(entry["message"]), cost))
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
    return f"{credit.rule}\n\n" + "\n".join(items)
