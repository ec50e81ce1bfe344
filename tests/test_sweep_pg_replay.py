"""Issue 14, points 5 and 6, tried as a researcher on a secured PostgreSQL ledger: what needs
events row-level security hides from them.

- `report statement` for their own institution (README: "researchers for their own
  institution") failed: its inclusion proofs need every event's hash, and the checkpoint's last
  event was read as a row ("the ledger has fewer than N events", then an AssertionError
  traceback). The hashes now come from the owner's function `sampleloans_event_hashes` (seq and
  hash only), and the statement is byte-identical to the curator's.
- What replays the ledger as it stood before its head (`custody history --as-of`, a report
  `--as-of`, `verify-document` once later events exist, a statement on an older checkpoint)
  failed with a misleading "event 66 cannot be replayed … run 'sampleloans verify'" (exit 3):
  the replay saw only the researcher's events. It is now refused in words (exit 4)."""

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.pgcluster import PgServer
from tests.test_sweep_pg_attacks import CURATOR, ENV, PASSWORD, RESEARCHER, secured_database

LOAN = "L-2025-OU"  # the researcher's (OU)
REFUSED = "your login sees only your loans' events (row-level security)"


@pytest.fixture(scope="module")
def secured(pg_server: PgServer) -> Iterator[str]:
    """A secured demo ledger with a checkpoint of its head (signed by a fresh key)."""
    with secured_database(pg_server, "replay") as name:
        yield name


def _url(server: PgServer, database: str, email: str) -> str:
    return PgServer(server.host, server.port, email, PASSWORD).url(database)


def _run(server: PgServer, database: str, email: str, *args: str) -> tuple[int, str, str]:
    """A command with `email`'s own login."""
    result = CliRunner().invoke(app, ["--db", _url(server, database, email), *args], env=ENV)
    return result.exit_code, result.stdout, result.stderr


def _statement(server: PgServer, database: str, email: str, out: Path) -> tuple[int, str]:
    out.mkdir()
    code, _out, err = _run(
        server, database, email, "report", "statement", "--institution", "OU", "--out",
        str(out), "--generated-at", "2026-04-21",
    )  # fmt: skip
    return code, err


def test_a_researchers_statement_and_what_needs_a_replay(
    pg_server: PgServer, secured: str, tmp_path: Path
) -> None:
    """On a checkpoint of the head: the researcher's statement is the curator's, byte for byte.
    After one more event: every replay-based read is refused with the same words (exit 4)
    and nothing is written, while the curator's still work."""
    key = tmp_path / "key"
    made = CliRunner().invoke(app, ["keys", "generate", "--out", str(key)], env=ENV)
    assert made.exit_code == 0, made.stderr
    code, _out, err = _run(pg_server, secured, CURATOR, "checkpoint", "--key", str(key))
    assert code == 0, err
    code, err = _statement(pg_server, secured, RESEARCHER, tmp_path / "theirs")
    assert code == 0 and "Traceback" not in err, err
    assert _statement(pg_server, secured, CURATOR, tmp_path / "ours")[0] == 0
    theirs = sorted((tmp_path / "theirs").iterdir())
    ours = sorted((tmp_path / "ours").iterdir())
    assert [p.name for p in theirs] == [p.name for p in ours] and theirs
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(theirs, ours, strict=True))
    report = tmp_path / "custody.pdf"
    code, _out, err = _run(
        pg_server, secured, RESEARCHER, "report", "custody", "--loan", LOAN, "--out", str(report)
    )
    assert code == 0, err
    assert _run(pg_server, secured, RESEARCHER, "verify-document", str(report))[0] == 0

    code, _out, err = _run(
        pg_server, secured, RESEARCHER, "loans", "consume", LOAN, "--sample",
        "CE5C0200YJFM00112", "--technique", "SIMS", "--mass", "100 ug", "--destructive",
    )  # fmt: skip
    assert code == 0, err  # the ledger's head moves past the checkpoint and the report
    as_of = ["--loan", LOAN, "--as-of", "2025-06-01"]
    replays = {
        "history": ["custody", "history", *as_of],
        "report": ["report", "custody", *as_of, "--out", str(tmp_path / "asof.pdf")],
        "verify-document": ["verify-document", str(report)],
    }
    code, err = _statement(pg_server, secured, RESEARCHER, tmp_path / "later")
    assert code == 4 and REFUSED in err and "Traceback" not in err, err
    for what, args in replays.items():
        code, _out, err = _run(pg_server, secured, RESEARCHER, *args)
        assert code == 4 and REFUSED in err and "Traceback" not in err, (what, err)
    assert not list((tmp_path / "later").iterdir()) and not (tmp_path / "asof.pdf").exists()
    code, out, err = _run(
        pg_server, secured, CURATOR, "custody", "history", "--loan", LOAN, "--as-of", "2025-06-01"
    )
    assert code == 0 and LOAN in out, err


def test_the_hash_function_discloses_seq_and_hash_only(pg_server: PgServer, secured: str) -> None:
    """A researcher's psql sees every event's seq and hash through the function, and still no
    foreign event row."""
    with psycopg.connect(pg_server.url(secured)) as admin:
        everything = admin.execute("SELECT seq, hash FROM ledger_event ORDER BY seq").fetchall()
    with psycopg.connect(_url(pg_server, secured, RESEARCHER)) as connection:
        cursor = connection.execute("SELECT * FROM sampleloans_event_hashes(1, 1000000)")
        assert [column.name for column in cursor.description or ()] == ["seq", "hash"]
        assert cursor.fetchall() == everything
        rows = connection.execute("SELECT count(*) FROM ledger_event").fetchone()
    assert rows is not None and 0 < rows[0] < len(everything)
