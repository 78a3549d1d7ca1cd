"""nbgrader configuration of the course; run nbgrader from this folder (the course root)."""

import sys
from pathlib import Path

# coursekit (grading support) lives at the repository root; it is imported by nbgrader only.
# Nothing here puts the instructor's source_pkg on the path of a student's kernel.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "dropout-from-scratch"
c.CourseDirectory.root = str(Path(__file__).resolve().parent)

# Students edit the package next to the notebook. Without this list autograde would copy
# the source folder's files over the submission's (none today, but never silently).
STUDENT_FILES = [f"source_pkg/{name}" for name in (
    "__init__.py", "layers.py", "fc_net.py", "optim.py", "solver.py", "gradient_check.py", "data.py",
)]
c.Autograde.exclude_overwriting = {"dropout": STUDENT_FILES}

c.ExecutePreprocessor.kernel_name = "python3"
# Per cell; a hanging cell is interrupted, scores nothing, and grading goes on.
c.ExecutePreprocessor.timeout = 120
