"""The book's public address: one setting, ``html.baseurl`` in ``_config.yml`` (the setting
Sphinx and Jupyter Book use for the published site). The judge's reports and the feedback page
link there; without it they carry the book's sections instead, never a link to the
instructor's disk.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

from .paths import REPO_ROOT

BOOK_CONFIG = REPO_ROOT / "_config.yml"


class BookSettingError(ValueError):
    """The book's address is malformed; the message names the file, the key and the value."""


def public_book_url(config: Path = BOOK_CONFIG) -> str:
    """The book's public address from ``html.baseurl`` in ``config``; "" when none is set."""
    try:
        found = Path(config).stat()
    except OSError:
        return ""
    return _public_book_url(str(config), (found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns))


@lru_cache(maxsize=4)
def _public_book_url(config: str, version: tuple[int, ...]) -> str:
    # Parsed once per version of the file: nbgrader asks again for every notebook it grades.
    try:
        data = yaml.safe_load(Path(config).read_text(encoding="utf-8")) or {}
    except OSError:
        return ""
    except yaml.YAMLError as error:
        raise BookSettingError(f"{config}: not valid YAML: {error}") from error
    html = data.get("html") or {}
    value = html.get("baseurl", "") if isinstance(html, dict) else ""
    if value in ("", None):
        return ""
    if not isinstance(value, str) or not re.match(r"^https?://[^\s/]+", value):
        raise BookSettingError(f"{config}: html.baseurl = {value!r}: expected the book's public http(s) address, "
                               "e.g. https://example.edu/dropout/ (or leave it out: the feedback then carries "
                               "the book's sections)")
    return value.rstrip("/")
