"""Static checks of the built book in _build/html (build it with `make book`).

- no solution line of source_pkg appears anywhere in the site, in any spelling;
- every mistake the grader diagnoses has its anchor on the page its link points to;
- no page source is published, and no page loads an asset from another host;
- footer, numbered equations and bibliography are there.
Each scanner is also run on a planted copy, to show that it can fail.
"""

import html
import json
import re
import shutil

import pytest

from book_site import (BOOK_PAGES, external_assets, external_css_refs, html_pages, parse_html,
                       require_site, solution_hits)
from coursekit.editions import solution_lines
from coursekit.manifest import COURSE


@pytest.fixture(scope="module")
def site():
    return require_site()


@pytest.fixture(scope="module")
def secret_lines():
    lines = solution_lines()
    # Every solution line is scanned for, however short: the shortest ("dx = dout * mask",
    # "out = x * mask") are still specific enough never to occur by accident, and they are
    # exactly the lines a page is most tempted to show.
    assert "dx = dout * mask" in lines and len(lines) >= 10
    return sorted(lines)


# --- solution lines -------------------------------------------------------------------------

def test_no_solution_line_anywhere_in_the_site(site, secret_lines):
    hits = solution_hits(site, secret_lines)
    assert not hits, "solution code published in the site:\n" + "\n".join(f"  {f}: {line}" for f, line in hits)


def _highlighted(line):
    """The line as Pygments renders it in a code cell: one <span> per token, entities escaped."""
    tokens = re.findall(r"\w+|\s+|.", line)
    return "".join(token if token.isspace() else f'<span class="n">{html.escape(token)}</span>' for token in tokens)


def test_solution_scanner_finds_planted_lines(site, secret_lines, tmp_path):
    """The scanner sees a solution line hidden in each way a build could publish one."""
    copy = tmp_path / "html"
    shutil.copytree(site / "book", copy / "book")
    assert solution_hits(copy, secret_lines) == []

    mask_line = next(line for line in secret_lines if "np.random.rand" in line)   # has "<" and "*"
    quoted_line = next(line for line in secret_lines if '"' in line)              # has quotes
    short_line = min(secret_lines, key=len)
    page = copy / "book" / "intro.html"
    page.write_text(page.read_text().replace("</main>", f"<pre>{_highlighted(mask_line)}</pre></main>", 1))
    (copy / "_sources" / "book").mkdir(parents=True)
    (copy / "_sources" / "book" / "fc-net.md.txt").write_text(f"    {short_line}\n")
    notebook = {"cells": [{"cell_type": "code", "source": [f"        {quoted_line}\n"]}]}
    (copy / "_downloads").mkdir()
    (copy / "_downloads" / "fc-net.ipynb").write_text(json.dumps(notebook))
    squeezed = secret_lines[0].replace(" ", "")
    (copy / "book" / "extra.js").write_text(f"var s = {json.dumps(squeezed)};")

    found = solution_hits(copy, secret_lines)
    assert ("book/intro.html", mask_line) in found
    assert ("_sources/book/fc-net.md.txt", short_line) in found
    assert ("_downloads/fc-net.ipynb", quoted_line) in found
    assert ("book/extra.js", secret_lines[0]) in found


# --- mistakes anchors -----------------------------------------------------------------------

SMART_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})
_HEADING = re.compile(r"<h([1-6])[^>]*>(.*?)</h\1>", re.DOTALL)


def mistake_anchor_problems(page_html, mistakes):
    """Problems with the anchors: each id must exist and the next heading must be its title."""
    problems = []
    ids = parse_html(page_html).ids
    for mistake_id, title in mistakes.items():
        if mistake_id not in ids:
            problems.append(f"no element with id {mistake_id!r}")
            continue
        position = re.search(rf'id="{re.escape(mistake_id)}"', page_html).end()
        heading = _HEADING.search(page_html, position)
        text = " ".join(html.unescape(re.sub(r"<[^>]*>", "", heading.group(2))).split()) if heading else ""
        text = re.sub(r"^[\d.]+\s*", "", text).rstrip("#").strip()
        text = text.translate(SMART_QUOTES)  # docutils' smartquotes typesets ' as ’
        if text != title:
            problems.append(f"#{mistake_id} is followed by the heading {text!r}, not {title!r}")
    return problems


def mistakes_by_page():
    """The built page each mistake's link points to -> {mistake id: title}."""
    pages = {}
    for mistake in COURSE.mistakes:  # every task's mistakes are among them (the manifest checks)
        page, _, anchor = COURSE.mistake_link(mistake).partition("#")
        assert anchor == mistake, f"{mistake}: its link {COURSE.mistake_link(mistake)!r} is not to its own anchor"
        pages.setdefault(page, {})[mistake] = COURSE.mistakes[mistake]
    return pages


def test_every_mistake_has_its_anchor(site):
    """Every mistake id of every task: a section with that anchor, titled as the manifest says,
    on the page the feedback links it to (the mistakes chapter, or the chapter [mistakes] names)."""
    pages = mistakes_by_page()
    assert set(pages) >= {f"{COURSE.mistakes_page}.html"}
    problems = [f"{page}: {problem}" for page, mistakes in pages.items()
                for problem in mistake_anchor_problems((site / page).read_text(), mistakes)]
    assert problems == []


def test_the_chapters_anchors_are_checked_where_the_links_point():
    """dropout2's own mistakes link to its chapters, not to the mistakes chapter."""
    pages = mistakes_by_page()
    assert "spatial-mask-elementwise" in pages["book/spatial-dropout.html"]
    assert "entropy-in-bits" in pages["book/mc-dropout.html"]


@pytest.mark.parametrize("task", COURSE.tasks, ids=COURSE.task_ids)
def test_every_task_links_a_section_of_the_book(site, task):
    """The feedback links each task to its teaching section: that page and anchor must exist."""
    page, _, anchor = task.book_link().partition("#")
    assert (site / page).is_file(), f"{task.id}: the manifest's book = {task.book!r}, but {page} is not built"
    assert f'id="{anchor}"' in (site / page).read_text(), f"{task.id}: {page} has no element with id {anchor!r}"


def test_anchor_check_reports_a_missing_anchor(site):
    page = (site / f"{COURSE.mistakes_page}.html").read_text()
    on_page = mistakes_by_page()[f"{COURSE.mistakes_page}.html"]
    broken = page.replace('id="seed-ignored"', 'id="seed-ignored-typo"')
    assert mistake_anchor_problems(broken, on_page) == ["no element with id 'seed-ignored'"]
    renamed = dict(on_page, **{"dtype-changed": "Some other title"})
    assert len(mistake_anchor_problems(page, renamed)) == 1


# --- no sources, no downloads, no external assets -------------------------------------------

SOURCE_SUFFIXES = (".ipynb", ".md", ".py", ".rst")


def test_no_page_sources_published(site):
    assert not (site / "_sources").exists(), "_sources/ is published (html_copy_source must be false)"
    leaked = [str(p.relative_to(site)) for p in site.rglob("*")
              if p.suffix in SOURCE_SUFFIXES or p.name.endswith(".md.txt") or p.name.endswith(".ipynb.txt")]
    assert leaked == []
    for page in html_pages(site):
        text = page.read_text()
        links = [link for link in parse_html(text).links
                 if "_sources" in link or link.split("#")[0].split("?")[0].endswith(SOURCE_SUFFIXES)]
        assert links == [], f"{page.relative_to(site)} links to page sources: {links}"
        assert "btn-download" not in text and "download-source-button" not in text, \
            f"{page.relative_to(site)} has a download button"


def test_no_asset_is_loaded_from_another_host(site):
    problems = []
    for page in html_pages(site):
        problems += [f"{page.relative_to(site)}: {ref}" for ref in external_assets(page.read_text())]
    for sheet in site.rglob("*.css"):
        problems += [f"{sheet.relative_to(site)}: {url}" for url in external_css_refs(sheet.read_text(errors="ignore"))]
    assert problems == []


def test_external_asset_check_can_fail():
    page = ('<html><head><script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"></script>'
            '<link rel="stylesheet" href="//fonts.example.org/a.css"><link rel="next" href="b.html">'
            '<script src="_static/local.js"></script></head><body><img srcset="x.png 1x, http://h/y.png 2x">'
            '<a href="https://arxiv.org/abs/1207.0580">a link is not an asset</a></body></html>')
    assert len(external_assets(page)) == 3
    assert external_css_refs("@font-face{src:url('https://fonts.gstatic.com/x.woff2')} a{b:url(local.png)}") \
        == ["https://fonts.gstatic.com/x.woff2"]


def test_mathjax_is_served_by_the_site(site):
    page = (site / "book" / "inverted-dropout.html").read_text()
    scripts = [value for tag, _, value in parse_html(page).assets if tag == "script"]
    mathjax = [src for src in scripts if "mathjax" in src.lower()]
    assert mathjax, "no MathJax script on a page full of equations"
    for src in mathjax:
        local = (site / "book" / src.split("?")[0]).resolve()
        assert local.is_file(), f"MathJax script {src} is not a file of the site"
    fonts = list((site / "_static" / "mathjax").rglob("*.woff"))
    assert fonts, "MathJax's fonts are not in the site"


# --- footer, equations, citations -----------------------------------------------------------

def test_footer_names_title_author_and_copyright(site):
    for name in ["book/intro.html", "book/mistakes.html"]:
        page = (site / name).read_text()
        footer = re.search(r'<footer class="bd-footer-content">(.*?)</footer>', page, re.DOTALL)
        assert footer, f"{name} has no content footer"
        text = " ".join(html.unescape(re.sub(r"<[^>]*>", " ", footer.group(1))).split())
        assert "Dropout, from scratch" in text
        assert "By the Dropout from Scratch course team" in text
        assert "© Copyright 2026" in text


def test_equations_are_numbered_and_cross_referenced(site):
    page = (site / "book" / "inverted-dropout.html").read_text()
    numbers = re.findall(r'<span class="eqno">\((\d+\.\d+)\)', page)
    assert len(numbers) >= 6 and numbers == sorted(numbers, key=lambda n: tuple(map(int, n.split("."))))
    # A reference from another chapter links to the equation and shows its number.
    other = (site / "book" / "backward-pass.html").read_text()
    assert re.search(r'href="inverted-dropout\.html#equation-eq-inverted"[^>]*>\(\d+\.\d+\)', other)


def test_bibliography_has_the_papers(site):
    page = html.unescape((site / "book" / "references.html").read_text())
    for needle in ["1207.0580", "1929", "DropConnect", "Bayesian Approximation", "Batch Normalization",
                   "Hinton", "Srivastava", "Wan", "Gal", "Ioffe"]:
        assert needle.lower() in page.lower(), needle
    citing = (site / "book" / "why-dropout.html").read_text()
    assert 'href="references.html#id' in citing or "references.html#" in citing


def test_every_chapter_is_in_the_site(site):
    for name in BOOK_PAGES:
        text = (site / name).read_text()
        assert "<h1>" in text or "<h1 " in text, name
