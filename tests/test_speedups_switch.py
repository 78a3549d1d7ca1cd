"""One switch turns off every mechanism that exists only for speed (coursekit/speedups.py), and
grading gives the same verdicts and points either way.

The fault catalogue (tests/faults/catalogue.py) is graded twice by the class command: as it
runs by default (worker server, forked checks, prepared pytest configuration, serving runner,
/dev/shm, malloc settings, nbgrader changed by coursekit/upstream_changes.py) and with
``--simple`` (a new nbgrader process per batch, a new pytest process per submission, a new
runner per plan, nbgrader as it ships). Every check of every task must have the same outcome
and message, and every cell the points tests/faults/points.json records.

Every entry of ``catalogue.ALL`` is graded both ways: about 70 s on the idle 2-core machine
(two class runs of 56 submissions each), of which the ``--simple`` run takes the larger part.
``make test-nbgrader-oldest`` runs this module on the oldest nbgrader allowed as well, with
``CATALOGUE_SAMPLE_EVERY=3``: every third entry plus every entry the catalogue names BROKEN (the
ones that crash, hang, exit or cannot be imported, where the plain runner and the forked one
differ most), 24 of 56, to keep the suite within its time.
"""

import json
import os
import shutil
from pathlib import Path

import pytest

from coursekit import classroom, sandbox
from coursekit.classgrade.worker import VALIDATE_ONCE, worker_arguments
from coursekit.grading import serving
from coursekit.grading.verdict import Verdict, verdict_path
from coursekit.manifest import COURSE
from coursekit.speedups import SIMPLE_ENV, speedups_on
from conftest import CATALOGUE, LIMITS, classgrade

DROPOUT = COURSE.assignment_named("dropout")  # the assignment these tests grade

EVERY = int(os.environ.get("CATALOGUE_SAMPLE_EVERY", "1"))
BROKEN = {variant.name for variant in CATALOGUE.BROKEN}
ENTRIES = [variant for index, variant in enumerate(CATALOGUE.ALL) if index % EVERY == 0 or variant.name in BROKEN]
POINTS = json.loads((Path(__file__).parent / "faults" / "points.json").read_text())
CELLS = tuple(task.grade_cell for task in DROPOUT.tasks)


def student_of(variant):
    return variant.name.replace("-", "_")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """{"speed-ups": course root, "simple": course root}, each graded by the class command."""
    base = tmp_path_factory.mktemp("switch")
    fast = classroom.make_course(base / "fast", **LIMITS)
    classroom.release_course(fast)
    for variant in ENTRIES:
        classroom.submit(fast, student_of(variant), variant)
    simple = base / "simple"
    shutil.copytree(fast, simple, symlinks=True)
    (simple / "nbgrader_config.py").write_text((fast / "nbgrader_config.py").read_text().replace(str(fast), str(simple)))
    for root, extra in ((fast, []), (simple, ["--simple"])):
        done = classgrade(root, "--workers", "2", *extra)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return {"speed-ups": fast, "simple": simple}


def checks_of(root, student):
    folder = root / "autograded" / student / DROPOUT.name
    verdict = Verdict.load(verdict_path(folder, DROPOUT.notebook.removesuffix(".ipynb")))
    return [(c.task, c.check, c.points, c.passed, c.mistake, c.student_code, c.message) for c in verdict.checks]


@pytest.mark.parametrize("variant", ENTRIES, ids=[v.name for v in ENTRIES])
def test_both_ways_give_the_same_verdict_and_the_recorded_points(graded, variant):
    student = student_of(variant)
    points = {way: {cell: score for cell, (score, _) in classroom.cell_scores(root, student).items() if cell in CELLS}
              for way, root in graded.items()}
    assert points["simple"] == points["speed-ups"] == POINTS[variant.name], variant.name
    assert checks_of(graded["simple"], student) == checks_of(graded["speed-ups"], student), variant.name


def test_the_switch_turns_off_each_speed_up(monkeypatch, tmp_path):
    monkeypatch.setenv(SIMPLE_ENV, "1")
    assert not speedups_on()
    assert serving.scratch_root() is None
    assert not any(name.startswith("MALLOC_") for name in sandbox.grading_process_env())
    assert VALIDATE_ONCE not in worker_arguments("dropout", "sqlite:///g.db", ["a"], {"a"}, False)
    runner = serving.serving_runner(tmp_path, None, False, tmp_path)
    try:
        assert isinstance(runner, serving.OneShotRunner)
    finally:
        serving.close_runner()
    monkeypatch.delenv(SIMPLE_ENV)
    assert speedups_on()
    assert VALIDATE_ONCE in worker_arguments("dropout", "sqlite:///g.db", ["a"], {"a"}, False)
    assert any(name.startswith("MALLOC_") for name in sandbox.grading_process_env())
