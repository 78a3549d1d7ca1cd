"""Where the repository keeps things: the one definition of each path the course's code needs."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MANIFEST_FILE = REPO_ROOT / "coursekit" / "course.toml"
COURSE_ROOT = REPO_ROOT / "assignments"  # the nbgrader course root
INSTRUCTOR_PACKAGE = REPO_ROOT / "source_pkg"
HIDDEN_CHECKS_DIR = REPO_ROOT / "tests" / "hidden"
TOC_FILE = REPO_ROOT / "_toc.yml"
BUILD_DIR = REPO_ROOT / "_build"
SITE_DIR = BUILD_DIR / "html"
