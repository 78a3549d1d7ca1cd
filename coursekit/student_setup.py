"""What a release tells students about setting up: a README and a pinned requirements file.

The pins are the versions installed where the release is made: the environment the course's
test suite ran in (``make test``), so students get what the course was tested with.
"""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

from .manifest import COURSE

# What the notebook and the package import, plus what runs the notebook (Jupyter).
STUDENT_PACKAGES = ("numpy", "matplotlib", "scikit-learn", "ipykernel", "notebook")
REQUIREMENTS = "requirements.txt"
README = "README.md"


class SetupError(RuntimeError):
    """The student set-up cannot be written; the message names the package."""


def pinned_requirements(packages: tuple[str, ...] = STUDENT_PACKAGES) -> str:
    """requirements.txt text: each package pinned to the version installed here."""
    lines = ["# The versions this course was tested with (written at release time)."]
    for name in packages:
        try:
            lines.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError as error:
            raise SetupError(f"cannot pin {name} for the students' {REQUIREMENTS}: it is not installed in "
                             f"this environment (pip install '.[book,grading]')") from error
    return "\n".join(lines) + "\n"


def readme_text(assignment: str, python: str | None = None) -> str:
    """The README of ``assignment``'s release: Python version, installing, starting Jupyter, what to hand in."""
    python = python or ".".join(platform.python_version_tuple()[:2])
    package, notebook = COURSE.package, f"{COURSE.assignment_named(assignment).notebook}.ipynb"
    return f"""# {assignment}: set-up

You need Python {python} (3.10 or newer works; {python} is what the course was tested with).
From this folder:

```bash
python3 -m venv ../dropout-venv     # outside this folder, so it is not handed in
source ../dropout-venv/bin/activate  # Windows: ..\\dropout-venv\\Scripts\\activate
pip install -r {REQUIREMENTS}
jupyter notebook {notebook}
```

Fill in the stubs in `{package}/` (each raises `NotImplementedError` naming its task), then run
the notebook from top to bottom: its cells check your work as you go. Hand in this whole folder
({notebook} and {package}/); the set-up files are not graded.
"""


def write_student_setup(release_dir: Path) -> list[Path]:
    """Write README.md and requirements.txt into ``release_dir`` (``release/<assignment>``); return their paths."""
    release_dir = Path(release_dir)
    try:
        readme = readme_text(release_dir.name)
    except KeyError as error:
        raise SetupError(f"{release_dir} is not the release of an assignment of the manifest: {error}") from error
    files = {release_dir / README: readme, release_dir / REQUIREMENTS: pinned_requirements()}
    for path, text in files.items():
        path.write_text(text)
    return list(files)
