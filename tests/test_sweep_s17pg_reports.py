"""Sweep s17, reports with a researcher's own login on a secured PostgreSQL ledger.

Row-level security hides from a researcher the events of other institutions. A report read
its head as the last event the login could see, and `verify-document` looked the report's head
up the same way:
- a statement dated (`--generated-at`) before its checkpoint's last event, another
  institution's, was written (SQLite: refused, exit 1);
- Osaka's researcher printed a custody report of their loan: it named head 98 (the last event
  their login could see) while the ledger's head was 108 (on SQLite, the same command names 108),
  and `--generated-at` before the head was recorded was not refused;
- the compliance officer's report of the same loan at the ledger's head, checked by the
  researcher with `verify-document`: "FAIL head: the ledger ends at event 98 but this report
  was built on event 108: events were removed (a rollback to an older copy or a truncation)",
  exit 1 — a tamper alarm on a sound ledger.
Both now read the head and a head's hash through the ledger's functions that show every
event's seq and hash (and nothing else) to any login."""

from pathlib import Path

import psycopg
from psycopg import sql
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.pgcluster import PgServer

CURATOR = "curator@naoc.example"
COMPLIANCE = "compliance@naoc.example"
RESEARCHER = "terada@osaka-u.example"
PASSWORD = "s17-pw"
ENV = {"COLUMNS": "200", "NO_COLOR": "1"}


def _logins(pg_server: PgServer, demo_url: str) -> dict[str, str]:
    """Secure the demo ledger and give three people a password; their login URLs."""
    secured = CliRunner().invoke(app, ["--db", demo_url, "--as", CURATOR, "db", "secure"])
    assert secured.exit_code == 0, secured.stderr
    database = str(psycopg.conninfo.conninfo_to_dict(demo_url)["dbname"])
    with psycopg.connect(demo_url, autocommit=True) as connection:
        for email in (CURATOR, COMPLIANCE, RESEARCHER):
            connection.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(email), sql.Literal(PASSWORD)
                )
            )
    return {
        email: PgServer(pg_server.host, pg_server.port, email, PASSWORD).url(database)
        for email in (CURATOR, COMPLIANCE, RESEARCHER)
    }


def _run(url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["--db", url, *args], env=ENV)
    return result.exit_code, result.stdout, result.stderr


def _true_head(demo_url: str) -> int:
    with psycopg.connect(demo_url) as connection:
        row = connection.execute("SELECT max(seq) FROM ledger_event").fetchone()
    assert row is not None
    return int(row[0])


def test_a_researchers_report_names_the_ledgers_head_and_checks_out(
    pg_server: PgServer, demo_url: str, tmp_path: Path
) -> None:
    """The last events are another institution's: the researcher's report still names the
    ledger's head, and both reports verify with either login."""
    urls = _logins(pg_server, demo_url)
    added = _run(
        urls[CURATOR], "people", "add", "guest@ipgp.example", "--name", "Guest",
        "--institution", "IPGP", "--role", "researcher",
    )  # fmt: skip
    assert added[0] == 0, added
    head = _true_head(demo_url)
    own, theirs = tmp_path / "own.pdf", tmp_path / "theirs.pdf"
    made = _run(urls[RESEARCHER], "report", "custody", "--loan", "L-2025-Osaka", "--out", str(own))
    assert made[0] == 0, made
    assert f"ledger head {head}:" in made[1], made[1]
    made = _run(
        urls[COMPLIANCE], "report", "custody", "--loan", "L-2025-Osaka", "--out", str(theirs)
    )
    assert made[0] == 0, made
    for who in (RESEARCHER, COMPLIANCE):
        for pdf in (own, theirs):
            code, out, err = _run(urls[who], "verify-document", str(pdf))
            assert (code, err) == (0, ""), (who, pdf.name, out, err)
            assert f"head {head} is in the ledger with the same hash" in out


def test_a_researchers_report_dated_before_its_head_is_refused(
    pg_server: PgServer, demo_url: str, tmp_path: Path
) -> None:
    """`--generated-at` before the head (another institution's event) was recorded: refused as
    on SQLite (exit 1), not printed with a head the login cannot see."""
    urls = _logins(pg_server, demo_url)
    added = _run(
        urls[CURATOR], "people", "add", "guest@ipgp.example", "--name", "Guest",
        "--institution", "IPGP", "--role", "researcher",
    )  # fmt: skip
    assert added[0] == 0, added
    out = tmp_path / "early.pdf"
    code, _stdout, err = _run(
        urls[RESEARCHER], "report", "custody", "--loan", "L-2025-Osaka", "--out", str(out),
        "--generated-at", "2026-01-01T00:00:00Z",
    )  # fmt: skip
    assert code == 1, err
    assert err.startswith("Error: --generated-at:") and f"event {_true_head(demo_url)}" in err
    assert not out.exists()


def test_a_researchers_statement_dated_before_its_checkpoint_is_refused(
    pg_server: PgServer, demo_url: str, tmp_path: Path
) -> None:
    """The checkpoint's last event is another institution's: a statement `--generated-at`
    before it was recorded was written with the researcher's login (SQLite: refused, exit 1)."""
    urls = _logins(pg_server, demo_url)
    added = _run(
        urls[CURATOR], "people", "add", "guest@ipgp.example", "--name", "Guest",
        "--institution", "IPGP", "--role", "researcher",
    )  # fmt: skip
    assert added[0] == 0, added
    key = tmp_path / "lender.key"
    assert _run(urls[CURATOR], "keys", "generate", "--out", str(key))[0] == 0
    signed = _run(urls[CURATOR], "checkpoint", "--key", str(key))
    assert signed[0] == 0, signed
    folder = tmp_path / "statements"
    folder.mkdir()
    code, _stdout, err = _run(
        urls[RESEARCHER], "report", "statement", "--pi", RESEARCHER, "--out", str(folder),
        "--generated-at", "2026-01-01T00:00:00Z",
    )  # fmt: skip
    assert code == 1, err
    assert err.startswith("Error: --generated-at:") and f"event {_true_head(demo_url)} " in err
    assert list(folder.iterdir()) == []
