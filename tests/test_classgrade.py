"""``python -m coursekit.classgrade``: a class graded by parallel workers running the real nbgrader.

No mocks: course roots in temporary folders, the released notebook, submissions built from
``tests/faults/catalogue.py``, the command run as an instructor runs it (a subprocess), and
the SQLite gradebook and the report files read afterwards. Ctrl-C is a real SIGINT.
"""

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coursekit import classroom
from coursekit.classgrade import hooks, report
from coursekit.classgrade.scheduler import auto_batch_size
from coursekit.classgrade.status import WITH_GRADE, Outcome
from coursekit.grading.nbgrader_plugin import NOT_RUN_NOTE
from coursekit.grading.verdict import Verdict, verdict_path
from coursekit.manifest import COURSE
from coursekit.paths import REPO_ROOT
from conftest import CATALOGUE, classgrade, make_class

DROPOUT = COURSE.assignment_named("dropout")  # the assignment these tests grade
AUTO = DROPOUT.cell_tasks  # autograded cell -> task
FULL = {task.grade_cell: task.points for task in DROPOUT.tasks}
CLASS = {"ana": "reference", "bo": "keep-drop-swapped", "cy": "forward-hangs", "dee": "backward-crashes",
         "eve": "missing-package", "fay": "default-rng"}
NO_NOTEBOOK = "gil"


def gradebook_rows(root, query, *params):
    db = sqlite3.connect(f"file:{root / 'gradebook.db'}?mode=ro", uri=True)
    try:
        return db.execute(query, params).fetchall()
    finally:
        db.close()


def submission_counts(root):
    return dict(gradebook_rows(root, "SELECT student_id, COUNT(*) FROM submitted_assignment GROUP BY student_id"))


def scores_csv(root):
    with open(root / "reports" / "dropout" / "scores.csv", newline="") as file:
        return {row["student"]: row for row in csv.DictReader(file)}


def verdict(root, student):
    return Verdict.load(verdict_path(root / "autograded" / student / "dropout", "dropout"))


def auto_scores(root, student):
    return {cell: score for cell, (score, _) in classroom.cell_scores(root, student).items() if cell in AUTO}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = make_class(tmp_path_factory.mktemp("class"), CLASS)
    folder = classroom.submit(root, NO_NOTEBOOK, CATALOGUE.BY_NAME["reference"])
    (folder / "dropout.ipynb").unlink()
    started = time.monotonic()
    done = classgrade(root, "--workers", "2")
    return root, done, time.monotonic() - started


# -- a class graded in parallel ------------------------------------------------------------------

def test_every_submission_with_a_notebook_is_graded_exactly_once(graded):
    root, done, _ = graded
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert submission_counts(root) == dict.fromkeys(CLASS, 1)
    # Each worker had its own scratch gradebook; none is left behind.
    assert not list((root / "reports" / "dropout" / ".work").glob("run-*"))


def test_gradebook_holds_what_the_hidden_checks_found(graded):
    root, *_ = graded
    for student in CLASS:
        tasks = verdict(root, student).tasks
        assert auto_scores(root, student) == {cell: tasks[task].points for cell, task in AUTO.items()}, student
    assert auto_scores(root, "ana") == FULL
    assert auto_scores(root, "dee")[COURSE.task("dropout_backward").grade_cell] == 0.0


def test_crashes_and_timeouts_are_named_never_a_silent_zero(graded):
    root, done, _ = graded
    rows = scores_csv(root)
    status = {student: row["status"] for student, row in rows.items()}
    assert status == {"ana": "graded", "bo": "graded", "cy": "timed out", "dee": "crashed",
                      "eve": "missing files", "fay": "graded", NO_NOTEBOOK: "missing files"}
    assert rows["dee"]["score"] == "19"
    assert rows["dee"]["detail"] == "dropout_backward: student code crashed in 3 check(s)"
    assert rows["cy"]["score"] == "9" and "dropout_forward: student code timed out" in rows["cy"]["detail"]
    assert rows["eve"]["detail"] == "missing: source_pkg/"
    assert rows[NO_NOTEBOOK]["score"] == "" and "dropout.ipynb" in rows[NO_NOTEBOOK]["detail"]
    table = {line.split()[0]: line for line in done.stdout.splitlines() if line.split()}
    assert "crashed" in table["dee"] and "timed out" in table["cy"] and "25/35" in table["ana"]
    assert " - " in table[NO_NOTEBOOK] and "missing files" in table[NO_NOTEBOOK]


def test_notebook_cells_are_not_run_unless_asked(graded):
    """The grades come from the hidden checks; by default no kernel runs the notebooks."""
    root, done, _ = graded
    assert "notebook cells not run" in done.stderr
    for student in CLASS:
        assert verdict(root, student).kernel == "not run"
        notebook = json.loads((root / "autograded" / student / "dropout" / "dropout.ipynb").read_text())
        code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
        assert ["".join(o["text"]) for o in code[0]["outputs"]] == [NOT_RUN_NOTE]
        graded_cells = [c for c in code if c["metadata"].get("nbgrader", {}).get("grade_id") in AUTO]
        assert all("from the hidden checks" in "".join(c["outputs"][0]["data"]["text/plain"]) for c in graded_cells)
        assert all(not c["outputs"] for c in code[1:] if c not in graded_cells)


def test_progress_counts_done_failures_and_time_left(graded):
    _, done, _ = graded
    lines = [line for line in done.stderr.splitlines() if line.startswith("[")]
    assert len(lines) == len(CLASS)
    assert lines[-1].startswith(f"[{len(CLASS)}/{len(CLASS)}]")
    assert all("failures so far" in line and "time left" in line for line in lines)
    assert "failures so far 3" in lines[-1]  # cy timed out, dee crashed, eve misses files


def test_class_report_png_and_csv(graded):
    root, *_ = graded
    folder = root / "reports" / "dropout"
    png = (folder / "class_report.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    with open(folder / "checks.csv", newline="") as file:
        checks = {row["check"]: row for row in csv.DictReader(file)}
    assert len(checks) == 15
    statistics = checks["test_train_statistics"]
    # ana, bo, cy, dee and fay are checked (eve misses files); bo swaps p, cy hangs.
    assert (statistics["submissions"], statistics["passed"], statistics["timed_out"]) == ("5", "3", "1")
    assert statistics["most_named_mistake"] == "keep-drop-swapped" and statistics["pass_rate"] == "0.6"
    assert checks["test_backward_reuses_forward_mask"]["crashed"] == "1"
    with open(folder / "score_histogram.csv", newline="") as file:
        bins = list(csv.DictReader(file))
    totals = {status: sum(int(row[status]) for row in bins) for status in report.HISTOGRAM_STATUSES}
    assert totals == {"graded": 3, "pending": 0, "crashed": 1, "timed out": 1, "missing files": 1}


def test_workers_ran_real_nbgrader_in_batches(graded):
    root, *_ = graded
    logs = sorted((root / "reports" / "dropout" / "logs").glob("batch-*.log"))
    assert len(logs) >= 2
    assert all("[AutogradeApp | INFO]" in log.read_text() for log in logs)


def test_rerun_grades_only_new_and_newer_submissions_and_keeps_manual_grades(graded):
    root, *_ = graded
    again = classgrade(root, "--workers", "2")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "0 to grade" in again.stderr
    assert {row["this_run"] for row in scores_csv(root).values()} == {"up to date", "not run"}

    # A grader marks a written answer of bo's; bo hands in again; a late student appears.
    manual = gradebook_rows(root, "SELECT g.id FROM grade g JOIN base_cell c ON g.cell_id = c.id "
                                  "JOIN submitted_notebook n ON g.notebook_id = n.id "
                                  "JOIN submitted_assignment s ON n.assignment_id = s.id "
                                  "WHERE s.student_id = 'bo' AND c.name NOT IN (?, ?, ?)", *AUTO)
    db = sqlite3.connect(root / "gradebook.db")
    db.execute("UPDATE grade SET manual_score = 4 WHERE id = ?", (manual[0][0],))
    db.commit()
    db.close()
    layers = root / "submitted" / "bo" / "dropout" / "source_pkg" / "layers.py"
    os.utime(layers, (time.time() + 5, time.time() + 5))
    classroom.submit(root, "hu", CATALOGUE.BY_NAME["reference"])

    newer = classgrade(root, "--workers", "2")
    assert newer.returncode == 0, newer.stderr[-3000:]
    assert "2 to grade" in newer.stderr
    runs = {student: row["this_run"] for student, row in scores_csv(root).items()}
    assert runs == {**dict.fromkeys(CLASS, "up to date"), "bo": "graded", "hu": "graded", NO_NOTEBOOK: "not run"}
    assert submission_counts(root) == {**dict.fromkeys(CLASS, 1), "hu": 1}
    assert gradebook_rows(root, "SELECT manual_score, needs_manual_grade FROM grade WHERE id = ?",
                          manual[0][0]) == [(4.0, 1)]
    assert auto_scores(root, "hu") == FULL


def test_plain_nbgrader_works_on_the_same_course(graded):
    root, *_ = graded
    autograde = classroom.nbgrader(root, "autograde", "dropout")
    assert "Skipping existing assignment" in autograde.stdout + autograde.stderr
    classroom.nbgrader(root, "export")
    grades = classroom.read_grades(root)
    assert float(grades["ana"]["raw_score"]) == 25.0
    assert set(grades) >= set(CLASS)


# -- Ctrl-C --------------------------------------------------------------------------------------

INTERRUPTED_CLASS = {"kim": "reference", "lou": "keep-drop-swapped", "mo": "default-rng", "ned": "vanilla-dropout"}


def _our_processes(marker):
    """Processes whose environment names this run's report folder (workers and their children)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker.encode() in (proc / "environ").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_ctrl_c_keeps_recorded_grades_and_the_gradebook_consistent(tmp_path):
    root = make_class(tmp_path / "class", INTERRUPTED_CLASS)
    process = classgrade(root, "--workers", "2", "--batch-size", "2", background=True)
    progress = []
    for line in process.stderr:  # wait until the first submission is graded and recorded
        progress.append(line)
        if line.startswith("[1/"):
            break
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, out + err
    assert "SIGINT" in err

    rows = scores_csv(root)
    # A loaded machine may time out one of a submission's checks: it is still a recorded grade.
    recorded = {student for student, row in rows.items() if row["status"] in WITH_GRADE}
    stopped = {student for student, row in rows.items() if row["status"] in ("interrupted", "not graded")}
    assert recorded and stopped and recorded | stopped == set(INTERRUPTED_CLASS), rows
    assert all(rows[student]["score"] == "" for student in stopped)
    # The gradebook holds the recorded grades, complete, and nothing of the interrupted ones.
    assert submission_counts(root) == dict.fromkeys(recorded, 1)
    before = {student: auto_scores(root, student) for student in recorded}
    for student in recorded:
        tasks = verdict(root, student).tasks
        assert before[student] == {cell: tasks[task].points for cell, task in AUTO.items()}
    for student in stopped:
        assert not (root / "autograded" / student / "dropout" / "dropout.ipynb").exists()
    # No worker, kernel or checker left running, no scratch gradebook left behind.
    time.sleep(1)
    assert _our_processes(str(root / "reports")) == []
    assert not list((root / "reports" / "dropout" / ".work").glob("run-*"))

    again = classgrade(root, "--workers", "2")
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{len(stopped)} to grade" in again.stderr
    assert submission_counts(root) == dict.fromkeys(INTERRUPTED_CLASS, 1)
    assert {student: auto_scores(root, student) for student in recorded} == before
    runs = {student: row["this_run"] for student, row in scores_csv(root).items()}
    assert runs == {**dict.fromkeys(recorded, "up to date"), **dict.fromkeys(stopped, "graded")}


def test_grades_left_by_a_run_that_died_are_merged_by_the_next(tmp_path):
    """A run killed between a worker finishing a submission and its merge: the scratch
    gradebook and the event file stay in .work/, and the next run merges them first."""
    root = make_class(tmp_path / "class", {"pat": "reference"})
    run_dir = root / "reports" / "dropout" / ".work" / "run-1-1"
    run_dir.mkdir(parents=True)
    (run_dir / "lock").touch()
    from coursekit import gradebook as gradebooks

    scratch = gradebooks.copy_gradebook(f"sqlite:///{root / 'gradebook.db'}", run_dir / "w0.db")
    events = run_dir / "w0-b0001.events"
    env = {hooks.EVENTS_ENV: str(events)}
    classroom_env = dict(os.environ, **env)
    done = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", "dropout", "--force",
                           f"--CourseDirectory.db_url=sqlite:///{scratch}",
                           "--Autograde.post_convert_hook=coursekit.classgrade.hooks.finished"],
                          cwd=root, env=_nbgrader_env(classroom_env), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert submission_counts(root) == {}  # graded in the scratch copy only

    after = classgrade(root, "--workers", "1")
    assert after.returncode == 0, after.stderr[-3000:]
    assert "merged 1 grade(s) left by an interrupted run: pat" in after.stderr
    assert "0 to grade" in after.stderr
    assert submission_counts(root) == {"pat": 1}
    assert auto_scores(root, "pat") == FULL
    assert not run_dir.exists()


def _nbgrader_env(base):
    from coursekit.release import nbgrader_env

    return nbgrader_env(base)


def test_notebooks_run_on_request_time_limit_and_nbgrader_errors(tmp_path):
    """--run-notebooks: each notebook runs in its kernel, as with plain nbgrader; a kernel that
    dies is named, a submission over the time limit is stopped, a broken notebook is reported,
    and the rest of the batch is graded."""
    # A cell may hang for three minutes; the whole submission gets 45 s (a correct one needs about 3
    # on an idle machine; with the notebook's earlier experiment, 8 idle took over 60 in a CI run
    # with other test files grading beside it).
    root = make_class(tmp_path / "class", {"bad": "reference", "dee": "backward-crashes", "hang": "forward-hangs",
                                           "ok": "reference"}, cell_timeout=180)
    (root / "submitted" / "bad" / "dropout" / "dropout.ipynb").write_text("{ not a notebook")
    # One nbgrader for bad, dee and hang: bad fails, dee is graded, hang is stopped, ok goes to
    # a new batch.
    done = classgrade(root, "--workers", "1", "--batch-size", "3", "--timeout", "45", "--run-notebooks")
    assert done.returncode == 1, done.stdout + done.stderr[-3000:]  # two submissions hold no grade
    assert "notebook cells run" in done.stderr
    rows = scores_csv(root)
    assert rows["dee"]["status"] == "crashed" and rows["dee"]["score"] == "19"
    assert "dropout: the notebook's kernel died (exit code 3)" in rows["dee"]["detail"]
    assert verdict(root, "dee").kernel == "died"
    assert verdict(root, "ok").kernel == "ok"
    assert rows["hang"]["status"] == "timed out" and rows["hang"]["score"] == ""
    assert "grading stopped after 45 s" in rows["hang"]["detail"]
    assert rows["bad"]["status"] == "failed" and rows["bad"]["score"] == ""
    assert "nbgrader could not grade it" in rows["bad"]["detail"]
    assert str(root / "reports" / "dropout" / "logs" / "batch-0001.log") in rows["bad"]["detail"]
    assert rows["ok"]["status"] == "graded" and rows["ok"]["score"] == "25"
    assert submission_counts(root) == {"dee": 1, "ok": 1}
    assert not (root / "autograded" / "hang" / "dropout").exists()  # graded again next time
    assert _our_processes(str(root / "reports")) == []


# -- pieces, without nbgrader ----------------------------------------------------------------------

def _check(name, passed, code="ok", mistake=None):
    return {"task": "t", "check": name, "points": 1.0, "passed": passed, "message": "", "mistake": mistake,
            "student_code": code}


def _record(kernel="ok", *checks):
    return {"nb": Verdict.from_dict({"notebook": "nb", "kernel": kernel, "tasks": {"t": {"checks": list(checks)}}})}


def test_report_rows_count_each_way_a_check_fails(tmp_path):
    outcomes = [Outcome("a", "graded", score=3, max_score=4), Outcome("b", "crashed", score=1, max_score=4),
                Outcome("c", "missing files", score=0, max_score=4), Outcome("d", "failed", graded=False)]
    records = {"a": _record("ok", _check("x", True), _check("y", False, "ok", "seed-ignored")),
               "b": _record("died", _check("x", False, "crashed"), _check("y", False, "ok", "seed-ignored")),
               "c": _record("ok", _check("x", False, "error"), _check("y", False, "error"))}
    rows = {row["check"]: row for row in report.check_rows(outcomes, records)}
    assert rows["x"]["submissions"] == 2 and rows["x"]["passed"] == 1 and rows["x"]["crashed"] == 1
    assert rows["y"]["pass_rate"] == 0 and rows["y"]["most_named_mistake"] == "seed-ignored"
    edges, counts = report.histogram(outcomes)
    assert edges == [0, 1, 2, 3, 4]
    assert counts["graded"] == [0, 0, 0, 1] and counts["crashed"] == [0, 1, 0, 0]
    paths = report.write_report(outcomes, records, tmp_path, "dropout")
    assert all(path.is_file() for path in paths.values())
    with open(paths["scores"], newline="") as file:
        assert {row["student"]: row["score"] for row in csv.DictReader(file)} == {"a": "3", "b": "1", "c": "0", "d": ""}


def _batches(n, workers):
    sizes = []
    while n:
        sizes.append(auto_batch_size(n, workers))
        n -= sizes[-1]
    return sizes


def test_batch_sizes_amortise_start_up_and_keep_workers_busy():
    assert _batches(1, 2) == [1]
    assert _batches(6, 2) == [4, 2]
    sizes = _batches(200, 2)
    assert sum(sizes) == 200 and sizes[0] == 32
    assert len(sizes) <= 15  # nbgrader starts 14 times for 200 submissions
    assert sizes == sorted(sizes, reverse=True) and max(sizes[-4:]) <= 4  # the workers end together

def test_the_coordinator_imports_nbgrader_without_the_iri_grammars():
    probe = subprocess.run([sys.executable, "-c", "from coursekit.upstream_changes import skip_iri_syntax_checks\n"
                            "skip_iri_syntax_checks()\nimport sys, nbgrader.apps, nbformat\n"
                            "print(sys.modules['rfc3987_syntax'] is None, 'lark' in sys.modules)"],
                           cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert probe.stdout.split() == ["True", "False"], probe.stderr
