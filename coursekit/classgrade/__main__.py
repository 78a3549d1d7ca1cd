"""``python -m coursekit.classgrade ASSIGNMENT --workers N``: see ``grader.py``."""

import sys

from .grader import main

sys.exit(main())
