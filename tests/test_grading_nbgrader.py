"""End to end: a class of submissions through the real nbgrader commands (no mocks).

generate_assignment (via the release command), autograde, generate_feedback and export run
as an instructor runs them, on a course root in a temporary folder. Every student's autograded
cells score what their submission earned before the course manifest and the Verdict type
(tests/faults/points.json).
"""

import html
import json
import re
import time
from pathlib import Path

import pytest

from coursekit import classroom
from coursekit.grading.verdict import Verdict, verdict_path
from coursekit.manifest import COURSE
from book_site import SCREENSHOTS, browser, files_only  # noqa: F401 (a fixture)
from conftest import CATALOGUE, make_class

DROPOUT = COURSE.assignment_named("dropout")  # the assignment these tests grade
AUTO = tuple(task.grade_cell for task in DROPOUT.tasks)
FULL = {task.grade_cell: task.points for task in DROPOUT.tasks}
CELL = {task.id: task.grade_cell for task in DROPOUT.tasks}
POINTS = json.loads((Path(__file__).parent / "faults" / "points.json").read_text())
CLASS = {
    "ada": "bool-mask", "ben": "default-rng", "cy": "warns",
    "dee": "keep-drop-swapped", "eli": "vanilla-dropout", "fay": "new-mask-in-backward",
    "gus": "net-not-in-test-mode", "hal": "dropout-after-last-layer",
    "ivy": "student-edition", "jo": "missing-package", "kai": "forward-hangs",
    "lee": "backward-crashes", "max": "patches-checks",
}
# The per-cell limit leaves room for the notebook's full experiment (under a second on an idle
# machine, several times that while other test files run beside it), so a correct notebook runs
# to the end; the hanging submission waits it out once.
CELL_TIMEOUT, OP_TIMEOUT, BUDGET = 20, 2.0, 15.0


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = make_class(tmp_path_factory.mktemp("course"), CLASS, cell_timeout=CELL_TIMEOUT, op_timeout=OP_TIMEOUT,
                      budget=BUDGET)
    started = time.monotonic()
    autograde = classroom.nbgrader(root, "autograde", DROPOUT.name, check=False)
    seconds = time.monotonic() - started
    classroom.nbgrader(root, "generate_feedback", DROPOUT.name)
    classroom.nbgrader(root, "export")
    return root, autograde, seconds


def scores(root, student):
    return {cell: score for cell, (score, _) in classroom.cell_scores(root, student).items() if cell in AUTO}


def feedback_text(root, student):
    page = (root / "feedback" / student / DROPOUT.name / f"{DROPOUT.notebook}.html").read_text()
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_autograde_grades_every_student(graded):
    root, autograde, seconds = graded
    assert autograde.returncode == 0, autograde.stderr[-3000:]
    assert set(classroom.read_grades(root)) == set(CLASS)


@pytest.mark.parametrize("student", sorted(CLASS))
def test_each_cell_scores_what_the_submission_earned_before(graded, student):
    root, *_ = graded
    assert scores(root, student) == POINTS[CLASS[student]]


@pytest.mark.parametrize("student", ["ada", "ben", "cy"])
def test_correct_alternatives_score_full_marks(graded, student):
    root, *_ = graded
    assert scores(root, student) == FULL


@pytest.mark.parametrize("student", ["dee", "eli", "fay", "gus", "hal"])
def test_faults_lose_points_and_feedback_names_the_mistake(graded, student):
    root, *_ = graded
    variant = CATALOGUE.BY_NAME[CLASS[student]]
    got = scores(root, student)
    assert sum(got.values()) < sum(FULL.values())
    text = feedback_text(root, student)
    for mistake in {m for m in variant.expected.values() if m}:
        assert COURSE.mistakes[mistake] in text
        assert COURSE.mistake_link(mistake) in text
    for task in DROPOUT.tasks:
        assert task.book_link() in text  # the section that teaches each task


def test_untouched_student_edition_scores_zero(graded):
    root, *_ = graded
    assert scores(root, "ivy") == dict.fromkeys(AUTO, 0.0)
    assert "NotImplementedError" in feedback_text(root, "ivy")


def test_missing_package_scores_zero_and_says_why(graded):
    root, *_ = graded
    assert scores(root, "jo") == dict.fromkeys(AUTO, 0.0)
    assert "source_pkg could not be imported" in feedback_text(root, "jo")


def test_hanging_submission_loses_only_what_hangs_within_its_budget(graded):
    root, _, seconds = graded
    assert scores(root, "kai") == {**dict.fromkeys(AUTO, 0.0), CELL["fc_net"]: FULL[CELL["fc_net"]]}
    assert "did not finish within 2 s" in feedback_text(root, "kai")
    # Per student: a few cells hitting their timeout plus one runner timeout per hanging function.
    assert seconds < len(CLASS) * 10 + 8 * CELL_TIMEOUT + 4 * OP_TIMEOUT


def test_crashing_submission_is_reported_as_crashed(graded):
    root, *_ = graded
    assert scores(root, "lee") == {**FULL, CELL["dropout_backward"]: 0.0}
    text = feedback_text(root, "lee")
    assert "ended its process (exit code 3)" in text
    # The notebook's own kernel died too, and the feedback says so and how (the sandbox's process).
    assert "KernelDied: its process ended with exit code 3" in text


@pytest.mark.parametrize("width", [390, 1280])
def test_how_the_kernel_died_shows_on_the_feedback_page_in_chromium(graded, browser, width):
    root, *_ = graded
    page = browser.new_page(viewport={"width": width, "height": 900})
    outside = []
    page.route("**/*", files_only(outside))
    try:
        page.goto((root / "feedback" / "lee" / DROPOUT.name / f"{DROPOUT.notebook}.html").as_uri())
        note = page.get_by_text("its process ended with exit code 3").first
        note.scroll_into_view_if_needed()
        assert note.is_visible()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"kernel-died-feedback-{width}.png"))
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    finally:
        page.close()
    assert outside == []


def test_patching_numpy_and_builtins_gains_nothing(graded):
    root, *_ = graded
    assert scores(root, "max") == {**dict.fromkeys(AUTO, 0.0), CELL["fc_net"]: FULL[CELL["fc_net"]]}


def test_verdicts_are_kept_beside_each_graded_notebook(graded):
    root, *_ = graded
    verdicts = {student: Verdict.load(verdict_path(root / "autograded" / student / DROPOUT.name, DROPOUT.notebook))
                for student in CLASS}
    assert verdicts["lee"].kernel == "died"
    assert verdicts["kai"].kernel == "cell-timeout"
    assert verdicts["ada"].kernel == "ok" and verdicts["ada"].notebook == DROPOUT.notebook
    backward = verdicts["lee"].tasks["dropout_backward"]
    assert backward.points == 0
    assert backward.student_code_count("crashed") > 0
    assert verdicts["ada"].tasks["fc_net"].points == COURSE.task("fc_net").points
    assert not list((root / "autograded").rglob("*.hidden_checks.json"))
