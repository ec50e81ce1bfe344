"""Sweep s20 (several sites on PostgreSQL): a schema changed by hand by the table owner (here the
superuser), as `tests/test_sweep_s19tamper_schema.py` does it on SQLite.

- A table or index added by hand was no finding on either engine (the README says it is).
- A column or table dropped by hand: every command printed psycopg's traceback (exit 1), where
  SQLite says it in one line (exit 3); `verify` crashed on the aborted transaction after the
  first stage that read the dropped table.
"""

from collections.abc import Iterator
from itertools import count

import psycopg
import pytest
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from tests.pg_secured import database_copy
from tests.pgcluster import PgServer, fresh_database
from tests.test_sweep_pg_attacks import CURATOR, ENV, LEDGER_ID
from tests.test_sweep_s19tamper_schema import findings

COMPLIANCE = "compliance@naoc.example"


@pytest.fixture(scope="module")
def demo_template(pg_server: PgServer) -> Iterator[str]:
    """The demo ledger in a database of its own, made once per module: its database's name."""
    with fresh_database(pg_server) as url:
        made = CliRunner().invoke(app, ["--db", url, "demo", "--ledger-id", LEDGER_ID], env=ENV)
        assert made.exit_code == 0, made.stderr
        yield url.rsplit("/", 1)[1]


_copies = count(1)


@pytest.fixture
def ledger(pg_server: PgServer, demo_template: str) -> Iterator[str]:
    """A copy of the demo ledger in a database of its own (the superuser's URL): `CREATE
    DATABASE … TEMPLATE`, where the demo costs ~2 s of CPU each time."""
    with database_copy(pg_server, demo_template, f"copy{next(_copies)}") as url:
        yield url


def _tamper(url: str, statement: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(statement)


def _cli(url: str, *args: str, who: str = COMPLIANCE) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["--db", url, "--as", who, *args], env=ENV)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


CHANGES = {
    "ALTER TABLE loan ADD COLUMN evil text": [
        "[schema] table loan has a column evil the ledger's schema does not define: the schema "
        "was changed by hand"
    ],
    "ALTER TABLE loan DROP COLUMN last_loan_wide_event_at": [
        "[schema] table loan lacks its column last_loan_wide_event_at: the schema was changed "
        "by hand"
    ],
    "DROP TABLE incident": ["[schema] table incident is missing: the schema was changed by hand"],
    "DROP INDEX ix_loan_status": [
        "[schema] index ix_loan_status on loan is missing: the schema was changed by hand"
    ],
    "CREATE TABLE junk (a int)": [
        "[schema] table junk is not one of the ledger's tables: the schema was changed by hand"
    ],
    "CREATE INDEX sneaky ON sample (custodian, code)": [
        "[schema] index sneaky on sample is not one of the ledger's indexes: the schema was "
        "changed by hand"
    ],
    "UPDATE alembic_version SET version_num = '9999_future'": [
        "[schema] the ledger's schema version table holds '9999_future', a revision this "
        f"release does not know (its newest is {db.SCHEMA_HEAD}): a newer release wrote this "
        "ledger (use it), or the table was edited by hand"
    ],
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_verify_names_each_schema_change_on_postgresql(ledger: str, change: str) -> None:
    """Each change is exactly its `[schema]` finding (exit 1), no traceback."""
    _tamper(ledger, change)
    code, stdout, stderr = _cli(ledger, "verify")
    assert code == 1, (stdout, stderr)
    assert findings(stdout) == CHANGES[change]


def test_an_untouched_ledger_has_no_schema_finding(ledger: str) -> None:
    """The indexes PostgreSQL makes for keys and its defences are the ledger's own."""
    code, stdout, stderr = _cli(ledger, "verify")
    assert code == 0, (stdout, stderr)


@pytest.mark.parametrize(
    ("change", "args", "said"),
    [
        (
            "ALTER TABLE loan DROP COLUMN last_loan_wide_event_at",
            ("status", "--institution", "UoC"),
            "column loan.last_loan_wide_event_at does not exist",
        ),
        (
            "ALTER TABLE loan DROP COLUMN last_loan_wide_event_at",
            ("loans", "show", "L-2025-UoC"),
            "column loan.last_loan_wide_event_at does not exist",
        ),
        ("DROP TABLE incident", ("incidents", "list"), 'relation "incident" does not exist'),
    ],
)
def test_a_command_on_a_changed_schema_says_so_in_one_line(
    ledger: str, change: str, args: tuple[str, ...], said: str
) -> None:
    """One `Error:` line naming what PostgreSQL lacks, exit 3 (was: a traceback, exit 1)."""
    _tamper(ledger, change)
    code, stdout, stderr = _cli(ledger, *args)
    assert code == 3, (stdout, stderr)
    masked = ledger.replace(ledger.split(":")[2].split("@")[0], "***")
    assert stderr.splitlines() == [
        f"Error: the schema of the ledger {masked} is not this release's (PostgreSQL says: "
        f"{said}): it was changed by hand; nothing was written; run 'sampleloans verify'"
    ]


def test_a_write_on_a_changed_schema_writes_nothing(ledger: str) -> None:
    """A curator's consumption on a ledger lacking a column: exit 3, no event appended."""
    _tamper(ledger, "ALTER TABLE loan DROP COLUMN last_loan_wide_event_at")
    with psycopg.connect(ledger) as connection:
        before = connection.execute("SELECT count(*) FROM ledger_event").fetchone()
    args = ("loans", "consume", "L-2025-UoC", "--sample", "CE5C0000YJYX052", "--technique")
    late = {**ENV, "SAMPLELOANS_NOW": "2026-06-01T00:00:00Z"}
    result = CliRunner().invoke(
        app,
        ["--db", ledger, "--as", CURATOR, *args, "SIMS", "--mass", "1 ug", "--non-destructive"],
        env=late,
    )
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert "it was changed by hand; nothing was written" in result.stderr
    with psycopg.connect(ledger) as connection:
        assert connection.execute("SELECT count(*) FROM ledger_event").fetchone() == before
