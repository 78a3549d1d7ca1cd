"""Every run-time change to another package's behaviour lives in coursekit/upstream_changes.py,
names the upstream code it replaces with that code's recorded fingerprint, and is noticed the day
that code changes: these tests fail then (and the change is no longer applied)."""

import ast
import subprocess
import sys
import textwrap

import pytest

from coursekit import upstream_changes
from coursekit.paths import REPO_ROOT
from coursekit.upstream_changes import CHANGES, UpstreamChange, fingerprint, resolve, stale

TARGETS = [(change.name, target) for change in CHANGES for target in change.replaces]


@pytest.mark.parametrize("name, target", TARGETS, ids=[target for _, target in TARGETS])
def test_the_replaced_code_is_the_code_each_change_was_checked_on(name, target):
    change = next(c for c in CHANGES if c.name == name)
    assert fingerprint(resolve(target)) in change.replaces[target], (
        f"{target} changed since '{name}' was checked: read the new code, then record its fingerprint "
        f"in coursekit/upstream_changes.py (or drop the change)")


@pytest.mark.parametrize("change", CHANGES, ids=[c.name for c in CHANGES])
def test_each_change_says_why_what_it_replaces_and_where_it_was_checked(change):
    assert "Why:" in change.why and "Replaces:" in change.why and "Checked on:" in change.why, change.name


def test_a_changed_function_is_found_stale_and_not_applied(capsys):
    def create_engine(url, echo=False):
        return url

    def create_engine_changed(url, echo=False, future=True):
        return url

    recorded = UpstreamChange("example", {"somewhere:create_engine": frozenset({fingerprint(create_engine)})},
                              lambda: "applied")
    assert stale(recorded, find=lambda target: create_engine) == []
    assert stale(recorded, find=lambda target: create_engine_changed) != []
    body_changed = textwrap.dedent("""
        def create_engine(url, echo=False):
            return url.lower()
    """)
    namespace = {}
    exec(compile(body_changed, "<changed>", "exec"), namespace)
    assert fingerprint is not None
    with pytest.raises(OSError):  # code without a source file cannot be vouched for ...
        fingerprint(namespace["create_engine"])
    assert stale(recorded, find=lambda target: namespace["create_engine"])  # ... so it is stale
    stale_change = UpstreamChange("example", {"json:dumps": frozenset({"0" * 16})}, lambda: "applied")
    assert upstream_changes._apply_if_current(stale_change) == (False, None)
    assert "not applying example" in capsys.readouterr().err


def test_pointing_a_recorded_fingerprint_at_another_function_fails():
    """The real records, pointed at code that differs (pytest's public main instead of _main)."""
    assert stale(upstream_changes.PYTEST_PREPARED_CONFIG, find=lambda target: resolve("_pytest.config:main"))


def _changes_of_other_packages(tree):
    """Line numbers where ``tree`` assigns an attribute of an imported name (or of a name taken
    from one), calls setattr on one, sets an entry of sys.modules, or imports ``_pytest``."""
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.update(alias.asname or alias.name for alias in node.names)
    own_streams = {"os", "sys"}  # sys.stdout = ... is this process's own business

    def root(node):
        while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
            node = node.func if isinstance(node, ast.Call) else node.value
        return node.id if isinstance(node, ast.Name) else None

    for node in ast.walk(tree):  # names bound to something of an imported package
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Attribute) and root(node.value) in imported:
            imported.update(t.id for t in node.targets if isinstance(t, ast.Name))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("_pytest") or \
                isinstance(node, ast.Import) and any(a.name.startswith("_pytest") for a in node.names):
            found.append(node.lineno)
        targets = node.targets if isinstance(node, ast.Assign) else []
        for target in targets:
            if isinstance(target, ast.Attribute) and root(target) in imported - own_streams:
                found.append(node.lineno)
            if isinstance(target, ast.Subscript) and ast.unparse(target.value) == "sys.modules":
                found.append(node.lineno)
        if isinstance(node, ast.Call) and ast.unparse(node.func) in ("setattr", "sys.modules.setdefault") and \
                node.args and root(node.args[0]) in imported | {"sys"}:
            found.append(node.lineno)
    return sorted(found)


# Where else such a line is allowed, and why.
ALLOWED = {
    "coursekit/upstream_changes.py": "the one module of such changes",
    "coursekit/grading/runner.py": "registers the course's own trusted modules (reference, forking, a task's calls), loaded by path",
    "coursekit/classroom.py": "registers the project's own fault catalogue, loaded by path",
    "coursekit/formgrader_async.py": "the handler upstream_changes.FORMGRADER_AUTOGRADE installs",
}


def test_no_other_module_changes_another_package_at_run_time():
    for relative in ALLOWED:  # each exception is still needed
        assert _changes_of_other_packages(ast.parse((REPO_ROOT / relative).read_text())), relative
    found = {}
    for path in sorted((REPO_ROOT / "coursekit").rglob("*.py")):
        relative = path.relative_to(REPO_ROOT).as_posix()
        lines = _changes_of_other_packages(ast.parse(path.read_text()))
        if lines and relative not in ALLOWED:
            found[relative] = lines
    assert found == {}


def test_the_search_finds_a_change_of_another_package():
    example = textwrap.dedent("""
        import nbgrader.api
        from nbgrader.server_extensions.formgrader import apihandlers
        from _pytest.config import _prepareconfig
        nbgrader.api.create_engine = None
        handler = apihandlers.AutogradeHandler
        handler.post = None
        setattr(nbgrader.api, "Base", None)
        sys.modules["rfc3987_syntax"] = None
        sys.stdout = sys.stderr
    """)
    assert _changes_of_other_packages(ast.parse(example)) == [4, 5, 7, 8, 9]


def test_with_the_speed_ups_off_nothing_is_applied(tmp_path):
    probe = ("import sys; from coursekit import upstream_changes as u; u.skip_iri_syntax_checks(); "
             "print(u.apply_to_nbgrader(), u.prepare_pytest_config(['--co']), 'rfc3987_syntax' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "DROPOUT_GRADING_SIMPLE": "1"})
    assert done.stdout.split() == ["[]", "None", "False"], done.stderr
    done = subprocess.run([sys.executable, "-c", probe.replace(", u.prepare_pytest_config(['--co'])", "")],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0 and "'rfc3987_syntax' in" not in done.stdout, done.stderr
    assert done.stdout.split()[-1] == "True" and len(ast.literal_eval(done.stdout.rsplit("]", 1)[0] + "]")) == 3
