"""End to end: the feedback page of every catalogued fault, made by plain nbgrader, read in Chromium offline.

One module-scoped class: each fault of tests/faults/catalogue.py, a few broken submissions and a
correct one handed in with the outputs of its own run, autograded (checks only, the fast route)
and given feedback with the real `nbgrader generate_feedback dropout`; one hand grade and comment
are entered through nbgrader's gradebook as formgrader would. Every page's content is checked
in its HTML and opened in headless Chromium at 390 and 1280 px with every non-file request
aborted (no request out, no script, no sideways scrolling, every formula typeset, every diagnosis
visible); a sample (one page per family of mistakes, the broken submissions and the correct one)
is also checked by axe. The screenshots land in _build/screenshots/feedback/.
"""

import json
import re

import pytest
from nbformat.v4 import new_output

from coursekit import classroom
from coursekit.grading.verdict import Verdict, verdict_path
from coursekit.manifest import COURSE
from coursekit.paths import BUILD_DIR, REPO_ROOT
from coursekit.release import course_settings
from book_site import files_only
from conftest import CATALOGUE, make_class
from tests.test_feedback_parts import PNG

DROPOUT = COURSE.assignment_named("dropout")  # the assignment these tests grade
POINTS = json.loads((REPO_ROOT / "tests" / "faults" / "points.json").read_text())
EVIDENCE = "with-evidence"  # the correct submission handed in with its own run's outputs
CLASS = {v.name: v.name for v in CATALOGUE.FAULTS}
CLASS.update({"missing-package": "missing-package", "backward-raises": "backward-raises", EVIDENCE: "reference"})
BROKEN = ("missing-package", "backward-raises")


def by_family():
    """One fault per family of mistakes (the tasks whose checks it fails), the first by name."""
    families = {}
    for variant in sorted(CATALOGUE.FAULTS, key=lambda v: v.name):
        family = frozenset(CATALOGUE.TASK_OF_CHECK[check] for check in variant.expected)
        families.setdefault(family, variant.name)
    return set(families.values())


WHOLE = ("keep-drop-swapped", EVIDENCE)  # whole-page screenshots, also at the narrowest width; the others show their results
SAMPLE = sorted(by_family() | set(BROKEN) | set(WHOLE))
PAGE_BYTES = 300_000
WIDTHS = (390, 1280)
NARROWEST = 320  # the narrowest phone width the prose must fit, checked on the whole-page students
SHOTS = BUILD_DIR / "screenshots" / "feedback"
AXE = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
RUN_LINE = "(Epoch 40 / 40) train acc: 0.987000; val_acc: 0.933000"
COMMENT = "Good reading of the curves: name the gap between them."


def hand_in_with_outputs(folder):
    """Put a student's own run into the last two code cells (the experiment) of the notebook."""
    path = folder / f"{DROPOUT.notebook}.ipynb"
    nb = json.loads(path.read_text())
    experiment = [c for c in nb["cells"] if c["cell_type"] == "code"][-2:]
    experiment[0]["outputs"] = [new_output("stream", name="stdout", text=RUN_LINE + "\n")]
    experiment[1]["outputs"] = [new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>",
                                                                 "text/html": "<script>alert('x')</script>"})]
    manual = {part.grade_cell for part in DROPOUT.manual}
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") in manual:
            cell["source"] = "The validation curve flattens while the training curve climbs: $1/(1-p)$ matters."
    path.write_text(json.dumps(nb))


def grade_by_hand(root, student):
    from nbgrader.api import Gradebook

    part = DROPOUT.manual[-1]
    settings = course_settings(root)
    with Gradebook(settings.db_url, settings.course_id) as gradebook:
        grade = gradebook.find_grade(part.grade_cell, DROPOUT.notebook, DROPOUT.name, student)
        grade.manual_score = part.points - 1
        comment = gradebook.find_comment(part.grade_cell, DROPOUT.notebook, DROPOUT.name, student)
        comment.manual_comment = COMMENT
        gradebook.db.commit()


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = make_class(tmp_path_factory.mktemp("feedback"), CLASS, op_timeout=3, budget=20)
    hand_in_with_outputs(root / "submitted" / EVIDENCE / DROPOUT.name)
    classroom.nbgrader(root, "autograde", DROPOUT.name, "--ResilientExecute.run_notebook=False", check=False)
    grade_by_hand(root, EVIDENCE)
    classroom.nbgrader(root, "generate_feedback", DROPOUT.name)
    return root


def page_of(root, student):
    return root / "feedback" / student / DROPOUT.name / f"{DROPOUT.notebook}.html"


def text_of(root, student):
    import html

    page = page_of(root, student).read_text()
    page = re.sub(r"<script.*?</script>|<style.*?</style>", "", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


@pytest.mark.parametrize("student", sorted(CLASS))
def test_the_graded_code_cells_and_kept_outputs_change_no_score(course, student):
    cells = classroom.cell_scores(course, student)
    assert {cell: cells[cell][0] for cell in POINTS[CLASS[student]]} == POINTS[CLASS[student]]


@pytest.mark.parametrize("student", sorted(CLASS))
def test_the_page_names_every_failed_check_and_its_mistake(course, student):
    verdict = Verdict.load(verdict_path(course / "autograded" / student / DROPOUT.name, DROPOUT.notebook))
    text = text_of(course, student)
    for check in verdict.checks:
        assert check.name in text
        if not check.passed and check.mistake:
            assert f"Likely mistake: {COURSE.mistakes[check.mistake]}" in text
    for task in verdict.tasks.values():
        assert f"{COURSE.task(task.task).title}: {task.points:g} / {task.max_points:g} points" in text


@pytest.mark.parametrize("student", sorted(CLASS))
def test_nothing_of_the_graders_inside(course, student):
    page = page_of(course, student).read_text()
    text = text_of(course, student)
    assert "file://" not in page
    for inside in (str(course), str(REPO_ROOT), "/tmp/", "HiddenChecksFailed", "def test_", "tests/hidden",
                   "coursekit", "Traceback (most recent call last)"):
        assert inside not in text, inside
    assert "<script>alert" not in page


def test_without_a_book_address_the_page_carries_the_section(course):
    variant = CATALOGUE.BY_NAME["keep-drop-swapped"]
    text = text_of(course, variant.name)
    assert "The book's section: Drop and keep probabilities swapped" in text
    assert "Looks like." in text and "Fix." in text


def test_the_students_own_code_and_its_diff_are_shown(course):
    page = page_of(course, "vanilla-dropout").read_text()
    assert '<span class="diff-add"><span class="sr-only">added: </span>+        out = x * (1 - p)' in page
    assert "source_pkg/layers.py: dropout_forward" in text_of(course, "vanilla-dropout")
    assert "is not in your" in text_of(course, "missing-package") or "No source_pkg" in text_of(course, "missing-package")


def test_where_the_students_code_raised_is_named_and_marked(course):
    verdict = Verdict.load(verdict_path(course / "autograded" / "backward-raises" / DROPOUT.name,
                                        DROPOUT.notebook))
    raised = [c for c in verdict.checks if c.student_line]
    assert raised, "the verdict of a submission that raises records where"
    page, text = page_of(course, "backward-raises").read_text(), text_of(course, "backward-raises")
    file = raised[0].student_file.rsplit("/", 1)[-1]
    assert f"Where: {file}, line {raised[0].student_line}" in text
    marked = page.split('<span class="hll">')[1]
    assert f">{raised[0].student_line}<" in marked[:300] and "raise" in marked.split("</span></span>")[0]


def test_the_submitted_run_and_the_hand_grade_are_on_the_page(course):
    text = text_of(course, EVIDENCE)
    part = DROPOUT.manual[-1]
    assert RUN_LINE in text and "As submitted (the student's own run, kept by autograde)" in text
    assert 'alt="Figure' in page_of(course, EVIDENCE).read_text()
    assert f"{part.title}: {part.points - 1:g} / {part.points:g} points" in text and COMMENT in text
    assert f"{DROPOUT.manual[0].title}: not graded yet" in text


@pytest.mark.parametrize("student", sorted(CLASS))
def test_every_formula_is_typeset_and_the_page_is_small_and_runs_no_script(course, student):
    page = page_of(course, student).read_text()
    prose = re.sub(r"<pre\b.*?</pre>|<code\b.*?</code>|<mjx-container\b.*?</mjx-container>", "", page, flags=re.S)
    assert len(page.encode()) < PAGE_BYTES
    assert "<script" not in page
    assert page.count("<mjx-container") > 0 and '<g data-mml-node="merror"' not in page
    assert re.findall(r"\$[^$\n]+\$|\\\(", prose) == []
    assert page.count("<mjx-assistive-mml") == page.count("<mjx-container")


def test_a_question_is_shown_without_its_sections_introduction(course):
    page = page_of(course, EVIDENCE).read_text()
    questions = re.findall(r'<div class="question math-ok">(.*?)</div>', page, flags=re.S)
    assert len(questions) == len(DROPOUT.manual)
    assert all("Inline question" in q and "<h" not in q and "Answer each question" not in q for q in questions)


def test_the_graded_notebook_carries_read_only_code_cells_for_formgrader(course):
    nb = json.loads((course / "autograded" / EVIDENCE / DROPOUT.name / f"{DROPOUT.notebook}.ipynb").read_text())
    code_cells = [c for c in nb["cells"] if "graded-code" in c["metadata"].get("tags", [])]
    assert code_cells and all(c["metadata"]["editable"] is False and "nbgrader" not in c["metadata"]
                              for c in code_cells)
    assert "def dropout_forward" in "".join("".join(c["source"]) for c in code_cells)
    outputs = [o for c in nb["cells"] for o in c.get("outputs", [])]
    assert any(RUN_LINE in "".join(o.get("text", "")) for o in outputs)


FACTS_JS = """() => ({
    scroll: document.documentElement.scrollWidth, inner: window.innerWidth,
    scripts: document.scripts.length,
    math: [...document.querySelectorAll('mjx-container > svg')].map(svg => {
        const r = svg.getBoundingClientRect(); return r.width > 0 && r.height > 0; }),
    mathErrors: document.querySelectorAll('[data-mml-node="merror"]').length,
    rawTex: (document.querySelector('main').innerText.match(/\\$[^$\\n]+\\$/g) || []),
    messages: [...document.querySelectorAll('.message, .mistake p')].map(e => {
        const r = e.getBoundingClientRect();
        return {left: r.left, right: r.right, shown: e.checkVisibility()}; }),
    results: document.getElementById('files').getBoundingClientRect().top + scrollY})"""
AXE_JS = """() => axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
    resultTypes: ['violations']}).then(r => r.violations.map(v => v.id + ': ' + v.nodes.length))"""


@pytest.fixture(scope="module")
def seen(course):
    """Every student's page at each width, offline: requests, scripts, overflow, formulas, visible
    diagnoses and a screenshot of its results; axe on the sample (one page per family of mistakes)."""
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    facts = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        for width in WIDTHS + (NARROWEST,):
            page = browser.new_page(viewport={"width": width, "height": 900})
            outside, errors = [], []
            page.route("**/*", files_only(outside))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            for student in sorted(CLASS) if width != NARROWEST else WHOLE:
                outside.clear()
                errors.clear()
                page.goto(page_of(course, student).as_uri())
                fact = page.evaluate(FACTS_JS)
                if student in SAMPLE:
                    page.add_script_tag(path=str(AXE))
                    fact["axe"] = page.evaluate(AXE_JS)
                if student == "keep-drop-swapped" and width == WIDTHS[-1]:
                    fact["pdf"] = page.pdf(format="A4")
                clip = None if student in WHOLE else {"x": 0, "y": 0, "width": width, "height": fact["results"]}
                page.screenshot(path=str(SHOTS / f"{student}-{width}.png"), full_page=True, clip=clip)
                facts[student, width] = {**fact, "outside": list(outside), "errors": list(errors)}
            page.close()
        browser.close()
    return facts


def test_the_sample_covers_every_family_of_mistakes():
    assert len(by_family()) >= len(DROPOUT.tasks) and set(SAMPLE) <= set(CLASS)


@pytest.mark.parametrize("student", sorted(CLASS))
@pytest.mark.parametrize("width", WIDTHS)
def test_the_page_reads_offline_without_sideways_scrolling(seen, student, width):
    fact = seen[student, width]
    assert fact["outside"] == [] and fact["errors"] == [] and fact["scripts"] == 0
    assert fact["scroll"] <= fact["inner"]
    assert fact["math"] and all(fact["math"]) and fact["mathErrors"] == 0 and fact["rawTex"] == []
    for box in fact["messages"]:
        assert box["shown"] and box["left"] >= 0 and box["right"] <= width


@pytest.mark.parametrize("student", WHOLE)
def test_the_prose_fits_the_narrowest_phone(seen, student):
    fact = seen[student, NARROWEST]
    assert fact["scroll"] <= fact["inner"] == NARROWEST
    assert all(box["left"] >= 0 and box["right"] <= NARROWEST for box in fact["messages"])


def test_every_page_left_its_screenshots(seen):
    assert {p.name for p in SHOTS.glob("*.png")} >= {f"{s}-{w}.png" for s in CLASS for w in WIDTHS}


def test_axe_finds_no_wcag_violation(seen):
    found = {key: fact["axe"] for key, fact in seen.items() if "axe" in fact}
    assert len(found) == len(SAMPLE) * len(WIDTHS) + len(WHOLE) and all(v == [] for v in found.values()), found


def test_the_page_prints_to_pdf(seen):
    pdf = seen["keep-drop-swapped", WIDTHS[-1]]["pdf"]
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages") > 2
