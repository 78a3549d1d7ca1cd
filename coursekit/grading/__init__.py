"""Grading: hidden checks judged in a process that never imports student code.

- ``runner``: the only code that imports a submission; it runs in its own process, calls the
  submission's functions on inputs the judge chose and writes back raw outputs.
- ``client``: starts runners with time limits and collects their outputs for the checks.
- ``pytest_plugin``: the options, markers and verdict file of the hidden checks (tests/hidden).
- ``judge``: runs the hidden checks on one submission and turns them into scores and reports.
- ``nbgrader_plugin``: nbgrader preprocessors that put the judge's verdict into grade cells.
"""
