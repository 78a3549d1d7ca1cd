"""The hidden checks judge every catalogued submission right (tests/faults/catalogue.py).

Each variant is written out as a real submission and judged exactly as the grader does
(pytest running tests/hidden in a child of the checks server, student code only in runner
processes; the other tests here start a new pytest process per submission): correct
alternatives pass every check; each fault fails exactly the checks it should, naming the
expected mistake; broken submissions score 0 only on the parts they break; and every variant
earns the points per grade cell recorded in tests/faults/points.json (re-recorded with
tests/faults/record.py, reviewed by hand). The credit policy's targets (``[credit]`` in the
manifest) hold on the catalogue, the feedback recorded for each mistake (feedback.json, shown in
the book's assignment page) is what the judge says today, and no message shows a number that
comes from the checks' inputs (the rule of coursekit/grading/disclosure.py).
"""

import json
from pathlib import Path

import pytest

from coursekit.grading.checks_server import ChecksServer
from coursekit.grading.disclosure import mask_input_numbers
from coursekit.grading.judge import checks_environment, judge
from coursekit.grading.task_report import task_report
from coursekit.grading.verdict import Verdict
from coursekit.manifest import COURSE
from conftest import CHECKS_LIMITS as LIMITS  # short: the hanging variant costs seconds
from faults.catalogue import (ALL, ATTACKS, BROKEN, BY_NAME, CORRECT, FAULTS, TASK_OF_CHECK, WILD_CORRECT, WILD_FAULTS,
                              check_names)
from faults.credit import figures, is_incidental
from faults.messages import hidden_numbers
from faults.record import feedback_entry

DROPOUT = COURSE.assignment_named("dropout")  # the assignment these tests grade
# Points per grade cell each variant earned before the course manifest and the Verdict type
# (judged unconfined, as here): grading must not change them.
POINTS = json.loads((Path(__file__).parent / "faults" / "points.json").read_text())
FEEDBACK = json.loads((Path(__file__).parent / "faults" / "feedback.json").read_text())
FULL_MARKS = {task.grade_cell: task.points for task in DROPOUT.tasks}


def cell_points(verdict):
    """Points per grade cell, as the nbgrader plugin puts them into the notebook."""
    return {COURSE.task(task).grade_cell: task_verdict.points for task, task_verdict in verdict.tasks.items()}


@pytest.fixture(scope="module")
def server():
    server = ChecksServer(checks_environment())
    yield server
    server.close()


@pytest.fixture(scope="module")
def recorded_feedback():
    """mistake -> what the catalogue's faults made the judge say, filled as the variants are judged."""
    return {}


@pytest.mark.parametrize("variant", ALL + ATTACKS, ids=[v.name for v in ALL + ATTACKS])
def test_variant_fails_the_expected_checks_and_earns_its_recorded_points(variant, server, tmp_path,
                                                                         recorded_feedback):
    verdict = judge(variant.build(tmp_path / variant.name), DROPOUT.task_ids, server=server, **LIMITS)
    assert list(verdict.tasks) == list(DROPOUT.task_ids)
    assert cell_points(verdict) == POINTS[variant.name]
    if variant.points is not None:
        assert {task: v.points for task, v in verdict.tasks.items()} == variant.points
    if variant in FAULTS:
        for mistake, entry in feedback_entry(variant, verdict).items():
            recorded_feedback.setdefault(mistake, entry)
    assert Verdict.from_json(verdict.to_json()) == verdict
    for check in verdict.checks:
        assert check.passed or check.message, check
        assert not hidden_numbers(check.message), (check.check, check.message)
    if variant in ATTACKS:
        return  # their ``expected`` holds confined (tests/test_sandbox.py); unconfined some attacks win
    assert {check.check: check.mistake for check in verdict.checks if not check.passed} == variant.expected


def test_points_are_recorded_for_every_variant():
    assert set(POINTS) == {variant.name for variant in ALL + ATTACKS}


def test_correct_variants_score_full_marks():
    for variant in CORRECT:
        assert POINTS[variant.name] == FULL_MARKS, variant.name  # and the points are checked above


def test_the_feedback_shown_in_the_book_is_what_the_judge_says(recorded_feedback):
    """Runs after every variant was judged (pytest keeps file order): feedback.json is current."""
    if len(recorded_feedback) < len(FEEDBACK):
        pytest.skip("needs the whole parametrised test above in the same run")
    assert recorded_feedback == FEEDBACK


def test_wild_entries_state_their_points_and_are_forty_or_more():
    assert all(variant.points is not None for variant in WILD_CORRECT + WILD_FAULTS)
    assert len(ALL) >= 40
    assert len(WILD_CORRECT) >= 5


def test_credit_policy_targets_hold_on_the_catalogue(capsys):
    credit = COURSE.credit
    layer_cells = [t.grade_cell for t in DROPOUT.tasks if any(s.startswith("layers.py:") for s in t.stubs)]
    for name in ("identity-forward", "wild-drops-nothing"):
        assert sum(POINTS[name][cell] for cell in layer_cells) <= credit.identity_max_points, name
    assert all(POINTS[v.name] == FULL_MARKS for v in CORRECT)
    assert all(POINTS[v.name] != FULL_MARKS for v in FAULTS + BROKEN)
    found = figures(FAULTS, BROKEN, POINTS)
    with capsys.disabled():
        print("\ncredit on the catalogue: " + "; ".join(found.lines()))
    assert found.behaviour_entries >= 20 and found.incidental_entries >= 5
    assert found.behaviour <= credit.behaviour_kept_max, found


def test_incidental_faults_lose_only_their_property():
    """A fault of one incidental property fails only checks that name an incidental mistake, in one cell
    (seed-ignored also costs the backward's numeric check, which needs a reproducible forward pass)."""
    for variant in (v for v in FAULTS if is_incidental(v)):
        assert all(mistake in COURSE.credit.incidental for mistake in variant.expected.values()), variant.name
        lost = sum(FULL_MARKS[cell] - points for cell, points in POINTS[variant.name].items())
        assert 0 < lost <= 3, (variant.name, lost)


def test_recorded_feedback_shows_no_number_of_the_checks_inputs():
    for mistake, entry in FEEDBACK.items():
        assert not hidden_numbers(entry["message"]), (mistake, entry["message"])


@pytest.mark.parametrize("message, numbers", [
    ("With p=0.25 the output has 0.4611 of its entries zeroed.", ["0.25", "0.4611"]),
    ("loss 16.049216 instead of 11.243753", ["16.049216", "11.243753"]),
    ("an input of shape (500, 500) gave (8, 3, 5, 4)", ["500,", "500", "8,", "3,", "5,", "4"]),
    ("calls with seeds 5 and 6 differ; 6 of 6 values of p fail", ["5", "6", "6", "6"]),
    ("raised ValueError at source_pkg/layers.py, line 217 (N, D = x.shape), while 2-D inputs work", []),
    ("an input of dtype float32 gave float64 and scales by 1/(1-p), x / (1 - p), 1/p", []),
    ("the gradients of W1, b2, gamma1 differ with L2 regularization", []),
])
def test_the_rule_on_messages_catches_numbers_of_the_inputs(message, numbers):
    assert hidden_numbers(message) == numbers


@pytest.mark.parametrize("raised, shown", [
    ("operands could not be broadcast together with shapes (50,60) (50,)",
     "operands could not be broadcast together with shapes (…) (…)"),
    ("index 60 is out of bounds for axis 1 with size 60", "index … is out of bounds for axis … with size …"),
    ("cannot reshape array of size 3000 into shape (50,7)", "cannot reshape array of size … into shape (…)"),
    ("p must be in [0, 1) for float32 input", None),
])
def test_the_students_own_exception_text_loses_the_numbers_of_the_inputs(raised, shown):
    masked, changed = mask_input_numbers(raised)
    assert masked == (shown or raised) and changed is (shown is not None) and not hidden_numbers(masked)


def test_presupposed_behaviours_name_real_checks():
    every_check = {name for task in COURSE.tasks for name in check_names(task.checks_path)}
    assert set(COURSE.credit.presupposes) <= every_check


def test_every_named_mistake_has_recorded_feedback():
    assert set(FEEDBACK) == {mistake for task in DROPOUT.tasks for mistake in task.mistakes}


@pytest.mark.parametrize("variant", ALL + ATTACKS, ids=[v.name for v in ALL + ATTACKS])
def test_expected_mistakes_belong_to_the_task_of_their_check(variant):
    for check, mistake in variant.expected.items():
        assert check in TASK_OF_CHECK, f"{variant.name}: no hidden check {check}"
        if mistake is not None:
            assert mistake in COURSE.task(TASK_OF_CHECK[check]).mistakes, (variant.name, check, mistake)


def test_every_mistake_the_grader_names_has_a_fault():
    named = {mistake for variant in FAULTS for mistake in variant.expected.values() if mistake}
    assert named == {mistake for task in DROPOUT.tasks for mistake in task.mistakes}


def test_a_fault_costs_points_only_in_its_own_task(tmp_path):
    full = {task.id: task.points for task in DROPOUT.tasks}
    for name, task in (("keep-drop-swapped", "dropout_forward"), ("backward-skips-dropout", "fc_net")):
        verdict = judge(BY_NAME[name].build(tmp_path / name), DROPOUT.task_ids, **LIMITS)
        points = {t: v.points for t, v in verdict.tasks.items()}
        assert points[task] < full[task], name
        assert {t: p for t, p in points.items() if t != task} == {t: p for t, p in full.items() if t != task}


def test_report_names_the_mistake_and_links_the_book(tmp_path):
    verdict = judge(BY_NAME["vanilla-dropout"].build(tmp_path / "vanilla"), DROPOUT.task_ids, **LIMITS)
    book = "https://course.example/dropout"
    report = task_report(verdict.tasks["dropout_forward"], book)
    forward = COURSE.task("dropout_forward")
    assert f"dropout_forward: {POINTS['vanilla-dropout'][forward.grade_cell]:g} / 10 points" in report
    assert COURSE.mistakes["scaled-at-test-time"] in report
    assert "https://course.example/dropout/book/mistakes.html#scaled-at-test-time" in report
    assert "the input times 1 - p" in report
    assert COURSE.task("dropout_forward").book_link(book) in report.splitlines()[-1]


def test_report_lays_out_where_the_students_code_raised(tmp_path):
    verdict = judge(BY_NAME["backward-raises"].build(tmp_path / "raises"), DROPOUT.task_ids, **LIMITS)
    report = task_report(verdict.tasks["dropout_backward"]).splitlines()
    raised = next(check for check in verdict.tasks["dropout_backward"].checks if check.student_line)
    where = f"  Where: {raised.student_file}, line {raised.student_line}: {raised.student_source}"
    assert raised.student_file == "source_pkg/layers.py" and "raise ValueError" in raised.student_source
    assert where in report
    assert report.index(where) == report.index(f"✗ {raised.name}: {raised.message}") + 1
