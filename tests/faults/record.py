"""Re-record what every catalogued submission earns: ``python tests/faults/record.py [dropout|dropout2]``.

Judges each entry of the catalogue as tests/test_grading_faults.py does (unconfined, short
limits) and writes ``points.json`` (points per grade cell) and ``feedback.json`` (for each
mistake the grader names: the entry, check and message that show it, and the points per grade
cell it cost that entry); for the second assignment's entries, ``points_dropout2.json``.
Review the diff before committing: the suite compares against them.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent.parent), str(HERE.parent)]

from coursekit.grading.checks_server import ChecksServer  # noqa: E402
from coursekit.grading.judge import checks_environment, judge  # noqa: E402
from coursekit.manifest import COURSE  # noqa: E402
from conftest import CHECKS_LIMITS as LIMITS  # noqa: E402 (the suite's, so both judge alike)
from faults.catalogue import ALL, ATTACKS, DROPOUT2_ALL, DROPOUT2_ASSIGNMENT, FAULTS  # noqa: E402

DROPOUT = COURSE.assignment_named("dropout")  # the assignment these tests grade


def cell_points(verdict) -> dict[str, float]:
    """Points per grade cell, as the nbgrader plugin puts them into the notebook."""
    return {COURSE.task(task).grade_cell: v.points for task, v in verdict.tasks.items()}


def feedback_entry(variant, verdict) -> dict[str, dict]:
    """mistake -> what the first failing check naming it says, and what the entry lost per cell."""
    full = {task.grade_cell: task.points for task in DROPOUT.tasks}
    cost = {cell: full[cell] - points for cell, points in cell_points(verdict).items() if points < full[cell]}
    entries = {}
    for check in verdict.checks:
        if not check.passed and check.mistake and check.mistake not in entries:
            entries[check.mistake] = {"variant": variant.name, "check": check.check, "message": check.message,
                                      "cost": cost}
    return entries


def record() -> None:
    """Judge every entry and write points.json and feedback.json."""
    points, feedback = {}, {}
    server = ChecksServer(checks_environment())
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for variant in ALL + ATTACKS:
                verdict = judge(variant.build(Path(tmp) / variant.name), DROPOUT.task_ids, server=server, **LIMITS)
                points[variant.name] = cell_points(verdict)
                if variant in FAULTS:
                    for mistake, entry in feedback_entry(variant, verdict).items():
                        feedback.setdefault(mistake, entry)
                print(variant.name, points[variant.name], flush=True)
    finally:
        server.close()
    (HERE / "points.json").write_text(json.dumps(points, indent=1, sort_keys=True) + "\n")
    (HERE / "feedback.json").write_text(json.dumps(feedback, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def record_dropout2() -> None:
    """Judge every entry of the second assignment on its tasks and write points_dropout2.json."""
    tasks = COURSE.assignment_named(DROPOUT2_ASSIGNMENT).task_ids
    points = {}
    server = ChecksServer(checks_environment())
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for variant in DROPOUT2_ALL:
                verdict = judge(variant.build(Path(tmp) / variant.name), tasks, server=server, **LIMITS)
                points[variant.name] = cell_points(verdict)
                print(variant.name, points[variant.name], flush=True)
    finally:
        server.close()
    (HERE / "points_dropout2.json").write_text(json.dumps(points, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    chosen = sys.argv[1:] or ["dropout", "dropout2"]
    if "dropout" in chosen:
        record()
    if "dropout2" in chosen:
        record_dropout2()
