"""A child process spoken to in JSON lines: requests on its stdin, one JSON object per line on
its stdout. The grading's two servers are such processes: the checks server
(``grading/checks_server.py``) and the nbgrader worker server (``classgrade/forkserver.py``)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import time


class JsonLinesProcess:
    """The parent's side of the conversation with ``process`` (stdin and stdout pipes)."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self._buffer = b""

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process.poll() is None

    def send(self, message: dict) -> None:
        """Write one request; OSError (BrokenPipeError) when the process is gone."""
        self.process.stdin.write((json.dumps(message) + "\n").encode())
        self.process.stdin.flush()

    def reply(self, deadline: float) -> dict | None:
        """The next line, or None if none came before ``deadline`` (``time.monotonic``), the
        process closed its stdout, or the line is not a JSON object."""
        stream = self.process.stdout
        while b"\n" not in self._buffer:
            left = max(0.0, deadline - time.monotonic())
            if not select.select([stream], [], [], left)[0]:
                return None
            chunk = os.read(stream.fileno(), 65536)
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            message = json.loads(line)
        except ValueError:
            return None
        return message if isinstance(message, dict) else None

    def close(self) -> None:
        """Stop the process: it ends when its stdin closes, or is killed after 10 s."""
        try:
            self.process.stdin.close()
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
