"""The student's graded code as HTML: highlighted functions with marked lines, diffs against the stub.

Reads text only (the files were copied aside before any notebook code ran); nothing here
imports or runs student code.
"""

from __future__ import annotations

import ast
import difflib
import html
import re
from dataclasses import dataclass

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from ..editions import student_source
from ..manifest import COURSE
from ..paths import INSTRUCTOR_PACKAGE


@dataclass(frozen=True)
class FunctionCode:
    """One function of a task in the student's file: where it is and its text."""

    file: str  # relative to the package, e.g. layers.py
    name: str  # e.g. dropout_forward or FullyConnectedNet.loss
    first_line: int
    text: str  # "" when the file or the function is missing


def find_function(source: str, file: str, qualified_name: str) -> FunctionCode:
    """The function ``qualified_name`` (``Class.method`` allowed) of ``source``; empty text if absent."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return FunctionCode(file, qualified_name, 1, "")
    body: list[ast.stmt] = tree.body
    node = None
    for part in qualified_name.split("."):
        node = next((n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                     and n.name == part), None)
        if node is None:
            return FunctionCode(file, qualified_name, 1, "")
        body = node.body
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    lines = source.splitlines()[first - 1:node.end_lineno]
    return FunctionCode(file, qualified_name, first, "\n".join(lines))


def highlighted(text: str, first_line: int = 1, marked: set[int] | frozenset[int] = frozenset()) -> str:
    """``text`` as highlighted HTML with line numbers from ``first_line``; ``marked`` lines stand out."""
    formatter = HtmlFormatter(linenos="inline", linenostart=first_line, cssclass="code", wrapcode=True,
                              hl_lines=sorted(n - first_line + 1 for n in marked if n >= first_line))
    return highlight(text or "\n", PythonLexer(), formatter)


def stub_sources() -> dict[str, str]:
    """The student edition of each file of the package (what students start from)."""
    return {path.name: student_source(path) for path in sorted(INSTRUCTOR_PACKAGE.glob("*.py"))}


def diff_html(stub: str, submitted: str, file: str) -> str:
    """A unified diff of ``submitted`` against ``stub`` as HTML (added and removed lines labelled)."""
    lines = list(difflib.unified_diff(stub.splitlines(), submitted.splitlines(), f"stub/{file}",
                                      f"submitted/{file}", n=2, lineterm=""))
    if not lines:
        return '<p class="note">Unchanged from the stub.</p>'
    rows = []
    for line in lines[2:]:
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "ctx")
        label = {"add": '<span class="sr-only">added: </span>', "del": '<span class="sr-only">removed: </span>'}
        rows.append(f'<span class="diff-{kind}">{label.get(kind, "")}{html.escape(line)}</span>')
    return f'<pre class="diff">{"".join(rows)}</pre>'


def diff_text(stub: str, submitted: str, file: str) -> str:
    """The same diff as plain text (for the notebook's read-only cells)."""
    return "\n".join(difflib.unified_diff(stub.splitlines(), submitted.splitlines(), f"stub/{file}",
                                          f"submitted/{file}", n=2, lineterm=""))


@dataclass(frozen=True)
class CheckLocation:
    """A line of the student's code a check points at."""

    file: str  # relative to the package, e.g. layers.py
    line: int
    source: str = ""


_WHERE = re.compile(r"(?P<file>[\w/.-]+\.py)(?:\"?, line |:)(?P<line>\d+)")


def locations_in_message(message: str) -> list[CheckLocation]:
    """File and line named in a check's message (``layers.py, line 12`` or ``layers.py:12``)."""
    return [CheckLocation(m["file"].rsplit("/", 1)[-1], int(m["line"]))
            for m in _WHERE.finditer(message or "")]


def task_functions(task_id: str, files: dict[str, str]) -> list[FunctionCode]:
    """The functions of ``task_id`` (its manifest stubs) in the student's ``files`` (name -> text)."""
    found = []
    for stub in COURSE.task(task_id).stubs:
        file, _, name = stub.partition(":")
        found.append(find_function(files.get(file, ""), file, name))
    return found
