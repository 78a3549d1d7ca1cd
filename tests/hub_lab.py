"""What people do in the course hub's pages, for tests/test_hub_term.py: JupyterLab (the
Assignments tab, the editor, the notebook, the file browser) and formgrader's pages.

Every action waits for what the page shows when it is done, never for a fixed time.
"""

from __future__ import annotations

import re
import time
from difflib import SequenceMatcher
from pathlib import Path

from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

class Shots:
    """Screenshots of every step, numbered in the order taken, in a folder named after the run."""

    def __init__(self, folder: Path):
        self.folder, self.taken = folder, []

    def __call__(self, page: Page, name: str) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path))
        self.taken.append(path)
        return path


def wait_until(page: Page, condition, timeout: float = 60, what: str = "condition"):
    """Poll ``condition`` until it returns something true; fail naming ``what`` otherwise. Waits
    through the page, never time.sleep: the pages' requests pass a route handler that runs
    only while Playwright is called (a sleeping test held a save for as long as it slept)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        page.wait_for_timeout(300)
    raise AssertionError(f"not within {timeout:.0f} s: {what}")


# JupyterLab

def menu(page: Page, top: str, item: str) -> None:
    page.get_by_role("menuitem", name=top, exact=True).click()
    page.get_by_role("menu").get_by_text(item, exact=True).first.click()


def assignments_tab(page: Page) -> None:
    """Nbgrader > Assignment List: the Assignments tab with the released and downloaded lists."""
    menu(page, "Nbgrader", "Assignment List")
    page.get_by_text("Released assignments").first.wait_for()


def open_path(page: Page, path: str) -> None:
    """File > Open from Path..., as a person who knows where the file is."""
    menu(page, "File", "Open from Path…")
    dialog = page.get_by_role("dialog")
    dialog.locator("input").fill(path)
    dialog.get_by_role("button", name="Open").click()
    page.locator(".jp-Dialog").wait_for(state="detached")


def open_notebook(page: Page, path: str) -> None:
    """Open a notebook; when JupyterLab asks which kernel to start, take the one it proposes."""
    open_path(page, path)
    page.locator(".jp-Notebook:visible").wait_for()
    choose = page.locator(".jp-Dialog").get_by_role("button", name="Select", exact=True)
    try:
        choose.wait_for(timeout=10_000)
    except PlaywrightTimeout:
        return
    choose.click()
    page.locator(".jp-Dialog").wait_for(state="detached")


def type_into_editor(page: Page, path: str, before: str, after: str) -> None:
    """Open ``path`` (now ``before``) in JupyterLab's editor and type, key by key, the lines
    that make it ``after``, then save with Ctrl-S.

    The changes are typed from the last to the first, so the lines above each one stay where
    they were. A changed block is selected from the end of the line above it to the end of its
    last line and deleted; each new line then starts with Enter, whose automatic indentation is
    selected (Shift-Home) and typed over, so every line keeps the indentation it is meant to have.
    """
    open_path(page, path)
    page.get_by_role("tab", name=re.compile(re.escape(Path(path).name))).first.wait_for()
    wrap_words(page, False)  # the arrow keys then move by the file's lines, not the screen's
    page.locator(".jp-FileEditor:visible .cm-content").click()
    old, new = before.split("\n"), after.split("\n")
    changes = [change for change in SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes() if change[0] != "equal"]
    for _, first, end, new_first, new_end in reversed(changes):
        assert first > 0, f"{path}: a change on the first line cannot be typed this way"
        page.keyboard.press("Control+Home")
        for _ in range(first - 1):
            page.keyboard.press("ArrowDown")
        page.keyboard.press("End")
        if end > first:
            for _ in range(end - first):
                page.keyboard.press("Shift+ArrowDown")
            page.keyboard.press("Shift+End")
            page.keyboard.press("Delete")
        for line in new[new_first:new_end]:
            page.keyboard.press("Enter")
            page.keyboard.press("Shift+Home")
            page.keyboard.type(line or "x")
            if not line:
                page.keyboard.press("Backspace")
    page.keyboard.press("Control+s")


def wrap_words(page: Page, on: bool) -> None:
    """Turn the current file's View > Wrap Words on or off."""
    page.get_by_role("menuitem", name="View", exact=True).click()
    item = page.locator(".lm-Menu-item", has_text=re.compile(r"^Wrap Words")).first
    item.wait_for()
    if ("lm-mod-toggled" in (item.get_attribute("class") or "")) != on:
        item.click()
    else:
        page.keyboard.press("Escape")


def run_all_cells(page: Page) -> None:
    """Run > Run All Cells (queued while the kernel starts), then wait until the last code cell
    has run and no cell is left waiting or running (a cell that raises stops the run: timeout)."""
    notebook = page.locator(".jp-Notebook:visible")
    notebook.wait_for()
    menu(page, "Run", "Run All Cells")
    code_cells = notebook.locator(".jp-CodeCell")
    expect(code_cells.locator(".jp-InputPrompt", has_text="*")).to_have_count(0, timeout=300_000)
    expect(code_cells.last.locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[\d+\]"), timeout=300_000)


def notebook_errors(page: Page) -> list[str]:
    return page.locator(".jp-Notebook:visible [data-mime-type='application/vnd.jupyter.error']").all_inner_texts()


def answer_questions(page: Page, answers: dict[int, str]) -> None:
    """Type each answer into the markdown cell at its index (replacing YOUR ANSWER HERE),
    render it, then save the notebook."""
    cells = page.locator(".jp-Notebook:visible .jp-Cell")
    for index, answer in answers.items():
        cell = cells.nth(index)
        cell.scroll_into_view_if_needed()
        expect(cell).to_contain_text("YOUR ANSWER HERE")
        cell.dblclick()
        cell.locator(".cm-content").click()
        page.keyboard.press("Control+a")
        page.keyboard.type(answer)
        page.keyboard.press("Control+Enter")  # render in place (Shift-Enter adds a cell after the last)
        expect(cell.locator(".jp-RenderedMarkdown")).to_contain_text(answer)
    page.keyboard.press("Control+s")


def delete_in_file_browser(page: Page, folders: list[str], name: str) -> None:
    """Walk the file browser into ``folders`` from the home folder, then right-click ``name`` > Delete."""
    page.locator(".jp-BreadCrumbs-home").click()
    listing = page.locator(".jp-DirListing-content")
    for folder in folders:
        listing.locator(".jp-DirListing-itemText", has_text=re.compile(f"^{re.escape(folder)}$")).dblclick()
        page.locator(".jp-BreadCrumbs").get_by_text(folder, exact=True).wait_for()
    item = listing.locator(".jp-DirListing-itemText", has_text=re.compile(f"^{re.escape(name)}$"))
    item.click(button="right")
    page.locator(".lm-Menu").get_by_text("Delete", exact=True).click()
    page.locator(".jp-Dialog").get_by_role("button", name="Delete").click()
    expect(item).to_have_count(0)


# formgrader (its pages are frames of the service's lab, or pages of their own)

def formgrader_action(scope, assignment: str, icon: str, row_of: str = "") -> None:
    """Press the ``icon`` link (glyphicon-...) of a row (of the assignment, or of student
    ``row_of``) and wait for formgrader's success dialog; fail with its log if it reports an error."""
    key = row_of or assignment
    scope.locator(f"tr:has(:text-is('{key}'))").locator(f".{icon}").first.click()
    done = scope.locator("#success-modal, #error-modal")
    done.first.wait_for(timeout=300_000)
    if scope.locator("#error-modal").count():
        raise AssertionError(f"formgrader {icon} on {key}: {scope.locator('#error-modal').inner_text()}")


def close_dialog(scope) -> None:
    scope.locator("#success-modal .modal-footer button").click()
    expect(scope.locator("#success-modal")).to_have_count(0)
