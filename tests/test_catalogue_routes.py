"""Every catalogue entry earns the same points per cell under both instructor routes.

One course root holds every entry of tests/faults/catalogue.py (correct, faulty and broken,
the wild ones included) as a student; a copy of it is graded
by the class command (``python -m coursekit.classgrade``, parallel workers) and the other by one
plain ``nbgrader autograde`` process. Both leave the notebooks' cells unrun (the class
command's default; ``--ResilientExecute.run_notebook=False`` for nbgrader): the points come from
the hidden checks alone, and the routes with the notebooks run are covered by
tests/test_grading_nbgrader.py and tests/test_classgrade.py on other entries. Every cell must
score what tests/faults/points.json records, which tests/test_grading_faults.py keeps equal to
what the judge says directly.

``CATALOGUE_SAMPLE_EVERY=N`` grades every N-th entry of ``catalogue.ALL`` (the first, then every
N-th after it): ``make test-nbgrader-oldest`` runs the routes on the oldest nbgrader with N = 3.
"""

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from coursekit import classroom
from coursekit.manifest import COURSE
from conftest import CATALOGUE, classgrade, make_class

DROPOUT = COURSE.assignment_named("dropout")  # the assignment these tests grade
ENTRIES = CATALOGUE.ALL[::int(os.environ.get("CATALOGUE_SAMPLE_EVERY", "1"))]
POINTS = json.loads((Path(__file__).parent / "faults" / "points.json").read_text())
CELLS = tuple(task.grade_cell for task in DROPOUT.tasks)


def student_of(variant):
    return variant.name.replace("-", "_")


@pytest.fixture(scope="module")
def routes(tmp_path_factory):
    """{route: (course root, seconds)} after grading the same submissions by each route."""
    base = tmp_path_factory.mktemp("routes")
    plain = make_class(base / "plain", {student_of(variant): variant.name for variant in ENTRIES})
    parallel = base / "classgrade"
    shutil.copytree(plain, parallel, symlinks=True)
    (parallel / "nbgrader_config.py").write_text(
        (plain / "nbgrader_config.py").read_text().replace(str(plain), str(parallel)))
    timings = {}
    started = time.monotonic()
    done = classgrade(parallel, "--workers", "2")
    timings["classgrade"] = time.monotonic() - started
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    started = time.monotonic()
    classroom.nbgrader(plain, "autograde", DROPOUT.name, "--ResilientExecute.run_notebook=False")
    timings["nbgrader"] = time.monotonic() - started
    print(f"\n{len(ENTRIES)} submissions: class command {timings['classgrade']:.1f} s, "
          f"plain nbgrader autograde {timings['nbgrader']:.1f} s")
    return {"classgrade": parallel, "nbgrader": plain}


def cell_points(root, student):
    return {cell: score for cell, (score, _) in classroom.cell_scores(root, student).items() if cell in CELLS}


@pytest.mark.parametrize("variant", ENTRIES, ids=[v.name for v in ENTRIES])
def test_both_routes_give_the_recorded_points_per_cell(routes, variant):
    student = student_of(variant)
    by_route = {route: cell_points(root, student) for route, root in routes.items()}
    assert by_route["classgrade"] == by_route["nbgrader"], variant.name
    assert by_route["nbgrader"] == POINTS[variant.name], variant.name
