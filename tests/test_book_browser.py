"""The built book in a real browser: Debian's Chromium, headless, driven by Playwright.

The site (_build/html, built by `make book`) is served on localhost; every page is opened
and must render all its formulas with MathJax, load all its images, log no console error,
request nothing from any other host, and link only to pages and anchors that exist. The
search page must find "dropout". A screenshot of every page goes to _build/screenshots/.
"""

import urllib.request
from urllib.parse import urldefrag, urlsplit

import pytest

from book_site import (SCREENSHOTS, book_pages_served, browser, parse_html, serve,  # noqa: F401
                       server, stay_local)

# Raw TeX that MathJax would have replaced; checked in the visible text outside code blocks
# (a code cell may legitimately print a LaTeX string for a matplotlib label).
RAW_TEX = ["$$", "\\(", "\\)", "\\[", "\\frac", "\\begin{", "\\mathbb", "\\tilde"]

VISIBLE_PROSE_JS = """() => {
    const clone = document.body.cloneNode(true);
    clone.querySelectorAll('pre, code, script, style, mjx-container, .highlight').forEach(e => e.remove());
    document.body.appendChild(clone);         // innerText needs a rendered element
    clone.style.position = 'absolute';
    const text = clone.innerText;
    clone.remove();
    return text;
}"""

MATH_STATE_JS = """() => Array.from(document.querySelectorAll('.math')).map(e => ({
    rendered: e.querySelector('mjx-container') !== null,
    text: e.textContent.slice(0, 60),
}))"""

IMAGES_JS = """() => Array.from(document.images).map(img => ({
    src: img.currentSrc || img.src, complete: img.complete, width: img.naturalWidth,
}))"""


def _visit(browser, base, name, shots=SCREENSHOTS):
    """Open one page; return what the browser saw."""
    seen = {"requests": [], "console_errors": [], "page_errors": [], "failed": []}
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.route("**/*", stay_local(base))
    page.on("request", lambda request: seen["requests"].append(request.url))
    page.on("console", lambda message: message.type == "error" and seen["console_errors"].append(message.text))
    page.on("pageerror", lambda error: seen["page_errors"].append(str(error)))
    page.on("requestfailed", lambda request: seen["failed"].append(f"{request.url} ({request.failure})"))
    try:
        response = page.goto(f"{base}/{name}", wait_until="networkidle", timeout=60_000)
        seen["status"] = response.status if response else None
        # MathJax typesets asynchronously: wait until it has finished, if the page loads it.
        page.wait_for_function("() => !window.MathJax || (MathJax.startup && MathJax.startup.promise)",
                               timeout=30_000)
        page.evaluate("() => window.MathJax ? MathJax.startup.promise.then(() => true) : true")
        seen["mathjax"] = page.evaluate("() => Boolean(window.MathJax && MathJax.version)")
        seen["math"] = page.evaluate(MATH_STATE_JS)
        seen["prose"] = page.evaluate(VISIBLE_PROSE_JS)
        seen["images"] = page.evaluate(IMAGES_JS)
        seen["links"] = page.evaluate("() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
        shot = shots / (name.replace("/", "__").removesuffix(".html") + ".png")
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        seen["screenshot"] = shot
    finally:
        page.close()
    return seen


@pytest.fixture(scope="module")
def visits(server, browser):
    base, site = server
    for old in SCREENSHOTS.glob("*.png"):      # screenshots of a previous run
        old.unlink()
    return {name: _visit(browser, base, name) for name in book_pages_served(site)}


def test_every_page_loads_without_errors(visits):
    problems = []
    for name, seen in visits.items():
        if seen["status"] != 200:
            problems.append(f"{name}: HTTP {seen['status']}")
        problems += [f"{name}: console error: {text}" for text in seen["console_errors"]]
        problems += [f"{name}: page error: {text}" for text in seen["page_errors"]]
        problems += [f"{name}: request failed: {text}" for text in seen["failed"]]
    assert problems == []


def test_nothing_is_requested_from_another_host(server, visits):
    base, _ = server
    local = urlsplit(base).netloc
    outside = sorted({url for seen in visits.values() for url in seen["requests"]
                      if urlsplit(url).scheme not in ("data", "blob") and urlsplit(url).netloc != local})
    assert outside == []
    # The pages did load assets, MathJax's fonts among them, from the local server.
    requested = [url for seen in visits.values() for url in seen["requests"]]
    assert any("/_static/mathjax/" in url and url.endswith(".woff") for url in requested), \
        "no MathJax font was requested: were formulas rendered at all?"


def test_every_formula_is_rendered_by_mathjax(visits):
    problems = []
    for name, seen in visits.items():
        unrendered = [m["text"] for m in seen["math"] if not m["rendered"]]
        if unrendered:
            problems.append(f"{name}: {len(unrendered)} formulas not rendered, e.g. {unrendered[:3]}")
        if seen["math"] and not seen["mathjax"]:
            problems.append(f"{name}: has formulas but MathJax did not load")
        problems += [f"{name}: raw TeX {tex!r} in the visible text" for tex in RAW_TEX if tex in seen["prose"]]
    assert problems == []
    pages_with_math = [name for name, seen in visits.items() if seen["math"]]
    assert len(pages_with_math) >= 8, pages_with_math


def test_every_image_is_loaded(visits):
    broken = [f"{name}: {img['src']}" for name, seen in visits.items() for img in seen["images"]
              if not img["complete"] or img["width"] == 0]
    assert broken == []
    figures = sum(len(seen["images"]) for seen in visits.values())
    assert figures >= 10, f"only {figures} images in the whole book"


def test_every_internal_link_resolves(server, visits):
    base, site = server
    local = urlsplit(base).netloc
    ids = {}

    def anchors_of(url):
        if url not in ids:
            with urllib.request.urlopen(url, timeout=30) as response:
                assert response.status == 200, url
                ids[url] = parse_html(response.read().decode("utf-8", errors="replace")).ids
        return ids[url]

    problems = []
    for name, seen in visits.items():
        for link in sorted(set(seen["links"])):
            if urlsplit(link).netloc != local:
                continue
            target, fragment = urldefrag(link)
            try:
                targets = anchors_of(target)
            except Exception as error:  # HTTP errors and unreachable pages alike
                problems.append(f"{name}: {link}: {error}")
                continue
            if fragment and fragment not in targets:
                problems.append(f"{name}: {link}: no element with id {fragment!r}")
    assert problems == []
    assert len(ids) >= 10


def test_search_finds_dropout(server, browser):
    base, _ = server
    page = browser.new_page()
    page.route("**/*", stay_local(base))
    try:
        page.goto(f"{base}/search.html?q=dropout", wait_until="networkidle", timeout=60_000)
        page.wait_for_selector("#search-results ul.search li", timeout=30_000)
        results = page.locator("#search-results ul.search li a").all_inner_texts()
        page.screenshot(path=str(SCREENSHOTS / "search-dropout.png"), full_page=True)
    finally:
        page.close()
    assert len(results) >= 5, results
    assert any("mistakes" in text.lower() for text in results), results


def test_screenshots_were_saved(visits):
    for name, seen in visits.items():
        assert seen["screenshot"].stat().st_size > 10_000, name


def test_browser_checks_can_fail(browser, tmp_path):
    """A page with a CDN script, raw TeX, a broken image and a console error is caught."""
    (tmp_path / "bad.html").write_text(
        "<html><body><p>\\(x^2\\)</p><img src='missing.png'>"
        "<script src='https://cdn.example.invalid/x.js'></script>"
        "<script>console.error('boom')</script></body></html>")
    with serve(tmp_path) as base:
        seen = _visit(browser, base, "bad.html", shots=tmp_path)
    assert "boom" in " ".join(seen["console_errors"])
    assert any("cdn.example.invalid" in url for url in seen["requests"])
    assert any(img["width"] == 0 for img in seen["images"])
    assert "\\(" in seen["prose"]
