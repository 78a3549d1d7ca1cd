"""The credit policy's figures on the fault catalogue, from the recorded points (points.json).

For each faulty entry and each grade cell it breaks (earns less than full marks in), the fraction
of that cell's points it keeps. Entries are grouped as the manifest's ``[credit]`` says: a fault
whose named mistakes are all ``incidental`` breaks one property while the behaviour is right;
every other code fault breaks the behaviour; broken submissions (raising, hanging, unwritten,
not importing) come on top in the all-faults figure. Read by tests/test_grading_faults.py, which
asserts the targets, and by the book's assignment page, which shows the figures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from coursekit.manifest import COURSE

DROPOUT = COURSE.assignment_named("dropout")  # the assignment these tests grade
POINTS_FILE = Path(__file__).resolve().with_name("points.json")


@dataclass(frozen=True)
class Figures:
    behaviour: float  # mean kept fraction over the broken cells of behaviour faults
    incidental: float  # the same over incidental faults
    all_faults: float  # the same over every faulty and broken entry
    behaviour_entries: int
    incidental_entries: int
    all_entries: int

    def lines(self) -> list[str]:
        """The figures in words, one per group."""
        tail = "of the points of the parts they break"
        return [f"faults of the behaviour ({self.behaviour_entries} entries) keep on average "
                f"{self.behaviour:.0%} {tail}",
                f"faults of one incidental property ({self.incidental_entries} entries) keep on average "
                f"{self.incidental:.0%} {tail}",
                f"all faulty and broken entries ({self.all_entries}) keep on average {self.all_faults:.0%} {tail}"]


def is_incidental(variant) -> bool:
    """Whether every mistake the entry must be told is one of the manifest's incidental ones."""
    named = {mistake for mistake in variant.expected.values() if mistake}
    return bool(named) and named <= set(COURSE.credit.incidental)


def kept_fractions(variants, points: dict) -> list[float]:
    """Per entry and grade cell it breaks: the fraction of the cell's points it keeps."""
    full = {task.grade_cell: task.points for task in DROPOUT.tasks}
    return [points[v.name][cell] / full[cell] for v in variants for cell in full if points[v.name][cell] < full[cell]]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def figures(faults, broken, points: dict | None = None) -> Figures:
    """The figures of the catalogue's ``faults`` (code faults) and ``broken`` entries."""
    points = points if points is not None else json.loads(POINTS_FILE.read_text())
    incidental = [v for v in faults if is_incidental(v)]
    behaviour = [v for v in faults if not is_incidental(v)]
    return Figures(_mean(kept_fractions(behaviour, points)), _mean(kept_fractions(incidental, points)),
                   _mean(kept_fractions(faults + broken, points)), len(behaviour), len(incidental),
                   len(faults) + len(broken))
