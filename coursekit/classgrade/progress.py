"""The progress of a class run: a bar on a terminal, one line per submission otherwise (logs, CI)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from .status import GRADED, PENDING, Outcome


class Progress:
    """Count submissions done, failures so far and time left."""

    def __init__(self, total: int, mode: str = "auto", stream: TextIO | None = None):
        self.total, self.done, self.failures = total, 0, 0
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        if mode == "auto":
            mode = "bar" if self.stream.isatty() else "lines"
        self.mode = mode if total else "none"
        self.bar = None
        if self.mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="submission", file=self.stream, dynamic_ncols=True,
                            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]")
            self.bar.set_postfix_str("failures 0")

    def eta(self) -> str:
        """Time left, HH:MM:SS, from the mean time per submission so far."""
        if not self.done:
            return "?"
        seconds = (time.monotonic() - self.started) / self.done * (self.total - self.done)
        return time.strftime("%H:%M:%S", time.gmtime(seconds))

    def update(self, outcome: Outcome) -> None:
        """Count one submission done; anything but ``graded`` or ``pending`` counts as a failure."""
        self.done += 1
        if outcome.status not in (GRADED, PENDING):
            self.failures += 1
        if self.mode == "bar":
            self.bar.set_postfix_str(f"failures {self.failures}", refresh=False)
            self.bar.update(1)
        elif self.mode == "lines":
            print(f"[{self.done:>{len(str(self.total))}}/{self.total}] {outcome.student}: {outcome.status}"
                  f" | failures so far {self.failures} | time left {self.eta()}", file=self.stream, flush=True)

    def note(self, text: str) -> None:
        """Show a line of text without breaking the bar."""
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        elif self.mode != "none":
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        """End the bar, if any."""
        if self.bar is not None:
            self.bar.close()
