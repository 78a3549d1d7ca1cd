"""The rule that keeps the checks' inputs out of feedback: no number that comes from them.

A message may hold digits only inside the forms below, none of which is an input of the hidden
checks nor a number measured on one: where the student's own code broke (file, line and source
line), dtype names, a number of dimensions ("4-D"), the formulas of the course's notation,
parameter names of the net, the per-call time limit and a process's exit code. Any other digit
(p values, shapes, seeds, losses, errors, fractions, counts) breaks the rule.
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


def hidden_numbers(message: str) -> list[str]:
    """The numbers in ``message`` that the rule does not allow (empty when it keeps the rule)."""
    return re.findall(r"\d[\d.,×e+-]*", ALLOWED.sub(" ", message))
