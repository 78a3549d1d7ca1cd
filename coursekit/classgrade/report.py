"""The class report: a PNG an instructor can take in at a glance, and the same figures as CSV.

- ``scores.csv``: one row per submission: student, status (graded / pending / crashed /
  timed out / missing files / failed / interrupted / not graded; "pending" when hand-graded parts
  wait for a grader, counted as formgrader and ``nbgrader export`` count them), score and max score (empty, never 0,
  when the gradebook holds no grade of that submission), one column per task of the course
  manifest with that task's points from the verdicts, what this run did, and why.
- ``score_histogram.csv``: the histogram of the PNG, one column per status.
- ``checks.csv``: per hidden check, how many graded submissions passed it, how many failed
  it and how (student code raised, crashed, timed out, was not run), the pass rate, and the
  mistake the failures named most often.
- ``class_report.png``: the score histogram (stacked by status) and the pass rate of every
  hidden check, worst first, labelled with the mistake named most often.

Everything per task or per check comes from the submissions' ``Verdict`` objects; the task
columns follow the assignment's tasks in the manifest (one report per assignment).
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Mapping, Sequence

from ..grading.verdict import Verdict
from ..manifest import COURSE
from .status import CRASHED, GRADED, MISSING, PENDING, TIMED_OUT, WITH_GRADE, Outcome

HISTOGRAM_STATUSES = WITH_GRADE  # the statuses of a submission with a grade
COLOURS = {GRADED: "#4C72B0", PENDING: "#8172B3", CRASHED: "#C44E52", TIMED_OUT: "#DD8452", MISSING: "#8C8C8C"}
# Submissions whose checks count in the pass rates: missing files say nothing about mistakes.
CHECKED_STATUSES = (GRADED, PENDING, CRASHED, TIMED_OUT)
# How a failed check's student code ended -> its column in checks.csv.
FAILURE_COLUMNS = {"error": "raised", "crashed": "crashed", "timeout": "timed_out", "not-run": "not_run"}
CHECK_FIELDS = ["task", "check", "points", "submissions", "passed", "failed", "raised", "crashed", "timed_out",
                "not_run", "pass_rate", "most_named_mistake", "mistake_title", "times_named"]

Verdicts = Mapping[str, Mapping[str, Verdict]]  # student -> notebook -> verdict


def check_rows(outcomes: Sequence[Outcome], verdicts: Verdicts) -> list[dict]:
    """One row per hidden check, in the order the checks run (``name``, the check in words, is
    for the PNG; checks.csv leaves it out)."""
    rows: dict[tuple[str, str], dict] = {}
    for outcome in outcomes:
        if not outcome.graded or outcome.status not in CHECKED_STATUSES:
            continue
        for _, verdict in sorted(verdicts.get(outcome.student, {}).items()):
            for check in verdict.checks:
                row = rows.setdefault((check.task, check.check), {
                    "task": check.task, "check": check.check, "name": check.name, "points": check.points, "submissions": 0,
                    "passed": 0, "failed": 0, **dict.fromkeys(FAILURE_COLUMNS.values(), 0), "_mistakes": Counter()})
                row["submissions"] += 1
                if check.passed:
                    row["passed"] += 1
                    continue
                row["failed"] += 1
                if check.student_code in FAILURE_COLUMNS:
                    row[FAILURE_COLUMNS[check.student_code]] += 1
                if check.mistake:
                    row["_mistakes"][check.mistake] += 1
    result = []
    for row in rows.values():
        mistakes = row.pop("_mistakes")
        mistake, count = mistakes.most_common(1)[0] if mistakes else ("", 0)
        row["pass_rate"] = round(row["passed"] / row["submissions"], 4) if row["submissions"] else ""
        row["most_named_mistake"] = mistake
        row["mistake_title"] = COURSE.mistakes.get(mistake, "")
        row["times_named"] = count
        result.append(row)
    return result


def task_points(verdicts: Mapping[str, Verdict], tasks: Sequence[str]) -> dict[str, float | None]:
    """{task: points} of one submission from its verdicts (None for a task no verdict holds)."""
    found: dict[str, float | None] = dict.fromkeys(tasks)
    for verdict in verdicts.values():
        for task, task_verdict in verdict.tasks.items():
            if task in found:
                found[task] = (found[task] or 0.0) + task_verdict.points
    return found


def score_rows(outcomes: Sequence[Outcome], verdicts: Verdicts, tasks: Sequence[str]) -> list[dict]:
    """One row per submission for scores.csv; task points only where the gradebook holds a grade."""
    rows = []
    for o in outcomes:
        points = task_points(verdicts.get(o.student, {}), tasks) if o.score is not None else dict.fromkeys(tasks)
        rows.append({"student": o.student, "status": o.status, "score": _number(o.score),
                     "max_score": _number(o.max_score), **{task: _number(points[task]) for task in tasks},
                     "this_run": o.run, "detail": o.detail})
    return rows


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def histogram(outcomes: Sequence[Outcome]) -> tuple[list[float], dict[str, list[int]]]:
    """(bin edges, {status: counts}) of the scores held by the gradebook."""
    scored = [o for o in outcomes if o.score is not None and o.status in HISTOGRAM_STATUSES]
    top = max([o.max_score or 0 for o in scored] + [1])
    bins = int(top) if float(top).is_integer() and top <= 50 else 50
    width = top / bins
    edges = [round(i * width, 6) for i in range(bins + 1)]
    counts = {status: [0] * bins for status in HISTOGRAM_STATUSES}
    for o in scored:
        index = min(int(o.score / width), bins - 1) if o.score > 0 else 0
        counts[o.status][index] += 1
    return edges, counts


def _write_csv(path: Path, fields: list[str], rows: list[dict]) -> None:
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def write_report(outcomes: Sequence[Outcome], verdicts: Verdicts, report_dir: Path, assignment: str,
                 tasks: Sequence[str] = ()) -> dict[str, Path]:
    """Write the CSV files and the PNG of ``assignment`` into ``report_dir``; returns their paths.

    ``verdicts``: {student: {notebook: Verdict}}; ``tasks``: the task columns of scores.csv
    (default: the assignment's tasks in the manifest).
    """
    tasks = tuple(tasks) or COURSE.assignment_named(assignment).task_ids
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    paths = {"scores": report_dir / "scores.csv", "histogram": report_dir / "score_histogram.csv",
             "checks": report_dir / "checks.csv", "png": report_dir / "class_report.png"}

    _write_csv(paths["scores"], ["student", "status", "score", "max_score", *tasks, "this_run", "detail"],
               score_rows(outcomes, verdicts, tasks))

    edges, counts = histogram(outcomes)
    _write_csv(paths["histogram"], ["bin_start", "bin_end", *HISTOGRAM_STATUSES],
               [{"bin_start": f"{edges[i]:g}", "bin_end": f"{edges[i + 1]:g}",
                 **{status: counts[status][i] for status in HISTOGRAM_STATUSES}} for i in range(len(edges) - 1)])

    checks = check_rows(outcomes, verdicts)
    _write_csv(paths["checks"], CHECK_FIELDS, checks)
    _plot(paths["png"], outcomes, edges, counts, checks, assignment)
    return paths


def _plot(path: Path, outcomes: Sequence[Outcome], edges: list[float], counts: dict[str, list[int]],
          checks: list[dict], assignment: str) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    statuses = Counter(o.status for o in outcomes)
    scored = [o.score for o in outcomes if o.score is not None]
    height = max(5.0, 0.42 * len(checks) + 2.0)
    fig, (left, right) = plt.subplots(1, 2, figsize=(15, height), gridspec_kw={"width_ratios": [1, 1.35]})

    bottom = [0] * (len(edges) - 1)
    widths = [edges[i + 1] - edges[i] for i in range(len(edges) - 1)]
    for status in HISTOGRAM_STATUSES:
        if any(counts[status]):
            left.bar(edges[:-1], counts[status], width=widths, bottom=bottom, align="edge", color=COLOURS[status],
                     edgecolor="white", label=f"{status} ({sum(counts[status])})")
            bottom = [b + c for b, c in zip(bottom, counts[status])]
    left.set_xlim(edges[0], edges[-1])
    left.set_xlabel(f"score (of {edges[-1]:g}; hand-graded parts count 0 until graded)")
    left.set_ylabel("submissions")
    mean = f", mean {sum(scored) / len(scored):.1f}" if scored else ""
    pending = f"; {statuses[PENDING]} wait for hand grading" if statuses[PENDING] else ""
    left.set_title(f"Scores: {len(scored)} submission(s) with a grade{mean}{pending}")
    left.yaxis.get_major_locator().set_params(integer=True)
    if any(bottom):
        left.legend(loc="upper left")
    unscored = Counter(o.status for o in outcomes if o.score is None)
    if unscored:
        left.text(0.99, 0.98, "without a grade:\n" + "\n".join(f"{n} {s}" for s, n in sorted(unscored.items())),
                  transform=left.transAxes, ha="right", va="top", fontsize=9,
                  bbox={"facecolor": "white", "edgecolor": "#bbbbbb"})

    ordered = sorted(checks, key=lambda r: (r["pass_rate"] if r["pass_rate"] != "" else 1.0, r["task"], r["check"]),
                     reverse=True)
    labels = [f"{r['task']}: {r['name']}" for r in ordered]
    rates = [100 * (r["pass_rate"] or 0) for r in ordered]
    colours = ["#55A868" if rate >= 80 else "#DD8452" if rate >= 50 else "#C44E52" for rate in rates]
    positions = range(len(ordered))
    right.barh(list(positions), rates, color=colours)
    right.set_yticks(list(positions), labels, fontsize=9)
    right.set_xlim(0, 100)
    right.set_xlabel("submissions passing the check (%)")
    checked = max([r["submissions"] for r in ordered] + [0])
    right.set_title(f"Hidden checks, hardest first ({checked} checked submission(s))")
    for y, row, rate in zip(positions, ordered, rates):
        note = f"{rate:.0f}%"
        if row["mistake_title"]:
            note += f"  {row['mistake_title']} ({row['times_named']})"
        inside = rate > 55
        right.text(rate - 1 if inside else rate + 1, y, note, va="center", ha="right" if inside else "left",
                   fontsize=8, color="white" if inside else "black")
    if not ordered:
        right.text(0.5, 0.5, "no verdicts yet", transform=right.transAxes, ha="center")

    fig.suptitle(f"{assignment}: {len(outcomes)} submission(s) — "
                 + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())), fontsize=13)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
