"""PostgreSQL writes: a write's last rows and its COMMIT go by libpq's own pipeline
(`db._send_writes`), below psycopg's cursor, whose Python per statement was most of the client's
CPU while the writers' lock was held (issue 14, Performance). The statements are prepared once
per server session and prepared again wherever psycopg deallocates them (a rollback, a
`DEALLOCATE`); a refused statement is raised as before and writes nothing."""

from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.errors import RecordConflict
from sampleloans.services.reference import add_institution
from sampleloans.services.verify import verify
from tests.conftest import ctx_for

LATER = datetime(2026, 4, 28, 9, 0, tzinfo=UTC)


@pytest.fixture
def writer(demo_url: str) -> Iterator[Engine]:
    """A long-lived writer's engine on the demo ledger."""
    engine = db.open_engine(demo_url)
    yield engine
    engine.dispose()


@pytest.fixture
def cursor_writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The INSERT, UPDATE and COMMIT statements psycopg's cursors execute from now on."""
    seen: list[str] = []
    execute = psycopg.Cursor.execute

    def spying(self: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        if str(query).split(None, 1)[0].upper() in ("INSERT", "UPDATE", "COMMIT"):
            seen.append(str(query))
        return execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", spying)
    return seen


def _add(engine: Engine, short_name: str) -> None:
    """Add one institution in one write transaction."""
    with db.transaction(engine) as session:
        add_institution(
            session, ctx_for(now=LATER), short_name=short_name, name=f"Lab {short_name}",
            country="CN", city="Beijing", institution_kind="borrower",
        )  # fmt: skip


def _institutions(engine: Engine) -> set[str]:
    """The short names of the ledger's institutions."""
    with engine.connect() as connection:
        return set(connection.execute(text("SELECT short_name FROM institution")).scalars())


def test_a_writes_rows_and_commit_skip_psycopgs_cursor(
    writer: Engine, cursor_writes: list[str]
) -> None:
    """An add's 3 INSERTs and its COMMIT are not executed by a psycopg cursor (fails before:
    3 INSERTs and the COMMIT each, per write), and are written: the rows are there and the
    ledger verifies."""
    for n in range(1, 8):  # past psycopg's own threshold for preparing a statement (5)
        _add(writer, f"LPQ-{n}")
    assert cursor_writes == []
    assert {f"LPQ-{n}" for n in range(1, 8)} <= _institutions(writer)
    assert verify(writer).problems == []


def test_a_refused_write_then_the_next_prepares_again(writer: Engine) -> None:
    """A write refused after its rows were written rolls back, and psycopg then deallocates
    every prepared statement of the session: the next write prepares its own again (fails with
    "prepared statement … does not exist" when they are not forgotten at a rollback)."""
    _add(writer, "RB-1")
    with pytest.raises(RecordConflict):
        _add(writer, "RB-1")  # refused: already recorded (the transaction is rolled back)
    _add(writer, "RB-2")
    _add(writer, "RB-3")
    assert {"RB-1", "RB-2", "RB-3"} <= _institutions(writer)
    assert verify(writer).problems == []


def test_a_deallocate_on_the_connection_is_followed(writer: Engine) -> None:
    """A `DEALLOCATE ALL` run in a transaction of the same connection (psycopg runs one after a
    DROP, an ALTER, a ROLLBACK TO SAVEPOINT) makes the next write prepare again (fails
    without `after_cursor_execute`'s check: the statement is gone from the session)."""
    _add(writer, "DA-1")
    with db.transaction(writer, write=False) as session:
        session.connection().exec_driver_sql("DEALLOCATE ALL")
    _add(writer, "DA-2")
    assert {"DA-1", "DA-2"} <= _institutions(writer)


def test_a_refused_statement_is_raised_and_writes_nothing(demo_url: str) -> None:
    """A statement of the pipeline the database refuses (a key already there) is raised as
    SQLAlchemy raises the driver's error, with its SQLSTATE; nothing of the pipeline is
    written, the COMMIT after it included; the statement stays prepared for the next one."""
    state = db.ConnectionState()
    sql = b"INSERT INTO probe (k) VALUES ($1::VARCHAR)"
    with psycopg.connect(demo_url, autocommit=True) as raw:
        raw.execute("CREATE TEMPORARY TABLE probe (k varchar PRIMARY KEY)")
        raw.execute("BEGIN")
        sent = db._send_writes(raw, state, [(sql, [b"a"]), (sql, [b"a"])], commit=True)
        with pytest.raises(IntegrityError) as refused:
            db._answers_of_writes(raw, state, sent)
        assert getattr(refused.value.orig, "sqlstate", None) == "23505"
        assert raw.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
        raw.execute("ROLLBACK")
        assert raw.execute("SELECT count(*) FROM probe").fetchone() == (0,)
        assert sql in state.prepared_writes  # its prepare was answered before the refusal
        raw.execute("BEGIN")
        db._answers_of_writes(raw, state, db._send_writes(raw, state, [(sql, [b"b"])], commit=True))
        assert raw.execute("SELECT k FROM probe").fetchall() == [("b",)]


class _Colour(StrEnum):
    RED = "red"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Zürich", "Zürich".encode()),
        (_Colour.RED, b"red"),
        (True, b"true"),
        (False, b"false"),
        (-12, b"-12"),
        (None, None),
    ],
)
def test_a_value_goes_as_psycopgs_text(value: object, expected: bytes | None) -> None:
    """Texts (a text enum by its value, as psycopg's `str` dumper writes it), booleans and
    integers go as PostgreSQL's text input reads them."""
    assert db._text_value(value) == expected


@pytest.mark.parametrize("value", [1.5, b"x", "a\x00b", datetime(2026, 1, 1, tzinfo=UTC)])
def test_any_other_value_is_left_to_psycopg(value: object) -> None:
    """Any other type, or a text psycopg refuses (a NUL), is not sent as text: the statement
    goes through psycopg, after what was gathered before it."""
    with pytest.raises(TypeError):
        db._text_value(value)


def test_a_statement_is_numbered_as_libpq_takes_it() -> None:
    """`%(name)s` becomes `$n` in the order names first appear (a name again: the same `$n`),
    `%%` a `%`; another placeholder is not numbered."""
    numbered = db._numbered_sql("UPDATE t SET a=%(a)s, b='5%%' WHERE k=%(k)s OR j=%(a)s")
    assert numbered == (b"UPDATE t SET a=$1, b='5%' WHERE k=$2 OR j=$1", ("a", "k"))
    assert db._numbered_sql("INSERT INTO t (a) VALUES (%s)") is None


def test_cli_writes_go_by_libpq_and_verify(demo_url: str, cursor_writes: list[str]) -> None:
    """Through the CLI a user runs: `institutions add` on PostgreSQL writes its rows and the
    COMMIT with no INSERT or COMMIT on psycopg's cursor (fails before: 3 INSERTs and the
    COMMIT), the institution is listed, and `verify` finds nothing. (A CLI `samples move`
    still sends its rows in the pipeline of its checks' reads, `db.read_together`.)"""
    runner = CliRunner()
    env = {"SAMPLELOANS_NOW": "2026-04-28T09:00:00Z", "SAMPLELOANS_USER": "curator@naoc.example"}
    added = runner.invoke(
        app,
        ["--db", demo_url, "--as", "curator@naoc.example", "institutions", "add", "CLI-LPQ",
         "--name", "Lab", "--country", "CN", "--city", "Beijing", "--kind", "borrower"],
        env=env,
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert cursor_writes == []
    listed = runner.invoke(app, ["--db", demo_url, "institutions", "list"], env=env)
    assert "CLI-LPQ" in listed.output
    checked = runner.invoke(app, ["--db", demo_url, "verify"], env=env)
    assert checked.exit_code == 0, checked.output


def test_a_value_left_to_psycopg_goes_after_the_rows_gathered_before_it(
    writer: Engine, monkeypatch: pytest.MonkeyPatch, cursor_writes: list[str]
) -> None:
    """Where one row has a value not sent as text, the rows gathered before it are sent first
    (their own pipeline), then that row by psycopg, then the rest with the COMMIT: the rows
    are all written, in order (the event before its subject row), and the ledger verifies."""
    text_value = db._text_value

    def refusing(value: object) -> bytes | None:
        if value == "MIX-1" and cursor_writes == []:
            raise TypeError("left to psycopg (this test)")
        return text_value(value)

    monkeypatch.setattr(db, "_text_value", refusing)
    _add(writer, "MIX-1")
    assert len(cursor_writes) == 1 and cursor_writes[0].startswith("INSERT INTO")
    assert "MIX-1" in _institutions(writer)
    assert verify(writer).problems == []
