"""A flipped byte in the schema's own text (sweep s32, lead): SQLite cannot parse the schema and
its error quotes the damaged text, which is then no UTF-8. Python's `sqlite3` raised
`UnicodeDecodeError` for it, so every command (`verify` too) died with a traceback.

Now it is the damage it is: `verify` names it as its one finding (exit 1), every other command
refuses in one line (exit 3), `restore` refuses it as a backup (exit 1), and the file is left
as it was.
"""

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import DatabaseError
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.errors import DamagedFile
from tests.conftest import COMPLIANCE, CURATOR, demo_copy


def flip_schema_text(path: Path) -> None:
    """Set the high bit of the `q` of `FOREIGN KEY(seq)` in the inventory table's stored SQL:
    SQLite then reads an unknown column `se\\xf1`, a byte sequence that is no UTF-8."""
    data = bytearray(path.read_bytes())
    table = data.index(b"CREATE TABLE inventory (")
    at = data.index(b"FOREIGN KEY(seq)", table) + len(b"FOREIGN KEY(se")
    data[at] |= 0x80
    path.write_bytes(bytes(data))


@pytest.fixture
def damaged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the demo ledger whose schema text holds a byte that is no UTF-8."""
    path = demo_copy(tmp_path / "d")
    flip_schema_text(path)
    monkeypatch.setenv("SAMPLELOANS_DB", str(path))
    monkeypatch.setenv("SAMPLELOANS_NOW", "2026-06-01T00:00:00Z")
    monkeypatch.setenv("NO_COLOR", "1")
    return path


def fingerprint(path: Path) -> tuple[bytes, list[str]]:
    """The file's bytes and the names beside it (the usual dump cannot read this schema)."""
    return path.read_bytes(), sorted(child.name for child in path.parent.iterdir())


def cli(*args: str, who: str = COMPLIANCE) -> tuple[int, str, str]:
    """Run the CLI as `who`; its exit code, stdout and stderr (no traceback allowed)."""
    result = CliRunner().invoke(app, ["--as", who, *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_python_alone_raises_no_database_error_for_it(damaged: Path) -> None:
    """The premise: plain `sqlite3` gives UnicodeDecodeError, not an error of SQLite's."""
    connection = sqlite3.connect(damaged)
    try:
        with pytest.raises(UnicodeDecodeError):
            connection.execute("SELECT 1 FROM sqlite_master").fetchall()
    finally:
        connection.close()


@pytest.mark.parametrize(
    "args",
    [
        ("samples", "list"),
        ("status",),
        ("loans", "list", "--json"),
        ("custody", "history"),
        ("db", "upgrade"),
        ("export", "--events", "OUT"),
        ("backup", "OUT"),
    ],
)
def test_a_command_refuses_in_one_line(damaged: Path, tmp_path: Path, args: tuple[str]) -> None:
    """Reads, writes and copies: exit 3, one line naming the damage, nothing changed."""
    before = fingerprint(damaged)
    out = tmp_path / "out.file"
    code, _stdout, stderr = cli(*(str(out) if arg == "OUT" else arg for arg in args))
    assert code == 3, stderr
    assert (
        stderr.count("\n") == 1 and "is damaged (SQLite says: malformed database schema" in stderr
    )
    assert fingerprint(damaged) == before
    assert not out.exists()


def test_verify_names_it_as_its_finding(damaged: Path) -> None:
    """`verify`: exit 1, the damage as an [integrity] finding, the file unchanged."""
    before = fingerprint(damaged)
    code, stdout, stderr = cli("verify")
    assert code == 1, stderr
    lines = [line.strip() for line in stdout.splitlines() if line.strip().startswith("[")]
    assert len(lines) == 1
    assert lines[0].startswith("[integrity] the database file is damaged (malformed database")
    assert fingerprint(damaged) == before


def test_restore_refuses_it_as_a_backup(damaged: Path, tmp_path: Path) -> None:
    """As a backup file: refused (exit 1), nothing restored."""
    target = tmp_path / "new.db"
    result = CliRunner().invoke(
        app, ["--as", CURATOR, "--db", str(target), "restore", str(damaged)]
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1, result.stderr
    assert "is not a readable ledger backup (malformed database schema" in result.stderr
    assert not target.exists()


def test_service_level_its_errors_are_sqlites_and_map_to_damage(damaged: Path) -> None:
    """Through `db.open_engine` (every command's way in) and a plain file reader: SQLite's
    SQLITE_CORRUPT error, which `db.storage_error` maps to DamagedFile (exit 3), never
    UnicodeDecodeError."""
    engine = db.open_engine(f"sqlite:///{damaged}")
    try:
        with pytest.raises(DatabaseError) as raised, engine.connect() as connection:
            connection.exec_driver_sql("SELECT count(*) FROM ledger_event").fetchall()
    finally:
        engine.dispose()
    assert isinstance(db.storage_error(raised.value, damaged), DamagedFile)
    reader = db.file_reader(damaged, read_only=True)
    try:
        with pytest.raises(sqlite3.DatabaseError) as direct:
            reader.execute("SELECT seq FROM ledger_event").fetchall()
    finally:
        reader.close()
    assert getattr(direct.value, "sqlite_errorname", "") == "SQLITE_CORRUPT"
    assert "malformed database schema" in str(direct.value)
