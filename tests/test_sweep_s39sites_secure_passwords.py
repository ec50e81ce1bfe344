"""Sweep s39 (several sites): `db secure` on roles that log in already.

`db secure` listed every person's login role with "(set its password: \\password "EMAIL")",
also a role that had one: on `db secure` run again, and in the README's step 5, where the demo's
researcher is the same login as the first ledger's (roles are the server's). A DBA following
it changed that person's password for every ledger on the server. A role with a password is now
said to log in already, keeping it; one without is still given the `\\password` that sets it.
"""

import psycopg
from psycopg import sql
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.pgcluster import PgServer

CURATOR = "curator@naoc.example"
WITH = "glotch@stonybrook.example"  # given a password below
WITHOUT = "pi@suparco.example"  # none (roles are the cluster's: set so here, whatever came before)


def _secure(url: str) -> list[str]:
    """`db secure` by the DBA on behalf of the curator: its role lines."""
    done = CliRunner().invoke(app, ["--db", url, "--as", CURATOR, "db", "secure"])
    assert done.exit_code == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line.startswith("  login role ")]


def test_a_role_with_a_password_keeps_it(pg_server: PgServer, demo_url: str) -> None:
    first = _secure(demo_url)
    with psycopg.connect(demo_url, autocommit=True) as connection:
        for email, password in ((WITH, sql.Literal("pw-s39")), (WITHOUT, sql.SQL("NULL"))):
            connection.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(email), password)
            )
    again = _secure(demo_url)
    assert len(again) == len(first) == 9  # every person of the demo, each once
    assert f"  login role {WITH} (it logs in already, with the password it has)" in again
    assert f'  login role {WITHOUT} (set its password: \\password "{WITHOUT}")' in again
    assert not any(WITH in line and "\\password" in line for line in again)
    # and the password it kept is the one that logs in
    database = str(psycopg.conninfo.conninfo_to_dict(demo_url)["dbname"])
    login = PgServer(pg_server.host, pg_server.port, WITH, "pw-s39").url(database)
    listed = CliRunner().invoke(app, ["--db", login, "loans", "list", "--csv"])
    assert listed.exit_code == 0, listed.stderr
