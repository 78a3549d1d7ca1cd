"""The submitted notebook's cells as HTML for the feedback page.

Markdown is rendered, code highlighted, outputs shown as text and images only (no HTML or
scripts from the notebook), server paths cut down. Autograded cells point at their task's
results instead of repeating the grader's report; the read-only graded-code cells are left to
the page's code section.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from nbconvert.filters import markdown2html
from nbformat import NotebookNode
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from ..manifest import COURSE
from .evidence import GRADED_CODE_TAG, NOTEBOOK_KEY
from .verdict_view import scrub_paths

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_GRADER_ERRORS = ("HiddenChecksFailed",)


@dataclass
class CellView:
    kind: str  # markdown, code, autograded, manual
    html: str
    grade_id: str = ""


_ANCHOR = re.compile(r'<a class="anchor-link"[^>]*>.*?</a>')
_HEADING_TAG = re.compile(r"<(/?)h([1-6])\b")


def markdown_html(source: str, shift: int = 0) -> str:
    """Markdown (with $math$ left for MathJax) as HTML, headings ``shift`` levels down, no anchor marks."""
    rendered = _ANCHOR.sub("", markdown2html(source))
    return _HEADING_TAG.sub(lambda m: f"<{m[1]}h{min(6, int(m[2]) + shift)}", rendered) if shift else rendered


def _pre(text: str, css: str, label: str = "") -> str:
    heading = f'<span class="output-label">{html.escape(label)}</span>' if label else ""
    return f'<div class="output {css}">{heading}<pre>{html.escape(scrub_paths(_ANSI.sub("", text)))}</pre></div>'


def output_html(output: dict, figure: int) -> tuple[str, int]:
    """One output as HTML; returns it and the number of the next figure."""
    kind = output.get("output_type")
    if kind == "stream":
        text = "".join(output.get("text", ""))
        return _pre(text, f"stream {output.get('name', 'stdout')}",
                    "printed to stderr" if output.get("name") == "stderr" else ""), figure
    if kind == "error":
        if output.get("ename") in _GRADER_ERRORS:
            return "", figure
        lines = output.get("traceback") or [f"{output.get('ename')}: {output.get('evalue')}"]
        return _pre("\n".join(lines), "error", "error"), figure
    data = output.get("data", {})
    label = output.get("metadata", {}).get(NOTEBOOK_KEY, {}).get("label")
    if label:
        return f'<p class="submitted-label">{html.escape("".join(data.get("text/plain", "")))}</p>', figure
    for mime in ("image/png", "image/jpeg"):
        if mime in data:
            payload = "".join(data[mime]).replace("\n", "")
            alt = f"Figure {figure} of the notebook, as it was output by this cell"
            return (f'<figure class="output"><img src="data:{mime};base64,{payload}" alt="{alt}">'
                    f"<figcaption>Figure {figure}</figcaption></figure>", figure + 1)
    if "text/plain" in data:
        return _pre("".join(data["text/plain"]), "result"), figure
    return "", figure


def _code_html(source: str) -> str:
    return highlight(source or "\n", PythonLexer(), HtmlFormatter(cssclass="code", wrapcode=True))


def cell_views(nb: NotebookNode, task_titles: dict[str, str]) -> list[CellView]:
    """Every cell of the notebook worth showing, in order."""
    manual = {part.grade_cell for assignment in COURSE.assignments for part in assignment.manual}
    views, figure = [], 1
    for cell in nb.cells:
        meta = cell.get("metadata", {})
        if GRADED_CODE_TAG in meta.get("tags", []):
            continue
        grade_id = meta.get("nbgrader", {}).get("grade_id", "")
        if cell.cell_type == "markdown":
            kind = "manual" if grade_id in manual else "markdown"
            views.append(CellView(kind, markdown_html(cell.source, shift=2), grade_id))
            continue
        if cell.cell_type != "code":
            continue
        parts = [f'<div class="input">{_code_html(cell.source)}</div>']
        if grade_id in COURSE.cell_tasks:
            task = COURSE.cell_tasks[grade_id]
            parts.append(f'<p class="graded-note">Graded by the hidden checks of the course: see '
                         f'<a href="#task-{task}">{html.escape(task_titles.get(task, task))}</a> above.</p>')
            views.append(CellView("autograded", "".join(parts), grade_id))
            continue
        for output in cell.get("outputs", []):
            rendered, figure = output_html(output, figure)
            parts.append(rendered)
        views.append(CellView("code", "".join(parts), grade_id))
    return views
