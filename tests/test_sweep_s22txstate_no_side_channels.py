"""Issue 12: no string-keyed side channels between the ORM session, the unit of work and the
services. What a write transaction knows besides its rows is typed, per layer
(`ledger/reads.WriteTransaction`, `services/lock_reads.LockReads`, `db.WriteCommit`,
`db.ConnectionState`), and is dropped when the session's transaction ends."""

import re
from pathlib import Path

from sqlmodel import Session

from sampleloans import db
from sampleloans.ledger.reads import WRITES, write_transaction
from sampleloans.services.lock_reads import LOCK_READS, lock_reads_of

PACKAGE = Path(__file__).resolve().parent.parent / "sampleloans"
SIDE_CHANNEL = re.compile(r"session.info|insert_row")
"""The issue's own check, `git grep -n "session.info\\|insert_row" sampleloans`, as a regex."""


def side_channels(root: Path) -> list[str]:
    """Every `file:line` under `root` whose text names the session's info dict or insert_row."""
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix not in {".py", ".md", ".txt", ".sql", ".ini"}:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if SIDE_CHANNEL.search(line):
                found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    return found


def test_the_package_has_no_session_info_and_no_insert_row() -> None:
    assert side_channels(PACKAGE) == []


def test_the_scan_finds_a_side_channel_planted(tmp_path: Path) -> None:
    """The scan above can fail: a module using the session's info dict is named."""
    (tmp_path / "planted.py").write_text('x = 1\nsession.info["head"] = 2\n', encoding="utf-8")
    (tmp_path / "other.py").write_text("def insert_row(): ...\n", encoding="utf-8")
    assert side_channels(tmp_path) == [
        "other.py:1: def insert_row(): ...",
        'planted.py:2: session.info["head"] = 2',
    ]


def test_the_state_of_a_transaction_goes_when_it_ends(tmp_path: Path) -> None:
    """Any Session (here not made by `db.transaction`): the ledger's and the lock reads' state
    made in a transaction is gone after its commit and after its rollback, kept across a
    SAVEPOINT's end, and a read alone makes none."""
    engine = db.open_engine(db.url_for_path(str(tmp_path / "scratch.db")), create=True)
    try:
        with Session(engine) as session:
            session.connection()  # a transaction begins
            write_transaction(session).items_of_loans["L-1"] = {"S-1"}
            lock_reads_of(session).keep_loaded = True
            with session.begin_nested():
                pass  # a SAVEPOINT ends: the transaction's state stays
            assert WRITES.peek(session) is not None
            assert LOCK_READS.peek(session) is not None
            session.commit()
            assert WRITES.peek(session) is None
            assert LOCK_READS.peek(session) is None
            session.connection()
            write_transaction(session).absent_keys = {("sample", ("S-2",))}
            session.rollback()
            assert WRITES.peek(session) is None
            session.connection()  # a new transaction that only reads makes none
            assert WRITES.peek(session) is None and LOCK_READS.peek(session) is None
    finally:
        engine.dispose()


def test_a_connection_keeps_one_typed_state_and_its_transaction_part_is_reset() -> None:
    """`db.ConnectionState`: what belongs to the transaction is reset when it ends, what
    belongs to the login stays."""
    state = db.ConnectionState(locked_write=True, prefetched_head={"seq": 1}, secured=True)
    state.prefetched_rows = [[(1,)]]
    state.events_hidden = False
    state.end_transaction()
    assert state == db.ConnectionState(secured=True, events_hidden=False)
