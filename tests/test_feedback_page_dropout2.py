"""The feedback page of dropout2 submissions, made by plain nbgrader: it names each mistake and
sends the student to the section of the chapter that explains it (tests/test_feedback_page.py
does the same, in depth and in Chromium, for dropout)."""

import html
import re

import pytest

from coursekit import classroom
from coursekit.feedback.verdict_view import mistake_view
from coursekit.manifest import COURSE

DROPOUT2 = COURSE.assignment_named("dropout2")
CATALOGUE = classroom.load_catalogue()
CLASS = ("d2-elementwise", "d2-channels-last", "d2-mc-logits", "d2-mc-bits", "d2-per-example")


def student_of(name):
    return name.replace("-", "_")


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = classroom.make_course(tmp_path_factory.mktemp("feedback2") / "course", op_timeout=5, budget=30)
    classroom.release_course(root, (DROPOUT2.name,))
    for name in CLASS:
        classroom.submit(root, student_of(name), CATALOGUE.DROPOUT2_BY_NAME[name])
    classroom.nbgrader(root, "autograde", DROPOUT2.name, "--ResilientExecute.run_notebook=False")
    classroom.nbgrader(root, "generate_feedback", DROPOUT2.name)
    return root


def page_text(course, name):
    path = course / "feedback" / student_of(name) / DROPOUT2.name / f"{DROPOUT2.notebook}.html"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", path.read_text())).split())


@pytest.mark.parametrize("name", CLASS)
def test_the_page_names_each_mistake_and_where_the_book_explains_it(course, name):
    text = page_text(course, name)
    mistakes = {m for m in CATALOGUE.DROPOUT2_BY_NAME[name].expected.values() if m}
    assert mistakes
    for mistake in mistakes:
        page = COURSE.mistake_page(mistake)
        chapter = {"book/spatial-dropout": "Dropout for convolutional networks", "book/mc-dropout": "Monte Carlo dropout",
                   COURSE.mistakes_page: "Common mistakes"}[page]
        assert f"Likely mistake: {COURSE.mistakes[mistake]}." in text, mistake
        assert f"In the course book: {chapter} ({COURSE.mistake_link(mistake)})" in text, mistake
        assert f"The book's section: {COURSE.mistakes[mistake]}" in text  # the section itself, no address set


def test_dropout2s_own_mistakes_point_into_its_chapters(course):
    assert COURSE.mistake_link("spatial-mask-elementwise") == "book/spatial-dropout.html#spatial-mask-elementwise"
    assert "book/mc-dropout.html#entropy-in-bits" in page_text(course, "d2-mc-bits")
    view = mistake_view("mc-averages-logits", "https://example.edu/dropout")
    assert view.href == "https://example.edu/dropout/book/mc-dropout.html#mc-averages-logits"
    assert view.chapter == "Monte Carlo dropout" and view.section_markdown == ""
    shared = mistake_view("mask-shared-across-units", "")  # a mistake of both assignments: the mistakes chapter
    assert shared.where == f"{COURSE.mistakes_page}.html#mask-shared-across-units" and shared.chapter == "Common mistakes"
