"""Issue 14, points 1 and 5: a researcher's reads give the same answer on a secured
PostgreSQL ledger (row-level security) as on SQLite (the application's scoping), tried by hand
on the same demo (same ledger id) on both engines.

`custody history --sample` and `--institution` lacked events on PostgreSQL: the sample's
registration or the split that made it, the institution's agreement and people events, which
the application shows a researcher on SQLite. Row-level security showed only events naming one
of their loans; it now also shows events about their institution or a sample on their loans
that name no other institution's loan."""

from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.pgcluster import PgServer
from tests.test_sweep_pg_attacks import PASSWORD, RESEARCHER
from tests.test_sweep_pg_reads import secured, sqlite_demo  # noqa: F401  (module fixtures)

READS = [
    ["custody", "history", "--sample", "CE5C0200YJFM00112"],
    ["custody", "history", "--sample", "CE5C0300YJFM00307"],
    ["custody", "history", "--institution", "OU"],
    ["custody", "history", "--loan", "L-2025-OU"],
    ["custody", "history", "--loan", "L-2025-UoC"],  # another's: the same refusal
    ["samples", "show", "CE5C0200YJFM00112", "--json"],
    ["samples", "tree", "CE5C0300YJFM00307"],
    ["samples", "list", "--json"],
    ["balance", "--loan", "L-2025-OU", "--json"],
    ["agreements", "show", "AG-2025-OU", "--json"],
    ["people", "list", "--json"],
    ["institutions", "list", "--json"],
    ["incidents", "list", "--json"],
]


@pytest.mark.parametrize("command", READS, ids=" ".join)
def test_a_researchers_read_is_the_same_on_both_engines(
    pg_server: PgServer,
    secured: str,  # noqa: F811
    sqlite_demo: Path,  # noqa: F811
    command: list[str],
) -> None:
    """Same stdout, stderr and exit code: their own login on PostgreSQL, --as on SQLite. A
    secured ledger reads the server's clock, so SQLite is given the same "now"."""
    now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    env = {"COLUMNS": "200", "NO_COLOR": "1", "SAMPLELOANS_NOW": now}
    login = PgServer(pg_server.host, pg_server.port, RESEARCHER, PASSWORD).url(secured)
    on_pg = CliRunner().invoke(app, ["--db", login, *command], env=env)
    on_sqlite = CliRunner().invoke(
        app, ["--db", str(sqlite_demo), "--as", RESEARCHER, *command], env=env
    )
    assert (on_pg.exit_code, on_pg.stdout, on_pg.stderr) == (
        on_sqlite.exit_code,
        on_sqlite.stdout,
        on_sqlite.stderr,
    )


def test_psql_shows_the_registration_of_their_sample_and_nothing_of_other_loans(
    pg_server: PgServer,
    secured: str,  # noqa: F811
) -> None:
    """With the researcher's login: the registration of a sample on their loan is readable;
    no event naming another institution's loan is."""
    login = PgServer(pg_server.host, pg_server.port, RESEARCHER, PASSWORD).url(secured)
    with psycopg.connect(login) as connection:
        kinds = connection.execute(
            "SELECT e.kind FROM ledger_event e JOIN event_subject s ON s.seq = e.seq "
            "WHERE s.subject_type = 'sample' AND s.subject_key = 'CE5C0200YJFM00112'"
        ).fetchall()
        foreign = connection.execute(
            "SELECT count(*) FROM event_subject s JOIN ledger_event e ON e.seq = s.seq "
            "WHERE s.subject_type = 'loan' AND s.subject_key <> 'L-2025-OU'"
        ).fetchone()
    assert ("sample.registered",) in kinds
    assert foreign == (0,)
