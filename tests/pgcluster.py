"""A throwaway PostgreSQL 15 cluster for the tests (issue 14), started once per session.

The server binaries the machine has (`initdb`, `pg_ctl` from the Debian package) start a cluster
in a private temp folder, on a private port and socket folder, with `fsync=off` (its data is
thrown away), `scram-sha-256` for every connection and a superuser password. PostgreSQL refuses
to run as root, so under root the cluster runs as an unprivileged account (`nobody`) that owns
the temp folder. `SAMPLELOANS_TEST_PG` may instead name an existing server (a superuser URL).

Where there is no server the PostgreSQL tests skip with the reason; under `CI=true` a missing
server is a failure, so CI never passes by skipping them.
"""

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import NoReturn
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin",)
"""Where Debian and Ubuntu put the PostgreSQL 15 server binaries (SAMPLELOANS_PG_BIN: another
folder)."""
SERVER_ACCOUNT = "nobody"
"""The unprivileged account the cluster runs as when the tests run as root."""
SUPERUSER = "postgres"
START_TIMEOUT_S = 180  # initdb and the start under a loaded CI machine (2 cores, 2 test workers)


@dataclass(frozen=True)
class PgServer:
    """A running server the tests may create databases on, as a superuser."""

    host: str
    port: int
    user: str
    password: str

    def url(self, database: str = "postgres", *, driver: bool = False) -> str:
        """The URL of one database (`postgresql://`, or SQLAlchemy's `postgresql+psycopg://`)."""
        scheme = "postgresql+psycopg" if driver else "postgresql"
        auth = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}"
        return f"{scheme}://{auth}@{self.host}:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE) as the superuser."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(sql)


def _server_from_env(url: str) -> PgServer:
    """The server named by SAMPLELOANS_TEST_PG (`postgresql://user:password@host:port/db`)."""
    parts = urlsplit(url)
    return PgServer(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or SUPERUSER,
        password=parts.password or "",
    )


def find_binaries() -> Path | None:
    """The folder holding `initdb` and `pg_ctl`, or None."""
    for folder in _bin_dirs():
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    return None


def _bin_dirs() -> tuple[str, ...]:
    """Where to look for the server binaries."""
    given = os.environ.get("SAMPLELOANS_PG_BIN")
    return (given,) if given else PG_BIN_DIRS


def _free_port() -> int:
    """A TCP port nobody listens on now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalCluster:
    """initdb + pg_ctl in a temp folder owned by the account the server runs as."""

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        # /tmp, not TMPDIR: the socket's path must stay short (107 bytes), and the account
        # the server runs as must be able to reach the folder (a 0700 TMPDIR would stop it)
        base = "/tmp" if os.path.isdir("/tmp") else None
        self.root = Path(tempfile.mkdtemp(prefix="sampleloans-pg-", dir=base))
        self.data = self.root / "data"
        self.password = secrets.token_urlsafe(18)
        self.port = _free_port()
        self.account = SERVER_ACCOUNT if os.geteuid() == 0 else None

    def _run(self, *args: str) -> None:
        """Run a server binary as the unprivileged account; its output is kept for errors."""
        command = [str(self.binaries / args[0]), *args[1:]]
        if self.account is not None:
            command = ["runuser", "-u", self.account, "--", *command]
        done = subprocess.run(
            command, cwd=self.root, capture_output=True, text=True, timeout=START_TIMEOUT_S
        )
        if done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {done.stderr or done.stdout}\n{tail}")

    def start(self) -> PgServer:
        """Create the cluster and start it; the superuser has a random password."""
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self.account is not None:
            entry = pwd.getpwnam(self.account)
            for path in (self.root, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self.root.chmod(0o700)
        self._run(
            "initdb", "-D", str(self.data), "-U", SUPERUSER, f"--pwfile={pwfile}",
            "--auth=scram-sha-256", "--encoding=UTF8", "--no-locale", "--no-sync",
        )  # fmt: skip
        pwfile.unlink()
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        log = self.root / "server.log"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(log), "-o", options, "-w", "start")
        return PgServer("127.0.0.1", self.port, SUPERUSER, self.password)

    def stop(self) -> None:
        """Stop the server at once (its data is thrown away) and remove the folder."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _unavailable(reason: str) -> NoReturn:
    """Skip with the reason, or fail under CI (where the PostgreSQL tests must run)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL tests must run under CI=true: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL server for the whole session (a throwaway cluster, or SAMPLELOANS_TEST_PG)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg 3 is not installed (pip install 'psycopg[binary]')")
    existing = os.environ.get("SAMPLELOANS_TEST_PG")
    if existing:
        yield _server_from_env(existing)
        return
    binaries = find_binaries()
    if binaries is None:
        _unavailable(f"no initdb/pg_ctl in {', '.join(_bin_dirs())} and no SAMPLELOANS_TEST_PG")
    if os.geteuid() == 0 and not _account_exists(SERVER_ACCOUNT):
        _unavailable(f"running as root and there is no unprivileged account {SERVER_ACCOUNT!r}")
    cluster = LocalCluster(binaries)
    try:
        server = cluster.start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        cluster.stop()
        _unavailable(f"the throwaway cluster did not start: {exc}")
    try:
        yield server
    finally:
        cluster.stop()


def _account_exists(name: str) -> bool:
    """Whether a local account exists."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


_numbers = count(1)


@contextmanager
def fresh_database(pg_server: PgServer) -> Iterator[str]:
    """A new empty database on the cluster (`postgresql://…`), dropped when the block ends."""
    name = f"sampleloans_t{os.getpid()}_{next(_numbers)}"
    pg_server.admin(f"CREATE DATABASE {name} TEMPLATE template0")
    try:
        yield pg_server.url(name)
    finally:
        pg_server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh empty database for one test, dropped afterwards."""
    with fresh_database(pg_server) as url:
        yield url


DEMO_LEDGER_ID = "0d9ba0c2-5b8e-4a57-9d0e-6a1f0e3c1a2b"
"""The demo's ledger id in the PostgreSQL tests (a fixed id: the same head on both engines)."""


@pytest.fixture
def demo_url(pg_url: str) -> str:
    """The demo ledger on this test's PostgreSQL database (the demo's own simulated clock)."""
    from typer.testing import CliRunner

    from sampleloans.cli import app

    result = CliRunner().invoke(
        app,
        ["--db", pg_url, "demo", "--ledger-id", DEMO_LEDGER_ID],
        env={"SAMPLELOANS_NOW": "2025-04-01T09:00:00Z"},
    )
    assert result.exit_code == 0, result.stderr
    return pg_url


@pytest.fixture(scope="session")
def pg_ledger_template(pg_server: PgServer) -> Iterator[str]:
    """A ledger initialised through the CLI on PostgreSQL (`init --at 2025-03-01`), with the
    demo people and samples, built once per session (per xdist worker): the name of its
    database, which `pg_ledger` (tests/test_i14_postgres.py) copies for each test."""
    from typer.testing import CliRunner

    from sampleloans import db
    from sampleloans.cli import app
    from sampleloans.services import setup
    from tests.conftest import CURATOR, ctx_for

    with fresh_database(pg_server) as url:
        init = CliRunner().invoke(
            app,
            ["--db", url, "init", "--curator-email", CURATOR, "--curator-name", "Li Na",
             "--at", "2025-03-01"],
            env={"SAMPLELOANS_NOW": "2025-04-01T09:00:00Z", "SAMPLELOANS_USER": ""},
        )  # fmt: skip
        assert init.exit_code == 0, init.stderr
        engine = db.open_engine(url)
        try:
            with db.transaction(engine) as session:
                setup.add_people_rows(session, ctx_for(), setup.read_rows("demo/people.csv"))
                setup.register_sample_rows(session, ctx_for(), setup.read_rows("demo/samples.csv"))
        finally:
            engine.dispose()  # a template takes no other session while it is copied
        yield url.rsplit("/", 1)[1]


def with_database(url: str, database: str) -> str:
    """The same server URL naming another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))
