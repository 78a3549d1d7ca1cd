"""The student's feedback page and the evidence graders see.

``evidence``: autograde steps that keep the student's submitted outputs and add read-only cells
with the graded code. ``page``: the ``nbgrader generate_feedback`` steps (a preprocessor and an
exporter with the course's template) that turn a submission's ``Verdict`` into one page that
works offline; ``typeset``: its formulas typeset into SVG when it is made. ``code``, ``cells``,
``book``: highlighting and diffs, notebook cells as HTML, and where the page sends students in the book.
"""
