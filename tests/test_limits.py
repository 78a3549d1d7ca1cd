"""The course's limits on student code ([limits] of coursekit/course.toml, coursekit/limits.py).

One course, graded on both routes: plain ``nbgrader autograde`` for one half of the class, then
the class command (``python -m coursekit.classgrade --run-notebooks``) for the other half. Each
half holds a correct submission and one submission per limit: 8 GiB allocated at import, forks
without end at import, a 1 TiB file written at import, and a notebook that sleeps in many cells
after a cell of its own that allocates 8 GiB (both limits hit in the notebook, not in the
package). Each gets its reason in the verdict, the class report and on its feedback page; the
correct ones keep full marks, and no process of a submission outlives grading.
"""

from __future__ import annotations

import csv
import html
import inspect
import random
import subprocess
import sys
import tomllib
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest

from coursekit import cgroups, classroom, limits, sandbox
from coursekit.classgrade import status
from coursekit.grading.verdict import Verdict, verdict_path
from coursekit.limits import LIMITS
from coursekit.manifest import COURSE
from coursekit.paths import MANIFEST_FILE, REPO_ROOT
from book_site import SCREENSHOTS, browser, files_only  # noqa: F401 (a fixture)

DROPOUT = COURSE.assignment_named("dropout")  # the assignment these tests grade
CATALOGUE = classroom.load_catalogue()
AUTO = {task.grade_cell: task.points for task in DROPOUT.tasks}
MARK = f"600.{random.randrange(10**8):08d}"  # the fork bomb's children run `sleep MARK`: findable afterwards
AT_IMPORT = {
    "memory": "import numpy as _np\n_hog = _np.ones(8 * 2**30 // 8)\n",
    "fork": ("import os as _os\nwhile True:\n    if _os.fork() == 0:\n"
             f"        _os.execv('/bin/sleep', ['sleep', '{MARK}'])\n        _os._exit(0)\n"),
    "file": "with open('/tmp/huge.bin', 'wb') as _f:\n    _f.seek(2**40)\n    _f.write(b'x')\n",
}
REASONS = {"memory": f"used more than {LIMITS.memory_text} of memory",
           "fork": f"started more than {LIMITS.processes} processes",
           "file": f"wrote a file larger than {LIMITS.file_size_text}"}
NOTEBOOK_SECONDS = 12  # the sleeper's notebook budget in this course (the default is LIMITS.notebook_seconds)
SLEEPING_CELLS = 12
MEMORY_CELL = "import numpy as np\nhog = np.ones(8 * 2**30 // 8)"  # the sleeper's own cell, before it sleeps


def submit(root: Path, student: str, kind: str) -> None:
    reference = CATALOGUE.BY_NAME["reference"]
    variant = replace(reference, name=kind, edits=CATALOGUE._prelude(AT_IMPORT[kind])) if kind in AT_IMPORT else reference
    folder = classroom.submit(root, student, variant)
    if kind == "sleep":
        path = folder / f"{DROPOUT.notebook}.ipynb"
        nb = nbformat.read(path, as_version=4)
        for _ in range(SLEEPING_CELLS):
            nb.cells.insert(1, nbformat.v4.new_code_cell("import time\ntime.sleep(2)"))
        nb.cells.insert(1, nbformat.v4.new_code_cell(MEMORY_CELL))
        nbformat.write(nb, path)


KINDS = ("ok", "memory", "fork", "file", "sleep")
PLAIN = {f"{kind}-plain": kind for kind in KINDS}  # graded by plain nbgrader autograde
CLASS = {f"{kind}-class": kind for kind in KINDS}  # graded by the class command


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = classroom.make_course(tmp_path_factory.mktemp("limits"), cell_timeout=30, op_timeout=5)
    with open(root / "nbgrader_config.py", "a") as config:
        config.write(f"c.ResilientExecute.budget = {NOTEBOOK_SECONDS}\n")
    classroom.release_course(root)
    for student, kind in PLAIN.items():
        submit(root, student, kind)
    plain = classroom.nbgrader(root, "autograde", DROPOUT.name, check=False)
    for student, kind in CLASS.items():
        submit(root, student, kind)
    done = subprocess.run([sys.executable, "-m", "coursekit.classgrade", DROPOUT.name, "--course-root", str(root),
                           "--workers", "2", "--run-notebooks", "--progress", "none"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    feedback = classroom.nbgrader(root, "generate_feedback", DROPOUT.name, check=False)
    assert feedback.returncode == 0, feedback.stdout[-3000:] + feedback.stderr[-3000:]
    with open(root / "reports" / DROPOUT.name / "scores.csv", newline="") as file:
        rows = {row["student"]: row for row in csv.DictReader(file)}
    return root, plain, rows


def auto_scores(root, student):
    return {cell: score for cell, (score, _) in classroom.cell_scores(root, student).items() if cell in AUTO}


def feedback_page(root, student) -> str:
    """The page's HTML with its entities decoded (a note's "course's" is written course&#39;s)."""
    return html.unescape((root / "feedback" / student / DROPOUT.name / f"{DROPOUT.notebook}.html").read_text())


def saved_verdict(root, student) -> Verdict:
    return Verdict.load(verdict_path(root / "autograded" / student / DROPOUT.name, DROPOUT.notebook))


def decided(student, verdict) -> status.Outcome:
    """The class command's decision on a graded submission with this verdict."""
    return status.decide(status.Facts(student, status.Attempt(status.FINISHED), {DROPOUT.notebook: verdict},
                                      grade=(1.0, 1.0)))


SLEEPER_NOTES = (f"Your notebook used up its {NOTEBOOK_SECONDS} s, the course's time for running all its cells",
                 f"A cell of your notebook was stopped because it {REASONS['memory']}, a limit of the course's grading.")


@pytest.mark.skipif(sandbox.probe() is not None, reason=f"bwrap unusable: {sandbox.probe()}")
class TestClassAtTheLimits:
    def test_correct_submissions_keep_full_marks(self, course):
        root, _, rows = course
        for student in ("ok-plain", "ok-class", "sleep-plain", "sleep-class"):
            assert auto_scores(root, student) == AUTO, student
        for student in ("ok-plain", "ok-class"):  # (a slow machine may still time out a cell of its experiment)
            assert not LIMITS.reasons_in([rows[student]["detail"]]), rows[student]

    @pytest.mark.parametrize("kind", sorted(AT_IMPORT))
    def test_each_limit_is_a_graded_row_with_its_reason(self, course, kind):
        root, _, rows = course
        for student in (f"{kind}-plain", f"{kind}-class"):
            row = rows[student]
            assert row["score"] != "" and float(row["score"]) == 0, row
            assert row["detail"].startswith(f"{REASONS[kind]} (the course's limit)"), row
            assert f"Your code was stopped because it {REASONS[kind]}" in feedback_page(root, student)

    def test_a_notebook_past_its_time_is_stopped_and_named(self, course):
        root, _, rows = course
        for student in ("sleep-plain", "sleep-class"):
            verdict = saved_verdict(root, student)
            assert (verdict.kernel, verdict.notebook_seconds) == ("notebook-time", NOTEBOOK_SECONDS), student
            outcome = decided(student, verdict)
            said = f"{DROPOUT.notebook}: the notebook used up its {NOTEBOOK_SECONDS} s (the course's limit)"
            assert outcome.status == "timed out" and said in outcome.detail.split("; "), outcome
            assert rows[student]["status"] == "timed out", rows[student]
            assert rows[student]["detail"].startswith(outcome.detail), rows[student]
            assert SLEEPER_NOTES[0] in feedback_page(root, student)
            graded = nbformat.read(root / "autograded" / student / DROPOUT.name / f"{DROPOUT.notebook}.ipynb", 4)
            texts = [o.get("text", "") + o.get("evalue", "") for c in graded.cells if c.cell_type == "code"
                     for o in c.get("outputs", [])]
            assert any(f"used up its {NOTEBOOK_SECONDS:g} s" in t for t in texts), texts[:20]
            ran = [c for c in graded.cells if "time.sleep(2)" in c.source and c.get("execution_count")]
            assert 0 < len(ran) < SLEEPING_CELLS

    def test_a_limit_hit_in_a_notebook_cell_is_named(self, course):
        root, _, rows = course
        for student in ("sleep-plain", "sleep-class"):
            verdict = saved_verdict(root, student)
            assert verdict.notebook_limits == [REASONS["memory"]], student
            assert not LIMITS.reasons_in([check.message for check in verdict.checks])  # the package is correct
            detail = decided(student, verdict).detail
            said = f"{DROPOUT.notebook}: a notebook cell {REASONS['memory']} (the course's limit)"
            assert said in detail.split("; ") and said in rows[student]["detail"], rows[student]
            assert SLEEPER_NOTES[1] in feedback_page(root, student)
        for student in ("ok-plain", "ok-class"):
            assert saved_verdict(root, student).notebook_limits == []
        # The package's own 8 GiB at import also hits the limit in the notebook's import cell: the
        # page says it once, for the student's code.
        assert saved_verdict(root, "memory-plain").notebook_limits == [REASONS["memory"]]
        page = feedback_page(root, "memory-plain")
        assert f"Your code was stopped because it {REASONS['memory']}" in page and SLEEPER_NOTES[1] not in page

    def test_plain_nbgrader_finished_every_submission(self, course):
        root, plain, _ = course
        assert plain.returncode == 0, plain.stderr[-3000:]
        for student in PLAIN:
            assert (root / "autograded" / student / DROPOUT.name / f"{DROPOUT.notebook}.ipynb").exists()

    @pytest.mark.parametrize("width", [390, 1280])
    def test_the_reason_shows_on_the_feedback_page_in_chromium(self, course, browser, width):
        root, _, _ = course
        page = browser.new_page(viewport={"width": width, "height": 900})
        outside = []
        page.route("**/*", files_only(outside))
        shown = {"memory-plain": [f"Your code was stopped because it {REASONS['memory']}"], "sleep-plain": SLEEPER_NOTES}
        try:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            for student, notes in shown.items():
                page.goto((root / "feedback" / student / DROPOUT.name / f"{DROPOUT.notebook}.html").as_uri())
                for text in notes:
                    assert page.get_by_text(text).is_visible(), (student, text)
                page.get_by_text(notes[0]).scroll_into_view_if_needed()
                page.screenshot(path=str(SCREENSHOTS / f"limits-feedback-{student}-{width}.png"))
                assert page.evaluate("document.documentElement.scrollWidth") <= width
        finally:
            page.close()
        assert outside == []

    def test_no_process_of_a_submission_outlives_grading(self, course):
        left = []
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and MARK.encode() in (proc / "cmdline").read_bytes():
                    left.append(int(proc.name))
            except OSError:
                continue
        assert left == []


# -- the reader of [limits] ----------------------------------------------------------------------

def test_defaults_fit_the_default_workers_on_a_2_core_24_gib_machine(monkeypatch):
    from coursekit.classgrade import worker

    monkeypatch.setattr(worker, "usable_cores", lambda: 2)
    workers = worker.default_workers()
    assert workers == 3
    # A worker runs one sandbox at a time; each may hold the memory limit. A quarter of the
    # machine is left for nbgrader, the workers' own processes and the system.
    assert workers * LIMITS.memory <= 24 * 1024**3 // 4 and LIMITS.processes >= 32
    assert LIMITS.notebook_seconds >= 60 and LIMITS.checks_seconds >= 60


def test_the_course_states_every_limit_and_the_reader_takes_each_from_the_file(tmp_path):
    """[limits] of course.toml writes each limit out (none left to a default in code), and what
    LIMITS holds is what the file says; a changed value is read, not a default."""
    table = tomllib.loads(MANIFEST_FILE.read_text(encoding="utf-8"))["limits"]
    assert sorted(table) == sorted(limits.KEYS)
    assert (LIMITS.memory_text, LIMITS.file_size_text, LIMITS.processes) == (
        table["memory"], table["file_size"], table["processes"])
    assert {key: getattr(LIMITS, key) for key in (*limits.SECONDS, "cell_seconds")} == {
        key: table[key] for key in (*limits.SECONDS, "cell_seconds")}
    largest = max(len(assignment.tasks) for assignment in COURSE.assignments)  # one submission is of one assignment
    assert LIMITS.task_checks_seconds * largest == LIMITS.checks_seconds
    changed = {key: 2 * table[key] for key in (*limits.SECONDS, "cell_seconds")}
    path = tmp_path / "course.toml"
    path.write_text("[limits]\n" + "".join(f"{key} = {value}\n" for key, value in changed.items()))
    assert {key: getattr(limits.load(path), key) for key in changed} == changed


def test_the_grading_routes_take_their_seconds_from_limits():
    """nbgrader's per-cell timeout, the checks' per-call and per-task seconds and formgrader's
    budget are the [limits] values on every route that sets them."""
    from traitlets.config import Config, PyFileConfigLoader

    from coursekit.grading import client, judge, nbgrader_plugin
    from coursekit.grading.pytest_plugin import OPTIONS

    loader = PyFileConfigLoader("nbgrader_config.py", path=str(REPO_ROOT / "assignments"))
    config = loader.load_config()
    assert config.Execute.timeout == LIMITS.cell_seconds
    judge_cells = nbgrader_plugin.JudgeCells(config=Config())
    assert (judge_cells.op_timeout, judge_cells.budget) == (LIMITS.call_seconds, LIMITS.task_checks_seconds)
    assert nbgrader_plugin.ResilientExecute(config=Config()).budget == LIMITS.notebook_seconds
    options = dict(OPTIONS)
    assert (options["--op-timeout"]["default"], options["--budget"]["default"]) == (
        LIMITS.call_seconds, LIMITS.task_checks_seconds)
    for function in (client.run_plan, judge.judge):
        defaults = inspect.signature(function).parameters
        assert (defaults["op_timeout"].default, defaults["budget"].default) == (
            LIMITS.call_seconds, LIMITS.task_checks_seconds)
    formgrader = subprocess.run(
        [sys.executable, "-c", "import sys; sys.argv = ['jupyter-server']\n"
         "from traitlets.config import PyFileConfigLoader\n"
         f"config = PyFileConfigLoader('nbgrader_config.py', path={str(REPO_ROOT / 'assignments')!r}).load_config()\n"
         "print(config.ResilientExecute.budget)"], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert formgrader.stdout.split()[-1:] == [f"{LIMITS.formgrader_notebook_seconds}"], formgrader.stderr[-2000:]


@pytest.mark.parametrize("key, value, says", [
    ("memory", '"2 GB"', 'expected a size such as "2 GiB"'),
    ("memory", '"100 MiB"', "must be at least 512 MiB"),
    ("processes", "-1", "must be at least 16"),
    ("processes", '"64"', "expected a whole number"),
    ("file_size", "1000", 'expected a size such as'),
    ("notebook_seconds", "true", "expected a number of seconds"),
    ("checks_seconds", "0", "must be at least 5"),
    ("cell_seconds", "60.5", "expected a whole number"),
    ("cell_seconds", "1", "must be at least 5"),
    ("call_seconds", '"10 s"', "expected a number of seconds"),
    ("call_seconds", "0.5", "must be at least 1"),
    ("formgrader_notebook_seconds", "2", "must be at least 5"),
])
def test_a_bad_value_is_refused_naming_file_key_and_value(tmp_path, key, value, says):
    path = tmp_path / "course.toml"
    path.write_text(f"[limits]\n{key} = {value}\n")
    with pytest.raises(limits.LimitsError) as refused:
        limits.load(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: [limits].{key} = ") and says in message
    assert repr(tomllib.loads(f"v = {value}")["v"]) in message


def test_an_unknown_key_is_refused(tmp_path):
    path = tmp_path / "course.toml"
    path.write_text("[limits]\nmemroy = \"2 GiB\"\n")
    with pytest.raises(limits.LimitsError, match=r"course.toml: \[limits\] has unknown key\(s\) memroy"):
        limits.load(path)


def test_reasons_name_the_limit_in_an_instructors_words():
    assert LIMITS.reason("MemoryError", "Unable to allocate 8.00 GiB") == f"used more than {LIMITS.memory_text} of memory"
    assert LIMITS.reason("OSError", "[Errno 27] File too large") == f"wrote a file larger than {LIMITS.file_size_text}"
    assert LIMITS.reason("BlockingIOError", "[Errno 11] Resource temporarily unavailable") == \
        f"started more than {LIMITS.processes} processes"
    assert LIMITS.reason("ValueError", "[Errno 11] shapes differ") is None
    assert LIMITS.reasons_in(["x used more than 2 GiB of memory (the course's limit)", "ok"]) == \
        ["used more than 2 GiB of memory"]


def test_every_sandboxed_command_starts_under_the_limits(tmp_path):
    command = sandbox.bwrap_command(["python3", "-c", "pass"], tmp_path)
    start = command.index("--", command.index("--chdir")) + 1
    assert command[start:start + 5] == LIMITS.prlimit_command()


@pytest.mark.skipif(cgroups.parent_folder() is None, reason="no writable pids cgroup on this machine")
def test_a_pids_group_counts_only_its_own_processes():
    group = cgroups.PidsGroup.create(8)
    try:
        done = subprocess.run([sys.executable, "-c", (
            "import os\nn = 0\ntry:\n    while n < 100:\n        if os.fork() == 0:\n"
            "            import time; time.sleep(2); os._exit(0)\n        n += 1\nexcept OSError as e:\n"
            "    print(n, e.errno)")], preexec_fn=group.enter, capture_output=True, text=True, timeout=60)
        forked, code = map(int, done.stdout.split())
        assert forked < 8 and code == 11 and group.hit()
    finally:
        subprocess.run(["sleep", "2.5"])
        group.remove()
    assert not group.path.exists()
