"""A whole term of the assignment ``dropout`` on the course's hub, in Chromium, as its users.

The instructor generates and releases with formgrader's buttons in the service's JupyterLab.
Students log in through the hub's page and work in their own labs: the Assignments tab
(fetch, submit, fetch feedback), the editor (the solutions of source_pkg/layers.py and fc_net.py
typed key by key into the fetched stubs, and checked on disk), the notebook (Run All Cells, the
inline questions):

    student1  submits with layers.py done, then again with fc_net.py done (the last one counts)
    student2  submits after the due date (set between the others' submissions and theirs)
    student3  deletes source_pkg in the file browser, then submits
    student4  never submits

The graders collect and autograde in formgrader (student1) and with the class command as the
instructor (the others), grade the inline questions in formgrader's grading view, generate and
release feedback; each student who submitted opens their feedback page. The scores must equal
what plain ``nbgrader autograde`` gives the same submissions; the late one carries the hub's
late penalty (coursekit/hub/layout.py); the one without source_pkg is reported as missing it.
At the end one student does it again on a phone (390 px), as docs/hub-students.md says: log in,
close the file browser, open the Assignments tab, read the feedback page.
Screenshots at 1280 px (and 390 px for the phone): _build/hub-term-screenshots/<run>/. Select
with ``-m hub``.
"""

import csv
import difflib
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

playwright = pytest.importorskip("playwright.sync_api")
from playwright.sync_api import sync_playwright  # noqa: E402

from coursekit.hub.layout import LATE_POINTS_PER_DAY  # noqa: E402
from coursekit.manifest import COURSE  # noqa: E402
from coursekit.paths import BUILD_DIR, INSTRUCTOR_PACKAGE  # noqa: E402
from tests import hub_lab as lab  # noqa: E402
from tests.test_hub import pytestmark, start_hub  # noqa: E402,F401 (the marks: root, JupyterHub, proxy)

ASSIGNMENT = COURSE.assignment_named("dropout")
PREFIX = "dfsb-"  # not test_hub.py's: the two files may run at once on two workers
INSTRUCTOR = f"{PREFIX}instructor"
TWICE, LATE, NO_PACKAGE, NEVER = (f"{PREFIX}student{i}" for i in range(1, 5))
SUBMITTERS = (TWICE, LATE, NO_PACKAGE)
FOLDER = f"{COURSE.course_id}/{ASSIGNMENT.name}"  # where a fetch puts it, under the student's home
MODULES = ("layers.py", "fc_net.py")
ANSWERS = ["Survivors are scaled by 1/(1-p) so the expected activation is the same in training and at test time.",
           "Without dropout the train accuracy reaches 1 while validation lags: dropout narrows that gap."]
HAND_SCORES = {TWICE: (5, 4), LATE: (3, 5), NO_PACKAGE: (0, 0)}  # per inline question
SHOTS_ROOT = BUILD_DIR / "hub-term-screenshots"
DESKTOP, PHONE = {"width": 1280, "height": 900}, {"width": 390, "height": 844}
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  # several people's pages at once: none is a background tab whose timers wait a minute
                  "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                  "--disable-backgrounding-occluded-windows"]


@pytest.fixture(scope="module")
def hub(request):
    return start_hub(request, PREFIX, students=4)


@pytest.fixture(scope="module")
def shot():
    run = datetime.now(timezone.utc).strftime("run-%Y%m%d-%H%M%S")
    shots = lab.Shots(SHOTS_ROOT / run)
    yield shots
    print(f"\nscreenshots: {shots.folder} ({len(shots.taken)})")


@pytest.fixture(scope="module")
def chromium():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def people(hub, chromium, shot):
    """name -> a logged-in page of that person's own browser context (cookies apart)."""
    pages = {}

    def page_of(name):
        if name not in pages:
            pages[name] = log_in(chromium, hub, name, shot)
        pages[name].bring_to_front()
        return pages[name]
    return page_of


def login_page(chromium, hub, name, viewport=DESKTOP):
    """A new browser's page at the hub's login page, the name and password typed in."""
    context = chromium.new_context(viewport=viewport, is_mobile=viewport == PHONE, has_touch=viewport == PHONE)
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
        ("http://127.0.0.1", "data:", "blob:")) else route.abort())
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", name)
    page.fill("#password_input", (hub.root / "state" / "password").read_text().strip())
    return page


def sign_in(page, hub, name):
    page.click("#login_submit")
    page.wait_for_url(f"**/user/{name}/lab**")
    page.locator("#jp-main-dock-panel").wait_for()
    return page


def log_in(chromium, hub, name, shot):
    page = login_page(chromium, hub, name)
    shot(page, f"{name}-login")
    return sign_in(page, hub, name)


def formgrader(people, hub, shot, path="manage_assignments"):
    """The instructor's formgrader: the panel inside the service's lab for manage_assignments,
    otherwise the page itself (what the panel's links open)."""
    page = people(INSTRUCTOR)
    if path != "manage_assignments":
        page.goto(f"{hub.url}/services/{COURSE.course_id}/formgrader/{path}")
        return page, page
    page.goto(f"{hub.url}/services/{COURSE.course_id}/lab")
    page.locator("#jp-main-dock-panel").wait_for()
    lab.menu(page, "Nbgrader", "Formgrader")
    panel = page.frame_locator("iframe[src*='formgrader']")
    panel.get_by_role("link", name=ASSIGNMENT.name, exact=True).wait_for()
    return page, panel


def inbound(hub, student):
    return sorted((hub.root / "exchange" / COURSE.course_id / "inbound").glob(f"{student}+{ASSIGNMENT.name}+*"))


def submit(page, hub, student, shot, label):
    before = len(inbound(hub, student))
    lab.assignments_tab(page)
    page.get_by_role("button", name="Submit").first.click()
    lab.wait_until(page, lambda: len(inbound(hub, student)) == before + 1, what=f"{student}'s submission in inbound")
    shot(page, f"{student}-{label}")


def edit(page, hub, student, module, shot):
    meant = (INSTRUCTOR_PACKAGE / module).read_text()
    saved = hub.home(student) / FOLDER / COURSE.package / module
    lab.type_into_editor(page, f"{FOLDER}/{COURSE.package}/{module}", saved.read_text(), meant)
    try:
        lab.wait_until(page, lambda: saved.read_text() == meant, what=f"{saved} saved as typed")
    except AssertionError as error:
        wrong = difflib.unified_diff(meant.splitlines(), saved.read_text().splitlines(), "meant", "saved", lineterm="")
        raise AssertionError(f"{error}\n" + "\n".join(list(wrong)[:60])) from None
    # JupyterLab's offer of Jupyter's news is off on the course's servers (it stood over the editor).
    assert page.get_by_text("official Jupyter news").count() == 0
    shot(page, f"{student}-edited-{module}")


def answer(page, hub, student):
    """The inline questions of the student's notebook, answered in JupyterLab and saved."""
    path = hub.home(student) / FOLDER / f"{ASSIGNMENT.notebook}.ipynb"
    cells = json.loads(path.read_text())["cells"]
    questions = [part.grade_cell for part in ASSIGNMENT.manual]
    at = [i for i, cell in enumerate(cells) if cell["metadata"].get("nbgrader", {}).get("grade_id") in questions]
    lab.answer_questions(page, dict(zip(at, ANSWERS)))
    lab.wait_until(page, lambda: ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if
                                  c["metadata"].get("nbgrader", {}).get("grade_id") in questions] == ANSWERS,
                   what=f"{student}'s answers saved")


def as_instructor(hub, *command, check=True):
    return hub.as_account(INSTRUCTOR, *command, check=check)


def test_1_instructor_generates_and_releases_in_formgrader(hub, people, shot):
    page, panel = formgrader(people, hub, shot)
    shot(page, f"{INSTRUCTOR}-formgrader-in-lab")
    for icon, step in (("glyphicon-education", "generated"), ("glyphicon-cloud-upload", "released")):
        lab.formgrader_action(panel, ASSIGNMENT.name, icon)
        shot(page, f"{INSTRUCTOR}-{step}")
        lab.close_dialog(panel)
    assert (hub.root / "exchange" / COURSE.course_id / "outbound" / ASSIGNMENT.name / f"{ASSIGNMENT.notebook}.ipynb").is_file()


def test_2_students_fetch_edit_run_answer_and_submit(hub, people, shot):
    for student in SUBMITTERS:
        page = people(student)
        lab.menu(page, "Nbgrader", "Assignment List")
        page.get_by_role("button", name="Fetch").first.click()
        page.get_by_text("There are no assignments to fetch.").wait_for()
        page.get_by_role("button", name="Submit").first.wait_for()
        shot(page, f"{student}-fetched")
        assert (hub.home(student) / FOLDER / COURSE.package / "layers.py").is_file()
    page = people(TWICE)  # first with layers.py only, then with the net too
    edit(page, hub, TWICE, "layers.py", shot)
    submit(page, hub, TWICE, shot, "first-submission")
    page = people(NO_PACKAGE)
    lab.open_notebook(page, f"{FOLDER}/{ASSIGNMENT.notebook}.ipynb")
    answer(page, hub, NO_PACKAGE)
    lab.delete_in_file_browser(page, [COURSE.course_id, ASSIGNMENT.name], COURSE.package)
    shot(page, f"{NO_PACKAGE}-deleted-{COURSE.package}")
    assert not (hub.home(NO_PACKAGE) / FOLDER / COURSE.package).exists()
    submit(page, hub, NO_PACKAGE, shot, "submitted-without-package")
    for student in (TWICE, LATE):
        page = people(student)
        for module in MODULES[1:] if student == TWICE else MODULES:
            edit(page, hub, student, module, shot)
        lab.open_notebook(page, f"{FOLDER}/{ASSIGNMENT.notebook}.ipynb")
        lab.run_all_cells(page)
        assert lab.notebook_errors(page) == []
        answer(page, hub, student)
        shot(page, f"{student}-notebook-run-and-answered")
        if student == LATE:  # the due date passes between the others' submissions and theirs
            due = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
            as_instructor(hub, "nbgrader", "db", "assignment", "add", ASSIGNMENT.name, f"--duedate={due}")
            page.wait_for_timeout(1000)
        submit(page, hub, student, shot, "submitted")
    assert len(inbound(hub, TWICE)) == 2 and inbound(hub, NEVER) == []


def export(hub, name):
    """``nbgrader export`` (the course's layout) as the instructor: student -> row of ASSIGNMENT."""
    course_root = Path(hub.made["course_root"])
    as_instructor(hub, "nbgrader", "export", f"--to={course_root / name}")
    with (course_root / name).open() as file:
        return {row["student_id"]: row for row in csv.DictReader(file) if row["assignment"] == ASSIGNMENT.name}


def auto_columns(row):
    return {key: row[key] for key in (*ASSIGNMENT.task_ids, "raw_score", "late_submission_penalty")}


def test_3_graders_collect_and_autograde_in_formgrader_and_with_the_class_command(hub, people, shot):
    page, panel = formgrader(people, hub, shot)
    lab.formgrader_action(panel, ASSIGNMENT.name, "glyphicon-cloud-download")
    shot(page, f"{INSTRUCTOR}-collected")
    lab.close_dialog(panel)
    course_root = Path(hub.made["course_root"])
    assert sorted(p.name for p in (course_root / "submitted").iterdir()) == sorted(SUBMITTERS)
    latest = (inbound(hub, TWICE)[-1] / "timestamp.txt").read_text().strip()
    assert (course_root / "submitted" / TWICE / ASSIGNMENT.name / "timestamp.txt").read_text().strip() == latest

    page, _ = formgrader(people, hub, shot, f"manage_submissions/{ASSIGNMENT.name}")
    lab.formgrader_action(page, ASSIGNMENT.name, "glyphicon-flash", row_of=TWICE)
    shot(page, f"{INSTRUCTOR}-autograded-{TWICE}-in-formgrader")
    lab.close_dialog(page)
    graded = as_instructor(hub, "sh", "-c", f"cd {course_root.parent} && exec python -m coursekit.classgrade "
                           f"{ASSIGNMENT.name} --course-root {course_root.name}", check=False)  # as the guide says
    print(graded.stdout)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    table = {line.split()[0]: line for line in graded.stdout.splitlines() if line.strip()}
    assert "missing files" in table[NO_PACKAGE] and f"{COURSE.package}/" in table[NO_PACKAGE], table
    with (course_root / "reports" / ASSIGNMENT.name / "scores.csv").open() as file:
        report = {row["student"]: row for row in csv.DictReader(file)}
    assert report[NO_PACKAGE]["status"] == "missing files" and COURSE.package in report[NO_PACKAGE]["detail"]
    page.reload()
    page.get_by_role("link", name="None, None").first.wait_for()
    shot(page, f"{INSTRUCTOR}-autograded-all")

    hub_rows = export(hub, "grades-hub.csv")
    as_instructor(hub, "nbgrader", "autograde", ASSIGNMENT.name, "--force")  # the reference: plain nbgrader
    plain_rows = export(hub, "grades-plain.csv")
    assert {s: auto_columns(r) for s, r in hub_rows.items() if s in SUBMITTERS} == \
        {s: auto_columns(r) for s, r in plain_rows.items() if s in SUBMITTERS}
    full = {task.id: f"{task.points:g}" for task in ASSIGNMENT.tasks}
    for student in (TWICE, LATE):
        assert {task: hub_rows[student][task] for task in full} == full, hub_rows[student]
    assert float(hub_rows[TWICE]["late_submission_penalty"]) == 0
    assert float(hub_rows[LATE]["late_submission_penalty"]) == LATE_POINTS_PER_DAY
    assert float(hub_rows[NO_PACKAGE]["raw_score"]) == 0


def test_4_inline_questions_graded_by_hand_in_formgrader(hub, people, shot):
    page = people(INSTRUCTOR)
    api = f"{hub.url}/services/{COURSE.course_id}/formgrader/api/submitted_notebooks/{ASSIGNMENT.name}/{ASSIGNMENT.notebook}"
    submissions = {s["student"]: s["id"] for s in page.request.get(api).json()}
    for student, scores in HAND_SCORES.items():
        formgrader(people, hub, shot, f"submissions/{submissions[student]}/")
        page.wait_for_load_state("networkidle")
        typed = {part.grade_cell: float(score) for part, score in zip(ASSIGNMENT.manual, scores)}
        grades = f"{hub.url}/services/{COURSE.course_id}/formgrader/api/grades?submission_id={submissions[student]}"

        def type_and_read_back():
            # a box typed into before formgrader's page has bound its views saves nothing: type again
            for cell, score in typed.items():
                box = page.locator(f"input.score#{cell}")
                box.fill(f"{score:g}")
                box.dispatch_event("change")  # what leaving the box does: formgrader saves the score
            page.wait_for_timeout(500)
            return {g["name"]: g["manual_score"] for g in page.request.get(grades).json() if g["name"] in typed} == typed
        lab.wait_until(page, type_and_read_back, what=f"{student}'s hand grades saved")
        shot(page, f"{INSTRUCTOR}-graded-by-hand-{student}")
    rows = export(hub, "grades.csv")
    for student, scores in HAND_SCORES.items():
        row = rows[student]
        assert [float(row[part.grade_cell]) for part in ASSIGNMENT.manual] == list(scores)
        assert row["status"] == "complete" and row["needs_manual_grading"] == "no"
        assert float(row["score"]) == max(0.0, float(row["raw_score"]) - float(row["late_submission_penalty"]))


def test_5_feedback_generated_released_and_read(hub, people, shot):
    page, panel = formgrader(people, hub, shot)
    for icon, step in (("glyphicon-comment", "feedback-generated"), ("glyphicon-envelope", "feedback-released")):
        lab.formgrader_action(panel, ASSIGNMENT.name, icon)
        shot(page, f"{INSTRUCTOR}-{step}")
        lab.close_dialog(panel)
    for student in SUBMITTERS:
        page = people(student)
        lab.assignments_tab(page)
        page.get_by_role("button", name="Fetch Feedback").first.click()
        feedback = hub.home(student) / FOLDER / "feedback"
        found = lab.wait_until(page, lambda: sorted(feedback.glob(f"*/{ASSIGNMENT.notebook}.html")),
                               what=f"{student}'s feedback fetched")
        shot(page, f"{student}-feedback-fetched")
        reader = page.context.new_page()
        reader.goto(f"{hub.url}/user/{student}/files/{found[-1].relative_to(hub.home(student))}")
        reader.get_by_text(ASSIGNMENT.tasks[0].title).first.wait_for()
        shot(reader, f"{student}-feedback-page")
        reader.close()


def overflow(page) -> int:
    """How many CSS pixels the page is wider than the window (0: no sideways scrolling)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def outside_the_window(locator, width: int) -> list[str]:
    boxes = [(element.get_attribute("id") or element.inner_text(), element.bounding_box()) for element in locator.all()]
    return [f"{name!r} at {box}" for name, box in boxes if box is None or box["x"] < 0 or box["x"] + box["width"] > width]


def test_6_a_student_on_a_phone_logs_in_opens_the_assignments_and_reads_the_feedback(hub, chromium, shot):
    width = PHONE["width"]
    page = login_page(chromium, hub, TWICE, PHONE)
    form = page.locator("#username_input, #password_input, #login_submit")
    assert outside_the_window(form, width) == [] and overflow(page) == 0
    shot(page, f"{TWICE}-phone-login")
    sign_in(page, hub, TWICE)
    page.locator(".jp-SideBar.jp-mod-left [title^='File Browser']").click()  # the guide: close it
    lab.wait_until(page, lambda: page.locator("#jp-left-stack").is_hidden(), what="file browser closed")
    lab.assignments_tab(page)
    panel = page.locator("#jp-main-dock-panel").bounding_box()
    assert panel["width"] >= 0.8 * width, panel
    buttons = page.get_by_role("button", name="Fetch Feedback")
    buttons.first.wait_for()
    assert outside_the_window(buttons, width) == [] and overflow(page) == 0
    shot(page, f"{TWICE}-phone-assignments")
    found = sorted((hub.home(TWICE) / FOLDER / "feedback").glob(f"*/{ASSIGNMENT.notebook}.html"))
    page.goto(f"{hub.url}/user/{TWICE}/files/{found[-1].relative_to(hub.home(TWICE))}")
    page.get_by_text(ASSIGNMENT.tasks[0].title).first.wait_for()
    assert overflow(page) == 0
    shot(page, f"{TWICE}-phone-feedback-page")
    page.context.close()
