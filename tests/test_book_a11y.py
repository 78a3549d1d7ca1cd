"""Accessibility and reflow gate of the built book, in Debian's Chromium.

Every page is opened at phone (390 px) and desktop (1280 px) width in light and dark mode
with every request off the machine aborted, and
- axe-core (npm, pinned in package.json) must report no WCAG 2.1 A/AA violation,
- no display equation, table, output or code block may be wider than its box (also at 320 px),
- a full-page screenshot goes to _build/screenshots/chapters/<page>-<width>-<mode>.jpg.
Then the checks axe cannot make: written alt text (not a file name) and a caption for every
figure, a full-size link for every figure, every control reachable by keyboard with a
visible focus indicator (at 1280 px light, 1280 px dark and 390 px light, where the sidebars
open from toggle buttons; tests/book_keyboard.py), and search snippets taken from the body
text without raw TeX. Screenshots of focused controls go to _build/screenshots/focus/.
Figures must show their dark-mode twin in dark mode, and their text must render at
MIN_FIGURE_TEXT_PX or more on a phone (measured from the SVG's font sizes and its scale).
"""

import re
from pathlib import Path

import pytest

from book_keyboard import (drawer_problems, drawer_walks, focus_problem, focus_screenshots, keyboard_walk,
                           walk_problems)
from book_site import (BOOK_PAGES, SCREENSHOTS, book_pages_served, browser,  # noqa: F401
                       serve, server, stay_local)

AXE = Path(__file__).resolve().parents[1] / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
MODES = ["light", "dark"]
WIDTHS = [390, 1280]
REFLOW_ONLY_WIDTHS = [320]
CHAPTER_SHOTS = SCREENSHOTS / "chapters"
FOCUS_SHOTS = SCREENSHOTS / "focus"
# Where the keyboard walk runs, on every book page; below 992 px the sidebars are drawers.
KEYBOARD_VIEWS = [(1280, "light"), (390, "light"), (1280, "dark")]
DRAWER_WIDTH = 992
FOCUS_SHOT_PAGE = "book/why-dropout.html"

# Boxes a reader must see whole. An element overflows when its content is wider than its own
# box (a hidden sideways scroll) or when it sticks out of the article column.
OVERFLOW_JS = """() => {
    const article = document.querySelector('article.bd-article') || document.body;
    const limit = article.getBoundingClientRect().right + 1;
    const kinds = {
        'equation': 'mjx-container[display="true"]',
        'table': 'article table',
        'output': 'article .cell_output pre, article .output pre',
        'code': 'article .cell_input pre, article div.highlight pre',
        'figure': 'article img',
    };
    const found = [];
    for (const [kind, selector] of Object.entries(kinds)) {
        for (const el of document.querySelectorAll(selector)) {
            if (el.closest('.d-none, [hidden]') || el.offsetParent === null) continue;
            const box = el.getBoundingClientRect();
            let scroller = el;           // the box that would scroll: the element or a wrapper
            for (let up = el; up && up !== article; up = up.parentElement) {
                if (up.scrollWidth > up.clientWidth + 1 && getComputedStyle(up).overflowX !== 'visible') {
                    scroller = up; break;
                }
            }
            const hidden = scroller.scrollWidth - scroller.clientWidth;
            if (hidden > 1 || box.right > limit) {
                found.push({kind, text: el.textContent.trim().slice(0, 50),
                            hidden, sticksOut: Math.round(box.right - limit)});
            }
        }
    }
    return found;
}"""

FIGURES_JS = """() => Array.from(document.querySelectorAll('article img')).map(img => ({
    src: img.getAttribute('src'), alt: img.getAttribute('alt') || '',
    caption: (img.closest('figure') && img.closest('figure').querySelector('figcaption'))
             ? img.closest('figure').querySelector('figcaption').textContent.trim() : '',
    link: img.closest('a') ? img.closest('a').getAttribute('href') : null,
}))"""

# Each visible figure: its SVG's smallest font size times the scale at which it is shown.
FIGURE_TEXT_JS = """async () => {
    const found = [];
    for (const img of document.querySelectorAll('article figure img')) {
        if (img.offsetParent === null) continue;
        const svg = new DOMParser().parseFromString(
            await (await fetch(img.currentSrc || img.src)).text(), 'image/svg+xml').documentElement;
        const sizes = Array.from(svg.querySelectorAll('text'), t =>
            parseFloat((/font-size:\\s*([0-9.]+)px/.exec(t.getAttribute('style') || '') || [0, 'NaN'])[1]))
            .filter(size => !Number.isNaN(size));
        const scale = img.getBoundingClientRect().width / svg.viewBox.baseVal.width;
        found.push({src: img.getAttribute('src'), smallest: Math.min(...sizes) * scale, texts: sizes.length});
    }
    return found;
}"""
MIN_FIGURE_TEXT_PX = 9.5

FILE_NAME_ALT = re.compile(r"(\.(png|jpe?g|svg|gif)\b|^\.\./|_images/|^[0-9a-f]{16,})", re.I)


def content_pages(site: Path) -> list[str]:
    """The pages of the site, without the redirect that index.html is (it has no content)."""
    return [name for name in book_pages_served(site)
            if 'http-equiv="Refresh"' not in (site / name).read_text(encoding="utf-8")[:2000]]


def _open(page, base, name):
    """Load a page of the site into an open tab and wait for MathJax to finish typesetting."""
    page.goto(f"{base}/{name}", wait_until="load", timeout=60_000)
    page.wait_for_function("() => !window.MathJax || (MathJax.startup && MathJax.startup.promise)",
                           timeout=30_000)
    page.evaluate("() => window.MathJax ? MathJax.startup.promise.then(() => true) : true")
    return page


def _axe(page):
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        AXE_TAGS)
    return [f"{v['id']} ({v['impact']}): {v['help']} -- {v['nodes'][0]['target']} "
            f"{v['nodes'][0].get('failureSummary', '')[:160]!r} x{len(v['nodes'])}"
            for v in result["violations"]]


@pytest.fixture(scope="module")
def audits(server, browser):
    """For every page, mode and width: axe violations, overflowing boxes, the screenshot."""
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: `make setup` installs the npm packages of package.json")
    base, site = server
    for folder in (CHAPTER_SHOTS, FOCUS_SHOTS):
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.*"):
            old.unlink()
    found = {}
    for mode in MODES:
        for width in WIDTHS + (REFLOW_ONLY_WIDTHS if mode == "light" else []):
            context = browser.new_context(viewport={"width": width, "height": 900})
            context.add_init_script(f"localStorage.setItem('mode', '{mode}'); localStorage.setItem('theme', '{mode}');")
            page = context.new_page()
            page.route("**/*", stay_local(base))
            for name in content_pages(site):
                _open(page, base, name)
                seen = {"overflow": page.evaluate(OVERFLOW_JS),
                        "theme": page.evaluate("() => document.documentElement.dataset.theme")}
                if width == 390:
                    seen["figure_text"] = page.evaluate(FIGURE_TEXT_JS)
                if width in WIDTHS:
                    seen["axe"] = _axe(page)
                    shot = CHAPTER_SHOTS / f"{name.replace('/', '__').removesuffix('.html')}-{width}-{mode}.jpg"
                    # JPEG: a tall page encodes several times faster than as PNG.
                    page.screenshot(path=str(shot), full_page=True, type="jpeg", quality=80)
                    seen["screenshot"] = shot
                if name in BOOK_PAGES and (width, mode) in KEYBOARD_VIEWS:
                    seen.update(_keyboard(page, name, width, mode))
                found[name, mode, width] = seen
            context.close()
    return found


def _keyboard(page, name, width, mode):
    """The Tab walk of a loaded page, its sidebar drawers on a phone, and its figures on a desktop."""
    seen = {"keyboard": keyboard_walk(page)}
    if width < DRAWER_WIDTH:
        seen["drawers"] = drawer_walks(page)
    if (width, mode) == KEYBOARD_VIEWS[0]:
        seen["figures"] = page.evaluate(FIGURES_JS)
    if name == FOCUS_SHOT_PAGE and (width, mode) != KEYBOARD_VIEWS[0]:
        focus_screenshots(page, FOCUS_SHOTS, f"{width}-{mode}", drawers=width < DRAWER_WIDTH)
    return seen


def keyboard_views(audits, key):
    """(page, view, result) of the keyboard walk's `key` for every page and view."""
    return [(name, f"{width}px {mode}", seen[key]) for (name, mode, width), seen in audits.items() if key in seen]


def test_dark_mode_was_really_shown(audits):
    assert {seen["theme"] for (_, mode, _), seen in audits.items() if mode == "dark"} == {"dark"}
    assert {seen["theme"] for (_, mode, _), seen in audits.items() if mode == "light"} == {"light"}


def test_axe_finds_no_wcag_violation(audits):
    problems = [f"{name} {mode} {width}px: {text}" for (name, mode, width), seen in audits.items()
                for text in seen.get("axe", [])]
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("width", WIDTHS + REFLOW_ONLY_WIDTHS)
def test_nothing_is_wider_than_its_box(audits, width):
    problems = [f"{name} {mode}: {box['kind']} {box['text']!r} hides {box['hidden']} px, "
                f"sticks out {box['sticksOut']} px"
                for (name, mode, w), seen in audits.items() if w == width for box in seen["overflow"]]
    assert problems == [], "\n".join(problems)


def small_figure_text(figures, mode):
    """Figures whose text is too small, or that show the wrong twin for the colour mode."""
    problems = []
    for figure in figures:
        if figure["texts"] == 0 or figure["smallest"] < MIN_FIGURE_TEXT_PX:
            problems.append(f"{figure['src']}: smallest text {figure['smallest']:.1f} px")
        if figure["src"].endswith(".dark.svg") != (mode == "dark"):
            problems.append(f"{figure['src']}: shown in {mode} mode")
    return problems


def test_figure_text_is_readable_on_a_phone_in_both_modes(audits):
    problems = [f"{name} {mode}: {text}" for (name, mode, width), seen in audits.items() if width == 390
                for text in small_figure_text(seen["figure_text"], mode)]
    assert problems == [], "\n".join(problems)
    assert sum(len(seen.get("figure_text", [])) for seen in audits.values()) >= 2 * 12


def test_figure_text_check_can_fail():
    figures = [{"src": "a.svg", "smallest": 6.9, "texts": 30}, {"src": "b.svg", "smallest": 10.2, "texts": 9}]
    assert len(small_figure_text(figures, "light")) == 1
    assert len(small_figure_text(figures, "dark")) == 3


def test_screenshots_of_every_chapter(audits):
    for page in BOOK_PAGES:
        for mode in MODES:
            for width in WIDTHS:
                assert audits[page, mode, width]["screenshot"].stat().st_size > 10_000, (page, mode, width)


def figure_problems(figures):
    """Figures whose alt text is missing or a file name, or that lack a caption or full-size link."""
    problems = []
    for figure in figures:
        if len(figure["alt"].split()) < 5 or FILE_NAME_ALT.search(figure["alt"]):
            problems.append(f"{figure['src']}: alt text {figure['alt']!r} is not a written description")
        if not figure["caption"]:
            problems.append(f"{figure['src']}: no caption")
        if not figure["link"]:
            problems.append(f"{figure['src']}: no link to the full-size figure")
    return problems


def test_every_figure_has_alt_text_caption_and_full_size_link(audits):
    figures = keyboard_views(audits, "figures")
    problems = [f"{name}: {text}" for name, _, seen in figures for text in figure_problems(seen)]
    assert problems == [], "\n".join(problems)
    assert sum(len(seen) for _, _, seen in figures) >= 10


def test_figure_check_can_fail():
    bad = [{"src": "a.png", "alt": "../_images/abc.png", "caption": "", "link": None},
           {"src": "b.svg", "alt": "A curve that rises from zero to one as p grows", "caption": "x", "link": "b.svg"}]
    assert len(figure_problems(bad)) == 3


def test_keyboard_reaches_every_control_with_visible_focus(audits):
    walks = keyboard_views(audits, "keyboard")
    problems = [f"{name} {view}: {text}" for name, view, walk in walks for text in walk_problems(walk)]
    assert problems == [], "\n".join(problems[:20])
    assert len(walks) == len(KEYBOARD_VIEWS) * len(BOOK_PAGES)
    for width, mode in KEYBOARD_VIEWS:   # several hundred controls per view on the ten pages
        assert sum(len(walk["reached"]) for _, view, walk in walks if view == f"{width}px {mode}") >= 300


def test_sidebar_drawers_open_walk_and_close_by_keyboard_on_a_phone(audits):
    drawers = keyboard_views(audits, "drawers")
    problems = [f"{name} {view}: {text}" for name, view, seen in drawers for text in drawer_problems(seen)]
    assert problems == [], "\n".join(problems[:20])
    assert len(drawers) == len(BOOK_PAGES) and all("primary-toggle" in seen for _, _, seen in drawers)
    assert sorted(path.name for path in FOCUS_SHOTS.glob("*.png")) == [
        "site-navigation-390-light.png", "text-link-1280-dark.png", "text-link-390-light.png"]


def test_focus_check_can_fail():
    plain = {"boxShadow": "none"}
    ring = {"outlineStyle": "solid", "outlineWidth": 3.0, "outlineColor": "rgb(10, 115, 200)",
            "boxShadow": "none", "background": "rgb(255, 255, 255)"}
    assert focus_problem(plain, ring) is None
    assert "contrast" in focus_problem(plain, dict(ring, outlineColor="rgba(10, 115, 200, 0.2)"))
    assert focus_problem(plain, dict(ring, outlineStyle="none")) == "no outline and no focus shadow"
    assert focus_problem(plain, dict(ring, outlineStyle="none", boxShadow="rgb(0, 0, 0) 0px 0px 0px 2px")) is None
    # A shadow that the theme fades in is transparent at first; a pale one is not enough.
    assert focus_problem(plain, dict(ring, outlineStyle="none", boxShadow="rgba(0, 0, 0, 0) 0px 0px 0px 0px")) \
        == "no outline and no focus shadow"
    assert "1.2" in focus_problem(plain, dict(ring, outlineStyle="none", boxShadow="rgb(230, 230, 230) 0px 0px 0px 3px"))
    drawer = {"dialog": "menu", "buttons": 2, "returned": False, "controls": [dict(plain, html="<a>")], "reached": {}}
    assert len(drawer_problems({"primary-toggle": dict(drawer, controls=[])})) == 2
    assert len(drawer_problems({"primary-toggle": drawer})) == 2
    assert drawer_problems({"primary-toggle": dict(drawer, dialog=None)}) == ["primary-toggle (2 visible): Enter opens no sidebar"]


def test_search_snippets_come_from_the_body_text(server, browser):
    base, _ = server
    page = browser.new_page()
    page.route("**/*", stay_local(base))
    try:
        page.goto(f"{base}/search.html?q=variance", wait_until="networkidle", timeout=60_000)
        page.wait_for_selector("#search-results ul.search li p.context", timeout=30_000)
        page.wait_for_timeout(1500)   # snippets arrive one page fetch at a time
        snippets = page.locator("#search-results ul.search li p.context").all_inner_texts()
        page.screenshot(path=str(SCREENSHOTS / "search-variance.png"), full_page=True)
    finally:
        page.close()
    assert len(snippets) >= 3, snippets
    for snippet in snippets:
        assert not re.search(r"\\\(|\\\)|\\\[|\\frac|\\mathbb|\\tilde", snippet), f"raw TeX in {snippet!r}"
        assert "Contents" not in snippet.split()[:3], f"snippet from the print-only contents: {snippet!r}"
