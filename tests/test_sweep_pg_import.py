"""Issue 14, point 4, tried by hand: `import` of a history on a secured PostgreSQL ledger wrote
`person.added` and `person.deactivated` events but left the logins as they were: the new person
had no login role, and the deactivated one could still log in (to psql: a deactivated curator
would read and write there). An import now syncs every login its events change, in the same
transaction, as `people add` / `people deactivate` do one at a time."""

import json
from pathlib import Path

import psycopg
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.pgcluster import PgServer, fresh_database
from tests.test_sweep_pg_attacks import CURATOR, ENV, PASSWORD, RESEARCHER, secure_demo

NEWCOMER = "newcomer@open.example"


def _line(kind: str, payload: dict[str, str], at: str, reason: str | None = None) -> str:
    record = {"kind": kind, "occurred_at": at, "actor": CURATOR, "payload": payload}
    return json.dumps({**record, "reason": reason, "corrects_seq": None})


def test_an_imported_history_syncs_the_logins(pg_server: PgServer, tmp_path: Path) -> None:
    """person.added → a LOGIN role in the researchers' group; person.deactivated → NOLOGIN;
    verify (which names a deactivated person who may log in) stays clean."""
    history = tmp_path / "people.jsonl"
    added = {"email": NEWCOMER, "institution": "OU", "name": "New Comer", "role": "researcher"}
    history.write_text(
        _line("person.added", added, "2026-05-01T00:00:00Z")
        + "\n"
        + _line("person.deactivated", {"email": RESEARCHER}, "2026-05-02T00:00:00Z", "left")
        + "\n"
    )
    with fresh_database(pg_server) as url:
        secure_demo(pg_server, url)
        curator = PgServer(pg_server.host, pg_server.port, CURATOR, PASSWORD).url(
            url.rsplit("/", 1)[1]
        )
        done = CliRunner().invoke(app, ["--db", curator, "import", str(history)], env=ENV)
        assert done.exit_code == 0, done.stderr
        with psycopg.connect(url) as admin:
            roles: dict[str, bool] = dict(
                admin.execute(
                    "SELECT rolname, rolcanlogin AND pg_has_role(oid, 'sampleloans_researcher', "
                    "'MEMBER') FROM pg_roles WHERE rolname IN (%s, %s)",
                    (NEWCOMER, RESEARCHER),
                ).fetchall()
            )
        assert roles == {NEWCOMER: True, RESEARCHER: False}
        check = CliRunner().invoke(app, ["--db", curator, "verify"], env=ENV)
        assert check.exit_code == 0, check.stdout
