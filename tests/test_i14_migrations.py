"""Schema migrations with Alembic and the golden ledger of release 0.1 (issue 14)."""

import shutil
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, inspect
from typer.testing import CliRunner

from sampleloans import db, migrate
from sampleloans.cli import app
from sampleloans.services.verify import verify
from tests.conftest import COMPLIANCE, CURATOR, fingerprint
from tests.wheel_build import build_wheel

GOLDEN = Path(__file__).parent / "golden"
STAFF = ["--as", CURATOR]


def structure(engine: Engine) -> dict[str, Any]:
    """Every table's columns (type, nullability), keys, checks, uniques and indexes, without
    the version table: equal structures are the same schema whatever the DDL's clause order."""
    found: dict[str, Any] = {}
    inspector = inspect(engine)
    for table in sorted(set(inspector.get_table_names()) - {"alembic_version"}):
        found[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in inspector.get_columns(table)
            ],
            "pk": inspector.get_pk_constraint(table)["constrained_columns"],
            "fks": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"])
                for f in inspector.get_foreign_keys(table)
            ),
            "checks": sorted(
                " ".join(c["sqltext"].split()) for c in inspector.get_check_constraints(table)
            ),
            "uniques": sorted(
                tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
            ),
        }
    return found


def sqlite_triggers(path: Path) -> dict[str, str]:
    """Name → whitespace-normalised definition of every trigger of a SQLite file."""
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
        return {name: " ".join(sql.split()) for name, sql in rows}


def test_baseline_is_todays_schema_on_sqlite(tmp_path: Path) -> None:
    """The revisions, baseline on, build exactly the schema `init` builds (tables, triggers)."""
    made, migrated = tmp_path / "made.db", tmp_path / "migrated.db"
    made_engine, migrated_engine = (
        db.make_engine(db.url_for_path(made)),
        create_engine(db.url_for_path(migrated)),
    )
    db.create_schema(made_engine)
    result = migrate.upgrade(migrated_engine)
    assert (result.before, result.after) == (None, migrate.head_revision())
    assert structure(migrated_engine) == structure(made_engine)
    assert sqlite_triggers(migrated) == sqlite_triggers(made)
    assert len(sqlite_triggers(made)) == (
        len(db.TRIGGER_NAMES) + len(db.CHECKPOINT_TRIGGERS) + len(db.NOTIFICATION_TRIGGERS)
    )


def test_baseline_is_todays_schema_on_postgres(pg_server: Any, pg_url: str) -> None:
    """Same on PostgreSQL, triggers and the unique prev_hash index included."""
    other = pg_url.rsplit("/", 1)[1] + "_m"
    pg_server.admin(f"CREATE DATABASE {other} TEMPLATE template0")
    made = db.make_engine(pg_url)
    migrated = db.make_engine(pg_server.url(other))
    try:
        db.create_schema(made)
        assert migrate.upgrade(migrated).after == migrate.head_revision()
        assert structure(migrated) == structure(made)
        for engine in (made, migrated):
            with engine.connect() as connection:
                assert db.postgres_trigger_problems(connection) == []
    finally:
        made.dispose()
        migrated.dispose()
        pg_server.admin(f"DROP DATABASE {other} WITH (FORCE)")


def _init(runner: CliRunner, database: str) -> None:
    args = ["--db", database, "init", "--curator-email", CURATOR, "--curator-name", "Li Na"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr


@pytest.mark.usefixtures("cli_env")
def test_init_stamps_the_head_and_upgrade_has_nothing_to_do(
    runner: CliRunner, db_path: Path
) -> None:
    """A new ledger records this release's revision; `db upgrade` then changes nothing."""
    _init(runner, str(db_path))
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (migrate.head_revision(),)
        ]
    result = runner.invoke(app, [*STAFF, "db", "upgrade"])
    assert result.exit_code == 0, result.stderr
    assert "nothing to do" in result.stdout


@pytest.mark.usefixtures("cli_env")
def test_upgrade_of_a_ledger_from_before_migrations(
    runner: CliRunner, db_path: Path, tmp_path: Path
) -> None:
    """A ledger of the previous release (no version table) is taken as the baseline, and
    still verifies to the same head afterwards."""
    shutil.copy(GOLDEN / "ledger-0.1.db", db_path)
    with sqlite3.connect(db_path) as connection:  # as the release before migrations made it
        connection.execute("DROP TABLE alembic_version")
    head = runner.invoke(app, ["--as", COMPLIANCE, "verify", "--print-head"]).stdout
    result = runner.invoke(app, [*STAFF, "db", "upgrade"])
    assert result.exit_code == 0, result.stderr
    assert "from before migrations" in result.stdout
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (migrate.head_revision(),)
        ]
    after = runner.invoke(app, ["--as", COMPLIANCE, "verify", "--print-head"])
    assert after.exit_code == 0
    assert after.stdout == head


@pytest.mark.usefixtures("cli_env")
def test_upgrade_is_for_curators(runner: CliRunner, db_path: Path) -> None:
    """A compliance officer may not change the schema (exit 4, nothing written)."""
    shutil.copy(GOLDEN / "ledger-0.1.db", db_path)
    before = fingerprint(db_path)
    result = runner.invoke(app, ["--as", COMPLIANCE, "db", "upgrade"])
    assert result.exit_code == 4
    assert result.stderr.startswith("Error: ") and "curators" in result.stderr
    assert fingerprint(db_path) == before


@pytest.mark.parametrize(
    ("database", "dialect_marker"),
    [("ledger.db", "CREATE TRIGGER IF NOT EXISTS ledger_event_no_update"),
     ("postgresql://dba@db.example/ledger", "LANGUAGE plpgsql")],
    ids=["sqlite", "postgresql"],
)  # fmt: skip
def test_upgrade_sql_prints_the_script_offline(
    runner: CliRunner, tmp_path: Path, database: str, dialect_marker: str
) -> None:
    """`db upgrade --sql` prints the DDL for the --db's engine; it connects to nothing and
    creates no file."""
    target = database if "://" in database else str(tmp_path / database)
    result = runner.invoke(app, ["--db", target, "db", "upgrade", "--sql"])
    assert result.exit_code == 0, result.stderr
    assert "CREATE TABLE ledger_event" in result.stdout
    assert dialect_marker in result.stdout
    assert "INSERT INTO alembic_version (version_num) VALUES ('0001_baseline')" in result.stdout
    assert not (tmp_path / "ledger.db").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [(["--sql", "--from", "9999_nope"], "--from: '9999_nope' is not a revision"),
     (["--from", "0001_baseline"], "--from: only with --sql")],
)  # fmt: skip
def test_upgrade_refuses_bad_options(
    runner: CliRunner, tmp_path: Path, args: list[str], expected: str
) -> None:
    """Bad options: exit 2, one line naming the option."""
    result = runner.invoke(app, ["--db", str(tmp_path / "x.db"), "db", "upgrade", *args])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {expected}")


def test_golden_ledger_verifies_and_replays_to_its_head(tmp_path: Path) -> None:
    """The ledger release 0.1 made: chain, replay = projections, invariants all clean, and
    the same head as when it was made (a later release must keep reading it)."""
    copy = tmp_path / "golden.db"
    shutil.copy(GOLDEN / "ledger-0.1.db", copy)
    expected = (GOLDEN / "ledger-0.1.head").read_text().strip()
    engine = db.open_engine(db.url_for_path(copy))
    try:
        result = verify(engine)
    finally:
        engine.dispose()
    assert result.problems == []
    assert result.head == expected


def test_golden_ledger_replays_into_postgres(pg_url: str, tmp_path: Path) -> None:
    """Replaying the golden ledger's events into a fresh PostgreSQL schema gives the same
    projections the golden SQLite file holds (replay is engine-independent)."""
    from sampleloans.services.verify import compare_table, replay_into

    copy = tmp_path / "golden.db"
    shutil.copy(GOLDEN / "ledger-0.1.db", copy)
    source = db.open_engine(db.url_for_path(copy))
    target = db.make_engine(pg_url)
    try:
        db.create_schema(target)
        assert replay_into(source, target) is None
        with target.connect() as connection:
            problems = [
                p for t in db.projection_tables() for p in compare_table(connection, source, t)
            ]
        assert problems == []
    finally:
        source.dispose()
        target.dispose()


def test_wheel_ships_the_migrations(tmp_path: Path) -> None:
    """An installed package can upgrade a ledger: the revisions and env.py are in the wheel."""
    wheel = build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "sampleloans/migrations/env.py" in names
    assert "sampleloans/migrations/script.py.mako" in names
    assert "sampleloans/migrations/versions/0001_baseline.py" in names
