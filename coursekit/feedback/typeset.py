"""The feedback page's formulas, typeset once when the page is made: SVG plus MathML, no script.

MathJax (the npm package ``mathjax-full``, pinned in package.json) runs in one Node.js process
per ``generate_feedback`` run (``typeset_math.js``), which serves every page of the class. Code
blocks, style sheets and embedded images, where MathJax looks for no math, are held back while
the page travels, so the process parses only the page's prose.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from ..paths import REPO_ROOT

SCRIPT = Path(__file__).resolve().parent / "typeset_math.js"
NODE_MODULES = REPO_ROOT / "node_modules"
MATHJAX_PACKAGE = NODE_MODULES / "mathjax-full"
NODE_ENV = "DROPOUT_NODE"  # the node executable, when it is not `node` on PATH
# Where MathJax finds no math (pre, style) or that it need not read (data: URIs): held back.
_HELD = re.compile(r"(<pre\b[^>]*>)(.*?)(</pre>)|(<style\b[^>]*>)(.*?)(</style>)|(=\")(data:[^\"]*)(\")",
                   re.S | re.I)
_TOKEN = "\ue000held-{}\ue001"
_TOKENS = re.compile("\ue000held-(\\d+)\ue001")


class TypesetError(RuntimeError):
    """The formulas could not be typeset; the message says what is missing or what failed."""


@dataclass
class Typeset:
    html: str
    formulas: int
    errors: list[str]  # the TeX of formulas MathJax could not read


def node_executable() -> str:
    """The Node.js executable: $DROPOUT_NODE, else `node` on PATH; TypesetError if neither."""
    chosen = os.environ.get(NODE_ENV) or "node"
    found = shutil.which(chosen)
    if not found:
        where = f"${NODE_ENV}={chosen}" if os.environ.get(NODE_ENV) else "`node` on PATH"
        raise TypesetError(f"Node.js not found ({where}): install the Debian package nodejs (make setup)")
    return found


def missing_part() -> str:
    """Why typesetting cannot run here ('' when it can)."""
    try:
        node_executable()
    except TypesetError as error:
        return str(error)
    if not (MATHJAX_PACKAGE / "package.json").is_file():
        return f"{MATHJAX_PACKAGE} not found: run `npm ci` in {REPO_ROOT} (make setup)"
    return ""


def hold_back(page: str) -> tuple[str, list[str]]:
    """The page with code, styles and data URIs replaced by tokens, and the held texts."""
    held: list[str] = []

    def keep(match: re.Match) -> str:
        start, body, end = (g for g in match.groups() if g is not None)
        held.append(body)
        return f"{start}{_TOKEN.format(len(held) - 1)}{end}"

    return _HELD.sub(keep, page), held


def put_back(page: str, held: list[str]) -> str:
    """Undo hold_back."""
    return _TOKENS.sub(lambda m: held[int(m[1])], page)


class MathTypesetter:
    """One Node.js process running typeset_math.js, fed one page per request."""

    def __init__(self, timeout: float = 120) -> None:
        missing = missing_part()
        if missing:
            raise TypesetError(missing)
        self.timeout = timeout
        env = dict(os.environ, NODE_PATH=str(NODE_MODULES))
        self.stderr = tempfile.TemporaryFile("w+", encoding="utf-8")  # a pipe nobody reads could fill up
        self.process = subprocess.Popen([node_executable(), str(SCRIPT)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.stderr, text=True,
                                        encoding="utf-8", env=env, cwd=REPO_ROOT)
        self.answers: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.answers.put(line)
        self.answers.put("")

    def typeset(self, page: str) -> Typeset:
        """The page with every formula as SVG (and MathML for screen readers)."""
        skeleton, held = hold_back(page)
        try:
            self.process.stdin.write(json.dumps({"html": skeleton}) + "\n")
            self.process.stdin.flush()
            line = self.answers.get(timeout=self.timeout)
        except (OSError, queue.Empty) as error:
            raise TypesetError(f"MathJax ({SCRIPT.name}) gave no answer: {error!r}") from error
        if not line:
            self.stderr.seek(0)
            raise TypesetError(f"MathJax ({SCRIPT.name}) stopped: {self.stderr.read()[-2000:]}")
        answer = json.loads(line)
        if "error" in answer:
            raise TypesetError(f"MathJax ({SCRIPT.name}) failed on the page: {answer['error']}")
        return Typeset(put_back(answer["html"], held), answer["count"], answer["errors"])

    def close(self) -> None:
        """End the process."""
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.stderr.close()


_shared: MathTypesetter | None = None


def typeset_page(page: str) -> Typeset:
    """Typeset one page with the process shared by this run (started on first use)."""
    global _shared
    if _shared is None or _shared.process.poll() is not None:
        _shared = MathTypesetter()
        atexit.register(_shared.close)
    return _shared.typeset(page)
