"""The offline PDF of the book (`make pdf`: the single-page build printed by Debian's Chromium).

Checked with poppler's pdftotext and pdffonts: every chapter is there in reading order, every
figure's caption is there, and the equations were typeset by MathJax (its web fonts are
embedded, every equation number of the site is printed, no TeX source is left in the text).
"""

import re
import shutil
import subprocess

import pytest

from book_site import BOOK_PAGES, require_site
from coursekit.paths import BUILD_DIR

PDF = BUILD_DIR / "pdf" / "dropout-from-scratch.pdf"
TEX_SOURCE = re.compile(r"\\(frac|mathbb|begin\{|operatorname|sum_)")


def _run(*command):
    if shutil.which(command[0]) is None:
        pytest.fail(f"{command[0]} is missing: Debian's poppler-utils (.ci/system-packages.txt)")
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def pdf_text():
    if not PDF.is_file():
        pytest.fail(f"{PDF} is missing: run `make pdf` first")
    return _run("pdftotext", "-layout", str(PDF), "-")


def chapter_titles(site):
    """The <h1> of every page of the table of contents, in reading order."""
    titles = []
    for page in BOOK_PAGES:
        heading = re.search(r"<h1[^>]*>(.*?)</h1>", (site / page).read_text(encoding="utf-8"), re.S)
        titles.append(" ".join(re.sub(r"<[^>]+>|#", "", heading.group(1)).split()))
    return titles


def test_every_chapter_is_in_the_pdf_in_order(pdf_text):
    text = " ".join(pdf_text.split())
    position = 0
    for title in chapter_titles(require_site()):
        found = re.compile(re.escape(title).replace(r"\ ", r"\s+")).search(text, position)
        assert found, f"chapter {title!r} is not in {PDF.name}, or not after the one before it"
        position = found.end()


def test_every_figure_caption_is_in_the_pdf(pdf_text):
    site = require_site()
    captions = sorted({number for page in BOOK_PAGES
                       for number in re.findall(r'<span class="caption-number">Fig\. ([\d.]+)',
                                                (site / page).read_text(encoding="utf-8"))})
    assert len(captions) >= 10, captions
    missing = [number for number in captions if f"Fig. {number}" not in pdf_text]
    assert missing == []


def test_equations_are_typeset(pdf_text):
    # Chromium embeds MathJax's web fonts as unnamed Type 3 fonts; the equation numbers are
    # MathJax's output too.
    assert "Type 3" in _run("pdffonts", str(PDF)), "no web font embedded: MathJax did not typeset"
    site = require_site()
    numbers = set(re.findall(r'<span class="eqno">\((\d+\.\d+)\)', "".join(
        (site / page).read_text(encoding="utf-8") for page in BOOK_PAGES)))
    assert len(numbers) >= 15
    assert [number for number in sorted(numbers) if f"({number})" not in pdf_text] == []
    assert TEX_SOURCE.findall(pdf_text) == [], "TeX source printed instead of typeset equations"
    assert int(re.search(r"Pages:\s+(\d+)", _run("pdfinfo", str(PDF))).group(1)) >= 40


def test_tex_check_can_fail():
    assert TEX_SOURCE.findall(r"the variance is $\frac{p}{1-p}$") == ["frac"]
