"""``python -m coursekit.hub setup|run|stop|clean``: the course's JupyterHub on one machine.

    setup   make the accounts (an instructor, a TA, N students), the course copy and the exchange
    run     setup, then run JupyterHub in the foreground on 127.0.0.1:PORT (Ctrl-C stops it all)
    stop    stop a running hub (its proxy, servers and formgrader service stop with it)
    clean   stop, then remove exactly the accounts, homes and folders the set-up recorded

Run as root (it makes Unix accounts). ``make hub``, ``make hub-stop``, ``make hub-clean``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import secrets
import signal
import socket
import sys
import time
from pathlib import Path

from coursekit.hub.accounts import People, make_accounts, remove_accounts
from coursekit.hub.layout import course_root, make_layout, remove_folders
from coursekit.hub.made import Record
from coursekit.manifest import COURSE
from coursekit.paths import REPO_ROOT

CONFIG = Path(__file__).resolve().with_name("jupyterhub_config.py")
DEFAULT_ROOT = Path("/srv/dropout-from-scratch-hub")
PROXY = REPO_ROOT / "node_modules" / ".bin" / "configurable-http-proxy"


def venv_bin() -> Path:
    """The venv's bin/ as every account reaches it: it must not lie under a private folder."""
    folder = Path(sys.prefix) / "bin"
    reached = [*folder.absolute().parents, folder.absolute(), *folder.resolve().parents, folder.resolve()]
    for parent in sorted(set(reached), key=lambda path: len(path.parts)):
        if not os.stat(parent).st_mode & 0o005 == 0o005:
            raise SystemExit(f"coursekit.hub: {parent} is not readable by every account, so the students' "
                             f"servers cannot run {folder}: make the venv from /usr/bin/python3 in a "
                             "folder everyone can read (FIELD_NOTES, 'the pyenv trap')")
    if not (folder / "jupyterhub-singleuser").exists():
        raise SystemExit(f"coursekit.hub: no jupyterhub-singleuser in {folder}: pip install '.[hub]'")
    return folder


def server_environment(root: Path) -> dict[str, str]:
    """What every server (and an instructor's nbgrader command) needs in its environment: the
    hub's nbgrader and server settings first, and the venv's bin/ first on PATH, so kernels,
    nbgrader and its alembic are the course's."""
    return {"JUPYTER_CONFIG_PATH": str(root / "etc" / "jupyter"),
            "PATH": f"{venv_bin()}:/usr/local/bin:/usr/bin:/bin"}


def setup(root: Path, people: People) -> Record:
    if os.geteuid() != 0:
        raise SystemExit("coursekit.hub: run as root: the set-up makes Unix accounts")
    if not PROXY.exists():
        raise SystemExit(f"coursekit.hub: no {PROXY}: run npm ci (package.json pins configurable-http-proxy)")
    record = Record(root)
    record.settings = {"course_id": COURSE.course_id, "venv_bin": str(venv_bin()), "proxy": str(PROXY),
                       "instructor": people.instructor, "graders": people.graders,
                       "everyone": people.everyone, "students": people.students,
                       "graders_group": people.graders_group, "course_root": str(course_root(root)),
                       "server_env": server_environment(root)}
    record.save()
    make_accounts(people, record)
    make_layout(root, people, record)
    password = root / "state" / "password"
    if not password.exists():
        password.write_text(secrets.token_urlsafe(12) + "\n")
        password.chmod(0o600)
    return record


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run(root: Path, people: People, port: int) -> None:
    setup(root, people)
    env = {**os.environ, "DFS_HUB_ROOT": str(root), "DFS_HUB_PORT": str(port),
           "DFS_HUB_API_PORT": str(free_port()), "DFS_HUB_PROXY_API_PORT": str(free_port()),
           "DFS_HUB_SERVICE_PORT": str(free_port())}
    env["PATH"] = f"{venv_bin()}:{env.get('PATH', '/usr/bin:/bin')}"
    password = (root / "state" / "password").read_text().strip()
    print(f"coursekit.hub: http://127.0.0.1:{port}/hub/login  accounts {', '.join(people.everyone)}\n"
          f"coursekit.hub: DEMO shared password {password!r} (not for production: see docs/hub-instructors.md)\n"
          f"coursekit.hub: formgrader for {', '.join(people.graders)}: "
          f"http://127.0.0.1:{port}/services/{COURSE.course_id}/formgrader", flush=True)
    os.chdir(root / "state")
    # A hub started in the background inherits SIGINT ignored, and so would its servers: the hub
    # stops them with SIGINT (then waits 30 s before SIGTERM).
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.execve(str(venv_bin() / "jupyterhub"), ["jupyterhub", "-f", str(CONFIG)], env)


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs: an ended process whose parent has not yet reaped it does not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _stop_pid_file(path: Path, timeout: float = 60) -> None:
    if not path.exists():
        return
    pid = int(path.read_text().strip() or 0)
    if pid and _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            raise SystemExit(f"coursekit.hub: process {pid} ({path}) did not stop within {timeout:.0f} s")
    path.unlink(missing_ok=True)


def servers_left(root: Path) -> list[int]:
    """Process ids of jupyterhub-singleuser run by this hub's accounts (none once it stopped)."""
    uids = set()
    for name in Record(root).accounts:
        try:
            uids.add(pwd.getpwnam(name).pw_uid)
        except KeyError:
            pass
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and proc.stat().st_uid in uids and \
                    b"jupyterhub-singleuser" in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue  # ended meanwhile
    return found


def stop(root: Path) -> None:
    """Stop the hub (it stops its proxy, servers and service), then anything it left behind:
    a hub stopped while it was still starting leaves its formgrader service running."""
    _stop_pid_file(root / "state" / "jupyterhub.pid")
    _stop_pid_file(root / "state" / "proxy.pid")
    for pid in servers_left(root):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while servers_left(root) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in servers_left(root):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def clean(root: Path) -> None:
    record = Record(root)
    if not record.path.exists():
        print(f"coursekit.hub: nothing recorded in {record.path}: nothing to remove")
        return
    stop(root)
    removed = remove_accounts(record) + remove_folders(record)
    record.path.unlink()
    if root.exists() and not any(root.iterdir()):
        root.rmdir()
    print(f"coursekit.hub: removed {', '.join(removed) or 'nothing'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m coursekit.hub", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["setup", "run", "stop", "clean"])
    parser.add_argument("--root", type=Path, default=Path(os.environ.get("HUB_ROOT") or DEFAULT_ROOT))
    parser.add_argument("--port", type=int, default=int(os.environ.get("HUB_PORT") or 8000))
    parser.add_argument("--students", type=int, default=int(os.environ.get("HUB_STUDENTS") or 3))
    parser.add_argument("--prefix", default=os.environ.get("HUB_PREFIX") or "dfs-")
    args = parser.parse_args(argv)
    if not args.prefix.strip("-") or not args.prefix.endswith("-"):
        parser.error(f"--prefix {args.prefix!r}: a word ending in '-', e.g. dfs-")
    people = People(args.prefix, args.students)
    root = args.root.resolve()
    if args.command == "setup":
        setup(root, people)
        print(f"coursekit.hub: set up {root} for {', '.join(people.everyone)}")
    elif args.command == "run":
        run(root, people, args.port)
    elif args.command == "stop":
        stop(root)
    else:
        clean(root)


if __name__ == "__main__":
    main()
