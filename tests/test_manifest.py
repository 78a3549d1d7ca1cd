"""The course manifest (coursekit/course.toml): read strictly, and consistent with what it names."""

import ast
import re

import pytest

from coursekit.manifest import COURSE, ManifestError, load
from coursekit.paths import MANIFEST_FILE


def manifest_text():
    return MANIFEST_FILE.read_text()


def first_task_block(text):
    """(start, end) of the first [[task]] table (a line of its own, not a comment)."""
    start = text.index("\n[[task]]\n") + 1
    return start, text.index("\n[[task]]\n", start) + 1


def without_tables(text, header):
    """The manifest without any table whose header line is ``header``."""
    kept, dropping = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith("["):
            dropping = line.strip() == header
        if not dropping:
            kept.append(line)
    return "".join(kept)


def with_first_task(text, old, new):
    """The manifest with ``old`` replaced by ``new`` inside the first [[task]] only."""
    start, end = first_task_block(text)
    block = text[start:end]
    assert old in block, old
    return text[:start] + block.replace(old, new, 1) + text[end:]


@pytest.mark.parametrize("task", COURSE.tasks, ids=COURSE.task_ids)
def test_a_tasks_hidden_checks_add_up_to_its_points(task):
    tree = ast.parse(task.checks_path.read_text())
    total = 0.0
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            marks = [d for d in node.decorator_list
                     if isinstance(d, ast.Call) and getattr(d.func, "id", "") == "points"]
            assert len(marks) == 1, f"{task.checks_path}::{node.name} needs exactly one @points(n)"
            total += float(ast.literal_eval(marks[0].args[0]))
    assert total == task.points


@pytest.mark.parametrize("task", COURSE.tasks, ids=COURSE.task_ids)
def test_a_tasks_book_section_is_a_label_of_its_page(task):
    page, _, label = task.book.partition("#")
    source = (MANIFEST_FILE.parents[1] / f"{page}.md").read_text()
    assert f"({label})=" in source, f"{page}.md has no MyST label ({label})="


def test_every_mistake_belongs_to_a_task():
    claimed = {mistake for task in COURSE.tasks for mistake in task.mistakes}
    assert claimed == set(COURSE.mistakes)


@pytest.mark.parametrize("assignment", COURSE.assignments, ids=COURSE.assignment_names)
def test_derived_tables_of_an_assignment(assignment):
    assert COURSE.assignment_named(assignment.name) is assignment
    assert assignment.tasks == tuple(task for task in COURSE.tasks if task.assignment == assignment.name)
    assert assignment.cell_tasks == {task.grade_cell: task.id for task in assignment.tasks}
    assert assignment.total_points == assignment.auto_points + sum(part.points for part in assignment.manual)
    assert all(part.assignment == assignment.name for part in assignment.manual)
    assert f"{COURSE.package}/layers.py" in assignment.student_files()
    assert (MANIFEST_FILE.parents[1] / "assignments" / "source" / assignment.name / f"{assignment.notebook}.ipynb").is_file()


def test_derived_tables():
    assert COURSE.assignments and COURSE.tasks == tuple(t for a in COURSE.assignments for t in a.tasks)
    assert COURSE.cell_tasks == {cell: task for a in COURSE.assignments for cell, task in a.cell_tasks.items()}
    with pytest.raises(KeyError, match="unknown assignment 'no-such'; the manifest's assignments: "):
        COURSE.assignment_named("no-such")
    assert COURSE.mistake_link("seed-ignored", "https://book.example/") == \
        f"https://book.example/{COURSE.mistakes_page}.html#seed-ignored"
    with pytest.raises(KeyError, match="unknown mistake"):
        COURSE.mistake_link("no-such-mistake")
    assert COURSE.mistake_link("entropy-in-bits") == "book/mc-dropout.html#entropy-in-bits"  # page = in [mistakes]
    with pytest.raises(KeyError, match="unknown task"):
        COURSE.task("no_such_task")


MISTAKE_BROKEN = [
    # (a [mistakes] entry replacing seed-ignored's, words the error must hold)
    ('seed-ignored = { title = "The seed is ignored", chapter = "book/x" }',
     [r"\[mistakes\]\.seed-ignored has unknown key\(s\) chapter"]),
    ('seed-ignored = { page = "book/x" }', [r"\[mistakes\]\.seed-ignored\.title = '<missing>'"]),
    ('seed-ignored = { title = "The seed is ignored", page = 3 }', [r"\[mistakes\]\.seed-ignored\.page = 3"]),
    ('seed-ignored = 3', [r"\[mistakes\]\.seed-ignored = 3", "non-empty string"]),
]


@pytest.mark.parametrize("entry, words", MISTAKE_BROKEN, ids=[e[0][15:40] for e in MISTAKE_BROKEN])
def test_a_broken_mistake_entry_is_refused(tmp_path, entry, words):
    text = manifest_text()
    old = 'seed-ignored = "The seed is ignored"'
    assert old in text
    path = tmp_path / "course.toml"
    path.write_text(text.replace(old, entry, 1))
    with pytest.raises(ManifestError) as error:
        load(path)
    assert str(path) in str(error.value)
    for pattern in words:
        assert re.search(pattern, str(error.value)), (pattern, str(error.value))


def test_a_mistake_without_a_page_is_explained_on_the_mistakes_page(tmp_path):
    path = tmp_path / "course.toml"
    path.write_text(manifest_text().replace('seed-ignored = "The seed is ignored"',
                                            'seed-ignored = { title = "The seed is ignored" }', 1))
    course = load(path)
    assert course.mistakes["seed-ignored"] == "The seed is ignored"
    assert course.mistake_link("seed-ignored") == f"{COURSE.mistakes_page}.html#seed-ignored"


BROKEN = [
    # (what is changed in the first task, words the error must hold)
    (("points = 10", "points = -1"), [r"\[\[task\]\] #1\.points = -1", "positive number"]),
    (("points = 10", 'points = "ten"'), [r"\[\[task\]\] #1\.points = 'ten'", "positive number"]),
    (('id = "dropout_forward"', 'id = "Dropout Forward"'), [r"#1\.id = 'Dropout Forward'", "must match"]),
    (('folder = "tests/hidden/dropout_forward"', 'folder = "tests/hidden/nope"'),
     [r"#1\.folder = 'tests/hidden/nope'", "no such folder"]),
    (('folder = "tests/hidden/dropout_forward"', 'folder = "tests/hidden/fc_net"'),
     [r"#1\.folder = 'tests/hidden/fc_net'", r"holds no test_dropout_forward\.py"]),
    (('folder = "tests/hidden/dropout_forward"', 'checks = "tests/hidden/dropout_forward/test_dropout_forward.py"'),
     [r"#1 has unknown key\(s\) checks"]),
    (('mistakes = ["keep-drop-swapped",', 'mistakes = ["keep-drop-swaped",'),
     [r"#1\.mistakes", "'keep-drop-swaped' is not in \\[mistakes\\]"]),
    (('grade_cell = "dropout_forward_checks"', 'grade_cell = "fc_net_checks"'),
     ["grade_cell 'fc_net_checks' appears twice"]),
    (('stubs = ["layers.py:dropout_forward"]', 'stubs = ["dropout_forward"]'),
     [r"#1\.stubs", "'dropout_forward' is not 'file.py:function'"]),
    (('title = "dropout_forward"', 'title = "dropout_forward"\npoint = 3'), [r"#1 has unknown key\(s\) point"]),
    (('title = "dropout_forward"', "title = "), ["not valid TOML"]),
]


@pytest.mark.parametrize("change, words", BROKEN, ids=[c[0][1][:24] for c in BROKEN])
def test_a_broken_manifest_is_refused_naming_file_key_and_value(tmp_path, change, words):
    path = tmp_path / "course.toml"
    path.write_text(with_first_task(manifest_text(), *change))
    with pytest.raises(ManifestError) as error:
        load(path)
    message = str(error.value)
    assert str(path) in message
    for pattern in words:
        assert re.search(pattern, message), (pattern, message)


@pytest.mark.parametrize("missing, words", [("calls.py", "holds no calls.py (the calls its checks may make"),
                                            ("__init__.py", "holds no __init__.py")])
def test_a_task_folder_without_its_calls_or_init_is_refused(tmp_path, missing, words):
    task = COURSE.tasks[0]
    folder = tmp_path / task.id
    folder.mkdir()
    for name in {task.checks_path.name, "calls.py", "__init__.py"} - {missing}:
        (folder / name).write_text((task.folder_path / name).read_text())
    path = tmp_path / "course.toml"
    path.write_text(with_first_task(manifest_text(), f'folder = "{task.folder}"', f'folder = "{folder}"'))
    with pytest.raises(ManifestError) as error:
        load(path)
    assert f"#1.folder = '{folder}'" in str(error.value) and words in str(error.value), str(error.value)


ASSIGNMENT_BROKEN = [
    # (what is changed in the manifest, words the error must hold)
    (('id = "dropout_forward"\nassignment = "dropout"\n', 'id = "dropout_forward"\nassignment = "dropout3"\n'),
     [r"\[\[task\]\] #1\.assignment = 'dropout3'", "no \\[\\[assignment\\]\\] is named 'dropout3'"]),
    (('id = "dropout_forward"\nassignment = "dropout"\n', 'id = "dropout_forward"\n'),
     [r"\[\[task\]\] #1\.assignment = '<missing>'", "expected a non-empty string"]),
    (('assignment = "dropout"\ngrade_cell = "question_scaling"', 'assignment = "nope"\ngrade_cell = "question_scaling"'),
     [r"\[\[manual\]\] #1\.assignment = 'nope'", "no \\[\\[assignment\\]\\] is named 'nope'"]),
    (('notebook = "dropout"\n', 'notebook = "no_such_notebook"\n'),
     [r"\[\[assignment\]\] #1\.notebook = 'no_such_notebook'", r"no such file .*source/dropout/no_such_notebook\.ipynb"]),
    (('[[assignment]]\nname = "dropout"\n', '[[assignment]]\nname = "dropout"\nnotebook = "dropout"\ntitle = "x"\n'
      '\n[[assignment]]\nname = "dropout"\n'), [r"\[\[assignment\]\] name 'dropout' appears twice"]),
    (('name = "dropout"\n', 'name = "drop out"\n'), [r"\[\[assignment\]\] #1\.name = 'drop out'", "must match"]),
    (('title = "Dropout, from scratch"\n', 'title = "Dropout"\ndue = "soon"\n'),
     [r"\[\[assignment\]\] #1 has unknown key\(s\) due"]),
]


@pytest.mark.parametrize("change, words", ASSIGNMENT_BROKEN, ids=[c[0][1][:30] for c in ASSIGNMENT_BROKEN])
def test_a_broken_assignment_is_refused_naming_file_key_and_value(tmp_path, change, words):
    text = manifest_text()
    assert text.count(change[0]) >= 1, change[0]
    path = tmp_path / "course.toml"
    path.write_text(text.replace(change[0], change[1], 1))
    with pytest.raises(ManifestError) as error:
        load(path)
    message = str(error.value)
    assert str(path) in message
    for pattern in words:
        assert re.search(pattern, message), (pattern, message)


def test_an_assignment_without_tasks_or_a_course_without_assignments_is_refused(tmp_path):
    path = tmp_path / "course.toml"
    other = '[[assignment]]\nname = "other"\nnotebook = "other"\ntitle = "No tasks yet"\n\n'
    path.write_text(manifest_text().replace("[[assignment]]\n", other + "[[assignment]]\n", 1))
    for name in ("other", *COURSE.assignment_names):
        (tmp_path / "source" / name).mkdir(parents=True)
        (tmp_path / "source" / name / f"{name}.ipynb").write_text("{}")
    with pytest.raises(ManifestError, match=r"\[\[assignment\]\] 'other' has no \[\[task\]\] with assignment = 'other'"):
        load(path, course_root=tmp_path)
    path.write_text(without_tables(manifest_text(), "[[assignment]]"))
    with pytest.raises(ManifestError, match=r"no \[\[assignment\]\]"):
        load(path)


def test_the_single_assignment_table_of_old_is_refused_saying_what_replaced_it(tmp_path):
    path = tmp_path / "course.toml"
    old = '[assignment]\nname = "dropout"\nnotebook = "dropout"\n'
    path.write_text(without_tables(manifest_text(), "[[assignment]]").replace("[course]\n", old, 1))
    with pytest.raises(ManifestError) as error:
        load(path)
    assert str(path) in str(error.value)
    assert "[assignment] is a single table" in str(error.value) and "[[assignment]] table" in str(error.value)


def test_a_manifest_without_tasks_or_file_is_refused(tmp_path):
    path = tmp_path / "course.toml"
    path.write_text(without_tables(manifest_text(), "[[task]]"))
    with pytest.raises(ManifestError, match="no \\[\\[task\\]\\]"):
        load(path)
    with pytest.raises(ManifestError, match="cannot read the course manifest"):
        load(tmp_path / "missing.toml")


def test_the_shipped_manifest_loads_as_is():
    assert load(MANIFEST_FILE) == COURSE
