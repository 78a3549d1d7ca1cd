"""Formgrader, as an instructor clicks it: a real Jupyter server on 127.0.0.1 driven in Chromium.

One server, one small class: Generate (the release must hold the package and set-up files),
Autograde (first with a sandbox that cannot start: the refusal must open formgrader's error
dialog's log; then for real, the server answering other requests while a hanging notebook
grades), Manual Grading with points typed by hand, Generate Feedback; then the
scores in the gradebook and ``nbgrader export`` agree. Screenshots go to _build/screenshots/.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from coursekit import classroom, sandbox, student_setup
from coursekit.manifest import COURSE
from coursekit.paths import BUILD_DIR, REPO_ROOT
from coursekit.release import course_settings, nbgrader_env
from conftest import free_port

DROPOUT = COURSE.assignment_named("dropout")  # the assignment these tests grade

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.skipif(sandbox.probe() is not None, reason=f"bwrap unusable: {sandbox.probe()}"),
              pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="no /usr/bin/chromium")]

ASSIGNMENT = DROPOUT.name
CATALOGUE = classroom.load_catalogue()
SHOTS = BUILD_DIR / "screenshots"
TOKEN = "formgrader-test"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
HAND_POINTS = {part.grade_cell: part.points - 1 for part in DROPOUT.manual}  # typed into formgrader


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(base url, course root, flag file that breaks the sandbox while it exists)."""
    base = tmp_path_factory.mktemp("formgrader")
    root = classroom.make_course(base / "course", op_timeout=5, budget=30)
    (root / "roster.csv").write_text("id,last_name,first_name,email\nada,Lovelace,Ada,ada@example.edu\n"
                                     "bob,Brown,Bob,bob@example.edu\nhal,Hale,Hal,hal@example.edu\n")
    classroom.nbgrader(root, "db", "student", "import", "roster.csv")  # the roster step of docs/instructors.md
    broken = base / "sandbox-broken"
    wrapper = base / "bwrap"
    wrapper.write_text(f"#!/bin/sh\nif [ -e '{broken}' ]; then echo 'bwrap: setting up uid map: Permission denied' >&2; "
                       f"exit 1; fi\nexec {shutil.which('bwrap')} \"$@\"\n")
    wrapper.chmod(0o755)
    port = free_port()
    env = nbgrader_env()
    env.update({"DROPOUT_COURSE_REPO": str(REPO_ROOT), sandbox.BWRAP_ENV: str(wrapper),
                "JUPYTER_RUNTIME_DIR": str(base / "runtime")})
    command = [sys.executable, "-m", "jupyter", "server", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = open(base / "server.log", "w")
    process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=5)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"the Jupyter server did not start:\n{(base / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
    yield url, root, broken
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def new_page(browser, url: str, width: int = 1280):
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
        ("http://127.0.0.1", "file:", "data:", "blob:")) else route.abort())
    page.goto(f"{url}/formgrader?token={TOKEN}")
    return page


def shot(page, name: str, full_page: bool = True) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"formgrader-{name}.png"), full_page=full_page)


def wait_for_manual_score(root: Path, cell: str, student: str = "ada", seconds: float = 30) -> float | None:
    """The manual score formgrader saved for ``cell`` (polls the gradebook; None if none came)."""
    settings = course_settings(root)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with Gradebook(settings.db_url, course_id=settings.course_id) as gradebook:
            score = gradebook.find_grade(cell, DROPOUT.notebook, ASSIGNMENT, student).manual_score
        if score is not None:
            return score
        time.sleep(0.5)
    return None


def click_and_wait_for_modal(page, selector: str, timeout_ms: float = 300_000) -> str:
    """Click, wait for formgrader's success or error dialog, return its text and close it."""
    page.click(selector)
    modal = page.wait_for_selector("#success-modal.in, #error-modal.in", timeout=timeout_ms)
    page.wait_for_timeout(300)
    return f"{modal.get_attribute('id')}: {modal.inner_text()}"


def close_modal(page) -> None:
    page.click(".modal.in .modal-footer button")
    page.wait_for_selector(".modal.in", state="hidden", timeout=20_000)
    page.wait_for_timeout(500)


def request_while_grading(url: str, page) -> dict:
    """GET formgrader's assignment list while an Autograde click is being served: its status, how
    long it took, and whether the autograde dialog was still pending when it answered."""
    started = time.monotonic()
    with urllib.request.urlopen(f"{url}/formgrader/api/assignments?token={TOKEN}", timeout=120) as response:
        status = response.status
    seconds = time.monotonic() - started
    pending = page.query_selector("#success-modal.in, #error-modal.in") is None
    print(f"GET /formgrader/api/assignments during an autograde: {status} in {seconds:.2f} s "
          f"(autograde {'still running' if pending else 'already done'})")
    return {"status": status, "seconds": seconds, "autograde_pending": pending}


@pytest.fixture(scope="module")
def session(server, browser):
    """The instructor's clicks, in order; what each dialog said."""
    url, root, broken = server
    said = {}
    page = new_page(browser, url)
    page.wait_for_selector("tr:has(td.name:has-text('dropout')) td.assign a", timeout=60_000)
    said["generate"] = click_and_wait_for_modal(page, f"tr:has(td.name:has-text('{ASSIGNMENT}')) td.assign a")
    shot(page, "generate-1280")
    close_modal(page)
    for student, variant in (("ada", "bool-mask"), ("bob", "stubs"), ("hal", "forward-hangs")):
        classroom.answer_inline_questions(classroom.submit(root, student, CATALOGUE.BY_NAME[variant]))

    page.goto(f"{url}/formgrader/manage_submissions/{ASSIGNMENT}")
    row = "tr:has(td.student-id:has-text('{}')) td.autograde a"
    page.wait_for_selector(row.format("ada"), timeout=60_000)
    broken.touch()
    said["refused"] = click_and_wait_for_modal(page, row.format("ada"))
    shot(page, "refusal-1280")
    close_modal(page)
    broken.unlink()
    for student in ("ada", "bob"):
        said[f"autograde-{student}"] = click_and_wait_for_modal(page, row.format(student))
        close_modal(page)
    # hal's notebook hangs (up to the 30 s budget): the server must answer others meanwhile.
    page.click(row.format("hal"))
    page.wait_for_timeout(3000)  # the autograde request is in the server
    said["while-grading"] = request_while_grading(url, page)
    modal = page.wait_for_selector("#success-modal.in, #error-modal.in", timeout=300_000)
    page.wait_for_timeout(300)
    said["autograde-hal"] = f"{modal.get_attribute('id')}: {modal.inner_text()}"
    close_modal(page)
    page.goto(f"{url}/formgrader/manage_submissions/{ASSIGNMENT}")
    page.wait_for_selector("tr:has(td.student-id:has-text('ada')) td.score", timeout=60_000)
    page.wait_for_timeout(1000)
    said["submissions"] = page.inner_text("table")
    shot(page, "submissions-1280")

    # Manual grading of ada: the gradebook lists her notebook; open it and type the points.
    page.goto(f"{url}/formgrader/gradebook/{ASSIGNMENT}/{DROPOUT.notebook}")
    page.wait_for_selector("a:has-text('Submission #')", timeout=60_000)
    shot(page, "manual-list-1280")
    settings = course_settings(root)
    with Gradebook(settings.db_url, course_id=settings.course_id) as gradebook:
        ada_id = gradebook.find_submission_notebook(DROPOUT.notebook, ASSIGNMENT, "ada").id
    page.click(f"a[href$='/formgrader/submissions/{ada_id}']")
    page.wait_for_load_state("networkidle")
    for cell, points in HAND_POINTS.items():
        box = page.locator(f"input.score#{cell}")
        box.wait_for(timeout=60_000)
        box.scroll_into_view_if_needed()
        for _ in range(3):  # typed before formgrader's scripts were ready, a score is not saved
            box.fill(str(points))
            box.press("Tab")
            said[f"saved-{cell}"] = wait_for_manual_score(root, cell, seconds=15)
            if said[f"saved-{cell}"] is not None:
                break
    page.locator(f"input.score#{next(iter(HAND_POINTS))}").scroll_into_view_if_needed()
    shot(page, "manual-grading-1280", full_page=False)
    narrow = new_page(browser, url, width=390)
    narrow.goto(page.url)
    narrow.wait_for_selector("input.score", timeout=60_000)
    narrow.locator(f"input.score#{next(iter(HAND_POINTS))}").scroll_into_view_if_needed()
    shot(narrow, "manual-grading-390", full_page=False)
    narrow.close()

    page.goto(f"{url}/formgrader/manage_assignments")
    page.wait_for_selector(f"tr:has(td.name:has-text('{ASSIGNMENT}')) td.generate-feedback a", timeout=60_000)
    said["feedback"] = click_and_wait_for_modal(page, f"tr:has(td.name:has-text('{ASSIGNMENT}')) td.generate-feedback a")
    shot(page, "feedback-1280")
    close_modal(page)
    narrow = new_page(browser, url, width=390)
    narrow.wait_for_selector("td.name", timeout=60_000)
    shot(narrow, "assignments-390")
    narrow.close()
    page.close()
    classroom.nbgrader(root, "export")
    return root, said


def test_generate_button_writes_the_whole_release(session):
    root, said = session
    assert said["generate"].startswith("success-modal"), said["generate"]
    release_dir = root / "release" / ASSIGNMENT
    assert (release_dir / COURSE.package / "layers.py").is_file()
    assert "NotImplementedError" in (release_dir / COURSE.package / "layers.py").read_text()
    assert (release_dir / student_setup.README).is_file() and (release_dir / student_setup.REQUIREMENTS).is_file()


def test_a_sandbox_that_cannot_start_shows_its_reason_in_the_dialog(session):
    _, said = session
    assert said["refused"].startswith("error-modal"), said["refused"]
    assert "grading refuses to run student code unconfined" in said["refused"]
    assert "setting up uid map: Permission denied" in said["refused"]
    log = said["refused"].split("Log Output", 1)[1].strip()
    reason = " ".join(log.split("\n\n", 1)[0].split())  # the log's first paragraph, on top
    assert "grading refuses to run student code unconfined" in reason and "Permission denied" in reason, log[:800]


def test_autograde_buttons_give_the_judges_points(session):
    root, said = session
    assert said["autograde-ada"].startswith("success-modal"), said["autograde-ada"]
    auto = {task.grade_cell: task.points for task in DROPOUT.tasks}
    scores = classroom.cell_scores(root, "ada")
    assert {cell: scores[cell][0] for cell in auto} == auto
    bob = classroom.cell_scores(root, "bob")
    assert sum(bob[cell][0] or 0 for cell in auto) < sum(auto.values())


def test_hand_graded_points_reach_the_total_and_the_export(session):
    root, said = session
    assert {cell: said[f"saved-{cell}"] for cell in HAND_POINTS} == HAND_POINTS
    assert said["feedback"].startswith("success-modal"), said["feedback"]
    with open(root / "grades.csv", newline="") as file:
        rows = {row["student_id"]: row for row in csv.DictReader(file)}
    expected = sum(task.points for task in DROPOUT.tasks) + sum(HAND_POINTS.values())
    assert float(rows["ada"]["score"]) == expected
    assert (rows["ada"]["needs_manual_grading"], rows["bob"]["needs_manual_grading"]) == ("no", "yes")
    assert (root / "feedback" / "ada" / ASSIGNMENT / f"{DROPOUT.notebook}.html").is_file()


def test_roster_names_show_in_formgrader(session):
    _, said = session
    assert "Lovelace, Ada" in said["submissions"] and "None, None" not in said["submissions"]


def test_a_hanging_notebook_gets_the_servers_budget_not_the_cell_timeout(session):
    """In the server, all cells of a notebook get 30 s together (assignments/nbgrader_config.py),
    not 120 s per cell: the hanging cell is interrupted within the budget and the grade recorded."""
    import re

    root, said = session
    assert said["autograde-hal"].startswith("success-modal"), said["autograde-hal"]
    nb = nbformat.read(root / "autograded" / "hal" / ASSIGNMENT / f"{DROPOUT.notebook}.ipynb", as_version=4)
    timeouts = [o.get("evalue", "") + "".join(o.get("traceback", [])) for cell in nb.cells
                for o in cell.get("outputs", []) if o.get("ename") == "CellTimeoutError"]
    assert len(timeouts) == 1, timeouts
    waited = [int(s) for s in re.findall(r"Timeout waiting for execute reply \((\d+)s\)", said["autograde-hal"])]
    assert waited and max(waited) <= 30, said["autograde-hal"][-2000:]
    forward = next(task.grade_cell for task in DROPOUT.tasks if task.id == "dropout_forward")
    assert classroom.cell_scores(root, "hal")[forward][0] == 0


def test_the_server_answers_while_formgrader_autogrades(session):
    """formgrader's Autograde grades in a worker thread (coursekit/formgrader_async.py): a request
    made while a hanging submission grades is answered before that grading ends."""
    _, said = session
    assert said["while-grading"]["status"] == 200
    assert said["while-grading"]["autograde_pending"], said["while-grading"]
