"""``python -m coursekit.classgrade ASSIGNMENT --workers N``: see ``cli.py`` and ``grader.py``."""

import sys

from .worker import skip_iri_syntax_checks

skip_iri_syntax_checks()  # before the command imports nbgrader (see worker.py)

from .cli import main  # noqa: E402

sys.exit(main())
