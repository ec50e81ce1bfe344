"""Issue 14 point 9: `restore --events` into a fresh PostgreSQL ledger, in every direction
(SQLite → PostgreSQL, PostgreSQL → PostgreSQL, PostgreSQL → SQLite), through the CLI, on the
throwaway PostgreSQL 15 cluster; a target that is not empty is refused with nothing written."""

import os
import shutil
from collections.abc import Iterator
from itertools import count
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner, Result

from sampleloans import migrate
from sampleloans.cli import app
from tests.conftest import CURATOR, OU_PI
from tests.pgcluster import PgServer, fresh_database
from tests.warm_cli import WarmCli

LEDGER_ID = "0d9ba0c2-5b8e-4a57-9d0e-6a1f0e3c1a2b"
STAFF = ["--as", CURATOR]
ENV = {"SAMPLELOANS_NOW": "2025-04-01T09:00:00Z", "COLUMNS": "200", "SAMPLELOANS_USER": ""}
_numbers = count(1)


@pytest.fixture
def new_database(pg_server: PgServer) -> Iterator[str]:
    """A second empty database on the cluster (the restore's target), dropped afterwards."""
    with fresh_database(pg_server) as url:
        yield url


def _cli(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(app, list(args), env=ENV)


def _head(runner: CliRunner, target: str) -> str:
    """The verified head of a ledger (`verify --print-head`, which also fails if not clean)."""
    done = _cli(runner, "--db", target, *STAFF, "verify", "--print-head")
    assert done.exit_code == 0, done.stdout + done.stderr
    return done.stdout.strip()


def _export(runner: CliRunner, source: str, out: Path) -> Path:
    done = _cli(runner, "--db", source, *STAFF, "export", "--events", str(out))
    assert done.exit_code == 0, done.stdout + done.stderr
    return out


def _demo(runner: CliRunner, target: str) -> None:
    done = _cli(runner, "--db", target, "demo", "--ledger-id", LEDGER_ID)
    assert done.exit_code == 0, done.stdout[-2000:] + done.stderr


def _sqlite_demo(runner: CliRunner, tmp_path: Path) -> str:
    """The demo ledger on SQLite (the demo writes `ledger.db` in `--dir`)."""
    folder = tmp_path / "sqlite-demo"
    done = _cli(runner, "demo", "--dir", str(folder), "--ledger-id", LEDGER_ID)
    assert done.exit_code == 0, done.stdout[-2000:] + done.stderr
    return str(folder / "ledger.db")


def _tables(url: str) -> list[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "ORDER BY 1"
        ).fetchall()
    return [str(row[0]) for row in rows]


def _restore(runner: CliRunner, target: str, export: Path, *extra: str) -> Result:
    return _cli(runner, "--db", target, *STAFF, "restore", "--events", str(export), *extra)


def test_sqlite_to_postgres_gives_the_same_head_and_stays_writable(
    runner: CliRunner, tmp_path: Path, new_database: str
) -> None:
    """The demo on SQLite, exported and restored into an empty PostgreSQL database: the same
    verified head, the same rows, this release's migration head, and the next write links."""
    sqlite_db = _sqlite_demo(runner, tmp_path)
    head = _head(runner, sqlite_db)
    export = _export(runner, sqlite_db, tmp_path / "events.jsonl")
    done = _restore(runner, new_database, export)
    assert done.exit_code == 0, done.stdout + done.stderr
    assert head in done.stdout
    assert "***@" in done.stdout  # the password is never printed
    assert _head(runner, new_database) == head
    with psycopg.connect(new_database) as connection:
        revision = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        loans = connection.execute("SELECT count(*) FROM loan").fetchone()
        triggers = connection.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgname = 'ledger_event_next'"
        ).fetchone()
    assert revision == [(migrate.head_revision(),)]
    assert loans is not None and loans[0] > 0
    assert triggers == (1,)  # the database's own defences came with the schema
    same = _cli(runner, "--db", new_database, *STAFF, "loans", "list")
    original = _cli(runner, "--db", sqlite_db, *STAFF, "loans", "list")
    assert same.exit_code == 0 and same.stdout == original.stdout
    write = runner.invoke(
        app,
        [
            "--db", new_database, *STAFF, "people", "add", "new@naoc.example",
            "--name", "New Curator", "--institution", "NAOC", "--role", "curator",
        ],
        env=ENV | {"SAMPLELOANS_NOW": "2026-05-01T09:00:00Z"},  # after the demo's last event
    )  # fmt: skip
    assert write.exit_code == 0, write.stderr
    seq = int(head.split(":", 1)[0])
    assert _head(runner, new_database).startswith(f"{seq + 1}:")


def test_postgres_to_postgres_and_back_to_sqlite(
    runner: CliRunner, tmp_path: Path, pg_url: str, new_database: str
) -> None:
    """The demo on PostgreSQL, exported, restored into another PostgreSQL database and into a
    SQLite file: three ledgers, one head."""
    _demo(runner, pg_url)
    head = _head(runner, pg_url)
    export = _export(runner, pg_url, tmp_path / "events.jsonl")
    into_pg = _restore(runner, new_database, export)
    assert into_pg.exit_code == 0, into_pg.stdout + into_pg.stderr
    assert _head(runner, new_database) == head
    sqlite_db = str(tmp_path / "restored.db")
    into_sqlite = _restore(runner, sqlite_db, export)
    assert into_sqlite.exit_code == 0, into_sqlite.stdout + into_sqlite.stderr
    assert _head(runner, sqlite_db) == head
    again = _export(runner, new_database, tmp_path / "again.jsonl")
    assert again.read_bytes() == export.read_bytes()  # a round trip changes no byte


def _refused(result: Result, code: int) -> str:
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def demo_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An events export of the SQLite demo, made once per module (the demo costs ~2 s of CPU)."""
    folder = tmp_path_factory.mktemp("export")
    runner = CliRunner()
    return _export(runner, _sqlite_demo(runner, folder), folder / "events.jsonl")


@pytest.fixture
def export(demo_export: Path, tmp_path: Path) -> Path:
    """This test's copy of the SQLite demo's events export."""
    return Path(shutil.copyfile(demo_export, tmp_path / "events.jsonl"))


def test_a_database_holding_a_ledger_is_refused(
    runner: CliRunner, export: Path, pg_url: str
) -> None:
    """A target that already holds a ledger: exit 3, one line, not one event added."""
    init = _cli(runner, "--db", pg_url, "init", "--curator-email", CURATOR, "--curator-name", "Li")
    assert init.exit_code == 0, init.stderr
    with psycopg.connect(pg_url) as connection:
        before = connection.execute("SELECT count(*), max(hash) FROM ledger_event").fetchone()
    line = _refused(_restore(runner, pg_url, export), 3)
    assert "already holds a ledger" in line and "empty database" in line
    with psycopg.connect(pg_url) as connection:
        after = connection.execute("SELECT count(*), max(hash) FROM ledger_event").fetchone()
    assert after == before


def test_a_database_with_some_ledger_table_is_refused(
    runner: CliRunner, export: Path, pg_url: str
) -> None:
    """Even one of the ledger's tables (a half-made schema) makes the database not empty."""
    with psycopg.connect(pg_url) as connection:
        connection.execute("CREATE TABLE loan (number text)")
    line = _refused(_restore(runner, pg_url, export), 3)
    assert "is not empty (it has the table loan)" in line
    assert _tables(pg_url) == ["loan"]


def test_force_does_not_replace_a_postgres_ledger(
    runner: CliRunner, export: Path, pg_url: str
) -> None:
    """--force replaces a SQLite file; on PostgreSQL it is refused before anything happens."""
    line = _refused(_restore(runner, pg_url, export, "--force"), 3)
    assert "--force" in line and "empty database" in line
    assert _tables(pg_url) == []


def test_only_a_curator_of_the_export_may_restore(
    runner: CliRunner, export: Path, pg_url: str
) -> None:
    """A researcher of the exported ledger: exit 4 and the database stays empty."""
    result = _cli(runner, "--db", pg_url, "--as", OU_PI, "restore", "--events", str(export))
    _refused(result, 4)
    assert _tables(pg_url) == []


def test_a_changed_event_writes_nothing(
    runner: CliRunner, export: Path, pg_url: str, tmp_path: Path
) -> None:
    """An export whose event was changed fails the chain: exit 1, the database stays empty."""
    lines = export.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[5] = lines[5].replace('"actor":"', '"actor":"x', 1)
    changed = tmp_path / "changed.jsonl"
    changed.write_text("".join(lines), encoding="utf-8")
    _refused(_restore(runner, pg_url, changed), 1)
    assert _tables(pg_url) == []


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarmCli]:
    """Real CLI processes forked from one that has done the imports (tests/warm_cli.py), for
    the kills: each pays for the command, not ~1.3 s of imports."""
    server = WarmCli(tmp_path_factory.mktemp("warm"))
    yield server
    server.close()


@pytest.mark.parametrize("point", ["before_restore_load", "before_commit"])
def test_a_killed_restore_leaves_the_database_empty(
    warm: WarmCli, export: Path, pg_url: str, tmp_path: Path, point: str
) -> None:
    """SIGKILL before the copy or inside its transaction (all rows sent, not committed): the
    database has no table; the same restore run again succeeds."""
    env = {**os.environ, **ENV, "SAMPLELOANS_CRASH_AT": point, "TMPDIR": str(tmp_path)}
    args = ["--db", pg_url, *STAFF, "restore", "--events", str(export)]
    killed = warm.run(args, tmp_path, env)
    assert killed.returncode == -9, killed.stderr
    assert _tables(pg_url) == []
    env.pop("SAMPLELOANS_CRASH_AT")
    again = warm.run(args, tmp_path, env)
    assert again.returncode == 0, again.stderr
    assert "ledger_event" in _tables(pg_url)
