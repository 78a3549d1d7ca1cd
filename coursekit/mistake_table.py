"""The manifest's ``[mistakes]``: each mistake's title and the book page whose section explains it.

A mistake is either ``id = "title"`` (its section is on ``[course].mistakes_page``) or
``id = { title = "...", page = "book/<page>" }`` (its section is on that page, e.g. the chapter
that teaches the task). Either way the section's anchor is the mistake id.
"""

from __future__ import annotations

import re
from pathlib import Path

from .toml_tables import ManifestError, TableReader

MISTAKE_ID = re.compile(r"^[a-z][a-z0-9-]*$")  # an HTML anchor
MISTAKE_KEYS = {"title", "page"}


def read_mistakes(path: Path, table: object, default_page: str) -> tuple[dict[str, str], dict[str, str]]:
    """(id -> title, id -> page) of the [mistakes] table, in manifest order."""
    if not isinstance(table, dict) or not table:
        raise ManifestError(f"{path}: [mistakes] must map each mistake id to its title "
                            "(or to a table { title = ..., page = ... })")
    reader = TableReader(path, table, "[mistakes]")
    titles, pages = {}, {}
    for key, value in table.items():
        if not MISTAKE_ID.match(key):
            raise reader.fail(key, f"the id {key!r} must match {MISTAKE_ID.pattern} (it is an anchor)")
        if isinstance(value, dict):
            entry = TableReader(path, value, f"[mistakes].{key}")
            entry.unknown_keys(MISTAKE_KEYS)
            titles[key] = entry.text("title")
            pages[key] = entry.text("page") if "page" in value else default_page
        else:
            titles[key], pages[key] = reader.text(key), default_page
    return titles, pages
