"""The course's JupyterHub with real Unix accounts, brought up by its own script (coursekit/hub).

Each person logs in through /hub/login and gets a server run as their account; the instructor
releases through nbgrader's exchange, the students fetch and submit through their servers'
assignment_list API, the instructor collects and autogrades. Students are refused formgrader
and each other's submissions. Everything the hub made is removed by a finalizer, even on
failure. Select with ``-m hub``; needs root (it makes accounts).
"""

import csv
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from coursekit.manifest import COURSE
from coursekit.paths import REPO_ROOT
from conftest import free_port

requests = pytest.importorskip("requests")

PROXY = REPO_ROOT / "node_modules" / ".bin" / "configurable-http-proxy"


def private_folder_above_the_venv() -> str:
    """The folder above the venv that other accounts cannot enter ("" when there is none): the
    students' servers run the venv's programs, so make hub refuses such a venv (coursekit.hub)."""
    folder = Path(sys.prefix).resolve()
    return next((str(p) for p in (*reversed(folder.parents), folder) if os.stat(p).st_mode & 0o005 != 0o005), "")


pytestmark = [
    pytest.mark.hub,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the hub's set-up makes Unix accounts"),
    pytest.mark.skipif(shutil.which("jupyterhub-singleuser", path=str(Path(sys.prefix) / "bin")) is None,
                       reason="JupyterHub is not installed: pip install '.[hub]'"),
    pytest.mark.skipif(not PROXY.exists(), reason=f"no {PROXY}: npm ci"),
    pytest.mark.skipif(bool(private_folder_above_the_venv()),
                       reason=f"the venv lies under {private_folder_above_the_venv()}, which other accounts cannot "
                       "enter: the students' servers could not run it (clone the course where everyone can read)"),
]

# Not make hub's prefix (dfs-): a demo hub running on this machine is never touched.
PREFIX = "dfst-"
INSTRUCTOR, TA = f"{PREFIX}instructor", f"{PREFIX}ta"
STUDENTS = [f"{PREFIX}student1", f"{PREFIX}student2"]
EVERYONE = [INSTRUCTOR, TA, *STUDENTS]
HUB = [sys.executable, "-m", "coursekit.hub"]
ASSIGNMENT = COURSE.assignment_named("dropout")  # the manifest lists several; the term is run on this one


class Hub:
    def __init__(self, root: Path, port: int, prefix: str = PREFIX, students: int = len(STUDENTS)):
        self.root, self.port = root, port
        self.url = f"http://127.0.0.1:{port}"
        self.args = ["--root", str(root), "--prefix", prefix, "--students", str(students)]
        self.log = root.parent / f"{root.name}.log"
        self.process = None
        self.tokens = {}

    def start(self):
        self.process = subprocess.Popen([*HUB, "run", *self.args, "--port", str(self.port)], cwd=REPO_ROOT,
                                        stdout=self.log.open("w"), stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the hub exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/hub/api", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        pytest.fail(f"the hub did not answer within 120 s:\n{self.log_tail()}")

    def log_tail(self, lines=40):
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    @property
    def made(self):
        return json.loads((self.root / "made.json").read_text())["settings"]

    def login(self, name: str) -> requests.Session:
        """Log in through the hub's login form, as a browser does (with its _xsrf field)."""
        session = requests.Session()
        form = session.get(f"{self.url}/hub/login")
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form.text).group(1)
        password = (self.root / "state" / "password").read_text().strip()
        answer = session.post(f"{self.url}/hub/login?next=", data={"username": name, "password": password,
                                                                   "_xsrf": xsrf})
        assert answer.status_code == 200 and (f"/user/{name}" in answer.url or "spawn-pending" in answer.url), \
            (name, answer.status_code, answer.url)
        token = session.post(f"{self.url}/hub/api/users/{name}/tokens", json={"note": "tests/test_hub.py"},
                             headers={"X-XSRFToken": session.cookies.get("_xsrf", path="/hub/")})
        assert token.status_code == 201, token.text
        self.tokens[name] = token.json()["token"]
        return session

    def home(self, name) -> Path:
        return Path(pwd.getpwnam(name).pw_dir)

    def headers(self, name):
        return {"Authorization": f"token {self.tokens[name]}"}

    def wait_for_server(self, name, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = requests.get(f"{self.url}/user/{name}/api/status", headers=self.headers(name))
            if status.status_code == 200 and status.headers["content-type"].startswith("application/json"):
                return
            time.sleep(0.5)
        pytest.fail(f"{name}'s server did not start within {timeout} s:\n{self.log_tail()}")

    def as_account(self, name, *command, check=True):
        """Run a command as ``name`` in the course root, with the environment the hub gives servers."""
        home = pwd.getpwnam(name).pw_dir
        env = {"HOME": home, "USER": name, "LOGNAME": name, **self.made["server_env"]}
        # umask 007, as docs/hub-instructors.md asks of graders: what nbgrader writes stays the graders'
        done = subprocess.run(["runuser", "-u", name, "--", "env", "-i", *(f"{k}={v}" for k, v in env.items()),
                               "/bin/sh", "-c", 'umask 007 && exec "$0" "$@"', *command], cwd=self.made["course_root"], capture_output=True, text=True, timeout=300)
        if check:
            assert done.returncode == 0, f"{command} as {name}: {done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done

    def proxy_pids(self):
        return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline_has(
            p, b"configurable-http-proxy", f"{self.port}".encode())]


def _cmdline_has(proc: Path, *words: bytes) -> bool:
    try:
        cmdline = (proc / "cmdline").read_bytes()
    except OSError:
        return False
    return all(word in cmdline for word in words)


def start_hub(request, prefix: str = PREFIX, students: int = len(STUDENTS)) -> Hub:
    """The course's hub in a temporary root; a finalizer stops it and removes all it made."""
    root = Path(tempfile.mkdtemp(prefix="dfs-hub-test-")) / "hub"
    root.parent.chmod(0o755)  # every account's server reads root/etc/jupyter
    running = Hub(root, free_port(), prefix, students)

    def remove_everything():
        cleaned = subprocess.run([*HUB, "clean", *running.args], cwd=REPO_ROOT, capture_output=True,
                                 text=True, timeout=180)
        if running.process and running.process.poll() is None:
            os.killpg(running.process.pid, signal.SIGKILL)
            running.process.wait()
        assert cleaned.returncode == 0, f"{HUB} clean: {cleaned.stdout}\n{cleaned.stderr}"
        shutil.rmtree(root.parent, ignore_errors=True)

    request.addfinalizer(remove_everything)
    running.start()
    return running


@pytest.fixture(scope="module")
def hub(request):
    return start_hub(request)


@pytest.fixture(scope="module")
def logged_in(hub):
    """Everyone logged in through /hub/login, their servers started (in parallel)."""
    for name in EVERYONE:
        hub.login(name)
    for name in EVERYONE:
        hub.wait_for_server(name)
    return hub


def test_each_person_gets_a_server_run_as_their_own_account(logged_in):
    for name in EVERYONE:
        account = pwd.getpwnam(name)
        saved = requests.put(f"{logged_in.url}/user/{name}/api/contents/whoami.txt", headers=logged_in.headers(name),
                             json={"type": "file", "format": "text", "content": name})
        assert saved.status_code == 201, saved.text
        written = Path(account.pw_dir) / "whoami.txt"
        assert (written.stat().st_uid, written.stat().st_gid) == (account.pw_uid, account.pw_gid)
        assert Path(account.pw_dir).stat().st_mode & 0o777 == 0o700


def test_course_root_belongs_to_the_graders_and_nobody_else(logged_in):
    course = Path(logged_in.made["course_root"])
    for path in [course.parent, course, course / "nbgrader_config.py", course.parent / "tests" / "hidden",
                 course.parent / COURSE.package]:
        assert path.stat().st_mode & 0o007 == 0, path
        assert path.group() == logged_in.made["graders_group"], path
    denied = logged_in.as_account(STUDENTS[0], "cat", str(course / "nbgrader_config.py"), check=False)
    assert denied.returncode != 0 and "Permission denied" in denied.stderr


def fetch_and_submit(hub, name, solved: bool):
    course = {"course_id": COURSE.course_id, "assignment_id": ASSIGNMENT.name}
    url = f"{hub.url}/user/{name}"
    fetched = requests.post(f"{url}/assignments/fetch", data=course, headers=hub.headers(name))
    assert fetched.status_code == 200 and fetched.json()["success"], fetched.text
    folder = f"{COURSE.course_id}/{ASSIGNMENT.name}"
    if solved:  # the instructor edition's solution regions, typed into the student's package
        for module in ("layers.py", "fc_net.py"):
            code = (REPO_ROOT / COURSE.package / module).read_text()
            put = requests.put(f"{url}/api/contents/{folder}/{COURSE.package}/{module}", headers=hub.headers(name),
                               json={"type": "file", "format": "text", "content": code})
            assert put.status_code == 200, put.text
    submitted = requests.post(f"{url}/assignments/submit", data=course, headers=hub.headers(name))
    assert submitted.status_code == 200 and submitted.json()["success"], submitted.text


def test_release_fetch_submit_collect_autograde_through_the_exchange(logged_in):
    hub = logged_in
    hub.as_account(INSTRUCTOR, "nbgrader", "generate_assignment", ASSIGNMENT.name)
    hub.as_account(INSTRUCTOR, "nbgrader", "release_assignment", ASSIGNMENT.name)
    listed = requests.get(f"{hub.url}/user/{STUDENTS[0]}/assignments", params={"course_id": COURSE.course_id},
                          headers=hub.headers(STUDENTS[0])).json()
    assert [a["assignment_id"] for a in listed["value"]] == [ASSIGNMENT.name]
    fetch_and_submit(hub, STUDENTS[0], solved=True)
    fetch_and_submit(hub, STUDENTS[1], solved=False)
    hub.as_account(TA, "nbgrader", "collect", ASSIGNMENT.name)  # a grader who is not the instructor
    hub.as_account(INSTRUCTOR, "nbgrader", "autograde", ASSIGNMENT.name)
    hub.as_account(INSTRUCTOR, "nbgrader", "export")
    rows = {row["student_id"]: row for row in csv.DictReader(
        (Path(hub.made["course_root"]) / "grades.csv").open())}
    autograded = sum(task.points for task in ASSIGNMENT.tasks)
    assert set(rows) == set(STUDENTS)
    assert [float(rows[STUDENTS[0]][task.id]) for task in ASSIGNMENT.tasks] == [task.points for task in ASSIGNMENT.tasks]
    assert float(rows[STUDENTS[0]]["raw_score"]) == autograded
    assert float(rows[STUDENTS[1]]["raw_score"]) == 0
    # nbgrader chmods the release to 644 and the autograded files to 444 whatever the umask: the
    # course folder (2770, the graders' group) is what keeps them from the students
    course_root = Path(hub.made["course_root"])
    assert course_root.parent.stat().st_mode & 0o007 == 0
    graded = next((course_root / "autograded" / STUDENTS[1]).rglob(f"{ASSIGNMENT.notebook}.ipynb"))
    for secret in (course_root / "gradebook.db", graded, course_root / "release" / ASSIGNMENT.name):
        denied = hub.as_account(STUDENTS[1], "ls", "-l", str(secret), check=False)
        assert denied.returncode != 0 and "Permission denied" in denied.stderr, secret


def test_a_student_cannot_read_another_students_submission(logged_in):
    inbound = Path(logged_in.made["course_root"]).parents[1] / "exchange" / COURSE.course_id / "inbound"
    theirs = next(inbound.glob(f"{STUDENTS[0]}+*"))
    other = STUDENTS[1]
    for command in (["ls", str(inbound)], ["ls", str(theirs)], ["cat", str(theirs / f"{ASSIGNMENT.notebook}.ipynb")],
                    ["cat", str(theirs / COURSE.package / "layers.py")]):
        denied = logged_in.as_account(other, *command, check=False)
        assert denied.returncode != 0 and "Permission denied" in denied.stderr, command
    assert logged_in.as_account(TA, "cat", str(theirs / "timestamp.txt")).stdout


def test_formgrader_answers_graders_and_refuses_students(logged_in):
    api = f"{logged_in.url}/services/{COURSE.course_id}/formgrader/api/assignments"
    for name in STUDENTS:
        refused = requests.get(api, headers=logged_in.headers(name), allow_redirects=False)
        assert refused.status_code == 403, (name, refused.status_code)
        own = requests.get(f"{logged_in.url}/user/{name}/formgrader", headers=logged_in.headers(name))
        assert own.status_code == 404  # formgrader is not loaded in the students' own servers
    for name in (INSTRUCTOR, TA):
        answer = requests.get(api, headers=logged_in.headers(name), allow_redirects=False)
        assert answer.status_code == 200, (name, answer.status_code, answer.text[:300])
        assert ASSIGNMENT.name in [a["name"] for a in answer.json()]
    # formgrader's panel in JupyterLab is a frame of the service's own pages (nbgrader#1870)
    page = requests.get(f"{logged_in.url}/services/{COURSE.course_id}/formgrader", headers=logged_in.headers(TA))
    assert page.status_code == 200
    assert "frame-ancestors 'self'" in page.headers["Content-Security-Policy"]


def test_stop_leaves_no_process_and_clean_removes_the_accounts(logged_in):
    hub = logged_in
    uids = [pwd.getpwnam(name).pw_uid for name in EVERYONE]
    stopped = subprocess.run([*HUB, "stop", *hub.args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert stopped.returncode == 0, f"{stopped.stderr}\n{hub.log_tail(80)}"
    assert hub.process.wait(timeout=10) == 0, hub.log_tail()
    left = [p.name for p in Path("/proc").iterdir() if p.name.isdigit() and _owned_by(p, uids)]
    assert left == [] and hub.proxy_pids() == []
    temporary = _temporary_files_of(uids)  # the instructor's grading made its copies of /etc there
    subprocess.run([*HUB, "clean", *hub.args], cwd=REPO_ROOT, check=True, timeout=120)
    for name in EVERYONE:
        with pytest.raises(KeyError):
            pwd.getpwnam(name)
    assert not hub.root.exists()
    assert _temporary_files_of(uids) == [], f"left in the temporary folder (before clean: {temporary})"


def _temporary_files_of(uids) -> list[str]:
    found = []
    for entry in Path(tempfile.gettempdir()).iterdir():
        try:
            if entry.lstat().st_uid in uids:
                found.append(entry.name)
        except FileNotFoundError:
            pass
    return found


def _owned_by(proc: Path, uids) -> bool:
    try:
        return proc.stat().st_uid in uids and (proc / "cmdline").read_bytes() != b""
    except OSError:
        return False
