"""Sweep s39 (several sites): `verify --since` with a curator's or compliance officer's own login.

On a secured PostgreSQL ledger `verify --since CP.txt` compared only the names, commands and
roles of the row-level-security policies, and said "not re-checked (a full 'verify' does): not
checked: the USING and WITH CHECK expressions …: this login may not create the temporary tables
they are compared on (cannot execute CREATE TABLE in a read-only transaction); verify on the
primary server checks them", on the primary server, where the same login's full `verify`
compares them: its scratch connection inherited the read transaction's READ ONLY. So a policy
loosened by the owner (`USING (… OR true)`: every institution's rows to every researcher)
passed `verify --since`, exit 0. The scratch copies are now made as a full verify makes them:
the loosened policy is a finding (exit 1), and an untouched ledger says it checked them (and the
triggers and defences, which it checked before too without saying so; on SQLite, the schema and
the append-only triggers). Where the login truly may not make them (no TEMPORARY), the line
keeps its own words, not under "not re-checked (a full 'verify' does)", which would not either.
"""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from sampleloans.cli import app
from tests.cli_steps import checkpoint_signed
from tests.conftest import demo_env
from tests.pg_secured import (
    COMPLIANCE,
    CURATOR,
    as_dba,
    cli,
    own_login,
    secured_copy,
    secured_demo_template,
)
from tests.pgcluster import PgServer

PASSWORD = "s39-since-password"
LOOSENED = (
    "ALTER POLICY researcher_own ON agreement USING "
    "(institution = sampleloans_login_institution() OR true)"
)


__all__ = ["secured_demo_template"]  # the module fixture, shared by name


@pytest.fixture
def copy(pg_server: PgServer, secured_demo_template: str) -> Iterator[str]:
    """A copy of the secured demo, secured again."""
    with secured_copy(pg_server, secured_demo_template, "s39since") as url:
        yield url


def _checkpoint(pg_server: PgServer, copy: str, folder: Path) -> tuple[str, Path]:
    """The curator's login, having signed a checkpoint of the head (its file)."""
    curator = own_login(pg_server, copy, CURATOR, PASSWORD)
    key, note = folder / "cp.key", folder / "cp.txt"
    assert cli(curator, "keys", "generate", "--out", str(key)).exit_code == 0
    signed = cli(curator, "checkpoint", "--key", str(key), "--out", str(note))
    assert signed.exit_code == 0, signed.stderr
    return curator, note


def _words(result: Result) -> str:
    return " ".join(result.stdout.split())


@pytest.mark.parametrize("email", [CURATOR, COMPLIANCE])
def test_verify_since_compares_the_policies_on_the_primary_server(
    pg_server: PgServer, copy: str, tmp_path: Path, email: str
) -> None:
    _curator, note = _checkpoint(pg_server, copy, tmp_path)
    login = own_login(pg_server, copy, email, PASSWORD)
    clean = cli(login, "verify", "--since", str(note))
    assert clean.exit_code == 0, clean.output
    assert "USING and WITH CHECK" not in clean.stdout and "read-only" not in clean.stdout
    # and it says what it checked of them
    assert (
        "  checked: the schema, the PostgreSQL triggers and the database's other defences\n"
        "  checked: the row-level security policies: the ledger's own, as a full verify compares "
        "them\n"
    ) in clean.stdout
    data = json.loads(cli(login, "verify", "--since", str(note), "--json").stdout)
    assert not any("USING" in line for line in data["not_checked"]), data["not_checked"]

    as_dba(copy, LOOSENED)
    loosened = cli(login, "verify", "--since", str(note))
    assert loosened.exit_code == 1, loosened.output
    assert "[defence] policy researcher_own on agreement is not the ledger's own" in _words(
        loosened
    )


def test_a_login_without_temporary_is_told_who_checks_them(
    pg_server: PgServer, copy: str, tmp_path: Path
) -> None:
    curator, note = _checkpoint(pg_server, copy, tmp_path)
    database = copy.rsplit("/", 1)[1]
    as_dba(
        copy,
        f"REVOKE TEMPORARY ON DATABASE {database} FROM PUBLIC",
        f"REVOKE TEMPORARY ON DATABASE {database} FROM sampleloans_curator, sampleloans_compliance",
    )
    result = cli(curator, "verify", "--since", str(note))
    assert result.exit_code == 0, result.output
    line = next(s for s in result.stdout.splitlines() if "USING and WITH CHECK" in s)
    assert line.startswith("  not checked: the USING and WITH CHECK expressions"), line
    assert "the DBA's login checks them" in _words(result)
    assert "checked: the row-level security policies" not in result.stdout
    # what a full verify does check keeps its heading
    assert "  not re-checked (a full 'verify' does): events 1–" in result.stdout


def test_on_sqlite_it_names_the_schema_and_triggers(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    env = demo_env(tmp_path_factory, CURATOR)
    _key, note = checkpoint_signed(env, tmp_path_factory.mktemp("since"))
    run = CliRunner().invoke
    since = run(app, ["verify", "--since", str(note)], env={**env, "COLUMNS": "200"})
    assert since.exit_code == 0, since.output
    assert "  checked: the schema and the append-only triggers\n" in since.stdout
    assert "PostgreSQL" not in since.stdout and "row-level" not in since.stdout
