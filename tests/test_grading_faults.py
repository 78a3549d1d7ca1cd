"""The hidden checks judge every catalogued submission right (tests/faults/catalogue.py).

Each variant is written out as a real submission and judged exactly as the grader does
(pytest running tests/hidden in a child of the checks server, student code only in runner
processes; the other tests here start a new pytest process per submission): correct
alternatives pass every check; each fault fails exactly the checks it should, naming the
expected mistake; broken submissions score 0 only on the parts they break.
"""

import pytest

from coursekit.grading.checks_server import ChecksServer
from coursekit.grading.judge import checks_environment, judge
from coursekit.manifest import COURSE
from faults.catalogue import ALL, BY_NAME, CORRECT, FAULTS

# Short limits keep the hanging variant quick; correct code needs a fraction of them.
LIMITS = {"op_timeout": 2.0, "budget": 30.0}


@pytest.fixture(scope="module")
def server():
    server = ChecksServer(checks_environment())
    yield server
    server.close()


@pytest.mark.parametrize("variant", ALL, ids=[v.name for v in ALL])
def test_variant_fails_exactly_the_expected_checks(variant, server, tmp_path):
    verdicts = judge(variant.build(tmp_path / variant.name), server=server, **LIMITS)
    failed = {check["check"]: check["mistake"] for v in verdicts.values() for check in v.failed}
    assert failed == variant.expected
    for verdict in verdicts.values():
        for check in verdict.failed:
            assert check["message"], check


def test_correct_variants_score_full_marks(tmp_path):
    for variant in CORRECT:
        verdicts = judge(variant.build(tmp_path / variant.name), **LIMITS)
        assert {t: (v.points, v.max_points) for t, v in verdicts.items()} == {
            "dropout_forward": (10, 10), "dropout_backward": (6, 6), "fc_net": (9, 9)}, variant.name


def test_every_mistake_the_grader_names_has_a_fault():
    named = {mistake for variant in FAULTS for mistake in variant.expected.values() if mistake}
    assert named == set(COURSE.mistakes)


def test_a_fault_costs_points_only_in_its_own_task(tmp_path):
    verdicts = judge(BY_NAME["keep-drop-swapped"].build(tmp_path / "swapped"), **LIMITS)
    assert verdicts["dropout_forward"].points < 10
    assert verdicts["dropout_backward"].points == 6
    assert verdicts["fc_net"].points == 9
    verdicts = judge(BY_NAME["backward-skips-dropout"].build(tmp_path / "skips"), **LIMITS)
    assert (verdicts["dropout_forward"].points, verdicts["dropout_backward"].points) == (10, 6)
    assert verdicts["fc_net"].points < 9


def test_report_names_the_mistake_and_links_the_book(tmp_path):
    verdicts = judge(BY_NAME["vanilla-dropout"].build(tmp_path / "vanilla"), **LIMITS)
    report = verdicts["dropout_forward"].report("https://course.example/dropout")
    assert "dropout_forward: 4 / 10 points" in report
    assert "Scaling at test time (vanilla dropout)" in report
    assert "https://course.example/dropout/book/mistakes.html#scaled-at-test-time" in report
    assert "1 - p = 0.75" in report
