"""Accessibility and reflow gate of the built book, in Debian's Chromium.

Every page is opened at phone (390 px) and desktop (1280 px) width in light and dark mode
with every request off the machine aborted, and
- axe-core (npm, pinned in package.json) must report no WCAG 2.1 A/AA violation,
- no display equation, table, output or code block may be wider than its box (also at 320 px),
- a full-page screenshot goes to _build/screenshots/chapters/<page>-<width>-<mode>.jpg.
Then the checks axe cannot make: written alt text (not a file name) and a caption for every
figure, a full-size link for every figure, every control reachable by keyboard with a
visible focus indicator, and search snippets taken from the body text without raw TeX.
Figures must show their dark-mode twin in dark mode, and their text must render at
MIN_FIGURE_TEXT_PX or more on a phone (measured from the SVG's font sizes and its scale).
"""

import re
from pathlib import Path

import pytest

from book_site import (BOOK_PAGES, SCREENSHOTS, book_pages_served, browser, css_colour_to_hex,  # noqa: F401
                       figure_style, serve, server, stay_local)

AXE = Path(__file__).resolve().parents[1] / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
MODES = ["light", "dark"]
WIDTHS = [390, 1280]
REFLOW_ONLY_WIDTHS = [320]
CHAPTER_SHOTS = SCREENSHOTS / "chapters"

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

# Numbers every visible control, so that focus can be matched even when focusing changes
# an element's attributes (tooltips add aria-describedby).
FOCUSABLE_JS = """() => Array.from(document.querySelectorAll(
        'a[href], button, summary, input, select, textarea, [tabindex]'))
    .filter(el => el.tabIndex >= 0 && !el.disabled && el.offsetParent !== null
                  && getComputedStyle(el).visibility !== 'hidden'
                  // the content of a closed <details> is reached by opening its summary
                  && !(el.tagName !== 'SUMMARY' && el.closest('details:not([open])')))
    .map((el, i) => { el.dataset.kbdIndex = i;
                      return {html: el.outerHTML.slice(0, 80), boxShadow: getComputedStyle(el).boxShadow}; })"""

# The focused element's indicator: its outline, its box shadow, and the colour behind it.
FOCUS_STYLE_JS = """() => {
    const el = document.activeElement, style = getComputedStyle(el);
    let background = 'rgb(255, 255, 255)';
    for (let up = el; up; up = up.parentElement) {
        const colour = getComputedStyle(up).backgroundColor;
        if (colour !== 'transparent' && !/, 0\\)$/.test(colour)) { background = colour; break; }
    }
    return {index: el.dataset.kbdIndex, outlineStyle: style.outlineStyle,
            outlineWidth: parseFloat(style.outlineWidth), outlineColor: style.outlineColor,
            boxShadow: style.boxShadow, background};
}"""

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
    CHAPTER_SHOTS.mkdir(parents=True, exist_ok=True)
    for old in CHAPTER_SHOTS.glob("*.*"):
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
                found[name, mode, width] = seen
            context.close()
    return found


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


@pytest.fixture(scope="module")
def desktop_pages(server, browser):
    """Each book page at 1280 px, light: figures, and the controls reached with the Tab key."""
    base, _ = server
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    found = {}
    page = context.new_page()
    page.route("**/*", stay_local(base))
    for name in BOOK_PAGES:
        _open(page, base, name)
        focusable = page.evaluate(FOCUSABLE_JS)
        reached = {}
        # Formulas are focusable too (MathJax's menu), so Tab stops outnumber the listed controls.
        for _ in range(3 * len(focusable) + 50):
            page.keyboard.press("Tab")
            focused = page.evaluate(FOCUS_STYLE_JS)
            reached[focused["index"]] = focused
            if len(reached) > len(focusable):
                break
        found[name] = {"figures": page.evaluate(FIGURES_JS), "focusable": focusable, "reached": reached}
    context.close()
    return found


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


def test_every_figure_has_alt_text_caption_and_full_size_link(desktop_pages):
    problems = [f"{name}: {text}" for name, seen in desktop_pages.items()
                for text in figure_problems(seen["figures"])]
    assert problems == [], "\n".join(problems)
    assert sum(len(seen["figures"]) for seen in desktop_pages.values()) >= 10


def test_figure_check_can_fail():
    bad = [{"src": "a.png", "alt": "../_images/abc.png", "caption": "", "link": None},
           {"src": "b.svg", "alt": "A curve that rises from zero to one as p grows", "caption": "x", "link": "b.svg"}]
    assert len(figure_problems(bad)) == 3


def test_keyboard_reaches_every_control(desktop_pages):
    problems = [f"{name}: Tab never reaches {control['html']}" for name, seen in desktop_pages.items()
                for index, control in enumerate(seen["focusable"]) if str(index) not in seen["reached"]]
    assert problems == [], "\n".join(problems[:20])


def focus_problem(unfocused, focused):
    """Why a focused control shows no visible indicator (None when it does).

    Visible: an outline at least 1 px wide that is the browser's own focus ring or has 3:1
    contrast with the colour behind the control (WCAG 2.4.7, 1.4.11), or a box shadow that
    appears only on focus (the theme's focus style for some buttons).
    """
    if focused["outlineStyle"] not in ("none", "hidden") and focused["outlineWidth"] >= 1:
        if focused["outlineStyle"] == "auto":
            return None
        background = css_colour_to_hex(focused["background"])
        ratio = figure_style.contrast(css_colour_to_hex(focused["outlineColor"], background), background)
        if ratio >= 3:
            return None
        return f"outline {focused['outlineColor']} has {ratio:.2f}:1 contrast on {focused['background']}"
    if focused["boxShadow"] not in ("none", unfocused["boxShadow"]):
        return None
    return "no outline and no focus shadow"


def test_focus_is_visible_on_every_control(desktop_pages):
    problems = [f"{name}: {control['html']}: {problem}" for name, seen in desktop_pages.items()
                for index, control in enumerate(seen["focusable"]) if str(index) in seen["reached"]
                if (problem := focus_problem(control, seen["reached"][str(index)]))]
    assert problems == [], "\n".join(problems[:20])
    assert sum(len(seen["reached"]) for seen in desktop_pages.values()) >= 100


def test_focus_check_can_fail():
    plain = {"boxShadow": "none"}
    ring = {"outlineStyle": "solid", "outlineWidth": 3.0, "outlineColor": "rgb(10, 115, 200)",
            "boxShadow": "none", "background": "rgb(255, 255, 255)"}
    assert focus_problem(plain, ring) is None
    assert "contrast" in focus_problem(plain, dict(ring, outlineColor="rgba(10, 115, 200, 0.2)"))
    assert focus_problem(plain, dict(ring, outlineStyle="none")) == "no outline and no focus shadow"
    assert focus_problem(plain, dict(ring, outlineStyle="none", boxShadow="rgb(0, 0, 0) 0px 0px 0px 2px")) is None


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
