"""The record of what the hub's set-up made: accounts, groups, folders (``<root>/made.json``).

Each thing is recorded before it is made, so that ``clean`` removes it even when the set-up
stopped half-way. Nothing that is not in the record is ever removed.
"""

from __future__ import annotations

import json
from pathlib import Path

RECORD_NAME = "made.json"


class Record:
    """What one hub root's set-up made, saved after every change."""

    def __init__(self, root: Path) -> None:
        self.path = root / RECORD_NAME
        data = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.accounts: list[str] = data.get("accounts", [])
        self.groups: list[str] = data.get("groups", [])
        self.folders: list[str] = data.get("folders", [])
        self.settings: dict = data.get("settings", {})

    def add(self, kind: str, name: str) -> None:
        items = getattr(self, kind)
        if name not in items:
            items.append(name)
            self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({"accounts": self.accounts, "groups": self.groups,
                                         "folders": self.folders, "settings": self.settings}, indent=1))
        self.path.chmod(0o600)
