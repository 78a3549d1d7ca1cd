"""Sphinx extension: accessibility fixes of the theme's and the bibliography's HTML.

After the HTML build it rewrites the pages it wrote (the theme's templates and
sphinxcontrib-bibtex's markup are not ours to edit):

- buttons and toggles whose `aria-label` differs from their visible text lose the label, so
  their accessible name is the text a reader sees, and the colour-mode button's icons lose
  their titles, so its label names it (axe: label-content-name-mismatch);
- the bibliography's entries get role="listitem" instead of the deprecated
  doc-biblioentry, inside their role="list" (axe: aria-required-children);
- every figure of a cell output becomes a link to the full-size file; an SVG figure also gets
  its dark-mode twin (figure_style.dark_svg), shown instead of it when the theme is dark;
- every table cell gets the header of its column as `data-label`, for the phone layout
  of book.css, which shows each row as a card;
- the theme's hidden duplicate sidebar toggles in the top bar are removed: the theme's script
  wires only the first `.primary-toggle`/`.secondary-toggle` of a page, so the visible ones
  opened nothing on a phone (pydata-sphinx-theme#2451); keyboard-focus.js gives focus back
  to a button pressed from the keyboard, which the theme blurs;
- Sphinx's search takes its snippets from the page's body text, leaving out the theme's
  print-only contents block and the TeX source of the formulas;
- the book's own static files (book/_static) are copied again when they changed, which
  Sphinx does not do when no page changed.
"""

import copy
import importlib.util
import re
import shutil
from pathlib import Path

from bs4 import BeautifulSoup
from sphinx.application import Sphinx

_spec = importlib.util.spec_from_file_location("figure_style", Path(__file__).parents[1] / "figure_style.py")
figure_style = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(figure_style)

DARK_SUFFIX = ".dark.svg"
DARK_SRC = re.compile(r'<img[^>]* src="([^"]+\.dark\.svg)"')

SEARCH_REMOVALS_OLD = '[".headerlink", "script", "style"]'
SEARCH_REMOVALS_NEW = '[".headerlink", "script", "style", ".onlyprint", ".math", "mjx-container"]'


def fix_page(markup: str) -> str:
    """The page with the accessibility fixes applied."""
    soup = BeautifulSoup(markup, "html.parser")
    for element in soup.select("summary[aria-label], button.search-button-field[aria-label]"):
        if element.get_text(strip=True):
            del element["aria-label"]
    for icon in soup.select(".theme-switch-button i"):
        # Font Awesome turns an icon's title into an SVG <title>, which axe takes for visible
        # text that the button's label ("Color mode") does not contain.
        icon["aria-hidden"] = "true"
        icon.attrs.pop("title", None)
    for entry in soup.select('[role="doc-biblioentry"]'):
        entry["role"] = "listitem"
    for image in soup.select(".cell_output img, figure img"):
        if image.find_parent("a") is None and image.get("src"):
            link = soup.new_tag("a", href=image["src"], attrs={"class": "figure-full-size"})
            image.wrap(link)
    for image in soup.select("figure img[src$='.svg']"):
        add_dark_twin(image)
    for toggle in soup.select("#pst-header .sidebar-toggle"):
        toggle.decompose()
    for table in soup.select("article table"):
        headers = [th.get_text(" ", strip=True) for th in table.select("thead th")]
        for row in table.select("tbody tr"):
            for header, cell in zip(headers, row.find_all("td", recursive=False)):
                cell["data-label"] = header
    return str(soup)


def dark_twin_name(src: str) -> str:
    """Where the dark-mode twin of an SVG figure lives."""
    return src.removesuffix(".svg") + DARK_SUFFIX


def add_dark_twin(image) -> None:
    """Put the dark twin's linked image beside the figure's (book.css shows one per mode)."""
    link = image.find_parent("a")
    if image["src"].endswith(DARK_SUFFIX) or link is None or link.find_next_sibling("a", class_="figure-dark"):
        return
    link["class"] = ["figure-full-size", "figure-light"]
    twin = copy.copy(link)
    twin["class"] = ["figure-full-size", "figure-dark"]
    twin["href"] = dark_twin_name(link["href"])
    twin.img["src"] = dark_twin_name(image["src"])
    link.insert_after(twin)


def write_dark_twins(images: Path, markup: str) -> None:
    """Write (or refresh) the dark twin of every SVG figure a page shows.

    Looked up by name in the site's _images folder: the single-page build writes its page in
    a subfolder but its image paths relative to the root.
    """
    for src in DARK_SRC.findall(markup):
        twin = images / Path(src).name
        svg = twin.with_name(twin.name.removesuffix(DARK_SUFFIX) + ".svg")
        text = figure_style.dark_svg(svg.read_text(encoding="utf-8"), name=str(svg))
        if not twin.exists() or twin.read_text(encoding="utf-8") != text:
            twin.write_text(text, encoding="utf-8")


def fix_search(static: Path) -> None:
    """Make the search snippets skip print-only blocks and TeX (fails loudly if Sphinx changed)."""
    script = static / "searchtools.js"
    text = script.read_text(encoding="utf-8")
    if SEARCH_REMOVALS_NEW in text:
        return
    if SEARCH_REMOVALS_OLD not in text:
        raise RuntimeError(f"{script}: expected {SEARCH_REMOVALS_OLD} in htmlToText; Sphinx changed it")
    script.write_text(text.replace(SEARCH_REMOVALS_OLD, SEARCH_REMOVALS_NEW, 1), encoding="utf-8")


def refresh_static_files(app: Sphinx, static: Path) -> None:
    """Copy the book's own static files again: Sphinx skips them when no page changed."""
    for folder in app.config.html_static_path:
        source = Path(app.confdir) / folder
        for path in source.rglob("*") if source.is_dir() else []:
            target = static / path.relative_to(source)
            if path.is_file() and (not target.exists() or target.read_bytes() != path.read_bytes()):
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)


def on_build_finished(app: Sphinx, exception: Exception | None) -> None:
    """Rewrite every page the HTML builder wrote."""
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    refresh_static_files(app, out / "_static")
    for page in out.rglob("*.html"):
        if "_static" in page.parts:
            continue
        text = page.read_text(encoding="utf-8")
        fixed = fix_page(text)
        if fixed != text:
            page.write_text(fixed, encoding="utf-8")
        write_dark_twins(out / "_images", fixed)
    fix_search(out / "_static")


def setup(app: Sphinx) -> dict:
    app.add_js_file("keyboard-focus.js", loading_method="defer")
    app.connect("build-finished", on_build_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
