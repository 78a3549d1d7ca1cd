"""Autograde a whole class with parallel workers, each running the real ``nbgrader autograde``.

Usage, from the course root (or with ``--course-root``)::

    python -m coursekit.classgrade dropout --workers 2

See ``grader.py`` for how the work is split and how the grades reach the gradebook, and
README.md, "Grading a large class". Nothing heavy is imported here: ``hooks`` is loaded by
every nbgrader process the command starts.
"""
