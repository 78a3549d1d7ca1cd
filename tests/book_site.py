"""Helpers for the tests of the built book (tests/test_book_*.py); not a test module itself.

The tests read the site that `make book` builds into _build/html; they never build it.
"""

import contextlib
import functools
import html
import http.server
import re
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import importlib.util

import pytest
import yaml

from coursekit.paths import BUILD_DIR, REPO_ROOT, SITE_DIR, TOC_FILE

SITE = SITE_DIR
SCREENSHOTS = BUILD_DIR / "screenshots"


def toc_pages(toc_file=TOC_FILE):
    """The pages the table of contents promises, relative to the site's root, in reading order."""
    toc = yaml.safe_load(Path(toc_file).read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files.extend(chapter["file"] for chapter in part.get("chapters", []))
    return [f"{name}.html" for name in files]


BOOK_PAGES = toc_pages()


def _load_figure_style():
    """book/figure_style.py, the palettes and contrast function the pages draw with."""
    spec = importlib.util.spec_from_file_location("figure_style", REPO_ROOT / "book" / "figure_style.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


figure_style = _load_figure_style()


def css_colour_to_hex(colour, background="#FFFFFF"):
    """A computed CSS colour, rgb() or rgba() (blended over `background`), as #RRGGBB."""
    values = [float(v) for v in re.findall(r"[\d.]+", colour)]
    red, green, blue, alpha = (values + [1.0])[:4]
    under = [int(background.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4)]
    mixed = [round(alpha * c + (1 - alpha) * u) for c, u in zip((red, green, blue), under)]
    return "#" + "".join(f"{c:02X}" for c in mixed)


def require_site(site=SITE):
    """The built site's folder; fails (not skips) the test when the book has not been built."""
    missing = [page for page in ["index.html", "search.html", *BOOK_PAGES] if not (site / page).is_file()]
    if missing:
        pytest.fail(f"the book is not built ({site} lacks {', '.join(missing)}): run `make book` first")
    return site


def html_pages(site):
    return sorted(site.rglob("*.html"))


# --- solution lines -------------------------------------------------------------------------

_TAG = re.compile(r"<[^>]*>")
_WHITESPACE = re.compile(r"\s+")
_JS_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "", "f": "", "v": "", "0": ""}


def _js_unescape(text):
    """Undo JSON/JavaScript string escapes (\\" \\n \\u003c ...) without failing on odd input."""
    def replace(match):
        code = match.group(1)
        if code[0] in "ux" and len(code) > 1:
            return chr(int(code[1:], 16))
        return _SIMPLE_ESCAPES.get(code, code)
    return _JS_ESCAPE.sub(replace, text)


def text_views(raw):
    """Ways the same code can be spelled in a built file, all with whitespace removed.

    - the raw text (a .txt or .py source, a download),
    - the text of HTML with tags removed and entities decoded (a highlighted code cell, where
      every token sits in its own <span> and ``<`` is ``&lt;``),
    - the raw text with JSON/JavaScript string escapes undone (an .ipynb, the search index),
      also with tags removed (HTML output stored inside a notebook's JSON).
    Removing all whitespace also catches code that was reformatted (``out=x*mask``).
    """
    unescaped = _js_unescape(raw)
    views = {raw, html.unescape(_TAG.sub("", raw)), html.unescape(raw), unescaped,
             html.unescape(_TAG.sub("", unescaped))}
    return [_WHITESPACE.sub("", view) for view in views]


def normalize_line(line):
    return _WHITESPACE.sub("", line)


def solution_hits(site, lines):
    """(file, line) for every solution line found in any file under ``site``."""
    needles = {line: normalize_line(line) for line in lines}
    hits = []
    for path in sorted(p for p in site.rglob("*") if p.is_file()):
        raw = path.read_bytes().decode("utf-8", errors="ignore")
        views = text_views(raw)
        for line, needle in needles.items():
            if any(needle in view for view in views):
                hits.append((str(path.relative_to(site)), line))
    return hits


# --- HTML structure -------------------------------------------------------------------------

class _Collector(HTMLParser):
    """Collects element ids, and the attributes of asset-loading and link elements."""

    ASSET_ATTRIBUTES = {
        "script": ["src"], "img": ["src", "srcset"], "iframe": ["src"], "source": ["src", "srcset"],
        "video": ["src", "poster"], "audio": ["src"], "embed": ["src"], "object": ["data"],
        "input": ["src"], "track": ["src"],
    }

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids = set()
        self.assets = []  # (tag, attribute, value)
        self.links = []  # href of <a>
        self._heading = None
        self.headings = []  # (ids of the heading and its enclosing section chain, text)
        self._open_ids = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if attrs.get(key):
                self.ids.add(attrs[key])
        for attribute in self.ASSET_ATTRIBUTES.get(tag, []):
            if attrs.get(attribute):
                self.assets.append((tag, attribute, attrs[attribute]))
        if tag == "link" and attrs.get("href"):
            rel = (attrs.get("rel") or "").lower()
            # Navigation relations (next, prev, index, search, canonical) are links, not assets.
            if any(word in rel.split() for word in ("stylesheet", "icon", "preload", "modulepreload",
                                                    "prefetch", "manifest", "apple-touch-icon")):
                self.assets.append((tag, "href", attrs["href"]))
        if tag == "a" and attrs.get("href") is not None:
            self.links.append(attrs["href"])
        if tag in ("h1", "h2", "h3", "h4"):
            self._heading = []

    def handle_endtag(self, tag):
        if tag in ("h1", "h2", "h3", "h4") and self._heading is not None:
            self.headings.append(" ".join("".join(self._heading).split()))
            self._heading = None

    def handle_data(self, data):
        if self._heading is not None:
            self._heading.append(data)


def parse_html(text):
    collector = _Collector()
    collector.feed(text)
    return collector


def is_external(url):
    """True for a URL that leaves the site: http(s), protocol-relative, or any other host."""
    parts = urlsplit(url.strip())
    if parts.scheme in ("data", "blob", "about", "javascript", "mailto"):
        return False
    return bool(parts.netloc) or parts.scheme not in ("",)


def external_assets(text):
    """Asset references (scripts, styles, images, fonts...) in an HTML page that leave the site."""
    refs = []
    for tag, attribute, value in parse_html(text).assets:
        candidates = [part.strip().split(" ")[0] for part in value.split(",")] if attribute == "srcset" else [value]
        refs.extend(f"<{tag} {attribute}={candidate}>" for candidate in candidates if is_external(candidate))
    return refs


_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)|@import\s+['"]([^'"]+)['"]""")


def external_css_refs(text):
    """url(...) and @import targets in a stylesheet that leave the site."""
    return [url for match in _CSS_URL.finditer(text) for url in match.groups() if url and is_external(url)]


# --- the site in Debian's Chromium ---------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the site without logging every request."""

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(folder):
    """Serve a folder on localhost; yields the base URL."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def server():
    """The built site served on localhost: (base URL, site folder)."""
    site = require_site()
    with serve(site) as base:
        yield base, site


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright; fails when either is missing."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium "
                    "(.ci/install-system-packages .ci/system-packages.txt)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is missing: it is in the project's 'test' extra (`make setup`)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def book_pages_served(site):
    """Every page of the site: the book's pages, index, search and genindex (not _static/)."""
    return [str(path.relative_to(site)) for path in html_pages(site) if "_static" not in path.parts]


def files_only(outside: list):
    """A route handler for pages opened from files: file: and data: requests go through, any
    other is recorded in ``outside`` and aborted."""
    def handle(route):
        if route.request.url.startswith(("file:", "data:")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort("blockedbyclient")
    return handle


def stay_local(base):
    """A route handler that lets requests to the local server through and aborts all others.

    The request is still recorded by the "request" listener, so the test sees it, but
    nothing leaves the machine.
    """
    local = urlsplit(base).netloc

    def handle(route):
        url = urlsplit(route.request.url)
        if url.scheme in ("data", "blob") or url.netloc == local:
            route.continue_()
        else:
            route.abort("blockedbyclient")
    return handle
