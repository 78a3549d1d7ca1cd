"""The rules ARCHITECTURE.md states, checked on the code as it is (by reading it, never running it).

The table of who may import whom is written once, here (``PARTS``, ``MAY_IMPORT``, ``LEVELS``),
and ``test_the_architecture_page_states_the_same_table`` holds ARCHITECTURE.md to it.
"""

import ast
import re
import sys
from pathlib import Path

import pytest

from coursekit.grading.client import operations_of
from coursekit.manifest import COURSE
from coursekit.paths import REPO_ROOT

COURSEKIT = REPO_ROOT / "coursekit"
MAX_MODULE_LINES = 320  # "about 300": a signal to split


# -- who may import whom ------------------------------------------------------------------------

# Each part and its files under coursekit/ (a folder: every module in it; the longest match wins).
PARTS = {
    "paths": ["paths.py"],
    "manifest": ["manifest.py", "toml_tables.py", "credit.py", "mistake_table.py"],
    "verdict": ["grading/verdict.py"],
    "limits": ["limits.py", "cgroups.py"],
    "jsonlines": ["jsonlines.py"],
    "course_settings": ["course_settings.py"],
    "editions": ["editions.py"],
    "book_address": ["book_address.py"],
    "gradebook": ["gradebook/"],
    "formgrader_async": ["formgrader_async.py"],
    "preflight": ["preflight.py"],
    "forking": ["forking.py"],
    "speedups": ["speedups.py"],
    "upstream_changes": ["upstream_changes.py"],
    "sandbox": ["sandbox.py", "sandbox_privacy.py", "matplotlib_cache.py", "kernels/"],
    "grading": ["grading/"],
    "feedback": ["feedback/"],
    "release": ["release.py", "student_setup.py"],
    "export": ["export.py"],
    "classgrade": ["classgrade/"],
    "classroom": ["classroom.py", "demo.py"],
    "hub": ["hub/"],
}
EVERYONE_MAY_IMPORT = {"paths", "manifest", "verdict"}  # which themselves import only what MAY_IMPORT says
MAY_IMPORT = {
    "paths": set(),
    "manifest": {"paths"},
    "verdict": set(),
    "limits": set(),
    "jsonlines": set(),
    "course_settings": set(),
    "editions": set(),
    "book_address": set(),
    "gradebook": set(),
    "formgrader_async": set(),
    "preflight": set(),
    "forking": set(),
    "speedups": set(),
    "upstream_changes": {"speedups", "formgrader_async"},
    "sandbox": {"limits", "speedups"},
    "grading": {"limits", "sandbox", "jsonlines", "book_address", "forking", "speedups", "upstream_changes"},
    "feedback": {"grading", "limits", "editions", "book_address"},
    "release": {"course_settings", "editions", "gradebook", "preflight"},
    "export": {"gradebook"},
    "classgrade": {"gradebook", "course_settings", "release", "sandbox", "limits", "jsonlines", "preflight",
                   "grading", "forking", "speedups", "upstream_changes"},
    "classroom": {"gradebook", "release", "limits"},
    "hub": set(),
}
# Higher parts use lower ones, never the reverse.
LEVELS = {"paths": 0, "manifest": 1, "verdict": 1, "limits": 2, "jsonlines": 2, "course_settings": 2, "editions": 2,
          "book_address": 2, "gradebook": 2, "formgrader_async": 2, "preflight": 2, "forking": 2, "speedups": 2,
          "upstream_changes": 3, "sandbox": 3, "grading": 4, "feedback": 5,
          "release": 5, "export": 5, "classgrade": 6, "classroom": 7, "hub": 7}
# nbgrader's database is opened through the gradebook part only.
DATABASE_MODULES = ("nbgrader.api", "sqlalchemy")
# The one module that changes another package at run time: it replaces nbgrader's engine creation.
UPSTREAM_CHANGES = "coursekit/upstream_changes.py"
# Imports of database code that open nothing, and why.
DATABASE_PRELOADS = {("coursekit/classgrade/forkserver_main.py", "sqlalchemy.dialects.sqlite"):
                     "the worker server imports SQLite's dialect once, before it forks the workers that use it"}
# The names that carry a limit on student code through the code (parameters, traits, options,
# nbgrader's settings): their values come from [limits] of course.toml (coursekit/limits.py).
LIMIT_NAMES = {"op_timeout", "budget", "cell_timeout", "notebook_seconds", "checks_seconds", "cell_seconds",
               "call_seconds", "formgrader_notebook_seconds", "task_checks_seconds"}
LIMIT_OPTIONS = {"--" + name.replace("_", "-") for name in LIMIT_NAMES}
LIMITS_FILE = "coursekit/limits.py"


def python_files(*folders):
    return sorted(p for folder in folders for p in (REPO_ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)


def relative(path):
    return path.relative_to(REPO_ROOT).as_posix()


def module_name(path):
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in python_files("coursekit")}


def imported_modules(path):
    """Every module name ``path`` imports (absolute names; relative imports resolved), at any depth
    of the file (an import inside a function is a dependency too)."""
    tree = ast.parse(path.read_text())
    package = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def project_imports(path):
    """The coursekit modules ``path`` imports (``from .x import name``: module x, or x.name if a module)."""
    found = set()
    for name in imported_modules(path):
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name.startswith("coursekit.") and MODULES[name] != path:
            found.add(name)
    return found


def part_of(module):
    """The part a coursekit module belongs to (the longest matching entry of PARTS)."""
    path = relative(MODULES[module]).removeprefix("coursekit/")
    matches = [(len(entry), part) for part, entries in PARTS.items() for entry in entries
               if path == entry or (entry.endswith("/") and path.startswith(entry))]
    assert matches, f"coursekit/{path} belongs to no part of PARTS: add it (and to ARCHITECTURE.md)"
    return max(matches)[1]


def import_edges():
    """(importer, imported) for every import of one coursekit module by another."""
    return [(module, imported) for module, path in MODULES.items() if module != "coursekit"
            for imported in sorted(project_imports(path)) if imported != "coursekit"]


def forbidden_imports():
    problems = []
    for importer, imported in import_edges():
        mine, theirs = part_of(importer), part_of(imported)
        allowed = MAY_IMPORT[mine] | (set() if mine in EVERYONE_MAY_IMPORT else EVERYONE_MAY_IMPORT)
        if mine != theirs and theirs not in allowed:
            problems.append(f"{relative(MODULES[importer])}: imports {imported} ({mine} may not import {theirs})")
    return problems


def test_every_part_may_import_only_what_the_table_allows():
    assert forbidden_imports() == []



def test_the_table_only_allows_imports_downwards_and_every_module_has_a_part():
    for part, allowed in MAY_IMPORT.items():
        below = allowed | (set() if part in EVERYONE_MAY_IMPORT else EVERYONE_MAY_IMPORT)
        assert [other for other in below if LEVELS[other] >= LEVELS[part]] == [], part
    assert set(PARTS) == set(MAY_IMPORT) == set(LEVELS)
    assert not [part for part in MAY_IMPORT.values() if "classgrade" in part]  # nothing imports the class command
    assert not {"classgrade", "release", "feedback", "gradebook"} & MAY_IMPORT["grading"]
    for module in MODULES:
        if module != "coursekit":
            part_of(module)


def test_no_import_runs_from_a_lower_part_to_a_higher_one():
    upward = [f"{relative(MODULES[a])}: imports {b} ({part_of(a)} is below {part_of(b)})"
              for a, b in import_edges() if LEVELS[part_of(a)] < LEVELS[part_of(b)]]
    assert upward == []


def import_circles(edges=None):
    """The strongly connected components (more than one module) of the import graph (Tarjan)."""
    graph = {}
    for importer, imported in import_edges() if edges is None else edges:
        graph.setdefault(importer, set()).add(imported)
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(circles)


def test_the_circle_search_finds_circles_and_only_them():
    edges = [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "e"), ("e", "d"), ("f", "a")]
    assert import_circles(edges) == [["a", "b", "c"], ["d", "e"]]
    assert import_circles([("a", "b"), ("b", "c")]) == []


def test_no_import_circle_among_coursekit_modules():
    assert import_circles() == []



def database_imports():
    """Files outside the gradebook part that import nbgrader's database API or SQLAlchemy."""
    return [f"{relative(path)}: imports {name}" for path in python_files("coursekit", "assignments")
            for name in sorted(imported_modules(path))
            if name.startswith(DATABASE_MODULES) and not relative(path).startswith("coursekit/gradebook/")
            and relative(path) != UPSTREAM_CHANGES and (relative(path), name) not in DATABASE_PRELOADS]


def test_nbgrader_database_only_through_the_gradebook_module():
    assert database_imports() == []



def _number(node):
    """The number ``node`` writes literally (``-5`` too), else None; 0 means "no limit", not a limit."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value or None
    return None


def _first_number(node):
    """A literal number, or the default given as first argument or ``default_value`` of a trait (``Float(10)``)."""
    if isinstance(node, ast.Call):
        given = [*node.args[:1], *[k.value for k in node.keywords if k.arg == "default_value"]]
        return next((value for value in map(_number, given) if value is not None), None)
    return _number(node)


def _target_names(target):
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Attribute):
        return [target.attr]
    return []


def limit_literals(path):
    """(line, name) of each place in ``path`` that writes a number for a limit on student code."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            arguments = node.args.posonlyargs + node.args.args
            pairs = list(zip(arguments[len(arguments) - len(node.args.defaults):], node.args.defaults))
            pairs += [(a, d) for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults) if d is not None]
            found += [(d.lineno, a.arg) for a, d in pairs if a.arg.lower() in LIMIT_NAMES and _number(d)]
        elif isinstance(node, ast.keyword) and node.arg in LIMIT_NAMES and _number(node.value):
            found.append((node.value.lineno, node.arg))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [n for t in targets for n in _target_names(t)]
            config = any(isinstance(t, ast.Attribute) and ast.unparse(t).startswith("c.") for t in targets)
            if _first_number(node.value) and any(n.lower() in LIMIT_NAMES or (config and n == "timeout") for n in names):
                found.append((node.lineno, ", ".join(names)))
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value in LIMIT_NAMES and _number(value):
                    found.append((value.lineno, key.value))
        elif isinstance(node, (ast.Tuple, ast.Call)):
            items = node.elts if isinstance(node, ast.Tuple) else node.args
            if items and isinstance(items[0], ast.Constant) and items[0].value in LIMIT_OPTIONS:
                defaults = [k.value for k in getattr(node, "keywords", []) if k.arg == "default"]
                defaults += [v for d in items[1:] if isinstance(d, ast.Dict)
                             for k, v in zip(d.keys, d.values) if isinstance(k, ast.Constant) and k.value == "default"]
                found += [(d.lineno, items[0].value) for d in defaults if _number(d)]
    return sorted(set(found))


def test_one_table_of_limits_no_number_for_a_limit_on_student_code_outside_it():
    """Every time and budget given to student code comes from [limits] of course.toml (limits.py
    reads it); tests may use their own short limits."""
    problems = [f"{relative(path)}:{line}: a number for {name}" for path in python_files("coursekit", "assignments")
                if relative(path) != LIMITS_FILE for line, name in limit_literals(path)]
    assert problems == []


def test_the_limit_literal_search_finds_each_way_of_writing_one(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def run(plan, op_timeout=10.0, *, budget=60): ...\n"
                      "run(plan, cell_timeout=5)\n"
                      "c.Execute.timeout = 120\n"
                      "c.ResilientExecute.budget = 30\n"
                      "class Judge:\n    op_timeout = Float(10.0, help='')\n"
                      "LIMITS = {'budget': 15.0}\n"
                      "OPTIONS = (('--op-timeout', {'type': float, 'default': 10.0}),)\n"
                      "parser.add_argument('--budget', default=60.0)\n"
                      "def fine(budget=0.0, timeout=60, op_timeout=LIMITS.call_seconds): ...\n")
    assert sorted({line for line, _ in limit_literals(sample)}) == [1, 2, 3, 4, 6, 7, 8, 9]


def test_only_the_sandbox_starts_bubblewrap_and_only_it_and_limits_set_rlimits():
    """Every process that runs student code starts through sandbox.py, which applies the limits."""
    starts = [relative(p) for p in python_files("coursekit") if re.search(r"[\"']bwrap[\"']", p.read_text())]
    assert set(starts) <= {"coursekit/sandbox.py", "coursekit/sandbox_privacy.py"}
    rlimits = [relative(p) for p in python_files("coursekit") if "prlimit" in p.read_text() or "setrlimit" in p.read_text()]
    assert set(rlimits) <= {"coursekit/limits.py", "coursekit/sandbox.py", "coursekit/kernels/dropout-sandbox/launch.py"}


def test_the_architecture_page_states_the_same_table():
    """ARCHITECTURE.md's "Who may import whom" table lists the same parts, files and imports as this test."""
    text = (REPO_ROOT / "ARCHITECTURE.md").read_text()
    section = text.split("## Who may import whom", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    stated = {}
    for row in rows:
        part, files, level, imports = [cell.strip() for cell in row.strip("|").split("|")]
        stated[part.strip("`")] = (re.findall(r"`([^`]+)`", files), int(level), set(re.findall(r"`([^`]+)`", imports)))
    assert stated == {part: (PARTS[part], LEVELS[part], MAY_IMPORT[part]) for part in PARTS}


# -- the rules each part keeps ---------------------------------------------------------------------

def test_source_pkg_never_imports_coursekit():
    for path in python_files("source_pkg"):
        assert not [m for m in imported_modules(path) if m.split(".")[0] == "coursekit"], path


def test_no_grading_module_imports_source_pkg():
    """Student code is imported only by the runner, dynamically, from the submission's folder."""
    for path in python_files("coursekit"):
        assert not [m for m in imported_modules(path) if m.split(".")[0] == COURSE.package], path
    mentions = [relative(p) for p in python_files("coursekit") if "import_module(" in p.read_text()]
    assert mentions == ["coursekit/grading/runner.py"]


LOADED_BY_PATH = [COURSEKIT / "grading" / "reference.py", *(p for task in COURSE.tasks for p in task.runner_files)]


@pytest.mark.parametrize("path", LOADED_BY_PATH, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_what_the_runner_loads_imports_only_numpy_and_the_standard_library(path):
    """reference.py and each task's calls.py (and what it loads) run in the sandboxed runner."""
    allowed = set(sys.stdlib_module_names) | {"numpy", "__future__"}
    imports = {m.split(".")[0] for m in imported_modules(path)}
    assert imports <= allowed, imports - allowed
    assert "from ." not in path.read_text()  # no relative import: it is loaded by path, outside any package


def names_in_code(path):
    """(line, text) of every identifier and every string that is not a docstring in ``path``."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            found.append((node.lineno, node.value))
        elif isinstance(node, (ast.Name, ast.Attribute, ast.FunctionDef, ast.ClassDef, ast.arg, ast.alias)):
            name = {ast.Name: "id", ast.Attribute: "attr", ast.arg: "arg"}.get(type(node), "name")
            found.append((getattr(node, "lineno", 0), getattr(node, name)))
    return found


def test_the_grading_package_names_no_task_operation_or_student_module():
    """A task is a folder: coursekit/grading (runner, client, ...) knows the tasks, the operations
    of their calls.py and the package's modules only from the manifest, never by name."""
    named = {*COURSE.task_ids, *COURSE.student_modules, *(op for task in COURSE.tasks
                                                          for op in operations_of(task.calls_path))}
    # A word of a string, or a part of an identifier between underscores (op_net, run_fc_net).
    either = "|".join(map(re.escape, sorted(named)))
    word = re.compile(rf"(?:\b|(?<=_))({either})(?:\b|(?=_))")
    problems = [f"{path.relative_to(REPO_ROOT)}:{line}: {text!r}" for path in python_files("coursekit/grading")
                for line, text in names_in_code(path) if word.search(text)]
    assert problems == []


def string_literals(path):
    return [(node.lineno, node.value) for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)]


def test_the_manifest_is_the_only_list_of_tasks():
    """No code restates a grade cell id or a list of the task ids: they come from COURSE."""
    cells = {cell for assignment in COURSE.assignments for cell in assignment.cell_points}
    tasks = set(COURSE.task_ids)
    problems = []
    for path in python_files("coursekit", "tests", "benchmarks", "assignments"):
        where = path.relative_to(REPO_ROOT)
        problems += [f"{where}:{line}: {value!r}" for line, value in string_literals(path) if value in cells]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                values = {e.value for e in node.elts if isinstance(e, ast.Constant)}
                if len(values & tasks) >= 2:
                    problems.append(f"{where}:{node.lineno}: a list of task ids")
    assert problems == []


@pytest.mark.parametrize("path", python_files("coursekit"), ids=lambda p: p.relative_to(COURSEKIT).as_posix())
def test_modules_stay_small(path):
    assert len(path.read_text().splitlines()) <= MAX_MODULE_LINES


def unannotated(path):
    """Public functions (and public methods of public classes) lacking a parameter or return annotation."""
    missing = []

    def check(function, owner=""):
        if function.name.startswith("_") and function.name != "__init__":
            return
        arguments = function.args.posonlyargs + function.args.args + function.args.kwonlyargs
        names = [a.arg for a in arguments if a.annotation is None and a.arg not in ("self", "cls")]
        if function.returns is None and function.name != "__init__":
            names.append("return")
        if names:
            missing.append(f"{owner}{function.name}: {', '.join(names)}")

    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            check(node)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    check(item, f"{node.name}.")
    return missing


def test_public_functions_of_coursekit_have_type_hints():
    problems = {relative(p): unannotated(p) for p in python_files("coursekit")}
    assert {path: names for path, names in problems.items() if names} == {}


def test_tests_share_one_way_to_build_a_class_and_one_table_of_their_limits():
    """conftest.py holds the tests' course helpers and short limits; no test file writes its own."""
    shared = {"make_class", "classgrade", "free_port", "LIMITS", "CHECKS_LIMITS"}
    copies = []
    for path in python_files("tests"):
        if path.name == "conftest.py":
            continue
        for node in ast.parse(path.read_text()).body:
            names = [node.name] if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else [
                n for t in getattr(node, "targets", []) for n in _target_names(t)]
            copies += [f"{relative(path)}:{node.lineno}: {name}" for name in names if name in shared]
    assert copies == []


def test_both_executors_grade_through_the_one_unit_of_grading():
    """The local pool and the Dask executor import ``job.grade``; only job.py starts nbgrader to grade."""
    for executor in ("scheduler.py", "cluster.py"):
        tree = ast.parse((REPO_ROOT / "coursekit" / "classgrade" / executor).read_text())
        imported = {(node.module, alias.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                    for alias in node.names}
        assert ("job", "grade") in imported, executor
    starts = {relative(p) for p in python_files("coursekit") if re.search(r"\bstart_nbgrader\(", p.read_text())}
    assert starts == {"coursekit/classgrade/job.py", "coursekit/classgrade/worker.py"}  # the caller, the definition
