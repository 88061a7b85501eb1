"""A PostgreSQL server of the tests' own: a fresh cluster in a temporary directory, listening on
127.0.0.1 only, started with Debian's binaries (skipped, with the reason, where they are absent)."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN = Path(os.environ.get("FACEPRINT_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(command: list[str]) -> list[str]:
    # initdb refuses to run as root: the cluster belongs to the postgres user.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class PostgresServer:
    """A running cluster: ``url(database)``, ``new_database()``, ``stop()``."""

    root: Path
    port: int
    _names = itertools.count()

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """The URL of a new, empty database."""
        import psycopg

        name = f"gallery{next(self._names)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as db:
            db.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        subprocess.run(
            _as_postgres(
                [str(BIN / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "stop"]
            ),
            capture_output=True,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def start_postgres() -> PostgresServer:
    """initdb and start a cluster; skips the test where PostgreSQL or psycopg is missing."""
    pytest.importorskip("psycopg", reason="PostgreSQL galleries need psycopg (the postgres extra)")
    if not (BIN / "initdb").is_file():
        pytest.skip(f"no PostgreSQL server binaries in {BIN} (apt-get install postgresql)")
    # Not under pytest's 0700 root-owned temporary folders: the postgres user must reach it.
    root = Path(tempfile.mkdtemp(prefix="faceprint-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    data = root / "data"
    subprocess.run(
        _as_postgres(
            [str(BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"]
        ),
        check=True,
        capture_output=True,
    )
    port = free_port()
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    started = subprocess.run(
        _as_postgres(
            [str(BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w"]
            + ["start"]
        ),
        capture_output=True,
        text=True,
    )
    if started.returncode != 0:
        log = (root / "log").read_text() if (root / "log").is_file() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {started.stderr}{log}")
    return PostgresServer(root, port)
