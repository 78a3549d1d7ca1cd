"""Every catalogue entry earns the same points per cell under both instructor routes, on both assignments.

One course root holds every entry of tests/faults/catalogue.py for dropout (correct, faulty and
broken, the wild ones included) and a sample of dropout2's entries (tests/faults/dropout2.py:
a correct one, faults of each task, the untouched release; the rest are judged directly by
tests/test_dropout2_faults.py), each as a student; a copy of it is graded
by the class command (``python -m coursekit.classgrade``, parallel workers) and the other by one
plain ``nbgrader autograde`` process. Both leave the notebooks' cells unrun (the class
command's default; ``--ResilientExecute.run_notebook=False`` for nbgrader): the points come from
the hidden checks alone, and the routes with the notebooks run are covered by
tests/test_grading_nbgrader.py and tests/test_classgrade.py on other entries. Every cell must
score what tests/faults/points.json (dropout) and points_dropout2.json (dropout2) record, which
tests/test_grading_faults.py and tests/test_dropout2_faults.py keep equal to what the judge says.

``CATALOGUE_SAMPLE_EVERY=N`` grades every N-th entry of the dropout catalogue (the first, then
every N-th after it): ``make test-nbgrader-oldest`` runs the routes on the oldest nbgrader with N = 3.
"""

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from coursekit import classroom
from coursekit.manifest import COURSE
from conftest import CATALOGUE, LIMITS, classgrade

DROPOUT2_SAMPLE = ("d2-binomial-maps", "d2-elementwise", "d2-channels-last", "d2-drops-nothing", "d2-mc-logits",
                   "d2-mc-bn-train", "d2-mc-dropout-off", "d2-mc-log-zero", "d2-student-edition")
ENTRIES = {"dropout": CATALOGUE.ALL[::int(os.environ.get("CATALOGUE_SAMPLE_EVERY", "1"))],
           "dropout2": [CATALOGUE.DROPOUT2_BY_NAME[name] for name in DROPOUT2_SAMPLE]}
POINTS = {name: json.loads((Path(__file__).parent / "faults" / file).read_text())
          for name, file in (("dropout", "points.json"), ("dropout2", "points_dropout2.json"))}
CASES = [(assignment, variant) for assignment, variants in ENTRIES.items() for variant in variants]


def student_of(variant):
    return variant.name.replace("-", "_")


@pytest.fixture(scope="module")
def routes(tmp_path_factory):
    """{route: course root} after grading the same submissions by each route."""
    base = tmp_path_factory.mktemp("routes")
    plain = classroom.make_course(base / "plain", **LIMITS)
    classroom.release_course(plain)
    for assignment, variant in CASES:
        assert variant.assignment == assignment, variant.name
        classroom.submit(plain, student_of(variant), variant)
    parallel = base / "classgrade"
    shutil.copytree(plain, parallel, symlinks=True)
    (parallel / "nbgrader_config.py").write_text(
        (plain / "nbgrader_config.py").read_text().replace(str(plain), str(parallel)))
    for assignment in ENTRIES:
        started = time.monotonic()
        done = classgrade(parallel, "--workers", "2", assignment=assignment)
        seconds = time.monotonic() - started
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        started = time.monotonic()
        classroom.nbgrader(plain, "autograde", assignment, "--ResilientExecute.run_notebook=False")
        print(f"\n{assignment}, {len(ENTRIES[assignment])} submissions: class command {seconds:.1f} s, "
              f"plain nbgrader autograde {time.monotonic() - started:.1f} s")
    return {"classgrade": parallel, "nbgrader": plain}


def cell_points(root, student, assignment):
    cells = {task.grade_cell for task in COURSE.assignment_named(assignment).tasks}
    return {cell: score for cell, (score, _) in classroom.cell_scores(root, student, assignment).items()
            if cell in cells}


@pytest.mark.parametrize("assignment, variant", CASES, ids=[v.name for _, v in CASES])
def test_both_routes_give_the_recorded_points_per_cell(routes, assignment, variant):
    student = student_of(variant)
    by_route = {route: cell_points(root, student, assignment) for route, root in routes.items()}
    assert by_route["classgrade"] == by_route["nbgrader"], variant.name
    assert by_route["nbgrader"] == POINTS[assignment][variant.name], variant.name
