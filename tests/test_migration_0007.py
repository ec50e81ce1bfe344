"""Revision 0007 adds the index on `lower(loan.number)` (the loan case-twin check). A ledger
whose schema already has it (made by this release's models, then stamped at an older revision)
upgrades without "index already exists": SQLAlchemy does not reflect an expression index on
SQLite, so the revision asks with CREATE INDEX IF NOT EXISTS; one without it gets it."""

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from tests.conftest import CURATOR

STAFF = ["--as", CURATOR]
INDEX_SQL = "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?"


def _init(runner: CliRunner) -> None:
    """A new ledger at --db (SAMPLELOANS_DB of `cli_env`)."""
    result = runner.invoke(app, ["init", "--curator-email", CURATOR, "--curator-name", "Li Na"])
    assert result.exit_code == 0, result.stderr


def _stamp(db_path: Path, revision: str, *, drop_index: bool) -> None:
    """Record an older revision, as a ledger of that release would (and drop the index)."""
    with sqlite3.connect(db_path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = ?", (revision,))
        if drop_index:
            connection.execute("DROP INDEX ix_loan_number_lower")


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize("had_the_index", [True, False])
def test_upgrade_from_0006_leaves_one_index(
    runner: CliRunner, db_path: Path, had_the_index: bool
) -> None:
    _init(runner)
    _stamp(db_path, "0006_definer_search_path", drop_index=not had_the_index)
    result = runner.invoke(app, [*STAFF, "db", "upgrade"])
    assert result.exit_code == 0, result.stderr
    assert f"from 0006_definer_search_path to {db.SCHEMA_HEAD}" in result.stdout
    with sqlite3.connect(db_path) as connection:
        assert connection.execute(INDEX_SQL, ("ix_loan_number_lower",)).fetchone() == (1,)
        revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision == (db.SCHEMA_HEAD,)
