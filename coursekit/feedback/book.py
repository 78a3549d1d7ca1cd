"""Where the feedback sends a student in the book: the published address, or the section itself.

The book's public address is ``html.baseurl`` in ``_config.yml`` (``coursekit/book_address.py``).
With it, links point there; without it, the feedback carries the text of each mistake's
section (read from the book's source), never a link to the instructor's disk.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ..manifest import COURSE
from ..paths import REPO_ROOT

_LABEL = re.compile(r"^\(([\w-]+)\)=\s*$")
_HEADING = re.compile(r"^(#+)\s")


def _page_source(page: str) -> str:
    return (REPO_ROOT / f"{page}.md").read_text(encoding="utf-8")


def section_markdown(page: str, label: str) -> str:
    """The MyST source of the section labelled ``label`` on ``page``, roles made plain Markdown."""
    lines = _page_source(page).splitlines()
    start = next((i for i, line in enumerate(lines) if _LABEL.match(line) and _LABEL.match(line)[1] == label), None)
    if start is None:
        raise KeyError(f"{page}.md has no label ({label})=")
    body, level, fenced = [], None, False
    for line in lines[start + 1:]:
        fenced ^= line.startswith("```")
        heading = None if fenced else _HEADING.match(line)
        if heading and level is not None and len(heading[1]) <= level:
            break
        if heading and level is None:
            level = len(heading[1])
            continue  # the title is shown by the feedback itself
        if not fenced and _LABEL.match(line):
            continue
        body.append(line)
    while body and (not body[-1].strip() or _LABEL.match(body[-1])):
        body.pop()
    return _plain_roles("\n".join(body).strip())


def _plain_roles(text: str) -> str:
    """MyST roles the feedback cannot resolve, as plain words."""
    text = re.sub(r"\{ref\}`([^`<]+?)\s*<[^`>]+>`", r"\1", text)
    text = re.sub(r"\{ref\}`([^`]+)`", lambda m: m[1].replace("-", " "), text)
    text = re.sub(r"\{eq\}`([^`]+)`", lambda m: f"({m[1].removeprefix('eq-').replace('-', ' ')})", text)
    text = re.sub(r"\{(?:doc|numref|cite:\w+|cite)\}`([^`]+)`", r"\1", text)
    return text


@lru_cache(maxsize=None)
def mistake_section(mistake: str) -> str:
    """The book's section on ``mistake`` (Markdown), or "" if the book has none."""
    try:
        return section_markdown(COURSE.mistake_page(mistake), mistake)
    except (OSError, KeyError):
        return ""


@lru_cache(maxsize=None)
def mistake_chapter(mistake: str) -> str:
    """The title of the book page that explains ``mistake`` (its first heading), or "" if unreadable."""
    try:
        page = _page_source(COURSE.mistake_page(mistake))
    except (OSError, KeyError):
        return ""
    return next((line[2:].strip() for line in page.splitlines() if line.startswith("# ")), "")


def book_reference(relative_link: str, book_url: str) -> tuple[str, str]:
    """(href, where) for a link relative to the book's root: an address when the book is published,
    else no href and the page's place in the book in words."""
    if book_url:
        return f"{book_url}/{relative_link}", ""
    return "", relative_link
