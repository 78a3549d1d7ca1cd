"""Adversarial submissions through the real nbgrader pipeline, confined by bubblewrap.

The class is graded in two rounds: first the honest students, then (with plain
``nbgrader autograde dropout``, which skips students already graded) the attackers. Between the
rounds nothing of the honest students may change: their folders and their gradebook rows are
compared byte for byte. Each attacker must score exactly what the same submission scores
without its attack.
"""

import hashlib
import sqlite3

import pytest

from coursekit import classroom, sandbox
from coursekit.manifest import COURSE
from conftest import CATALOGUE, make_class

DROPOUT = COURSE.assignment_named("dropout")  # the assignment these tests grade

pytestmark = pytest.mark.skipif(sandbox.probe() is not None, reason=f"bwrap unusable: {sandbox.probe()}")

AUTO = tuple(task.grade_cell for task in DROPOUT.tasks)
FULL = {task.grade_cell: task.points for task in DROPOUT.tasks}
HONEST = {"ada": "bool-mask", "bob": "stubs", "cleo": "identity-forward"}
ATTACKERS = {"xena": "attack-delegate", "yuri": "attack-read-checks", "zed": "attack-tamper",
             "vic": "attack-rewrite-self", "wes": "attack-patch"}


def tree_digest(folder):
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(folder)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def honest_state(root):
    folders = {f"{step}/{student}": tree_digest(root / step / student)
               for step in ("submitted", "autograded") for student in HONEST}
    db = sqlite3.connect(root / "gradebook.db")
    rows = db.execute(
        "SELECT st.id, g.cell_id, g.auto_score, g.manual_score FROM grade g "
        "JOIN submitted_notebook n ON g.notebook_id = n.id JOIN submitted_assignment a ON n.assignment_id = a.id "
        "JOIN student st ON a.student_id = st.id WHERE st.id IN (?, ?, ?) ORDER BY st.id, g.cell_id",
        tuple(HONEST)).fetchall()
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    return folders, rows


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = make_class(tmp_path_factory.mktemp("course"), HONEST, cell_timeout=20, op_timeout=5, budget=30)
    classroom.nbgrader(root, "autograde", DROPOUT.name)
    before = honest_state(root)
    for student, variant in ATTACKERS.items():
        classroom.submit(root, student, CATALOGUE.BY_NAME[variant])
    classroom.nbgrader(root, "autograde", DROPOUT.name)
    return root, before, honest_state(root)


def scores(root, student):
    return {cell: score for cell, (score, _) in classroom.cell_scores(root, student).items() if cell in AUTO}


def report(root, student):
    path = root / "autograded" / student / DROPOUT.name / CATALOGUE.ATTACK_REPORT
    return path.read_text() if path.exists() else ""


def test_honest_students_folders_and_grades_unchanged(course):
    root, before, after = course
    assert after == before
    assert scores(root, "ada") == FULL


@pytest.mark.parametrize("attacker", sorted(ATTACKERS))
def test_attack_scores_what_the_submission_without_it_scores(course, attacker):
    root, *_ = course
    baseline_student = next(s for s, v in HONEST.items() if v == CATALOGUE.BASELINES[ATTACKERS[attacker]])
    assert scores(root, attacker) == scores(root, baseline_student)


def test_kernel_could_not_find_the_solution_or_the_checks(course):
    root, *_ = course
    assert "instructor layers.py: not found" in report(root, "xena")
    assert "hidden checks: not found" in report(root, "yuri")


def test_kernel_could_not_reach_the_gradebook_or_other_folders(course):
    root, *_ = course
    text = report(root, "zed")
    assert "gradebook: not found" in text and "submitted: not found" in text and "tampered" not in text


def test_rewriting_the_package_in_the_kernel_changes_nothing_graded(course):
    root, *_ = course
    assert "rewrote" in report(root, "vic")  # its own autograded copy is writable ...
    fc_net = COURSE.task("fc_net").grade_cell
    assert scores(root, "vic") == dict.fromkeys(AUTO, 0.0) | {fc_net: FULL[fc_net]}  # ... the snapshot is not
