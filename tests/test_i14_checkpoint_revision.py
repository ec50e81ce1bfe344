"""Issue 14 point 7: the `checkpoint` table comes from Alembic revision 0004 (no table is made
on first use any more): `db upgrade` from the golden ledger of release 0.1 and from a ledger at
revision 0003 brings it in, on SQLite and PostgreSQL; `--sql` shows it; an un-upgraded ledger
says what to run."""

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic import command
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from sampleloans import db, migrate
from sampleloans.cli import app
from tests.conftest import CURATOR, fingerprint

GOLDEN = Path(__file__).parent / "golden" / "ledger-0.1.db"
STAFF = ["--as", CURATOR]
REVISION_0003 = "0003_event_occurred_index"
ROOT = Path(__file__).resolve().parent.parent
# the golden ledger's last event is from 2026; writes after it need a later clock
ENV = {"SAMPLELOANS_NOW": "2027-01-01T09:00:00Z", "COLUMNS": "200", "SAMPLELOANS_USER": ""}


def _cli(runner: CliRunner, target: str, *args: str) -> Result:
    return runner.invoke(app, ["--db", target, *args], env=ENV)


def _golden_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "golden.db"
    shutil.copyfile(GOLDEN, copy)
    copy.chmod(0o600)
    return copy


def _upgrade_to(engine: Engine, revision: str) -> None:
    """Bring a ledger from before migrations to `revision` (an older release's `db upgrade`)."""
    with engine.begin() as connection:
        command.stamp(migrate.config(connection=connection), migrate.BASELINE)
        command.upgrade(migrate.config(connection=connection), revision)


def _key(runner: CliRunner, tmp_path: Path) -> Path:
    key = tmp_path / "keys" / "cp.key"
    key.parent.mkdir()
    done = runner.invoke(app, ["keys", "generate", "--out", str(key), "--name", "naoc.example"])
    assert done.exit_code == 0, done.stderr
    return key


def _sqlite_tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')"
        )
        return {str(row[0]) for row in rows}


def test_the_schema_head_known_without_alembic_is_alembics() -> None:
    """`db.SCHEMA_HEAD` (read commands compare with it) is the revisions' head."""
    assert migrate.head_revision() == db.SCHEMA_HEAD


def test_no_code_path_creates_a_table_on_first_use() -> None:
    """Tables come from create_schema (a new ledger) and the revisions, nowhere else."""
    for path in (ROOT / "sampleloans").rglob("*.py"):
        if "migrations" in path.parts or path.name == "db.py":
            continue
        source = path.read_text(encoding="utf-8")
        for needle in ("CREATE TABLE", ".create(", "create_all(", "checkfirst"):
            assert needle not in source, f"{path.relative_to(ROOT)} creates a table: {needle}"


@pytest.mark.parametrize("start", ["baseline", REVISION_0003])
def test_upgrade_brings_in_the_checkpoint_table_on_sqlite(
    runner: CliRunner, tmp_path: Path, start: str
) -> None:
    """Before: `checkpoint` refuses (exit 3, nothing written) and `checkpoint list` says to run
    `db upgrade`; after `db upgrade`: the table and triggers exist, a checkpoint is kept and
    verify is clean."""
    ledger = _golden_copy(tmp_path)
    if start != "baseline":
        engine = db.make_engine(db.url_for_path(ledger))
        _upgrade_to(engine, start)
        engine.dispose()
    key = _key(runner, tmp_path)
    before = fingerprint(ledger)
    refused = _cli(runner, str(ledger), *STAFF, "checkpoint", "--key", str(key))
    assert refused.exit_code == 3, refused.stdout + refused.stderr
    assert refused.stderr.count("\n") == 1 and "sampleloans db upgrade" in refused.stderr
    assert fingerprint(ledger) == before
    listed = _cli(runner, str(ledger), *STAFF, "checkpoint", "list")
    assert listed.exit_code == 0, listed.stderr
    assert "db upgrade" in listed.stderr
    checked = _cli(runner, str(ledger), *STAFF, "verify")
    assert checked.exit_code == 0, checked.stdout
    assert "sampleloans db upgrade" in checked.stderr and db.SCHEMA_HEAD in checked.stderr
    assert fingerprint(ledger) == before  # reads write nothing

    upgraded = _cli(runner, str(ledger), *STAFF, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.stderr
    assert migrate.head_revision() == db.SCHEMA_HEAD
    assert {"checkpoint", "checkpoint_no_update", "checkpoint_no_delete"} <= _sqlite_tables(ledger)
    kept = _cli(runner, str(ledger), *STAFF, "checkpoint", "--key", str(key))
    assert kept.exit_code == 0, kept.stderr
    listed = _cli(runner, str(ledger), *STAFF, "checkpoint", "list", "--json")
    assert listed.exit_code == 0 and '"id": 1' in listed.stdout, listed.stdout
    verified = _cli(runner, str(ledger), *STAFF, "verify")
    assert verified.exit_code == 0, verified.stdout
    assert "db upgrade" not in verified.stderr  # at this release's revision now
    with sqlite3.connect(ledger) as connection, pytest.raises(sqlite3.DatabaseError):
        connection.execute("UPDATE checkpoint SET tree_size = 0")


def test_upgrade_from_0003_on_postgres(
    runner: CliRunner, tmp_path: Path, pg_server: Any, pg_url: str
) -> None:
    """A PostgreSQL ledger as revision 0003 left it (no checkpoint table), then `db upgrade`:
    the table and its three defences come in, and a checkpoint is kept."""
    init = _cli(runner, pg_url, "init", "--curator-email", CURATOR, "--curator-name", "Li Na")
    assert init.exit_code == 0, init.stderr
    with psycopg.connect(pg_url) as connection:  # what a 0003 ledger looks like
        connection.execute("DROP TABLE checkpoint")
        connection.execute(f"UPDATE alembic_version SET version_num = '{REVISION_0003}'")
    key = _key(runner, tmp_path)
    refused = _cli(runner, pg_url, *STAFF, "checkpoint", "--key", str(key))
    assert refused.exit_code == 3 and "db upgrade" in refused.stderr, refused.stderr
    upgraded = _cli(runner, pg_url, *STAFF, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.stderr
    assert "0003" in upgraded.stdout and db.SCHEMA_HEAD in upgraded.stdout
    with psycopg.connect(pg_url) as connection:
        names = {
            row[0]
            for row in connection.execute(
                "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE c.relname = 'checkpoint' AND NOT t.tgisinternal"
            )
        }
    assert names == set(db.POSTGRES_CHECKPOINT_TRIGGER_NAMES)
    kept = _cli(runner, pg_url, *STAFF, "checkpoint", "--key", str(key))
    assert kept.exit_code == 0, kept.stderr


def test_checkpoint_on_a_new_postgres_ledger(
    runner: CliRunner, tmp_path: Path, pg_url: str
) -> None:
    """`init` on PostgreSQL makes the table with its defences: `checkpoint` keeps one (its id
    from RETURNING), verify is clean, a client that skips the application cannot change it."""
    init = _cli(runner, pg_url, "init", "--curator-email", CURATOR, "--curator-name", "Li Na")
    assert init.exit_code == 0, init.stderr
    key = _key(runner, tmp_path)
    for _ in range(2):
        kept = _cli(runner, pg_url, *STAFF, "checkpoint", "--key", str(key))
        assert kept.exit_code == 0, kept.stderr
    verified = _cli(runner, pg_url, *STAFF, "verify")
    assert verified.exit_code == 0, verified.stdout
    with psycopg.connect(pg_url) as connection:
        assert connection.execute(
            "SELECT array_agg(id ORDER BY id) FROM checkpoint"
        ).fetchone() == ([1, 2],)
        for statement in ("UPDATE checkpoint SET tree_size = 0", "TRUNCATE checkpoint"):
            with (
                pytest.raises(psycopg.errors.IntegrityConstraintViolation),
                connection.transaction(),
            ):
                connection.execute(statement)
        connection.execute("ALTER TABLE checkpoint DISABLE TRIGGER checkpoint_no_update")
    found = _cli(runner, pg_url, *STAFF, "verify")
    assert found.exit_code == 1 and "checkpoint_no_update is disabled" in found.stdout


@pytest.mark.parametrize("url", ["x.db", "postgresql://dba@db.example/ledger"])
def test_upgrade_sql_shows_the_checkpoint_table(runner: CliRunner, url: str) -> None:
    """The offline script a DBA reviews creates the table and its triggers."""
    done = runner.invoke(app, ["--db", url, *STAFF, "db", "upgrade", "--sql"], env=ENV)
    assert done.exit_code == 0, done.stderr
    assert "CREATE TABLE checkpoint" in done.stdout
    assert "checkpoint_no_delete" in done.stdout
    assert "0004_checkpoint" in done.stdout


def test_notify_on_an_unupgraded_ledger_sends_nothing(runner: CliRunner, tmp_path: Path) -> None:
    """Without the send record a sent message could not be recorded: notify refuses first."""
    ledger = _golden_copy(tmp_path)
    with sqlite3.connect(ledger) as connection:
        connection.execute("DROP TABLE IF EXISTS notification_sent")
    before = fingerprint(ledger)
    done = _cli(
        runner, str(ledger), *STAFF, "notify", "--smtp-host", "127.0.0.1", "--smtp-port", "9",
        "--smtp-from", "ledger@naoc.example",
    )  # fmt: skip
    assert done.exit_code == 3, done.stdout + done.stderr
    assert "notification_sent" in done.stderr and "db upgrade" in done.stderr
    assert fingerprint(ledger) == before
