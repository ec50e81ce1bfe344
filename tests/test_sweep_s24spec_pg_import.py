"""Sweep s24 "spec": `import` of an events export works the same into either engine.

README (`import`, and "Several sites" › Backups), issue 15 point 7 ("`sampleloans import` of the
bag's events into a fresh ledger reproduces the same head") and issue 14 point 9 (an export
"restores into a fresh ledger on either engine with the same head"): an events export imported
into a --db that holds no ledger yet rebuilds it, as `restore --events` does. On SQLite a new
file did; an empty PostgreSQL database answered "no ledger in the database" (exit 3). Now both
go through the same restore (`commands/maintenance.restored_from`): the same head, a database
holding some of the ledger's tables refused (exit 3, nothing written), a ledger already there
refused as on SQLite (exit 2), a researcher refused in the words of what was asked (exit 4).
"""

from pathlib import Path

import psycopg
from typer.testing import CliRunner, Result

from sampleloans.cli import app
from tests.conftest import CURATOR
from tests.pgcluster import PgServer

RESEARCHER = "anand@open.example"
NOW = "2026-06-15T10:00:00Z"


def _cli(*args: str) -> Result:
    """One CLI command, nothing taken from the environment's ledger or person."""
    env = {"SAMPLELOANS_NOW": NOW, "SAMPLELOANS_DB": "", "SAMPLELOANS_USER": "", "COLUMNS": "200"}
    return CliRunner().invoke(app, list(args), env=env)


def _head(db: str) -> str:
    """The ledger's head as `verify --print-head` prints it (a curator reads it)."""
    result = _cli("--db", db, "--as", CURATOR, "verify", "--print-head")
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def _bag_events(ledger: Path, folder: Path) -> Path:
    """A bag of the SQLite demo ledger; its `data/events.jsonl` (an events export)."""
    result = _cli("--db", str(ledger), "--as", CURATOR, "export", "--bag", str(folder / "bag"))
    assert result.exit_code == 0, result.output
    return folder / "bag" / "data" / "events.jsonl"


def _tables(url: str) -> list[str]:
    """The tables of the database's public schema (sorted)."""
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        ).fetchall()
    return [str(row[0]) for row in rows]


def test_a_bags_events_imported_into_an_empty_postgres_database_give_the_same_head(
    ledger: Path, tmp_path: Path, pg_url: str, pg_server: PgServer
) -> None:
    events = _bag_events(ledger, tmp_path)
    result = _cli("--db", pg_url, "--as", CURATOR, "import", str(events))
    assert result.exit_code == 0, result.output
    head = _head(str(ledger))
    assert _head(pg_url) == head
    assert f"ledger head {head}" in result.stdout
    # the URL as given, its password never shown (not a Path folding '//' into '/')
    assert "into the new ledger postgresql://postgres:***@" in result.stdout
    assert pg_server.password not in result.output
    verified = _cli("--db", pg_url, "--as", CURATOR, "verify")
    assert verified.exit_code == 0 and "PostgreSQL triggers in place" in verified.stdout


def test_back_again_a_postgres_export_imported_into_a_new_file(
    ledger: Path, tmp_path: Path, pg_url: str
) -> None:
    events = _bag_events(ledger, tmp_path)
    assert _cli("--db", pg_url, "--as", CURATOR, "import", str(events)).exit_code == 0
    export = tmp_path / "from-pg.jsonl"
    exported = _cli("--db", pg_url, "--as", CURATOR, "export", "--events", str(export))
    assert exported.exit_code == 0, exported.output
    fresh = tmp_path / "fresh.db"
    result = _cli("--db", str(fresh), "--as", CURATOR, "import", str(export))
    assert result.exit_code == 0, result.output
    assert _head(str(fresh)) == _head(pg_url) == _head(str(ledger))


def test_a_database_holding_some_ledger_table_is_refused_with_nothing_written(
    ledger: Path, tmp_path: Path, pg_url: str
) -> None:
    events = _bag_events(ledger, tmp_path)
    with psycopg.connect(pg_url, autocommit=True) as connection:
        connection.execute("CREATE TABLE loan (number text)")
    result = _cli("--db", pg_url, "--as", CURATOR, "import", str(events))
    assert result.exit_code == 3, result.output
    line = result.stderr.strip()
    assert "\n" not in line and "is not empty (it has the table loan)" in line
    assert "import of an events export fills only an empty database" in line
    assert "import into it; nothing was written" in line
    assert _tables(pg_url) == ["loan"]


def test_into_a_postgres_ledger_it_is_refused_as_on_sqlite(
    ledger: Path, tmp_path: Path, demo_url: str
) -> None:
    events = _bag_events(ledger, tmp_path)
    before = _head(demo_url)
    result = _cli("--db", demo_url, "--as", CURATOR, "import", str(events))
    assert result.exit_code == 2, result.output
    assert "is an events export" in result.stderr
    assert "an empty PostgreSQL database's URL" in result.stderr  # where this one can go
    assert _head(demo_url) == before


def test_a_researcher_rebuilds_no_postgres_ledger(
    ledger: Path, tmp_path: Path, pg_url: str
) -> None:
    events = _bag_events(ledger, tmp_path)
    result = _cli("--db", pg_url, "--as", RESEARCHER, "import", str(events))
    assert result.exit_code == 4, result.output
    # in the words of what was asked, as on SQLite (not 'restore the ledger')
    assert "only curators may import an events export into a new ledger" in result.stderr
    assert _tables(pg_url) == []


def test_a_history_into_an_empty_postgres_database_still_says_no_ledger(
    tmp_path: Path, pg_url: str
) -> None:
    history = tmp_path / "history.jsonl"
    history.write_text('{"kind": "note"}\n', encoding="utf-8")
    result = _cli("--db", pg_url, "--as", CURATOR, "import", str(history))
    assert result.exit_code == 3, result.output
    assert "no ledger in the database" in result.stderr
    assert _tables(pg_url) == []


def test_restore_of_a_backup_on_postgres_names_the_way_that_works(
    ledger: Path, tmp_path: Path, demo_url: str
) -> None:
    before = _head(demo_url)
    backup = tmp_path / "backup.db"
    made = _cli("--db", str(ledger), "--as", CURATOR, "backup", str(backup))
    assert made.exit_code == 0, made.output
    result = _cli("--db", demo_url, "--as", CURATOR, "restore", str(backup))
    assert result.exit_code == 3, result.output
    line = result.stderr.strip()
    # what a curator holding a SQLite backup types to put it in PostgreSQL (not a backup's
    # advice, 'take a logical export of its events', which reads as about the database)
    assert "\n" not in line and "'restore --events FILE', into an empty database" in line
    assert "'sampleloans --db BACKUP.db export --events FILE' makes one from a backup" in line
    assert _head(demo_url) == before
