"""The rule that keeps the checks' inputs out of feedback: the grader's own, re-exported for the
catalogue's tests (one definition: coursekit/grading/disclosure.py)."""

from coursekit.grading.disclosure import ALLOWED, hidden_numbers

__all__ = ["ALLOWED", "hidden_numbers"]
