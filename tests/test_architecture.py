"""The rules ARCHITECTURE.md states, checked on the code as it is (by reading it, never running it)."""

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


def python_files(*folders):
    return sorted(p for folder in folders for p in (REPO_ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)


def imported_modules(path):
    """Every module name ``path`` imports (absolute names; relative imports resolved)."""
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


def test_source_pkg_never_imports_coursekit():
    for path in python_files("source_pkg"):
        assert not [m for m in imported_modules(path) if m.split(".")[0] == "coursekit"], path


def test_no_grading_module_imports_source_pkg():
    """Student code is imported only by the runner, dynamically, from the submission's folder."""
    for path in python_files("coursekit"):
        assert not [m for m in imported_modules(path) if m.split(".")[0] == COURSE.package], path
    mentions = [p.relative_to(REPO_ROOT).as_posix() for p in python_files("coursekit")
                if "import_module(" in p.read_text()]
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
    problems = {p.relative_to(REPO_ROOT).as_posix(): unannotated(p) for p in python_files("coursekit")}
    assert {path: names for path, names in problems.items() if names} == {}
