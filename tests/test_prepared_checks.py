"""pytest configured once for the hidden checks (coursekit/grading/prepared_checks.py): the checks
of a submission reuse the configuration only when their arguments differ from the prepared ones
in the submission's options alone, and then give pytest.main's verdict."""

import json
import subprocess
import sys
import textwrap

from coursekit.grading.judge import checks_arguments, checks_environment
from coursekit.paths import REPO_ROOT
from faults.catalogue import BY_NAME

# Prepares, then makes pytest unable to configure itself again: a child that runs the checks
# can only succeed on the prepared configuration. Prints {"code": ..., "verdict": ...} per run.
SCRIPT = textwrap.dedent("""
    import json, os, sys
    import _pytest.config
    from coursekit.grading import prepared_checks
    from coursekit.grading.judge import checks_arguments

    prepared_checks.prepare(checks_arguments())

    def no_new_configuration(*args, **kwargs):
        raise RuntimeError("pytest configured itself again")

    _pytest.config._prepareconfig = no_new_configuration
    for args in json.loads(sys.argv[1]):
        verdict = args[args.index("--verdict-json") + 1]
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            try:
                code = prepared_checks.run(args)
            except RuntimeError as error:
                code = str(error)
            os.write(write, json.dumps(code).encode())
            os._exit(0)
        os.close(write)
        os.waitpid(pid, 0)
        code = json.loads(os.read(read, 1000))
        found = json.load(open(verdict)) if os.path.exists(verdict) else None
        print(json.dumps({"code": code, "verdict": found}))
""")


def _run_children(argument_lists, tmp_path):
    done = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(argument_lists)], cwd=REPO_ROOT,
                          env=checks_environment(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


def _options(folder, verdict):
    return ["--submission", str(folder), "--verdict-json", str(verdict), "--op-timeout", "5", "--budget", "30"]


def test_a_submissions_checks_run_on_the_prepared_configuration_with_pytest_mains_verdict(tmp_path):
    swapped = BY_NAME["keep-drop-swapped"].build(tmp_path / "swapped")
    reference = BY_NAME["reference"].build(tmp_path / "reference")
    runs = _run_children([[*checks_arguments(), *_options(swapped, tmp_path / "a.json")],
                          [*checks_arguments(), *_options(reference, tmp_path / "b.json"), "--confine"]], tmp_path)
    assert [run["code"] for run in runs] == [1, 0]
    fresh = subprocess.run([sys.executable, "-m", "pytest", *checks_arguments(), *_options(swapped, tmp_path / "c.json")],
                           cwd=REPO_ROOT, env=checks_environment(), capture_output=True, timeout=300)
    assert fresh.returncode == 1
    assert runs[0]["verdict"] == json.loads((tmp_path / "c.json").read_text())
    assert all(check["passed"] for task in runs[1]["verdict"]["tasks"].values() for check in task["checks"])


def test_other_arguments_are_configured_by_pytest_main(tmp_path):
    """Another set of checks, or any option besides the submission's, is not what was prepared."""
    reference = BY_NAME["reference"].build(tmp_path / "reference")
    runs = _run_children([[*checks_arguments(("dropout_forward",)), *_options(reference, tmp_path / "a.json")],
                          [*checks_arguments(), *_options(reference, tmp_path / "b.json"), "-x"]], tmp_path)
    assert [run["code"] for run in runs] == ["pytest configured itself again"] * 2


def test_the_checks_forked_by_a_warmed_process_use_the_prepared_configuration(tmp_path):
    """What an nbgrader worker of the worker server does (checks_server.ForkedChecks): after the
    warm-up, a submission is judged without pytest configuring itself again."""
    reference = BY_NAME["reference"].build(tmp_path / "reference")
    script = textwrap.dedent(f"""
        import _pytest.config
        from pathlib import Path
        from coursekit.grading.checks_server import ForkedChecks, warm_up_here
        from coursekit.grading.judge import judge

        warm_up_here()

        def no_new_configuration(*args, **kwargs):
            raise RuntimeError("pytest configured itself again")

        _pytest.config._prepareconfig = no_new_configuration
        verdict = judge(Path({str(reference)!r}), op_timeout=5.0, budget=30.0, server=ForkedChecks())
        print(verdict.points, verdict.max_points)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=checks_environment(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    points, max_points = done.stdout.split()
    assert points == max_points
