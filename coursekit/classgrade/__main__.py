"""``python -m coursekit.classgrade ASSIGNMENT --workers N``: see ``grader.py``."""

import sys

from .worker import skip_iri_syntax_checks

skip_iri_syntax_checks()  # before grader imports nbgrader (see worker.py)

from .grader import main  # noqa: E402

sys.exit(main())
