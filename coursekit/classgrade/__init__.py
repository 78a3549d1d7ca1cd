"""Autograde a whole class with parallel workers, each running the real ``nbgrader autograde``.

Usage, from the course root (or with ``--course-root``)::

    python -m coursekit.classgrade dropout --workers 2

Modules: ``cli`` (options, table, exit code), ``grader`` (one class run, step by step),
``submissions`` (the class's folders, what needs grading), ``job`` (the one unit of grading:
one nbgrader run over some submissions, each merged as it is graded), ``scheduler`` and
``cluster`` (its two executors: local threads, Dask), ``worker`` (how a job's nbgrader starts), ``hooks`` (its events), ``recovery`` (grades
left by a run that died), ``status`` (the one decision of a submission's status), ``progress``
and ``report``. See also docs/grading-a-class.md. Nothing heavy is imported here:
``hooks`` is loaded by every nbgrader process the command starts.
"""
