"""``python -m coursekit.classgrade ASSIGNMENT --workers N``: see ``cli.py`` and ``grader.py``."""

import sys

from ..speedups import choose_simple
from ..upstream_changes import skip_iri_syntax_checks

if "--simple" in sys.argv[1:]:  # the one switch, set before anything imports nbgrader (speedups.py)
    choose_simple()
skip_iri_syntax_checks()  # before the command imports nbgrader

from .cli import main  # noqa: E402

sys.exit(main())
