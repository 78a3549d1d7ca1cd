"""End to end: a class of submissions through the real nbgrader commands (no mocks).

generate_assignment (via the release command), autograde, generate_feedback and export run
as an instructor runs them, on a course root in a temporary folder.
"""

import html
import re
import time

import pytest

from coursekit import classroom
from coursekit.manifest import COURSE

CATALOGUE = classroom.load_catalogue()
AUTO = ("dropout_forward_checks", "dropout_backward_checks", "fc_net_checks")
FULL = {"dropout_forward_checks": 10.0, "dropout_backward_checks": 6.0, "fc_net_checks": 9.0}
CLASS = {
    "ada": "bool-mask", "ben": "default-rng", "cy": "warns",
    "dee": "keep-drop-swapped", "eli": "vanilla-dropout", "fay": "new-mask-in-backward",
    "gus": "net-not-in-test-mode", "hal": "dropout-after-last-layer",
    "ivy": "student-edition", "jo": "missing-package", "kai": "forward-hangs",
    "lee": "backward-crashes", "max": "patches-checks",
}
CELL_TIMEOUT, OP_TIMEOUT, BUDGET = 5, 2.0, 15.0


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = classroom.make_course(tmp_path_factory.mktemp("course"), cell_timeout=CELL_TIMEOUT,
                                 op_timeout=OP_TIMEOUT, budget=BUDGET)
    classroom.release_course(root)
    for student, variant in CLASS.items():
        classroom.submit(root, student, CATALOGUE.BY_NAME[variant])
    started = time.monotonic()
    autograde = classroom.nbgrader(root, "autograde", "dropout", check=False)
    seconds = time.monotonic() - started
    classroom.nbgrader(root, "generate_feedback", "dropout")
    classroom.nbgrader(root, "export")
    return root, autograde, seconds


def scores(root, student):
    return {cell: score for cell, (score, _) in classroom.cell_scores(root, student).items() if cell in AUTO}


def feedback_text(root, student):
    page = (root / "feedback" / student / "dropout" / "dropout.html").read_text()
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_autograde_grades_every_student(graded):
    root, autograde, seconds = graded
    assert autograde.returncode == 0, autograde.stderr[-3000:]
    assert set(classroom.read_grades(root)) == set(CLASS)


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
        assert f"book/mistakes.html#{mistake}" in text


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
    assert scores(root, "kai") == {"dropout_forward_checks": 0.0, "dropout_backward_checks": 0.0, "fc_net_checks": 9.0}
    assert "did not finish within 2 s" in feedback_text(root, "kai")
    # Per student: a few cells hitting their timeout plus one runner timeout per hanging function.
    assert seconds < len(CLASS) * 10 + 8 * CELL_TIMEOUT + 4 * OP_TIMEOUT


def test_crashing_submission_is_reported_as_crashed(graded):
    root, *_ = graded
    assert scores(root, "lee") == {**FULL, "dropout_backward_checks": 0.0}
    text = feedback_text(root, "lee")
    assert "ended its process (exit code 3)" in text
    assert "KernelDied" in text  # the notebook's own kernel died too, and the feedback says so


def test_patching_numpy_and_builtins_gains_nothing(graded):
    root, *_ = graded
    assert scores(root, "max") == {"dropout_forward_checks": 0.0, "dropout_backward_checks": 0.0, "fc_net_checks": 9.0}


def test_check_records_are_kept_beside_each_graded_notebook(graded):
    import json

    root, *_ = graded
    records = {student: json.loads((root / "autograded" / student / "dropout" / "dropout.hidden_checks.json")
                                   .read_text()) for student in CLASS}
    assert records["lee"]["kernel"] == "died"
    assert records["kai"]["kernel"] == "cell-timeout"
    assert records["ada"]["kernel"] == "ok"
    backward = records["lee"]["tasks"]["dropout_backward"]
    assert backward["points"] == 0
    assert "crashed" in {c["student_code"] for c in backward["checks"]}
    assert records["ada"]["tasks"]["fc_net"]["points"] == 9
