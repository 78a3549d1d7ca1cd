"""What a message to the student may show: no number that comes from the hidden checks' inputs.

A message may hold digits only inside the forms of ``ALLOWED``, none of which is an input of the
hidden checks nor a number measured on one: where the student's own code broke (file, line and
source line), dtype names, a number of dimensions ("4-D"), the formulas of the course's notation,
parameter names of the net, the per-call time limit and a process's exit code. Any other digit
(p values, shapes, seeds, losses, errors, fractions, counts) breaks the rule.

The checks' own messages are written to keep it (the suite asserts it on every verdict); the
text of an exception the student's code raised is not ours, so ``mask_input_numbers`` takes the
numbers out of it (numpy names the shapes of the arrays it could not broadcast, for one).
"""

from __future__ import annotations

import re

ALLOWED = re.compile("|".join((
    r" at [\w./-]+\.py, line \d+(?: \(.*?\))?(?=[,.:;]?(?: |$))",  # the student's file, line, source line
    r"\([\w.-]+\.py, line \d+\)",  # the same, as Python's SyntaxError puts it
    r"\b(?:float|int|uint|complex)\d+\b",  # dtype names
    r"\b\d-D\b",  # number of dimensions
    r"1 ?/ ?\(1 ?- ?p\)|\b1 - p\b|\b1/p\b|\[0, 1\)",  # the course's formulas
    r"\b(?:W|b|gamma|beta)\d+\b|\bL2\b",  # parameter names of the net, L2 regularization
    r"\bwithin \d+(?:\.\d+)? s\b",  # the time limit of one call
    r"\bexit code -?\d+\b",  # how the student's process ended
)))
NUMBER = re.compile(r"\d[\d.,×e+-]*")
HIDDEN = "…"  # what stands for a number taken out
MASKED_NOTE = " (numbers left out: they may come from the checks' inputs)"


def hidden_numbers(message: str) -> list[str]:
    """The numbers in ``message`` that the rule does not allow (empty when it keeps the rule)."""
    return NUMBER.findall(ALLOWED.sub(" ", message))


def mask_input_numbers(text: str) -> tuple[str, bool]:
    """``text`` with every number the rule does not allow replaced by an ellipsis (the allowed
    forms kept as they are), and whether anything was replaced (then say ``MASKED_NOTE``)."""
    pieces, start, masked = [], 0, False
    for allowed in [*ALLOWED.finditer(text), None]:
        end = allowed.start() if allowed else len(text)
        piece, count = NUMBER.subn(HIDDEN, text[start:end])
        pieces.append(piece)
        masked |= count > 0
        if allowed:
            pieces.append(allowed.group())
            start = allowed.end()
    return "".join(pieces).strip(), masked
