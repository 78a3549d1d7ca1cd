"""Print the single-page build of the book to PDF with Debian's Chromium, offline.

Usage: python book/_ext/print_pdf.py _build/singlehtml _build/pdf/dropout-from-scratch.pdf

The page is served on localhost, every request to another host is aborted, MathJax finishes
typesetting and every figure is loaded before Chromium prints (A4, with backgrounds).
"""

import functools
import http.server
import re
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

# Print layout: no navigation, sidebars or buttons; code and outputs wrap at the page edge.
PRINT_CSS = """
.bd-header, .bd-sidebar-primary, .bd-sidebar-secondary, .bd-header-article, .bd-footer,
.prev-next-area, .headerlink, .copybtn, #pst-skip-link, .theme-switch-button { display: none !important; }
.bd-main .bd-content .bd-article-container { max-width: 100% !important; }
pre { white-space: pre-wrap !important; overflow-wrap: anywhere; }
details.hide > *:not(summary) { display: block !important; }
figure, img { break-inside: avoid; }
"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def print_pdf(site: Path, output: Path) -> None:
    """Write `output`, the PDF of `site`/index.html (a Sphinx singlehtml build)."""
    from playwright.sync_api import sync_playwright

    if not (site / "index.html").is_file():
        raise SystemExit(f"{site}/index.html is missing: build the single-page book first")
    # Jupyter Book's index.html only redirects to the root page, which holds the whole book.
    # Its links are written relative to the site's root, so it is printed from a copy there.
    redirect = re.search(r'url=([^"]+)"', (site / "index.html").read_text(encoding="utf-8"))
    start = "whole-book.html"
    (site / start).write_text((site / (redirect.group(1) if redirect else "index.html")).read_text(
        encoding="utf-8"), encoding="utf-8")
    handler = functools.partial(_Quiet, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1000, "height": 1400})
            page.route("**/*", lambda route: route.continue_()
                       if urlsplit(route.request.url).netloc == urlsplit(base).netloc
                       else route.abort("blockedbyclient"))
            page.goto(f"{base}/{start}", wait_until="networkidle", timeout=120_000)
            page.wait_for_function("() => !window.MathJax || (MathJax.startup && MathJax.startup.promise)",
                                   timeout=60_000)
            page.evaluate("() => window.MathJax ? MathJax.startup.promise.then(() => true) : true")
            page.wait_for_function("() => Array.from(document.images).every(i => i.complete)", timeout=60_000)
            page.add_style_tag(content=PRINT_CSS)
            page.emulate_media(media="print")
            output.parent.mkdir(parents=True, exist_ok=True)
            page.pdf(path=str(output), format="A4", print_background=True,
                     margin={"top": "15mm", "bottom": "15mm", "left": "12mm", "right": "12mm"})
            browser.close()
    finally:
        httpd.shutdown()
        httpd.server_close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    print_pdf(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"wrote {sys.argv[2]}")
