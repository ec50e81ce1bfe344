"""Stop 34, attack 2: a head event whose `recorded_at` is no time, correctly hashed and linked.

On PostgreSQL a curator's own login may append an event in psql: the actor trigger reads
`recorded_at` as a time and compares it with the server's clock, and `'now'` is read as the
transaction's time, so the event is kept with the text `now`. On SQLite anyone who can write the
file may append one the same way. `verify` named it (`no readable recorded_at time`), but every
later write and `checkpoint` died with Python's `Invalid isoformat string: 'now'` traceback.
Now both refuse in one line (the ledger was changed outside the program), exit 3, nothing
written. The PostgreSQL case is in `test_sweep_s34attack2_pg_sequences.py`.
"""

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from sampleloans import db
from sampleloans.ledger import chain, guard
from sampleloans.ledger.guard import LedgerTampered
from sampleloans.services.reference import add_institution
from tests.conftest import ctx_for
from tests.i15_statement_helpers import env_for, invoke

NOT_A_TIME = ("now", "")


def append_forged(ledger: Path, recorded_at: str) -> int:
    """Append a correctly hashed, linked `institution.added` whose recorded_at is the text
    `recorded_at`, with raw sqlite3; its seq."""
    with closing(sqlite3.connect(ledger)) as connection, connection:
        seq, prev = connection.execute(
            "SELECT seq, hash FROM ledger_event ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        payload = (
            '{"city":"X","country":"Y","institution_kind":"borrower","name":"Zed",'
            '"short_name":"ZED"}'
        )
        fields = {
            "seq": seq + 1,
            "kind": "institution.added",
            "payload": payload,
            "occurred_at": "2026-01-01T00:00:00Z",
            "recorded_at": recorded_at,
            "actor": "curator@naoc.example",
            "os_user": "root",
            "corrects_seq": None,
            "reason": None,
        }
        digest = chain.link_hash(prev, chain.event_body(**fields))
        connection.execute(
            "INSERT INTO ledger_event (seq, kind, payload, occurred_at, recorded_at, actor, "
            "os_user, corrects_seq, reason, prev_hash, hash) VALUES (:seq, :kind, :payload, "
            ":occurred_at, :recorded_at, :actor, :os_user, :corrects_seq, :reason, :prev, :hash)",
            {**fields, "prev": prev, "hash": digest},
        )
    return int(seq + 1)


def _events(ledger: Path) -> int:
    with closing(sqlite3.connect(ledger)) as connection:
        return int(connection.execute("SELECT count(*) FROM ledger_event").fetchone()[0])


@pytest.mark.parametrize("recorded_at", NOT_A_TIME)
def test_a_write_after_it_is_one_line_and_writes_nothing_cli(
    ledger: Path, recorded_at: str
) -> None:
    seq = append_forged(ledger, recorded_at)
    added = invoke(
        env_for(ledger), "institutions", "add", "QQQ", "--name", "Q", "--country", "France",
        "--city", "Paris", "--kind", "borrower",
    )  # fmt: skip
    assert added.exit_code == 3, added.stderr
    assert added.stderr == (
        f"Error: the ledger was changed outside sampleloans: event {seq} (the last) has no "
        f"readable recorded_at time ({recorded_at!r}); nothing was written (run 'sampleloans "
        "verify', and restore the last good backup)\n"
    )
    assert _events(ledger) == seq


def test_a_checkpoint_after_it_is_one_line_and_keeps_nothing_cli(
    ledger: Path, tmp_path: Path
) -> None:
    env = env_for(ledger)
    key = tmp_path / "k"
    assert invoke(env, "keys", "generate", "--out", str(key)).exit_code == 0
    seq = append_forged(ledger, "now")
    made = invoke(env, "checkpoint", "--key", str(key), "--out", str(tmp_path / "cp.txt"))
    assert made.exit_code == 3, made.stderr
    assert f"event {seq} (the last) has no readable recorded_at time ('now')" in made.stderr
    assert len(made.stderr.splitlines()) == 1 and "Traceback" not in made.stderr
    assert not (tmp_path / "cp.txt").exists()
    with closing(sqlite3.connect(ledger)) as connection:
        assert connection.execute("SELECT count(*) FROM checkpoint").fetchone()[0] == 0


def test_a_write_after_it_is_refused_service(ledger: Path) -> None:
    seq = append_forged(ledger, "now")
    engine = db.open_engine(db.url_for_path(ledger))
    try:
        with (
            pytest.raises(LedgerTampered, match=f"event {seq} .*no readable recorded_at"),
            db.transaction(engine) as session,
        ):
            add_institution(
                session, ctx_for(), short_name="QQQ", name="Q", country="France",
                city="Paris", institution_kind="borrower",
            )  # fmt: skip
    finally:
        engine.dispose()
    assert _events(ledger) == seq


@pytest.mark.parametrize("text", NOT_A_TIME)
def test_the_head_time_that_is_no_time_is_named_service(text: str) -> None:
    with pytest.raises(LedgerTampered, match=f"event 7 \\(the last\\) .*\\({text!r}\\)"):
        guard.head_recorded_at(7, text)
    assert guard.head_recorded_at(7, "2026-01-01T00:00:00Z").tzinfo is not None
