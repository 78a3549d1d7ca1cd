"""The course's hub in Chromium: people log in through the hub's login page and reach their labs;
formgrader shows inside the graders' JupyterLab (the frame-ancestors fix of nbgrader#1870) and
not in a student's. Screenshots at 1280 px in _build/hub-term-screenshots/. Select with ``-m hub``.

Part of the term only: a student fetches and submits from the Assignments tab; releasing from
formgrader, editing the package in the editor, running the notebook, grading and feedback in
the browser are not yet here (tests/test_hub.py covers release to autograde over HTTP).
"""

import pytest

playwright = pytest.importorskip("playwright.sync_api")
from playwright.sync_api import expect, sync_playwright  # noqa: E402

from coursekit.manifest import COURSE
from coursekit.paths import BUILD_DIR
from tests.test_hub import pytestmark, start_hub  # noqa: F401 (the marks: root, JupyterHub, proxy)

SHOTS = BUILD_DIR / "hub-term-screenshots"
PREFIX = "dfsb-"  # not test_hub.py's: the two files may run at once on two workers
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def hub(request):
    return start_hub(request, PREFIX)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def person(browser, hub, name):
    """A browser of ``name``'s own (cookies apart), logged in through the hub's login page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
        ("http://127.0.0.1", "data:", "blob:")) else route.abort())
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto(f"{hub.url}/hub/login")
    shot(page, f"{name}-login")
    page.fill("#username_input", name)
    page.fill("#password_input", (hub.root / "state" / "password").read_text().strip())
    page.click("#login_submit")
    page.wait_for_url(f"**/user/{name}/lab**")
    page.locator("#jp-main-dock-panel").wait_for()
    return page


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def open_nbgrader_menu(page):
    page.get_by_role("menuitem", name="Nbgrader").click()
    return page.get_by_role("menu")


def test_formgrader_inside_the_graders_lab_and_not_the_students(hub, browser):
    instructor = f"{PREFIX}instructor"
    page = person(browser, hub, instructor)
    shot(page, f"{instructor}-lab")
    page.goto(f"{hub.url}/services/{COURSE.course_id}/lab")
    page.locator("#jp-main-dock-panel").wait_for()
    open_nbgrader_menu(page).get_by_text("Formgrader", exact=True).click()
    panel = page.frame_locator("iframe[src*='formgrader']")
    panel.get_by_text("Manage Assignments").first.wait_for()
    panel.get_by_text(COURSE.assignment, exact=True).first.wait_for()
    shot(page, f"{instructor}-formgrader-in-lab")

    # released here from the command line; formgrader's Generate and Release are not driven yet
    hub.as_account(instructor, "nbgrader", "generate_assignment", COURSE.assignment)
    hub.as_account(instructor, "nbgrader", "release_assignment", COURSE.assignment)
    student = f"{PREFIX}student1"
    page = person(browser, hub, student)
    menu = open_nbgrader_menu(page)
    menu.get_by_text("Assignment List").wait_for()
    assert menu.get_by_text("Formgrader").count() == 0
    menu.get_by_text("Assignment List").click()
    page.get_by_text("Released assignments").first.wait_for()
    # the course comes from the hub's groups (nbgrader-<course_id>) through the student's server
    page.get_by_role("button", name="Fetch").first.wait_for()
    expect(page.get_by_text(COURSE.assignment, exact=True).first).to_be_visible()
    expect(page.get_by_text("There are no downloaded assignments.")).to_be_visible()
    shot(page, f"{student}-assignments")

    page.get_by_role("button", name="Fetch").first.click()
    # the lists are drawn again after a fetch: a Submit button found before that is gone
    page.get_by_text("There are no assignments to fetch.").wait_for()
    page.get_by_role("button", name="Submit").first.wait_for()
    shot(page, f"{student}-fetched")
    assert (hub.home(student) / COURSE.course_id / COURSE.assignment / COURSE.package / "layers.py").is_file()
    page.get_by_role("button", name="Submit").first.click()
    page.get_by_role("button", name="Fetch Feedback").wait_for()
    shot(page, f"{student}-submitted")
    inbound = hub.root / "exchange" / COURSE.course_id / "inbound"
    assert len(list(inbound.glob(f"{student}+{COURSE.assignment}+*"))) == 1
