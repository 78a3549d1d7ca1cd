"""A throwaway PostgreSQL server for the tests that need a real one (not a test module).

``postgres_server()`` starts a cluster (Debian package ``postgresql``, installed by
``make setup`` from .ci/system-packages.txt) in a temporary folder, listening on 127.0.0.1
only, with trust authentication, and stops and deletes it on exit. As root the cluster belongs
to the ``postgres`` user (initdb refuses to run as root). Use one per test module:

    @pytest.fixture(scope="module")
    def postgres():
        with postgres_server() as server:
            yield server
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import free_port


def server_program(name: str) -> str | None:
    """A PostgreSQL server program: on PATH, or where Debian installs it."""
    return shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)


@dataclass(frozen=True)
class Server:
    port: int

    def create_database(self, name: str, password: str = "") -> str:
        """Create database ``name``; its SQLAlchemy URL (``password`` is accepted and ignored: trust)."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                             autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        # The driver named in the URL, as docs/grading-a-class.md shows: SQLAlchemy's default
        # driver for a plain postgresql:// URL differs between its versions.
        user = f"postgres:{password}" if password else "postgres"
        return f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/{name}"


@contextmanager
def postgres_server() -> Iterator[Server]:
    """A running throwaway server; skips the test if PostgreSQL is not installed."""
    initdb, pg_ctl = server_program("initdb"), server_program("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL server programs (initdb, pg_ctl) are not installed: Debian package "
                    "'postgresql' (listed in .ci/system-packages.txt; `make setup` installs it)")
    base = Path(tempfile.mkdtemp(prefix="course-postgres-"))
    as_owner: list[str] = []
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root, and no 'postgres' user to own the test cluster (the Debian "
                        "package postgresql creates it)")
        os.chown(base, owner.pw_uid, owner.pw_gid)
        as_owner = ["runuser", "-u", "postgres", "--"]
    data, port = base / "data", free_port()

    def run(*command: object) -> None:
        done = subprocess.run([*as_owner, *map(str, command)], cwd=base, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{' '.join(map(str, command))}: {done.stdout}{done.stderr}"

    try:
        run(initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        run(pg_ctl, "-D", data, "-l", base / "server.log", "-w", "-t", "60",
            "-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        try:
            yield Server(port)
        finally:
            run(pg_ctl, "-D", data, "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(base, ignore_errors=True)
