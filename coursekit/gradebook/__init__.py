"""The course's gradebook, on nbgrader's ``Gradebook`` API (SQLite or PostgreSQL): the only code
that opens nbgrader's database. ``database`` reads it and opens it; ``merge`` copies it for class
grading's workers and merges their graded submissions back."""

from .database import (Gradebook, GradebookError, cell_scores, check_gradebook, connect, gradebook_exists,
                       held_score, is_pending, is_sqlite, open_gradebook, opened, pending_points, release_state,
                       safe_url, sqlite_file, sqlite_url, standings, submission_scores)
from .merge import copy_gradebook, merge_from, merge_once, merge_submission

__all__ = ["Gradebook", "GradebookError", "cell_scores", "check_gradebook", "connect", "copy_gradebook",
           "gradebook_exists", "held_score", "is_pending", "is_sqlite", "merge_from", "merge_once",
           "merge_submission", "open_gradebook", "opened", "pending_points", "release_state", "safe_url",
           "sqlite_file", "sqlite_url", "standings", "submission_scores"]
