"""Instructor tooling: the student edition of source_pkg, and the grader that runs the hidden checks."""
