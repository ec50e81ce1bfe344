"""Sweep s39 (several sites): a researcher checking their own statement once the ledger moved on.

On a secured PostgreSQL ledger a researcher's login cannot rebuild the ledger at an older
checkpoint (row-level security hides the other institutions' events), so `verify-document` of
their statement, once later events exist, is refused (exit 4). The refusal said only that "a
curator or compliance officer can run it for you", and named the statement as if they were
making one ("a statement on a checkpoint of 36 events (…; a new checkpoint needs none)"),
though they can check it themselves: `verify-document --public-key KEY.pub` checks its proofs
with the lender's key alone. It now says they are checking one, and names that command, which
then passes. Making a statement on an old checkpoint keeps its words.
"""

from pathlib import Path

import psycopg
from psycopg import sql
from typer.testing import CliRunner, Result

from sampleloans.cli import app
from tests.pgcluster import PgServer

CURATOR = "curator@naoc.example"
OU_PI = "anand@open.example"
PASSWORD = "s39-sites-pw"
ENV = {"SAMPLELOANS_DB": "", "SAMPLELOANS_USER": "", "COLUMNS": "200"}


def _run(url: str, *args: str) -> Result:
    """One CLI command on `url` (a login: no --as needed)."""
    return CliRunner().invoke(app, ["--db", url, *args], env=ENV)


def _logins(pg_server: PgServer, demo_url: str) -> tuple[str, str]:
    """Secure the demo; the curator's and the OU researcher's own login URLs."""
    assert _run(demo_url, "--as", CURATOR, "db", "secure").exit_code == 0
    with psycopg.connect(demo_url, autocommit=True) as connection:
        for email in (CURATOR, OU_PI):
            connection.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(email), sql.Literal(PASSWORD)
                )
            )
    database = str(psycopg.conninfo.conninfo_to_dict(demo_url)["dbname"])
    curator, researcher = (
        PgServer(pg_server.host, pg_server.port, email, PASSWORD).url(database)
        for email in (CURATOR, OU_PI)
    )
    return curator, researcher


def test_the_researcher_is_told_to_check_their_statement_offline(
    pg_server: PgServer, demo_url: str, tmp_path: Path
) -> None:
    curator, researcher = _logins(pg_server, demo_url)
    key = tmp_path / "cp.key"
    assert _run(curator, "keys", "generate", "--out", str(key)).exit_code == 0
    signed = _run(curator, "checkpoint", "--key", str(key))
    assert signed.exit_code == 0, signed.stderr
    made = _run(researcher, "report", "statement", "--out", str(tmp_path / "st"))
    assert made.exit_code == 0, made.stderr
    (statement,) = (tmp_path / "st").iterdir()
    later = _run(curator, "loans", "consume", "L-2025-OU", "--sample", "CE5C0300YJFM00307",
                 "--technique", "EPMA", "--mass", "1mg", "--destructive")  # fmt: skip
    assert later.exit_code == 0, later.stderr

    checked = _run(researcher, "verify-document", str(statement))
    assert checked.exit_code == 4, checked.output
    assert checked.stderr.count("\n") == 1 and "Traceback" not in checked.stderr
    assert checked.stderr.startswith("Error: checking a statement on a checkpoint of "), (
        checked.stderr
    )
    assert "needs none" not in checked.stderr
    hint = "'sampleloans verify-document --public-key KEY.pub FILE.pdf'"
    assert hint in checked.stderr, checked.stderr
    # the command it names works, with the researcher's login or none
    offline = _run(researcher, "verify-document", "--public-key", f"{key}.pub", str(statement))
    assert offline.exit_code == 0, offline.output
    assert "every event listed is in the ledger the lender signed" in offline.stdout

    again = _run(researcher, "report", "statement", "--out", str(tmp_path / "st2"))
    assert again.exit_code == 4, again.output
    assert "; a new checkpoint needs none)" in again.stderr and hint not in again.stderr
    assert not (tmp_path / "st2").exists()
