"""Revision 0009 adds indexes on `lower(institution.short_name)` and `lower(agreement.number)`:
the case-twin check of a new institution or agreement is one index lookup, as a loan's is
(0007), not a scan of the table (on PostgreSQL made while the write holds the writers' lock).
A ledger at 0008 gets them from `db upgrade`; one that already has them upgrades without
"index already exists"; the twin query the write path sends uses them on both engines."""

import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.dialects import postgresql, sqlite
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.models import Agreement, Institution
from sampleloans.services.lock_reads import _twin_read
from tests.conftest import CURATOR

STAFF = ["--as", CURATOR]
INDEXES = {
    "ix_institution_short_name_lower": Institution.short_name,
    "ix_agreement_number_lower": Agreement.number,
}
INDEX_SQL = "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?"


def _init(runner: CliRunner) -> None:
    """A new ledger at --db (SAMPLELOANS_DB of `cli_env`)."""
    result = runner.invoke(app, ["init", "--curator-email", CURATOR, "--curator-name", "Li Na"])
    assert result.exit_code == 0, result.stderr


def _twin_sql(column: Any, dialect: Any) -> str:
    """The SQL of the case-twin lookup the write path sends for a new code of `column`."""
    return str(_twin_read(column).compile(dialect=dialect))


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize("had_the_indexes", [True, False])
def test_upgrade_from_0008_leaves_one_of_each_index(
    runner: CliRunner, db_path: Path, had_the_indexes: bool
) -> None:
    _init(runner)
    with sqlite3.connect(db_path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0008_staff_of_this_ledger'")
        if not had_the_indexes:
            for name in INDEXES:
                connection.execute(f"DROP INDEX {name}")
    result = runner.invoke(app, [*STAFF, "db", "upgrade"])
    assert result.exit_code == 0, result.stderr
    assert f"from 0008_staff_of_this_ledger to {db.SCHEMA_HEAD}" in result.stdout
    with sqlite3.connect(db_path) as connection:
        for name in INDEXES:
            assert connection.execute(INDEX_SQL, (name,)).fetchone() == (1,), name
        revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision == (db.SCHEMA_HEAD,)


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize("name", sorted(INDEXES))
def test_the_twin_lookup_is_an_index_search_on_sqlite(
    runner: CliRunner, db_path: Path, name: str
) -> None:
    _init(runner)
    sql = _twin_sql(INDEXES[name], sqlite.dialect())
    with sqlite3.connect(db_path) as connection:
        plan = connection.execute(f"EXPLAIN QUERY PLAN {sql}", ("x", "X")).fetchall()
    assert f"USING INDEX {name}" in " ".join(str(row[3]) for row in plan)


def test_postgres_upgrade_adds_the_indexes_and_the_twin_lookup_uses_them(
    runner: CliRunner, demo_url: str
) -> None:
    with psycopg.connect(demo_url, autocommit=True) as connection:
        for name in INDEXES:
            connection.execute(f"DROP INDEX {name}")
        connection.execute("UPDATE alembic_version SET version_num = '0008_staff_of_this_ledger'")
    result = runner.invoke(app, ["--db", demo_url, *STAFF, "db", "upgrade"])
    assert result.exit_code == 0, result.stderr
    assert f"from 0008_staff_of_this_ledger to {db.SCHEMA_HEAD}" in result.stdout
    with psycopg.connect(demo_url, autocommit=True) as connection:
        connection.execute("SET enable_seqscan = off")  # a few rows: the planner would scan
        for name, column in INDEXES.items():
            sql = _twin_sql(column, postgresql.dialect()).replace("%(t_lower)s", "'ou'")
            sql = sql.replace("%(t_code)s", "'ou'")
            plan = " ".join(row[0] for row in connection.execute(f"EXPLAIN {sql}"))
            assert name in plan, plan
