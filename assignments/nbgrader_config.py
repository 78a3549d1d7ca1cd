"""nbgrader configuration of the course; run nbgrader from this folder (the course root)."""

import os
import sys
from pathlib import Path

# coursekit (grading support) lives in the course's repository; it is imported by nbgrader only.
# Nothing here puts the instructor's source_pkg on the path of a student's kernel.
# A course root kept elsewhere names the repository in DROPOUT_COURSE_REPO.
COURSE_REPO = Path(os.environ.get("DROPOUT_COURSE_REPO") or Path(__file__).resolve().parent.parent)
# traitlets logs an exception raised here and goes on as stock nbgrader (no sandbox, no hidden
# checks); SystemExit is the one thing it lets through, so every failure to load ends in one. An
# error this file cannot catch (a syntax error, a mistake in a line added below) is stopped by
# etc/jupyter/nbgrader_config.py, which pip installs into the environment and nbgrader reads first.
if not (COURSE_REPO / "coursekit" / "grading").is_dir():
    print(f"nbgrader: {__file__}: no coursekit/grading in {COURSE_REPO}; set DROPOUT_COURSE_REPO to the "
          "repository of the course", file=sys.stderr)
    raise SystemExit(2)
if str(COURSE_REPO) not in sys.path:
    sys.path.insert(0, str(COURSE_REPO))
try:  # everything grading imports, before any setting is made
    import pytest  # noqa: E402,F401 (the hidden checks run under pytest)
    import coursekit.grading.nbgrader_plugin  # noqa: E402,F401
except Exception as missing:
    print(f"nbgrader: {__file__} cannot load the course's grading: {type(missing).__name__}: {missing}. "
          f"Install what grading needs: pip install '{COURSE_REPO}[grading]'", file=sys.stderr)
    raise SystemExit(2) from missing

from coursekit.manifest import COURSE  # noqa: E402 (the course manifest, coursekit/course.toml)

# nbgrader's own gradebook code makes SQLAlchemy warn "Object of type <SubmittedAssignment> not in
# session" for every new submission: noise that reads like trouble, so it is not shown.
import warnings  # noqa: E402

warnings.filterwarnings("ignore", message=r"Object of type <\w+> not in session")

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = COURSE.course_id
c.CourseDirectory.root = str(Path(__file__).resolve().parent)

# Students edit the package next to each assignment's notebook: every module of it is theirs. Without
# this list autograde would copy the source folder's files over the submission's (never silently).
c.Autograde.exclude_overwriting = {assignment.name: assignment.student_files() for assignment in COURSE.assignments}
# Every route to a release (make release, formgrader's Generate, nbgrader generate_assignment with
# any flags) adds the student edition of the package and the students' set-up files.
c.GenerateAssignment.post_convert_hook = "coursekit.release.post_generate"
# nbgrader export: a column per task, pending hand grading flagged, --CourseExportPlugin.layout=canvas
# or moodle for an LMS (coursekit/export.py). A late penalty: docs/instructors.md, "Late submissions".
c.ExportApp.plugin_class = "coursekit.export.CourseExportPlugin"

c.ExecutePreprocessor.kernel_name = "python3"
# Per cell; a hanging cell is interrupted, scores nothing, and grading goes on.


# Grading: the autograded cells get the verdict of the hidden checks (tests/hidden), computed
# from a copy of the submitted package taken before any notebook code runs, in processes that
# never import student code. See coursekit/grading/nbgrader_plugin.py.
from coursekit.feedback import evidence  # noqa: E402
from coursekit.grading.nbgrader_plugin import grading_preprocessors, sanitize_preprocessors  # noqa: E402

# Speed-ups: grading forks the checks from a process that imported them once, keeps a runner per
# submission, uses /dev/shm and malloc settings, and changes nbgrader in three places
# (coursekit/upstream_changes.py). DROPOUT_GRADING_SIMPLE=1 in nbgrader's environment turns every
# one of them off (coursekit/speedups.py): same grades, the plain path (a pytest process per
# submission, a runner process per plan, nbgrader as it ships). `python -m coursekit.classgrade
# --simple` sets the same variable for every nbgrader it starts.
# The submitted outputs (the experiment's numbers and figures) are kept, labelled, in the graded
# notebook, and read-only cells with the graded code and its diff against the stub end it.
c.Autograde.autograde_preprocessors = grading_preprocessors(after_execute=[evidence.RestoreSubmittedOutputs],
                                                            before_judge=[evidence.GradedCodeCells])
c.Autograde.sanitize_preprocessors = sanitize_preprocessors(before_clear=[evidence.KeepSubmittedOutputs])
# Execute's settings apply to its subclass too; nbgrader's own default is 30 s per cell. The limits
# on student code are [limits] of coursekit/course.toml (coursekit/limits.py).
from coursekit.limits import LIMITS  # noqa: E402

c.Execute.timeout = LIMITS.cell_seconds
# formgrader grades inside the Jupyter server: there all cells of a notebook get
# formgrader_notebook_seconds together (30 s), so
# a hanging submission costs seconds (the grade still comes from the hidden checks), and its
# Autograde button grades in a worker thread so the server keeps answering meanwhile
# (coursekit/formgrader_async.py). Grade whole classes with `make autograde`.
if Path(sys.argv[0]).name.startswith("jupyter-") and "nbgrader" not in Path(sys.argv[0]).name:
    c.ResilientExecute.budget = LIMITS.formgrader_notebook_seconds
    from coursekit.upstream_changes import grade_off_the_event_loop  # noqa: E402

    grade_off_the_event_loop()

# Confinement: the notebook's kernel and the checks' runner run in bubblewrap sandboxes that
# hide the repository, the course root and the gradebook (coursekit/sandbox.py). Without a
# working bwrap, autograde refuses to start unless DROPOUT_GRADING_UNCONFINED=1 is set.
from coursekit import sandbox  # noqa: E402
from coursekit.preflight import check_nbgrader  # noqa: E402 (who can read the course: coursekit/preflight.py)

check_nbgrader(Path(__file__).resolve().parent)

sandbox.find_grading_kernel()
c.Execute.kernel_name = sandbox.KERNEL_NAME
if sys.argv[1:2] == ["autograde"]:
    try:
        if not sandbox.require():
            print(f"nbgrader autograde: WARNING: grading UNCONFINED ({sandbox.UNCONFINED_ENV}=1): "
                  f"{sandbox.probe()}", file=sys.stderr)
    except sandbox.SandboxUnavailable as refusal:
        print(f"nbgrader autograde: {refusal}", file=sys.stderr)
        raise SystemExit(2)
# Feedback: one page per student that works offline (coursekit/feedback/page.py). Its book links
# point to html.baseurl of ../_config.yml when set; without it the page carries each mistake's section.
from coursekit.feedback.page import FeedbackExporter, feedback_preprocessors  # noqa: E402

c.GenerateFeedback.preprocessors = feedback_preprocessors()
c.GenerateFeedback.exporter_class = FeedbackExporter
