"""The feedback's parts without nbgrader: the book's address, the verdict's view, kept outputs, code marks."""

import os
from types import SimpleNamespace

import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from coursekit.feedback import evidence, typeset
from coursekit.book_address import BookSettingError, public_book_url
from coursekit.feedback.book import mistake_section
from coursekit.feedback.code import find_function, highlighted, locations_in_message
from coursekit.feedback.page import question_only
from coursekit.feedback.typeset import typeset_page
from coursekit.feedback.verdict_view import check_locations, scrub_paths, verdict_views
from coursekit.grading.verdict import CheckResult, Verdict
from coursekit.manifest import COURSE

DROPOUT = COURSE.assignment_named("dropout")  # the assignment these tests grade
TASK = DROPOUT.tasks[0]
MISTAKE = TASK.mistakes[0]


def a_verdict():
    checks = [CheckResult(TASK.id, "test_first", 2.0, False, "wrong by 1/(1-p)", MISTAKE),
              CheckResult(TASK.id, "test_second", 1.0, False, "wrong by 1/(1-p)", MISTAKE),
              CheckResult(TASK.id, "test_third", 1.0, True)]
    return Verdict.from_checks(checks, (TASK.id,))


def test_the_book_address_comes_from_html_baseurl(tmp_path):
    config = tmp_path / "_config.yml"
    config.write_text("title: x\nhtml:\n  baseurl: https://example.edu/dropout/\n")
    assert public_book_url(config) == "https://example.edu/dropout"
    config.write_text("title: x\n")
    assert public_book_url(config) == ""


def test_the_book_address_is_read_again_when_the_file_changes(tmp_path):
    """The address is parsed once per version of _config.yml (nbgrader asks for every notebook),
    so an edit of the same length, even one that keeps the modification time, is still seen."""
    config = tmp_path / "_config.yml"
    config.write_text("html:\n  baseurl: https://example.edu/aaaa/\n")
    assert public_book_url(config) == "https://example.edu/aaaa"
    stamp = config.stat().st_mtime_ns
    replacement = tmp_path / "new.yml"
    replacement.write_text("html:\n  baseurl: https://example.edu/bbbb/\n")
    os.utime(replacement, ns=(stamp, stamp))
    replacement.replace(config)
    assert public_book_url(config) == "https://example.edu/bbbb"


@pytest.mark.parametrize("value", ["file:///home/instructor/_build/html", "example.edu/book", "42"])
def test_a_bad_book_address_is_refused_naming_file_key_and_value(tmp_path, value):
    config = tmp_path / "_config.yml"
    config.write_text(f"html:\n  baseurl: {value}\n")
    with pytest.raises(BookSettingError) as refused:
        public_book_url(config)
    assert str(config) in str(refused.value) and "html.baseurl" in str(refused.value) and value in str(refused.value)


def test_with_an_address_the_page_links_the_sections():
    (task,) = verdict_views(a_verdict(), "https://example.edu/dropout")
    assert task.book_href == f"https://example.edu/dropout/{TASK.book_link()}"
    first = task.checks[0]
    assert first.mistake.href == f"https://example.edu/dropout/{COURSE.mistake_link(MISTAKE)}"
    assert first.mistake.section_markdown == ""


def test_without_an_address_the_page_carries_each_section_once():
    (task,) = verdict_views(a_verdict(), "")
    first, second, third = task.checks
    assert first.mistake.href == "" and first.mistake.where == COURSE.mistake_link(MISTAKE)
    assert first.mistake.section_markdown == mistake_section(MISTAKE) != ""
    assert "{ref}" not in first.mistake.section_markdown and "{eq}" not in first.mistake.section_markdown
    assert second.same_as == first.name and second.mistake.section_markdown == ""
    assert third.passed and third.mistake is None


def test_server_paths_are_cut_to_the_students_file():
    text = "raised in /srv/course/autograded/ana/dropout/source_pkg/layers.py, line 12; see /srv/course/x/y"
    assert scrub_paths(text) == "raised in source_pkg/layers.py, line 12; see …"


def test_where_the_student_code_raised_from_fields_or_message():
    fields = SimpleNamespace(student_file="source_pkg/layers.py", student_line=217, student_source="x = y", message="")
    assert [(loc.file, loc.line, loc.source) for loc in check_locations(fields)] == [("layers.py", 217, "x = y")]
    assert [(loc.file, loc.line) for loc in locations_in_message('File "layers.py", line 9, in f')] == [("layers.py", 9)]
    plain = SimpleNamespace(student_file="", student_line=0, message="no place named")
    assert check_locations(plain) == []


def test_marked_lines_are_highlighted_in_the_function():
    source = "import numpy as np\n\n\nclass Net:\n    def loss(self, x):\n        y = x + 1\n        return y\n"
    function = find_function(source, "fc_net.py", "Net.loss")
    assert (function.first_line, function.text.splitlines()[0].strip()) == (5, "def loss(self, x):")
    page = highlighted(function.text, function.first_line, {6})
    marked = page.split('<span class="hll">')
    assert len(marked) == 2 and "y" in marked[1].split("</span></span>")[0] and ">6<" in marked[1][:200]
    assert find_function(source, "fc_net.py", "Net.missing").text == ""


PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def submitted_notebook():
    cell = new_code_cell("train()", outputs=[
        new_output("stream", name="stdout", text="val_acc: 0.933\n"),
        new_output("display_data", data={"image/png": PNG, "text/html": "<script>alert(1)</script>",
                                         "text/plain": "<Figure>"}),
        new_output("display_data", data={"application/javascript": "alert(2)"})])
    return new_notebook(cells=[cell])


def test_submitted_outputs_are_kept_without_anything_that_runs():
    nb, _ = evidence.KeepSubmittedOutputs().preprocess(submitted_notebook(), {})
    kept = nb.cells[0].metadata[evidence.SUBMITTED_KEY]
    assert [o["output_type"] for o in kept] == ["stream", "display_data"]
    assert set(kept[1]["data"]) == {"image/png", "text/plain"}


@pytest.mark.parametrize("rerun, label", [([], evidence.SUBMITTED_LABEL),
                                          (["val_acc: 0.120\n"], evidence.RERUN_LABEL),
                                          (["val_acc: 0.933\n"], None)])
def test_submitted_outputs_come_back_labelled(rerun, label):
    nb, _ = evidence.KeepSubmittedOutputs().preprocess(submitted_notebook(), {})
    cell = nb.cells[0]
    cell.outputs = [new_output("stream", name="stdout", text=text) for text in rerun]
    if rerun == ["val_acc: 0.933\n"]:
        cell.outputs.append(new_output("display_data", data={"image/png": PNG}))
    evidence.RestoreSubmittedOutputs().preprocess(nb, {})
    labels = ["".join(o.data["text/plain"]) for o in cell.outputs if o.get("metadata", {}).get(evidence.NOTEBOOK_KEY)]
    assert labels == ([label] if label else [])
    assert evidence.SUBMITTED_KEY not in cell.metadata
    if label:
        assert "".join(cell.outputs[-2].text) == "val_acc: 0.933\n" and "image/png" in cell.outputs[-1].data


def test_graded_code_cells_are_read_only_and_show_the_diff():
    files = {"layers.py": "def dropout_forward(x, p):\n    return x * 2\n", "optim.py": "unchanged?"}
    cells = evidence.graded_code_cells(files)
    assert all(c.metadata["editable"] is False and c.metadata["deletable"] is False for c in cells)
    text = "\n".join(c.source for c in cells)
    assert "+    return x * 2" in text and "source_pkg/layers.py" in text and "nbgrader" not in str(cells[0].metadata)


def test_formulas_are_typeset_and_code_is_left_alone():
    page = ('<html><head><style>p { color: black }</style></head><body><p>scale by $1/(1-p)$, keep \\(q\\)</p>'
            '<pre>cost = "$5"; x = "$y$"</pre><p><code>$z$</code> and $\\notamacro$</p>'
            '<img alt="a plot" src="data:image/png;base64,AAAA$b$"></body></html>')
    done = typeset_page(page)
    assert done.formulas == 3 and done.errors == ["\\notamacro"]
    assert done.html.count("<mjx-container") == 3 and done.html.count("<mjx-assistive-mml") == 3
    assert '<pre>cost = "$5"; x = "$y$"</pre>' in done.html and "<code>$z$</code>" in done.html
    assert 'src="data:image/png;base64,AAAA$b$"' in done.html and "p { color: black }" in done.html
    assert "<script" not in done.html and 'id="MJX-SVG-styles"' in done.html


def test_without_node_the_missing_part_is_named(monkeypatch):
    monkeypatch.setenv(typeset.NODE_ENV, "/nowhere/node")
    assert "$DROPOUT_NODE=/nowhere/node" in typeset.missing_part()
    with pytest.raises(typeset.TypesetError, match="nodejs"):
        typeset.MathTypesetter()


def test_a_question_comes_without_its_sections_introduction():
    cell = "## 6. Questions\n\nAnswer each below.\n\n**Question 1.** Why $1/(1-p)$?\n\nSay why.\n\n**Hint.** Think."
    assert question_only(cell) == "**Question 1.** Why $1/(1-p)$?\n\nSay why.\n\n**Hint.** Think."
    assert question_only("## 6. Questions\n\nWhy?") == "Why?"
    assert question_only("Why?") == "Why?"


@pytest.mark.parametrize("node", ["found", "missing"])
def test_the_page_typesets_its_formulas_or_carries_mathjax_without_node(tmp_path, monkeypatch, node):
    from nbformat.v4 import new_markdown_cell

    from coursekit.feedback.page import FeedbackExporter, FeedbackPage

    if node == "missing":
        monkeypatch.setenv(typeset.NODE_ENV, "/nowhere/node")
    nb = new_notebook(cells=[new_markdown_cell("Survivors are scaled by $1/(1-p)$.")])
    resources = {"nbgrader": {"student": "ana", "assignment": DROPOUT.name}, "metadata": {"path": str(tmp_path)}}
    nb, resources = FeedbackPage(book_url="").preprocess(nb, resources)
    page, _ = FeedbackExporter().from_notebook_node(nb, resources)
    if node == "found":
        assert "<script" not in page and page.count("<mjx-container") == 1 and len(page) < 100_000
    else:
        assert "window.MathJax" in page and "$1/(1-p)$" in page and "<mjx-container" not in page
        assert typeset_offline_in_chromium(page, tmp_path / "page.html") == {"formulas": 1, "outside": []}


def typeset_offline_in_chromium(page: str, path) -> dict:
    """Open ``page`` in Chromium with every non-file request aborted; the formulas the inlined
    MathJax typeset (SVGs with a size) and the requests that tried to leave."""
    from playwright.sync_api import sync_playwright

    path.write_text(page)
    outside = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"])
        tab = browser.new_page(viewport={"width": 390, "height": 900})
        tab.route("**/*", lambda route: route.continue_() if route.request.url.startswith(("file:", "data:"))
                  else (outside.append(route.request.url), route.abort()))
        tab.goto(path.as_uri())
        tab.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20_000)
        tab.evaluate("() => MathJax.startup.promise")
        formulas = tab.evaluate("""() => [...document.querySelectorAll('mjx-container svg')].filter(svg => {
            const r = svg.getBoundingClientRect(); return r.width > 0 && r.height > 0; }).length""")
        browser.close()
    return {"formulas": formulas, "outside": outside}
