"""Grading: hidden checks judged in a process that never imports student code.

- ``runner``: the only code that imports a submission; it runs in its own process, calls the
  submission's functions through the plan's task's ``calls.py`` (in the task's folder, named
  by the manifest) on inputs the judge chose and writes back raw outputs. It knows no task.
- ``reference``: trusted code shared by both sides (the raw array files they exchange); it
  imports numpy and the standard library only, and the runner loads it by file path.
- ``client``: starts runners with time limits and collects their outputs for the checks.
- ``checks``: what the hidden checks share (failures naming a mistake, tolerances, ``points``).
- ``pytest_plugin``: the options, task markers (from the course manifest) and verdict file of
  the hidden checks.
- ``judge``: runs the hidden checks on one submission and returns its ``Verdict``.
- ``checks_server``: one pytest process that imports the checks once and forks per submission.
- ``verdict``: the one verdict type and its JSON form; ``task_report``: a task's report in words.
- ``nbgrader_plugin``: nbgrader preprocessors that put the verdict into grade cells and save it.
"""
