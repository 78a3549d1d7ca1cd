"""``nbgrader generate_feedback``'s steps: one page per student that works with no network.

``FeedbackPage`` (after nbgrader's ``GetGrades``) gathers what the page shows from the
submission's ``Verdict`` (``<notebook>.verdict.json``), the graded code kept in the notebook by
autograde, the gradebook's scores and comments, and the notebook's own outputs.
``FeedbackExporter`` renders it with the course's template whatever template the caller asked
for (formgrader's "Generate Feedback" asks for nbgrader's) and typesets its formulas into SVG
(``typeset``), so the page runs no script. Where Node.js or the npm packages are missing, the
page carries MathJax inlined instead (about 2.4 MB more) and a warning says why.
"""

from __future__ import annotations

import html
import importlib.metadata
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from nbconvert.exporters import HTMLExporter
from nbformat import NotebookNode
from nbconvert.preprocessors import Preprocessor
from nbgrader.preprocessors import GetGrades
from pygments.formatters import HtmlFormatter
from traitlets import Bool, Unicode, default
from traitlets.config import Config

from ..book_address import public_book_url
from ..grading.notebook_run import process_ending
from ..grading.verdict import Verdict, VerdictError, verdict_path
from ..limits import LIMITS
from ..manifest import COURSE
from .cells import cell_views, markdown_html
from .code import diff_html, highlighted, stub_sources, task_functions
from .evidence import NOTEBOOK_KEY, shown_files
from .typeset import missing_part, typeset_page
from .verdict_view import TaskView, verdict_views

TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "dropout_feedback"
MATHJAX = ("sphinx-mathjax-offline", "sphinx-mathjax-offline/static/mathjax/tex-svg-full.js")
FEEDBACK_KEY = "dropout_feedback"
KERNEL_NOTES = {"died": "The notebook's kernel died (KernelDied{exit}) while autograde ran your notebook; the cells "
                        "after that were not run. The points come from the hidden checks either way.",
                "cell-timeout": "A cell of your notebook did not finish in time while autograde ran it; the "
                                "cells after it were not run. The points come from the hidden checks either way.",
                "notebook-time": "Your notebook {reason}, the course's time for running all its cells, while "
                                 "autograde ran it; the cells after that were not run. The points come from the "
                                 "hidden checks either way."}


class FeedbackError(RuntimeError):
    """The feedback page cannot be made; the message says what is missing."""


@lru_cache(maxsize=1)
def mathjax_source() -> str:
    """MathJax 3 (TeX input, SVG output, every TeX package) from the sphinx-mathjax-offline wheel."""
    try:
        path = Path(importlib.metadata.distribution(MATHJAX[0]).locate_file(MATHJAX[1]))
        text = path.read_text(encoding="utf-8")
    except (importlib.metadata.PackageNotFoundError, OSError) as error:
        raise FeedbackError(f"MathJax for the offline feedback page not found ({MATHJAX[1]} of the "
                            f"{MATHJAX[0]} package): install the project's 'grading' extra ({error})") from error
    return text.replace("</script", "<\\/script")


@dataclass
class ManualView:
    title: str
    question_html: str
    answer_html: str
    score: float | None
    points: float
    comment_html: str


@dataclass
class FileView:
    name: str
    diff_html: str
    code_html: str


@dataclass
class Feedback:
    """Everything the template shows."""

    student: str
    assignment: str
    score: float
    max_score: float
    late_penalty: float
    tasks: list[TaskView]
    functions: dict[str, list[tuple[str, str]]]  # task -> [(function label, highlighted html)]
    manual: list[ManualView]
    files: list[FileView]
    unchanged_files: list[str]
    cells: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    book_url: str = ""
    mathjax: str = ""


def _graded_files(nb: NotebookNode, folder: Path, notes: list[str]) -> dict[str, str]:
    files = nb.metadata.get(NOTEBOOK_KEY, {}).get("graded_files")
    if isinstance(files, dict):
        return {str(k): str(v) for k, v in files.items()}
    package = folder / COURSE.package
    notes.append("This submission was graded before the course kept the graded code in the notebook: the code "
                 "below is the copy in the graded folder.")
    return {p.name: p.read_text(errors="replace") for p in sorted(package.glob("*.py"))} if package.is_dir() else {}


def _marked_lines(task: TaskView, file: str) -> set[int]:
    return {loc.line for check in task.checks for loc in check.locations if loc.file == file}


_BLOCKS = re.compile(r"\n\s*\n")


def question_only(markdown: str) -> str:
    """The question of a Markdown cell that may open with its section's heading and introduction.

    The question starts at the first paragraph after the cell's last heading that opens in bold
    (``**Inline question 2 (5 points).**``); without one, right after that heading.
    """
    blocks = [b for b in _BLOCKS.split(markdown.strip()) if b.strip()]
    headings = [i for i, block in enumerate(blocks) if block.lstrip().startswith("#")]
    after = headings[-1] + 1 if headings and headings[-1] + 1 < len(blocks) else 0
    bold = [i for i in range(after, len(blocks)) if blocks[i].lstrip().startswith("**")]
    return "\n\n".join(blocks[bold[0] if bold else after:])


def _manual_views(nb: NotebookNode) -> list[ManualView]:
    parts = {part.grade_cell: part for assignment in COURSE.assignments for part in assignment.manual}
    views, previous = [], ""
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        part = parts.get(meta.get("grade_id"))
        if part is not None:
            comment = meta.get("comment") or ""
            views.append(ManualView(part.title, markdown_html(question_only(previous), shift=3), markdown_html(cell.source, shift=3),
                                    None if meta.get("pending") else meta.get("score"),
                                    float(meta.get("points") or part.points),
                                    markdown_html(comment) if comment else ""))
        elif cell.cell_type == "markdown":
            previous = cell.source
    return views


class FeedbackPage(Preprocessor):
    """Gather the page's content into ``resources['dropout_feedback']``."""

    enabled = Bool(True)
    book_url = Unicode(help="the book's public address (default: html.baseurl of _config.yml); without one "
                            "the page carries each mistake's section").tag(config=True)

    @default("book_url")
    def _book_url_default(self) -> str:
        return public_book_url()

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        """Build the Feedback of this submission."""
        grading = resources.get("nbgrader", {})
        folder = Path(resources.get("metadata", {}).get("path") or ".")
        notebook = grading.get("notebook") or COURSE.assignment_named(grading.get("assignment", "")).notebook
        notes: list[str] = []
        try:
            verdict = Verdict.load(verdict_path(folder, notebook))
        except VerdictError:
            verdict = Verdict()
            notes.append("No verdict of the hidden checks was saved for this submission: ask your instructor.")
        if verdict.kernel in KERNEL_NOTES:
            notes.append(KERNEL_NOTES[verdict.kernel].format(
                reason=LIMITS.notebook_time_reason(verdict.notebook_seconds),
                exit=f": {process_ending(verdict.kernel_exit)}" if verdict.kernel_exit else ""))
        checks_hit = LIMITS.reasons_in([check.message for check in verdict.checks])
        for reason in checks_hit:
            notes.append(f"Your code was stopped because it {reason}, a limit of the course's grading.")
        for reason in [r for r in verdict.notebook_limits if r not in checks_hit]:
            notes.append(f"A cell of your notebook was stopped because it {reason}, a limit of the course's grading.")
        if verdict.kernel == "not run":
            notes.append("Autograde did not run this notebook's cells: the outputs shown are the ones you submitted.")
        book_url = self.book_url.rstrip("/")
        tasks = verdict_views(verdict, book_url)
        files = _graded_files(nb, folder, notes)
        functions = {}
        for task in tasks:
            if task.id in COURSE.task_ids:
                functions[task.id] = [
                    (f"{COURSE.package}/{f.file}: {f.name}",
                     highlighted(f.text, f.first_line, _marked_lines(task, f.file)) if f.text else
                     f'<p class="note">{html.escape(f.name)} is not in your {html.escape(f.file)}.</p>')
                    for f in task_functions(task.id, files)]
        stubs = stub_sources()
        shown, unchanged = shown_files(files, stubs)
        file_views = [FileView(name, diff_html(stubs.get(name, ""), files[name], name), highlighted(files[name]))
                      for name in shown]
        missing = missing_part()
        if missing:
            self.log.warning("Feedback pages carry MathJax inlined (about 2.4 MB each): %s", missing)
        resources[FEEDBACK_KEY] = Feedback(
            student=grading.get("student", ""), assignment=grading.get("assignment", ""),
            score=float(grading.get("score") or 0), max_score=float(grading.get("max_score") or 0),
            late_penalty=float(grading.get("late_penalty") or 0), tasks=tasks, functions=functions,
            manual=_manual_views(nb), files=file_views, unchanged_files=unchanged, cells=cell_views(nb, {t.id: t.title for t in tasks}),
            notes=notes, book_url=book_url, mathjax=mathjax_source() if missing else "")
        resources["dropout_feedback_code_css"] = HtmlFormatter(style="default").get_style_defs(".code")
        return nb, resources


class FeedbackExporter(HTMLExporter):
    """nbconvert's HTML exporter, always with the course's feedback template."""

    def __init__(self, config: Config | None = None, **kwargs: Any) -> None:
        parent = kwargs.get("parent")
        config = Config(config if config is not None else getattr(parent, "config", None) or {})
        # This class's own section outranks HTMLExporter's, which callers set to nbgrader's template.
        config.FeedbackExporter.template_name = TEMPLATE_NAME
        config.FeedbackExporter.extra_template_basedirs = [str(TEMPLATES)]
        super().__init__(config=config, **kwargs)

    def from_notebook_node(self, nb: NotebookNode, resources: dict | None = None, **kw: Any) -> tuple[str, dict]:
        """The page, its formulas typeset unless it carries MathJax itself."""
        output, resources = super().from_notebook_node(nb, resources, **kw)
        feedback = resources.get(FEEDBACK_KEY)
        if feedback is None or feedback.mathjax:
            return output, resources
        typeset = typeset_page(output)
        if typeset.errors:
            self.log.warning("Feedback for %s: MathJax could not read %s", feedback.student,
                             "; ".join(f"${tex}$" for tex in typeset.errors))
        return typeset.html, resources


class GetGradesAndStatus(GetGrades):
    """nbgrader's GetGrades, also noting whether a hand-graded cell still waits for its grader."""

    def _get_score(self, cell: NotebookNode, resources: dict) -> None:
        super()._get_score(cell, resources)
        grade = self.gradebook.find_grade(cell.metadata["nbgrader"]["grade_id"], self.notebook_id,
                                          self.assignment_id, self.student_id)
        cell.metadata.nbgrader["pending"] = bool(grade.needs_manual_grade and grade.manual_score is None)


def feedback_preprocessors() -> list[type]:
    """generate_feedback's steps: nbgrader's GetGrades (scores, comments, pending), then the page's content."""
    return [GetGradesAndStatus, FeedbackPage]
