"""The class command's pieces that need no nbgrader: the one decision of a submission's status,
the report's per-task columns, and the workers' event files."""

import csv
from pathlib import Path

import pytest

from coursekit.classgrade import hooks, report, status
from coursekit.classgrade.status import (CRASHED, FAILED, FINISHED, GRADED, INTERRUPTED, INTERRUPTED_MIDWAY, MISSING,
                                         NBGRADER_FAILED, NO_NOTEBOOK, NOT_GRADED, NOT_STARTED, REFUSED,
                                         STOPPED_AFTER_TIMEOUT, TIMED_OUT, UP_TO_DATE, Attempt, Facts, Outcome, decide)
from coursekit.grading.verdict import CheckResult, Verdict, VerdictError
from coursekit.limits import LIMITS
from coursekit.manifest import COURSE

DROPOUT = COURSE.assignment_named("dropout")  # the assignment these tests grade


def check(task="t", name="test_a", passed=True, code="ok", mistake=None, points=1.0, message=""):
    return CheckResult(task=task, check=name, points=points, passed=passed, mistake=mistake, student_code=code,
                       message=message)


def verdicts(*checks, kernel="ok", notebook="nb", seconds=0.0, limits=(), exit=""):
    verdict = Verdict.from_checks(list(checks))
    verdict.notebook, verdict.kernel, verdict.kernel_exit = notebook, kernel, exit
    verdict.notebook_seconds, verdict.notebook_limits = seconds, list(limits)
    return {notebook: verdict}


MEMORY = f"used more than {LIMITS.memory_text} of memory"
FILE = f"wrote a file larger than {LIMITS.file_size_text}"


GOOD = verdicts(check())
HELD = (7.0, 25.0)


def outcome(kind, found=GOOD, missing=(), grade=HELD, **particulars):
    return decide(Facts("s", Attempt(kind, **particulars), verdicts=found, missing=missing, grade=grade))


# -- graded now or earlier: the verdicts decide ------------------------------------------------------

@pytest.mark.parametrize("found, missing, expected, detail", [
    (GOOD, (), GRADED, ""),
    (verdicts(check(passed=False, code="error")), (), GRADED, ""),  # a wrong answer is a grade
    (verdicts(check(), kernel="died"), (), CRASHED, "nb: the notebook's kernel died"),
    (verdicts(check(), kernel="died", exit="killed by signal SIGABRT"), (), CRASHED,
     "nb: the notebook's kernel died (killed by signal SIGABRT)"),
    (verdicts(check(passed=False, code="crashed"), check(name="test_b", passed=False, code="crashed")), (),
     CRASHED, "t: student code crashed in 2 check(s)"),
    (verdicts(check(), kernel="cell-timeout"), (), TIMED_OUT, "nb: a notebook cell ran out of time"),
    (verdicts(check(), kernel="notebook-time", seconds=12), (), TIMED_OUT,
     "nb: the notebook used up its 12 s (the course's limit)"),
    (verdicts(check(), kernel="notebook-time"), (), TIMED_OUT,  # no seconds recorded: the course's default
     f"nb: the notebook used up its {LIMITS.notebook_seconds:g} s (the course's limit)"),
    (verdicts(check(), limits=[MEMORY]), (), GRADED, f"nb: a notebook cell {MEMORY} (the course's limit)"),
    (verdicts(check(), kernel="died", limits=[FILE, MEMORY]), (), CRASHED,
     f"nb: the notebook's kernel died; nb: a notebook cell {FILE} (the course's limit); "
     f"nb: a notebook cell {MEMORY} (the course's limit)"),
    (verdicts(check(passed=False, message=f"the call {MEMORY}"), kernel="notebook-time", seconds=600, limits=[MEMORY]),
     (), TIMED_OUT, f"{MEMORY} (the course's limit); nb: the notebook used up its 600 s (the course's limit); "
                    f"nb: a notebook cell {MEMORY} (the course's limit)"),
    (verdicts(check(passed=False, code="timeout")), (), TIMED_OUT, "t: student code timed out in 1 check(s)"),
    (verdicts(check(passed=False, code="timeout"), kernel="died"), (), CRASHED,
     "nb: the notebook's kernel died; t: student code timed out in 1 check(s)"),
    (GOOD, ("source_pkg/",), MISSING, "missing: source_pkg/"),
    (verdicts(check(passed=False, code="crashed")), ("a.py",), MISSING,
     "missing: a.py; t: student code crashed in 1 check(s)"),
    ({}, (), FAILED, "no verdict (<notebook>.verdict.json) beside the autograded notebook"),
])
@pytest.mark.parametrize("kind, run", [(FINISHED, "graded"), (UP_TO_DATE, "up to date")])
def test_a_graded_submission_takes_its_status_from_its_verdicts(kind, run, found, missing, expected, detail):
    assert outcome(kind, found, missing) == Outcome("s", expected, detail, run=run, graded=True,
                                                   score=7.0, max_score=25.0)


def test_verdict_files_old_and_new_load_and_keep_how_the_notebook_ended(tmp_path):
    old = tmp_path / "old.verdict.json"  # written before notebook-time existed: still read
    old.write_text('{"notebook": "nb", "kernel": "cell-timeout", "tasks": {"t": {"checks": []}}}')
    assert (Verdict.load(old).kernel, Verdict.load(old).notebook_seconds, Verdict.load(old).notebook_limits) == \
        ("cell-timeout", 0.0, [])
    assert "notebook_seconds" not in Verdict.load(old).to_dict()  # an ordinary verdict's JSON is unchanged
    new = verdicts(check(), kernel="notebook-time", seconds=12, limits=[MEMORY])["nb"]
    again = Verdict.load(new.save(tmp_path / "new.verdict.json"))
    assert (again.kernel, again.notebook_seconds, again.notebook_limits) == ("notebook-time", 12.0, [MEMORY])
    died = verdicts(check(), kernel="died", exit="exit code 3")["nb"]
    assert Verdict.load(died.save(tmp_path / "died.verdict.json")).kernel_exit == "exit code 3"
    assert "kernel_exit" not in Verdict.load(old).to_dict()
    assert decide(Facts("s", Attempt(FINISHED), {"nb": again}, grade=HELD)).detail == \
        f"nb: the notebook used up its 12 s (the course's limit); nb: a notebook cell {MEMORY} (the course's limit)"


@pytest.mark.parametrize("field, value, says", [
    ("kernel", '"timeout"', "kernel 'timeout' is not one of ok, not run, died, cell-timeout, notebook-time"),
    ("notebook_seconds", '"12"', "notebook_seconds '12' is not a number of seconds"),
    ("notebook_seconds", "-1", "notebook_seconds -1 is not a number of seconds"),
    ("notebook_limits", '"memory"', "notebook_limits 'memory' is not a list of reasons"),
    ("kernel_exit", "137", "kernel_exit 137 is not a description"),
])
def test_a_malformed_verdict_is_refused_naming_file_and_field(tmp_path, field, value, says):
    path = tmp_path / "bad.verdict.json"
    path.write_text(f'{{"kernel": "ok", "tasks": {{}}, "{field}": {value}}}')
    with pytest.raises(VerdictError) as refused:
        Verdict.load(path)
    assert str(refused.value) == f"{path}: {says}"


def test_a_graded_submission_without_a_grade_in_the_gradebook_failed():
    assert outcome(FINISHED, grade=None) == Outcome("s", FAILED, "no grade in the gradebook", run="graded",
                                                    graded=False)
    crashed = outcome(UP_TO_DATE, verdicts(check(code="crashed", passed=False)), grade=None)
    assert (crashed.status, crashed.graded, crashed.score) == (FAILED, False, None)
    assert crashed.detail == "t: student code crashed in 1 check(s); no grade in the gradebook"


# -- left ungraded by this run: never a grade of this submission -------------------------------------

@pytest.mark.parametrize("kind, particulars, expected, run, detail", [
    (NO_NOTEBOOK, {}, MISSING, "not run", "missing: dropout.ipynb; nbgrader grades nothing without the notebook"),
    (NOT_STARTED, {"stop_reason": "SIGINT"}, NOT_GRADED, "not run", "not started: grading was stopped (SIGINT)"),
    (INTERRUPTED_MIDWAY, {"stop_reason": "SIGTERM"}, INTERRUPTED, "not graded",
     "grading interrupted (SIGTERM); no grade recorded"),
    (STOPPED_AFTER_TIMEOUT, {"timeout": 20.0}, TIMED_OUT, "not graded", "grading stopped after 20 s; no grade recorded"),
    (NBGRADER_FAILED, {"exit_code": 1, "error": "NotJSONError: bad", "log": Path("/r/logs/batch-0001.log")},
     FAILED, "not graded", "nbgrader could not grade it (exit code 1): NotJSONError: bad (log: /r/logs/batch-0001.log)"),
    (REFUSED, {"error": "database is locked"}, FAILED, "graded",
     "graded, but the gradebook did not take the grade: database is locked"),
])
def test_a_submission_this_run_left_ungraded_holds_no_grade(kind, particulars, expected, run, detail):
    missing = ("dropout.ipynb",) if kind == NO_NOTEBOOK else ()
    fresh = outcome(kind, missing=missing, grade=None, **particulars)
    assert fresh == Outcome("s", expected, detail, run=run, graded=False)
    # An earlier grade stays in the gradebook: named, never shown as this submission's score.
    earlier = outcome(kind, missing=missing, grade=HELD, **particulars)
    assert (earlier.status, earlier.graded, earlier.score) == (expected, False, None)
    assert earlier.detail == detail + "; the gradebook keeps an earlier grade (7/25)"


def test_every_attempt_has_a_run_label_and_unknown_ones_are_refused():
    assert set(status.RUN_LABELS) == set(status.ATTEMPTS)
    with pytest.raises(ValueError, match="unknown attempt"):
        Attempt("graded")


# -- the report ----------------------------------------------------------------------------------

def test_scores_csv_has_one_column_per_task_of_the_manifest(tmp_path):
    first, second = DROPOUT.task_ids[:2]
    found = {"a": verdicts(check(first, points=3.0), check(first, "test_b", passed=False, points=2.0),
                           check(second, points=4.0)),
             "b": verdicts(check(first, passed=False, code="crashed", points=5.0)),
             "c": verdicts(check(first, points=5.0))}
    outcomes = [Outcome("a", GRADED, score=7, max_score=35), Outcome("b", CRASHED, score=0, max_score=35),
                Outcome("c", FAILED, "nbgrader could not grade it", graded=False)]
    paths = report.write_report(outcomes, found, tmp_path, "dropout")
    with open(paths["scores"], newline="") as file:
        reader = csv.DictReader(file)
        rows = {row["student"]: row for row in reader}
    assert reader.fieldnames == ["student", "status", "score", "max_score", *DROPOUT.task_ids, "this_run", "detail"]
    assert {task: rows["a"][task] for task in DROPOUT.task_ids} == {first: "3", second: "4",
                                                                  **{t: "" for t in DROPOUT.task_ids[2:]}}
    assert rows["b"][first] == "0" and rows["b"][second] == ""
    assert all(rows["c"][task] == "" for task in DROPOUT.task_ids)  # no grade: never a 0


def test_report_task_columns_follow_the_tasks_given(tmp_path):
    found = {"a": verdicts(check("extra", points=2.0))}
    paths = report.write_report([Outcome("a", GRADED, score=2, max_score=2)], found, tmp_path, "dropout",
                                tasks=("extra",))
    with open(paths["scores"], newline="") as file:
        assert next(csv.DictReader(file))["extra"] == "2"
    with open(paths["checks"], newline="") as file:
        assert [(row["task"], row["check"], row["passed"]) for row in csv.DictReader(file)] == [("extra", "test_a", "1")]


# -- the workers' event files --------------------------------------------------------------------

def test_event_files_are_read_line_by_line_and_a_partial_line_waits(tmp_path):
    path = tmp_path / "w0-b0001.events"
    path.write_text('{"event": "started", "notebooks": ["a/x.ipynb"], "time": 1}\nnot json\n'
                    '{"event": "finished", "notebooks": ["a/x.ipynb"]}\n{"event": "sta')
    events, offset = hooks.read_events(path)
    assert [e["event"] for e in events] == ["started", "finished"]
    with open(path, "a") as file:
        file.write('rted", "notebooks": ["b/x.ipynb"]}\n')
    more, _ = hooks.read_events(path, offset)
    assert more == [{"event": "started", "notebooks": ["b/x.ipynb"]}]


# -- the exit policy -----------------------------------------------------------------------------

def _result(*outcomes, stopped=None):
    from coursekit.classgrade.grader import ClassResult

    return ClassResult(list(outcomes), report={}, stopped=stopped, seconds=1.0, graded=len(outcomes))


@pytest.mark.parametrize("kind, grade, code", [
    (FINISHED, HELD, 0), (UP_TO_DATE, HELD, 0),
    (NO_NOTEBOOK, None, 0),  # nothing to grade: not a failure of the run
    (FINISHED, None, 1), (REFUSED, None, 1), (NBGRADER_FAILED, HELD, 1), (STOPPED_AFTER_TIMEOUT, None, 1),
    (NOT_STARTED, None, 1),
])
def test_exit_code_is_1_when_a_submission_to_grade_holds_no_grade(kind, grade, code):
    from coursekit.classgrade.cli import exit_code

    found = outcome(kind, GOOD, ("dropout.ipynb",) if kind == NO_NOTEBOOK else (), grade, stop_reason="SIGINT",
                    timeout=1.0 if kind == STOPPED_AFTER_TIMEOUT else None)
    assert exit_code(_result(outcome(FINISHED), found)) == code
    assert exit_code(_result(found, stopped="SIGINT")) == 130
