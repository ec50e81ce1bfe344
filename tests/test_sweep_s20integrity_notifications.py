"""`notification_sent` edited by hand (sweep s20, integrity): the rows that keep `notify` from
sending a message twice are append-only like the kept checkpoints. A row deleted by hand would
send a statement again, a row changed would hide what was sent: the database refuses both
(revision 0013), `verify` names a dropped or altered trigger, and a ledger of an older revision
verifies clean until `db upgrade` adds them."""

import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.ledger import checkpoint as notes
from sampleloans.services.notify import message_id
from tests.conftest import COMPLIANCE, CURATOR, demo_env
from tests.i15_statement_helpers import make_checkpoint

ROW = (
    "INSERT INTO notification_sent (recipient, kind, scope, checkpoint, digest, message_id, "
    "sent_at, sent_by, via) VALUES ('terada@osaka-u.example', 'statement', "
    "'pi:terada@osaka-u.example', '{checkpoint}', 'd1', '{message_id}', '2026-05-01T00:00:00Z', "
    "'curator@naoc.example', 'smtp 127.0.0.1:25')"
)
"""A row as notify writes it: its checkpoint one the ledger kept, its Message-ID its own
(verify names any other, test_sweep_s31attack_notification_rows.py)."""


def row(ledger: Path, size: int | None = None) -> str:
    """ROW for the ledger's newest kept checkpoint (or another size, a checkpoint not kept)."""
    with sqlite3.connect(ledger) as connection:
        (note,) = connection.execute("SELECT note FROM checkpoint ORDER BY id DESC").fetchone()
    tree = notes.parse_checkpoint(notes.split_note(note)[0])
    ident = message_id("statement", "d1", "terada@osaka-u.example")
    return ROW.format(checkpoint=f"{size or tree.size}:{tree.root.hex()}", message_id=ident)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger with a kept checkpoint, made once; each test works on its own copy."""
    path = Path(demo_env(tmp_path_factory, COMPLIANCE)["SAMPLELOANS_DB"])
    make_checkpoint(path, tmp_path_factory.mktemp("key"))
    return path


@pytest.fixture
def ledger(demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's copy of the demo ledger, with one notification recorded, as SAMPLELOANS_DB."""
    path = tmp_path / "ledger.db"
    shutil.copy(demo, path)
    statement = row(path)
    with sqlite3.connect(path) as connection:
        connection.execute(statement)
    monkeypatch.setenv("SAMPLELOANS_DB", str(path))
    monkeypatch.setenv("SAMPLELOANS_NOW", "2026-06-15T10:00:00Z")
    monkeypatch.setenv("NO_COLOR", "1")
    return path


def cli(*args: str) -> tuple[int, str, str]:
    """Run the CLI as a curator; its exit code, stdout and stderr."""
    result = CliRunner().invoke(app, ["--as", CURATOR, *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def triggers(path: Path) -> set[str]:
    """The names of the triggers on notification_sent."""
    with sqlite3.connect(path) as connection:
        rows = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' "
            "AND tbl_name = 'notification_sent'"
        ).fetchall()
    return {str(row[0]) for row in rows}


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM notification_sent",
        "UPDATE notification_sent SET recipient = 'someone@else.example'",
    ],
)
def test_a_sent_notification_cannot_be_deleted_or_changed(ledger: Path, statement: str) -> None:
    """The database refuses the edit that would send a message twice or hide one."""
    with sqlite3.connect(ledger) as connection:
        with pytest.raises(sqlite3.IntegrityError, match="notifications sent are append-only"):
            connection.execute(statement)
        assert connection.execute("SELECT count(*) FROM notification_sent").fetchone() == (1,)


def test_verify_names_a_dropped_notification_trigger(ledger: Path) -> None:
    """The trigger dropped to delete a row: `verify` names it (exit 1)."""
    code, out, err = cli("verify")
    assert code == 0, (out, err)
    with sqlite3.connect(ledger) as connection:
        connection.executescript(
            "DROP TRIGGER notification_sent_no_delete; DELETE FROM notification_sent;"
        )
    code, out, _ = cli("verify")
    assert code == 1
    assert "append-only trigger notification_sent_no_delete is missing" in out


def test_verify_names_an_altered_notification_trigger(ledger: Path) -> None:
    """A twin that never fires is caught by its definition."""
    with sqlite3.connect(ledger) as connection:
        connection.executescript(
            "DROP TRIGGER notification_sent_no_update;"
            "CREATE TRIGGER notification_sent_no_update BEFORE UPDATE ON notification_sent "
            "WHEN 0 BEGIN SELECT RAISE(ABORT, 'notifications sent are append-only'); END;"
        )
    code, out, _ = cli("verify")
    assert code == 1
    assert "append-only trigger notification_sent_no_update was altered" in out


def test_an_older_ledger_verifies_and_db_upgrade_adds_the_triggers(ledger: Path) -> None:
    """A ledger at 0011 (no such triggers) is clean; `db upgrade` brings them in."""
    with sqlite3.connect(ledger) as connection:
        connection.executescript(
            "DROP TRIGGER notification_sent_no_update; DROP TRIGGER notification_sent_no_delete;"
            "UPDATE alembic_version SET version_num = '0011_active_staff';"
        )
    code, out, err = cli("verify")
    assert code == 0, (out, err)
    code, out, err = cli("db", "upgrade")
    assert code == 0, err
    assert f"from 0011_active_staff to {db.SCHEMA_HEAD}" in out
    assert triggers(ledger) == {"notification_sent_no_update", "notification_sent_no_delete"}
    code, out, err = cli("verify")
    assert code == 0, (out, err)


def test_verify_names_a_notification_deleted_under_dropped_triggers(ledger: Path) -> None:
    """A row before the newest deleted (triggers dropped and put back): its id is missing."""
    with sqlite3.connect(ledger) as connection:
        for n in (2, 3):  # the same statement on two later checkpoints
            connection.execute(row(ledger, 107 + n))
        connection.executescript(
            "DROP TRIGGER notification_sent_no_delete; DELETE FROM notification_sent WHERE id = 1;"
            + db.NOTIFICATION_TRIGGERS[1]
            + ";"
        )
    code, out, _ = cli("verify")
    assert code == 1
    assert (
        "[notification] notification row 1 deleted: the notification_sent table has ids up "
        "to 3 but holds 2 rows; the table was edited"
    ) in out


def test_verify_names_a_kept_checkpoint_deleted_under_dropped_triggers(
    ledger: Path, tmp_path: Path
) -> None:
    """The same for the kept checkpoints: the second of three deleted."""
    key = tmp_path / "cp.key"
    assert cli("keys", "generate", "--out", str(key))[0] == 0
    for location in ("A", "B", "C"):
        assert cli("checkpoint", "--key", str(key))[0] == 0
        assert cli("samples", "move", "CE5C0400YJFM00901", "--location", location)[0] == 0
    with sqlite3.connect(ledger) as connection:
        connection.executescript(
            "DROP TRIGGER checkpoint_no_delete; DELETE FROM checkpoint WHERE id = 2;"
            + db.CHECKPOINT_TRIGGERS[1]
            + ";"
        )
    code, out, _ = cli("verify")
    assert code == 1
    assert "[checkpoint] kept checkpoint row 2 deleted" in out
