"""Autograde steps that keep the student's evidence in the graded notebook.

``KeepSubmittedOutputs`` (nbgrader's sanitize pass, before ``ClearOutput``) files each cell's
submitted outputs away in the cell's metadata; ``RestoreSubmittedOutputs`` (after the notebook
ran, or did not) puts them back, labelled, so the experiment's numbers and figures the inline
questions ask about are what formgrader and the feedback show. ``GradedCodeCells`` appends
read-only cells with the package as it was graded (copied before any notebook code ran) and its
diff against the stub; they are not graded cells and change no score.
"""

from __future__ import annotations

import base64
import binascii
import re

from nbformat import NotebookNode
from nbformat.v4 import new_markdown_cell, new_output
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer

from ..grading.notebook_run import GRADED_FILES_KEY
from ..manifest import COURSE
from .code import diff_text, stub_sources

SUBMITTED_KEY = "dropout_submitted_outputs"  # cell metadata, between the two passes only
NOTEBOOK_KEY = "dropout"  # notebook metadata: {"graded_files": {name: text}}
GRADED_CODE_TAG = "graded-code"
KEPT_MIME = ("text/plain", "image/png", "image/jpeg")  # nothing that runs in a grader's browser
SUBMITTED_LABEL = "As submitted (the student's own run, kept by autograde):"
RERUN_LABEL = ("The outputs above come from autograde's run of this cell. As submitted "
               "(the student's own run, kept by autograde):")


def _is_autograded(cell: NotebookNode) -> bool:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") in COURSE.cell_tasks


def _kept(output: dict, max_text: int, max_image: int) -> dict | None:
    kind = output.get("output_type")
    if kind == "stream":
        return {"output_type": "stream", "name": output.get("name", "stdout"),
                "text": "".join(output.get("text", ""))[:max_text]}
    if kind == "error":
        return {"output_type": "error", "ename": str(output.get("ename", ""))[:200],
                "evalue": str(output.get("evalue", ""))[:max_text], "traceback": []}
    if kind in ("display_data", "execute_result"):
        data = {}
        for mime in KEPT_MIME:
            value = output.get("data", {}).get(mime)
            value = "".join(value) if isinstance(value, list) else value
            if not isinstance(value, str):
                continue
            if mime.startswith("image/"):
                try:
                    if len(base64.b64decode(value, validate=False)) > max_image:
                        continue
                except (binascii.Error, ValueError):
                    continue
                data[mime] = value
            else:
                data[mime] = value[:max_text]
        return {"output_type": "display_data", "data": data, "metadata": {}} if data else None
    return None


class KeepSubmittedOutputs(NbGraderPreprocessor):
    """Before nbgrader clears outputs: file each cell's submitted outputs (text and images) away."""

    max_text = Integer(20000, help="characters kept of one submitted text output").tag(config=True)
    max_image = Integer(2_000_000, help="bytes kept of one submitted image").tag(config=True)

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple[NotebookNode, dict]:
        """Copy the outputs of a code cell that the hidden checks do not grade into its metadata."""
        if cell.cell_type == "code" and not _is_autograded(cell):
            kept = [k for k in (_kept(o, self.max_text, self.max_image) for o in cell.get("outputs", [])) if k]
            if kept:
                cell.metadata[SUBMITTED_KEY] = kept
        return cell, resources


def _text_of(outputs: list) -> list[str]:
    """What a reader compares between two runs: texts, and one marker per image."""
    seen = []
    for output in outputs:
        if output.get("output_type") == "stream":
            seen.append("".join(output.get("text", "")).strip())
        elif output.get("output_type") == "error":
            seen.append(f"{output.get('ename')}: {output.get('evalue')}")
        else:
            data = output.get("data", {})
            seen.append("<image>" if any(m.startswith("image/") for m in data) else
                        "".join(data.get("text/plain", "")).strip())
    return [s for s in seen if s]


def _label(text: str) -> NotebookNode:
    return new_output("display_data", data={"text/plain": text, "text/html": f'<p class="submitted-label"><strong>{text}'
                                                                             "</strong></p>"},
                      metadata={NOTEBOOK_KEY: {"label": "submitted"}})


class RestoreSubmittedOutputs(NbGraderPreprocessor):
    """After execution: the submitted outputs back in their cells, labelled; beside re-run ones that differ."""

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple[NotebookNode, dict]:
        """Restore one cell's submitted outputs."""
        submitted = cell.get("metadata", {}).pop(SUBMITTED_KEY, None)
        if not submitted or cell.cell_type != "code":
            return cell, resources
        submitted = [new_output(**o) if o["output_type"] != "error" else new_output(
            "error", ename=o["ename"], evalue=o["evalue"], traceback=[f"{o['ename']}: {o['evalue']}"])
            for o in submitted]
        rerun = [o for o in cell.outputs if o.get("metadata", {}).get(NOTEBOOK_KEY) is None]
        if not _text_of(rerun) or all(o.get("output_type") == "stream" and "without running its cells"
                                      in "".join(o.get("text", "")) for o in rerun):
            cell.outputs = list(cell.outputs) + [_label(SUBMITTED_LABEL), *submitted]
        elif _text_of(rerun) != _text_of(submitted):
            cell.outputs = list(cell.outputs) + [_label(RERUN_LABEL), *submitted]
        return cell, resources


def _fenced(text: str, language: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"


def shown_files(files: dict[str, str], stubs: dict[str, str]) -> tuple[list[str], list[str]]:
    """(files worth showing: the tasks' files and every changed one, files unchanged from the stub)."""
    task_files = {stub.partition(":")[0] for task in COURSE.tasks for stub in task.stubs}
    shown = [n for n in sorted(files) if n in task_files or files[n] != stubs.get(n)]
    return shown, [n for n in sorted(files) if n not in shown]


def graded_code_cells(files: dict[str, str]) -> list[NotebookNode]:
    """Read-only Markdown cells: each graded file and its diff against the stub."""
    stubs = stub_sources()
    note = ("## Graded code (read-only, not graded)\n\nThe package `{pkg}` as it was graded: copied before any "
            "cell of this notebook ran. These cells change no score.").format(pkg=COURSE.package)
    cells = [new_markdown_cell(note)]
    if not files:
        cells[0].source += f"\n\n**No `{COURSE.package}` was submitted.**"
    shown, unchanged = shown_files(files, stubs)
    for name in shown:
        body = f"### `{COURSE.package}/{name}`\n\n{_fenced(files[name], 'python')}"
        if name in stubs:
            diff = diff_text(stubs[name], files[name], name)
            body += f"\n\nChanges against the stub:\n\n{_fenced(diff or '(unchanged)', 'diff')}"
        cells.append(new_markdown_cell(body))
    if unchanged:
        cells.append(new_markdown_cell("Unchanged from the stub: " + ", ".join(f"`{n}`" for n in unchanged) + "."))
    for cell in cells:
        cell.metadata.update({"editable": False, "deletable": False, "tags": [GRADED_CODE_TAG]})
    return cells


class GradedCodeCells(NbGraderPreprocessor):
    """Append the graded package as read-only cells (formgrader shows them) and keep its text for the feedback."""

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        """Add the cells once; the files come from the snapshot SnapshotSubmission took."""
        files = resources.get(GRADED_FILES_KEY)
        if files is None:
            return nb, resources
        nb.cells = [c for c in nb.cells if GRADED_CODE_TAG not in c.get("metadata", {}).get("tags", [])]
        nb.cells.extend(graded_code_cells(files))
        nb.metadata[NOTEBOOK_KEY] = {"graded_files": files}
        return nb, resources
