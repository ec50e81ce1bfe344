"""Sweep s39 (several sites): a compliance officer's statement with no checkpoint kept yet.

`report statement` with no signed checkpoint in the ledger told the compliance officer to "run
'sampleloans checkpoint --key FILE' first", a command only a curator may run (exit 4). It now
says a curator signs one, as it tells a researcher (who is also told the lender may send one),
on SQLite and with the officer's own login on a secured PostgreSQL ledger; a curator is still
told to run it."""

from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import COMPLIANCE, CURATOR, demo_env, fingerprint
from tests.pgcluster import PgServer

OFFICERS_HINT = (
    "Error: --checkpoint: none kept yet; a statement is built on a signed checkpoint: a curator "
    "signs one ('sampleloans checkpoint --key FILE'), or give --checkpoint FILE\n"
)
CURATORS_HINT = (
    "Error: --checkpoint: none kept yet; a statement is built on a signed checkpoint: run "
    "'sampleloans checkpoint --key FILE' first, or give --checkpoint FILE\n"
)


def _statement(out: Path) -> tuple[str, ...]:
    """`report statement` of the OU PIs into `out`."""
    return ("report", "statement", "--institution", "OU", "--out", str(out))


def test_a_compliance_officer_is_told_a_curator_signs_the_checkpoint(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """SQLite: the officer's hint names the curator; the curator's names the command; the
    command it names is indeed refused to the officer."""
    env = demo_env(tmp_path_factory, COMPLIANCE)
    ledger = Path(env["SAMPLELOANS_DB"])
    before = fingerprint(ledger)
    out = tmp_path_factory.mktemp("st") / "out"
    officer = CliRunner().invoke(app, ["--as", COMPLIANCE, *_statement(out)], env=env)
    assert (officer.exit_code, officer.stderr) == (1, OFFICERS_HINT)
    curator = CliRunner().invoke(app, ["--as", CURATOR, *_statement(out)], env=env)
    assert (curator.exit_code, curator.stderr) == (1, CURATORS_HINT)
    assert fingerprint(ledger) == before and not out.exists()
    key = out.parent / "k"
    made = CliRunner().invoke(app, ["keys", "generate", "--out", str(key)], env=env)
    assert made.exit_code == 0, made.stderr
    signed = CliRunner().invoke(app, ["--as", COMPLIANCE, "checkpoint", "--key", str(key)], env=env)
    assert signed.exit_code == 4, signed.output


def test_with_the_officers_own_login_on_postgresql(
    pg_server: PgServer, demo_url: str, tmp_path: Path
) -> None:
    """A secured ledger, the compliance officer connecting as themselves: the same hint."""
    secured = CliRunner().invoke(app, ["--db", demo_url, "--as", CURATOR, "db", "secure"])
    assert secured.exit_code == 0, secured.stderr
    with psycopg.connect(demo_url, autocommit=True) as connection:
        connection.execute(
            sql.SQL("ALTER ROLE {} PASSWORD 'officer-pw'").format(sql.Identifier(COMPLIANCE))
        )
    database = str(psycopg.conninfo.conninfo_to_dict(demo_url)["dbname"])
    login = PgServer(pg_server.host, pg_server.port, COMPLIANCE, "officer-pw").url(database)
    env = {"SAMPLELOANS_DB": "", "SAMPLELOANS_USER": "", "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["--db", login, *_statement(tmp_path / "out")], env=env)
    assert (result.exit_code, result.stderr) == (1, OFFICERS_HINT)
    assert not (tmp_path / "out").exists()
