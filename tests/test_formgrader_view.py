"""Formgrader's manual grading view shows the code that was graded, read-only.

One real Jupyter server with formgrader (the server and browser of tests/test_formgrader.py, a
course of its own): a faulty submission is released, handed in and autograded with plain
nbgrader (checks only), then its manual grading view is opened in Chromium at 1280 and 390 px
with every request off 127.0.0.1 aborted. Screenshots: _build/screenshots/formgrader-graded-code-*.png.
"""

from __future__ import annotations

import nbformat
import pytest
from nbgrader.api import Gradebook

from coursekit import classroom
from coursekit.feedback.evidence import GRADED_CODE_TAG
from coursekit.manifest import COURSE
from coursekit.release import course_settings
from tests.test_formgrader import browser, new_page, pytestmark, server, shot  # noqa: F401 (fixtures, marks)

DROPOUT = COURSE.assignment_named("dropout")  # the assignment these tests grade
STUDENT, VARIANT = "ada", "vanilla-dropout"
WIDTHS = (1280, 390)
EDITABLE = "input, textarea, select, button, [contenteditable]:not([contenteditable='false'])"


@pytest.fixture(scope="module")
def view(server, browser):
    """What the grading view shows of the graded-code cells at each width, and the notebook's cells."""
    url, root, _ = server
    classroom.release_course(root)
    classroom.submit(root, STUDENT, classroom.load_catalogue().BY_NAME[VARIANT])
    classroom.nbgrader(root, "autograde", DROPOUT.name, f"--student={STUDENT}",
                       "--ResilientExecute.run_notebook=False")
    graded = nbformat.read(root / "autograded" / STUDENT / DROPOUT.name / f"{DROPOUT.notebook}.ipynb",
                           as_version=4)
    settings = course_settings(root)
    with Gradebook(settings.db_url, course_id=settings.course_id) as gradebook:
        submission = gradebook.find_submission_notebook(DROPOUT.notebook, DROPOUT.name, STUDENT).id
    seen = {}
    for width in WIDTHS:
        page = new_page(browser, url, width=width)
        page.goto(f"{url}/formgrader/submissions/{submission}")
        page.wait_for_selector("input.score", timeout=60_000)
        seen[width] = page.evaluate("""(editable) => {
            const cells = [...document.querySelectorAll('#notebook-container > .cell')];
            const first = cells.findIndex(c => /Graded code \\(read-only, not graded\\)/.test(c.innerText));
            const graded = first < 0 ? [] : cells.slice(first);
            return {cells: cells.length, scores: [...document.querySelectorAll('input.score')].map(i => i.id),
                    graded: graded.map(c => ({text: c.innerText, editable: c.querySelectorAll(editable).length,
                                              gradeCell: c.querySelector('.nbgrader_cell') !== null,
                                              shown: c.checkVisibility(), code: c.querySelectorAll('pre').length}))};
        }""", EDITABLE)
        page.locator("#notebook-container > .cell", has_text="Graded code (read-only, not graded)").scroll_into_view_if_needed()
        shot(page, f"graded-code-{width}", full_page=False)
        page.close()
    return graded, seen


def graded_code_cells(nb) -> list:
    return [c for c in nb.cells if GRADED_CODE_TAG in c.metadata.get("tags", [])]


@pytest.mark.parametrize("width", WIDTHS)
def test_the_grading_view_shows_the_graded_code(view, width):
    graded, seen = view
    shown = seen[width]["graded"]
    assert len(shown) == len(graded_code_cells(graded)) > 1
    assert seen[width]["cells"] == len(graded.cells)
    text = "\n".join(cell["text"] for cell in shown)
    assert f"{COURSE.package}/layers.py" in text and f"{COURSE.package}/fc_net.py" in text
    assert "def dropout_forward" in text and "class FullyConnectedNet" in text
    assert "+        out = x * (1 - p)" in text  # the vanilla-dropout line in the diff against the stub
    assert all(cell["shown"] for cell in shown) and sum(cell["code"] for cell in shown) >= 2


@pytest.mark.parametrize("width", WIDTHS)
def test_the_graded_code_is_read_only_and_not_graded_there(view, width):
    _, seen = view
    assert all(cell["editable"] == 0 and not cell["gradeCell"] for cell in seen[width]["graded"])
    graded_cells = {t.grade_cell for t in DROPOUT.tasks} | {part.grade_cell for part in DROPOUT.manual}
    assert set(seen[width]["scores"]) == graded_cells
