"""Typed reading of the manifest's TOML tables, with errors that name the file, the key and the value."""

from __future__ import annotations

import re
from pathlib import Path


class ManifestError(ValueError):
    """The manifest is malformed; the message names the file, the key and the value."""


class TableReader:
    """Typed access to one table of the manifest, with errors that say where."""

    def __init__(self, path: Path, table: dict, where: str):
        self.path, self.table, self.where = path, table, where

    def fail(self, key: str, problem: str) -> ManifestError:
        value = self.table.get(key, "<missing>")
        return ManifestError(f"{self.path}: {self.where}.{key} = {value!r}: {problem}")

    def text(self, key: str, pattern: re.Pattern | None = None) -> str:
        value = self.table.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "expected a non-empty string")
        if pattern is not None and not pattern.match(value):
            raise self.fail(key, f"must match {pattern.pattern}")
        return value

    def number(self, key: str) -> float:
        value = self.table.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise self.fail(key, "expected a positive number")
        return float(value)

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.table.get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(key, "expected a list of non-empty strings")
        return tuple(value)

    def unknown_keys(self, known: set[str]) -> None:
        extra = sorted(set(self.table) - known)
        if extra:
            raise ManifestError(f"{self.path}: {self.where} has unknown key(s) {', '.join(extra)}; "
                                f"known: {', '.join(sorted(known))}")


def unique(path: Path, what: str, values: list[str]) -> None:
    """A ManifestError naming the first of ``values`` that appears twice."""
    seen = set()
    for value in values:
        if value in seen:
            raise ManifestError(f"{path}: {what} {value!r} appears twice")
        seen.add(value)
