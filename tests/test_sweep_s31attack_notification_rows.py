"""Sweep s31, an attacker with `sqlite3`: the record of e-mails sent, edited by hand.

`notification_sent` is what keeps `notify` from sending a message twice; `notify` trusts it and
skips every message it finds there. `verify` named a row deleted below the newest, but not a
row added (its triggers dropped and put back, or simply INSERTed: they refuse only UPDATE and
DELETE) claiming that a PI was sent a statement or an overdue notice nobody sent: the PI never
hears of it, and `notify` says "already sent". Now each row must be one a `notify` run writes:
a kind it sends, its own Message-ID (made from its kind, document and recipient), a checkpoint
the ledger kept, a registered recipient and sender. A row forged with all of them consistent
is still not told from a true one (README, `notify`): the rows are neither hashed nor signed.
"""

import shutil
import sqlite3
from pathlib import Path

import pytest

from sampleloans import db
from sampleloans.ledger import checkpoint as notes
from sampleloans.services.notify import message_id, sent_record_problems
from tests.i15_statement_helpers import env_for, invoke, make_checkpoint

PI = "terada@osaka-u.example"


@pytest.fixture(scope="module")
def kept(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger with a kept checkpoint, made once."""
    path = Path(shutil.copy(demo, tmp_path_factory.mktemp("kept") / "ledger.db"))
    make_checkpoint(path, path.parent)
    return path


@pytest.fixture
def copy(kept: Path, tmp_path: Path) -> Path:
    """This test's copy of it."""
    return Path(shutil.copy(kept, tmp_path / "ledger.db"))


def _checkpoint_id(ledger: Path) -> str:
    """`SIZE:ROOT` of the newest kept checkpoint, as notify records it."""
    with sqlite3.connect(ledger) as connection:
        (note,) = connection.execute("SELECT note FROM checkpoint ORDER BY id DESC").fetchone()
    tree = notes.parse_checkpoint(notes.split_note(note)[0])
    return f"{tree.size}:{tree.root.hex()}"


def _insert(ledger: Path, **changed: str) -> None:
    """A row of notification_sent as notify writes it, with `changed` fields."""
    fields = {
        "recipient": PI,
        "kind": "statement",
        "scope": f"pi:{PI}",
        "checkpoint": _checkpoint_id(ledger),
        "digest": "ab" * 32,
        "message_id": message_id("statement", "ab" * 32, PI),
        "sent_at": "2026-06-15T09:30:00Z",
        "sent_by": "curator@naoc.example",
        "via": "smtp 127.0.0.1:25",
    }
    fields.update(changed)
    with sqlite3.connect(ledger) as connection:
        connection.execute(
            f"INSERT INTO notification_sent ({', '.join(fields)}) "
            f"VALUES ({', '.join('?' for _ in fields)})",
            list(fields.values()),
        )


def _problems(ledger: Path) -> list[str]:
    engine = db.open_engine(db.url_for_path(ledger))
    try:
        with engine.connect() as connection:
            return sent_record_problems(connection)
    finally:
        engine.dispose()


FORGED = {
    "another recipient": ({"recipient": "anand@open.example"}, "Message-ID is not the one"),
    "another kind": ({"kind": "reminder"}, "kind 'reminder' is none notify sends"),
    "no kept checkpoint": ({"checkpoint": "999:abcd"}, "names no checkpoint this ledger kept"),
    "nobody": (
        {
            "recipient": "x@nowhere.example",
            "message_id": message_id("statement", "ab" * 32, "x@nowhere.example"),
        },
        "recipient x@nowhere.example is nobody registered",
    ),
    "no sender": ({"sent_by": "mallory@naoc.example"}, "its sender is nobody registered"),
}


@pytest.mark.parametrize("case", FORGED.values(), ids=FORGED.keys())
def test_verify_names_a_row_no_notify_run_wrote(
    copy: Path, case: tuple[dict[str, str], str]
) -> None:
    changed, why = case
    _insert(copy)  # a row as notify writes it: not a finding
    assert _problems(copy) == []
    _insert(copy, **{"scope": "pi:other", **changed})
    found = _problems(copy)
    assert len(found) == 1 and found[0].startswith("notification row 2: ") and why in found[0]
    result = invoke(env_for(copy), "verify")
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "[notification] notification row 2: " in result.stdout and why in result.stdout


def test_a_consistent_row_is_not_a_finding(copy: Path) -> None:
    """What cannot be caught, and is documented: every field as notify would write it."""
    _insert(copy)
    result = invoke(env_for(copy), "verify")
    assert result.exit_code == 0, result.stdout + result.stderr
