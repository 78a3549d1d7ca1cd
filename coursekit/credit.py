"""The course's credit policy (``[credit]`` of the manifest): which behaviour each check
presupposes, so a layer that does nothing cannot collect the points of checks that presuppose
it works, and the targets the fault catalogue is held to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .toml_tables import ManifestError, TableReader


@dataclass(frozen=True)
class Credit:
    """The credit policy: which behaviour each check presupposes, and its targets."""

    rule: str
    identity_max_points: float
    behaviour_kept_max: float  # mean fraction of a broken cell's points a fault of the behaviour keeps
    presupposes: dict[str, str]  # check name -> the behaviour it presupposes
    incidental: tuple[str, ...] = ()  # mistake ids that break one incidental property only


def read_credit(path: Path, table: object, mistakes: dict[str, str]) -> Credit | None:
    """The [credit] table, or None when the manifest has none."""
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ManifestError(f"{path}: [credit] = {table!r}: expected a table")
    reader = TableReader(path, table, "[credit]")
    reader.unknown_keys({"rule", "identity_max_points", "behaviour_kept_max", "incidental", "presupposes"})
    presupposes = table.get("presupposes") or {}
    checks = TableReader(path, presupposes, "[credit.presupposes]")
    if not isinstance(presupposes, dict):
        raise reader.fail("presupposes", "expected a table: check name -> behaviour")
    kept = reader.number("behaviour_kept_max")
    if kept > 1:
        raise reader.fail("behaviour_kept_max", "expected a fraction between 0 and 1")
    incidental = reader.texts("incidental") if "incidental" in table else ()
    unknown = [mistake for mistake in incidental if mistake not in mistakes]
    if unknown:
        raise reader.fail("incidental", f"{unknown[0]!r} is not a mistake id of [mistakes]")
    return Credit(rule=reader.text("rule"), identity_max_points=reader.number("identity_max_points"),
                  behaviour_kept_max=kept, presupposes={key: checks.text(key) for key in presupposes},
                  incidental=incidental)
