"""Rows a write command looks up by key, read in the writers' lock's own pipeline (issue 14,
Performance: 8 concurrent PostgreSQL writers against a raw psycopg loop).

A command declares its lookups before its transaction begins (`read_with_the_lock`); on
PostgreSQL they go with the lock and the acting person, after the grant. These tests prove that
such a read sees what the writer before committed, that a refusal still writes nothing, that a
key found absent is answered without a query and then seen once the command's own event wrote
it, that a key the server could not take is never sent, and that SQLite is unchanged.
"""

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, event
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.errors import Conflict, InvalidInput, PermissionDenied
from sampleloans.ledger.reads import get_row
from sampleloans.models import Institution, Person
from sampleloans.services import loans, reference, samples
from sampleloans.services.common import require_code
from sampleloans.services.lock_reads import lock_reads_of, read_with_the_lock, validated
from sampleloans.services.verify import verify
from tests.conftest import CURATOR, OU_PI, ctx_for, demo_copy

LEDGER_ID = "0d9ba0c2-5b8e-4a57-9d0e-6a1f0e3c1a2b"
SAMPLE = "CE5C0400YJFM00505"  # in the vault in the demo
LATER = datetime(2026, 4, 28, 9, 0, tzinfo=UTC)
ENV = {"SAMPLELOANS_NOW": "2026-04-28T09:00:00Z"}


@pytest.fixture
def writers(demo_url: str) -> Any:
    """Two long-lived writers (each an engine with its own connection, as two processes)."""
    first, second = db.open_engine(demo_url), db.open_engine(demo_url)
    yield first, second
    first.dispose()
    second.dispose()


def _events(url: str) -> int:
    """How many events the ledger holds (read by another client)."""
    with psycopg.connect(url) as connection:
        found = connection.execute("SELECT count(*) FROM ledger_event").fetchone()
    assert found is not None
    return int(found[0])


def _add_institution(engine: Engine, short_name: str, actor: str = CURATOR) -> None:
    """One institution, in its own write transaction."""
    with db.transaction(engine) as session:
        reference.add_institution(
            session, ctx_for(actor, LATER), short_name=short_name, name="Lab K",
            country="CN", city="Beijing", institution_kind="borrower",
        )  # fmt: skip


def _selects_sent_through_sqlalchemy(engine: Engine) -> list[str]:
    """Start recording the SELECTs SQLAlchemy runs on `engine` (the lock's own pipeline goes
    to the driver directly, so only the queries a command runs on its own show up here)."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    return seen


def test_a_key_read_with_the_lock_sees_the_row_the_writer_before_committed(
    writers: tuple[Engine, Engine], demo_url: str
) -> None:
    """Writer B adds KEY-1 and commits; writer A, whose connection was open all along, is
    refused the same short name (read after the grant), and writes nothing."""
    first, second = writers
    _add_institution(first, "KEY-0")  # the first writer's connection is open and warm
    _add_institution(second, "KEY-1")
    before = _events(demo_url)
    with pytest.raises(Conflict, match="institution KEY-1 already exists"):
        _add_institution(first, "KEY-1")
    assert _events(demo_url) == before
    # a row found by the read (present, not absent): a person at the institution B just added
    with db.transaction(first) as session:
        reference.add_person(
            session, ctx_for(now=LATER), email="new.researcher@key1.example", name="New Person",
            institution="KEY-1", role="researcher",
        )  # fmt: skip
    assert _events(demo_url) == before + 1
    assert verify(first).problems == []


def test_a_refusal_after_the_lock_reads_writes_nothing(
    writers: tuple[Engine, Engine], demo_url: str
) -> None:
    """A researcher (refused: curators only) and bad input (refused after the role check, as
    before: no key with a NUL goes to the server) write nothing; the order of the refusals is
    the command's own (the role first)."""
    first, _second = writers
    before = _events(demo_url)
    with pytest.raises(PermissionDenied, match="only curators may add institutions"):
        _add_institution(first, "KEY-2", actor=OU_PI)
    with pytest.raises(PermissionDenied, match="only curators"):
        _add_institution(first, "BAD\x00KEY", actor=OU_PI)  # the role before the input
    with pytest.raises(InvalidInput, match="short name"):
        _add_institution(first, "BAD\x00KEY")
    with db.transaction(first) as session:  # a key with a NUL is not declared, so not sent
        read_with_the_lock(session, Institution, "NO\x00PE")
        read_with_the_lock(session, Institution, validated(lambda: require_code("NO PE")))
        assert lock_reads_of(session).keys == []
    assert _events(demo_url) == before
    _add_institution(first, "KEY-2")  # the writer's connection is still good
    assert _events(demo_url) == before + 1


def test_a_key_found_absent_is_not_read_again_and_its_new_row_is_seen(
    writers: tuple[Engine, Engine],
) -> None:
    """`add_institution` runs no lookup of its own (its key came with the lock); in the same
    transaction, once its event wrote the row, the row is read (not taken as still absent)."""
    first, _second = writers
    _add_institution(first, "KEY-WARM")
    seen = _selects_sent_through_sqlalchemy(first)
    with db.transaction(first) as session:
        reference.add_institution(
            session, ctx_for(now=LATER), short_name="KEY-3", name="Lab 3",
            country="CN", city="Beijing", institution_kind="borrower",
        )  # fmt: skip
        assert not [s for s in seen if "FROM institution" in s]
        found = get_row(session, Institution, "KEY-3")
        assert found is not None and found.name == "Lab 3"
        assert get_row(session, Person, "nobody@key.example") is None
    assert [s for s in seen if "FROM institution" in s]  # the second read did go to the server


def test_rows_with_stored_times_read_with_the_lock_are_as_the_orm_loads_them(
    writers: tuple[Engine, Engine], demo_url: str
) -> None:
    """A loan request reads its agreement with the lock (stored times come back as datetimes,
    which the request compares); a sample move reads its sample; the ledger verifies."""
    first, _second = writers
    before = _events(demo_url)
    with db.transaction(first) as session:
        samples.move_sample(session, ctx_for(now=LATER), code=SAMPLE, storage_location="Shelf K")
    request: dict[str, Any] = {"number": "L-LOCK", "agreement": "AG-2025-OU", "pi": OU_PI}
    request["samples"] = [SAMPLE]
    with db.transaction(first) as session:
        loans.request_loan(session, ctx_for(now=LATER), **request)
    with pytest.raises(Conflict, match="loan L-LOCK already exists"), db.transaction(first) as s:
        loans.request_loan(s, ctx_for(now=LATER), **request)
    assert _events(demo_url) == before + 2
    assert verify(first).problems == []


def test_through_the_cli_a_name_taken_by_another_writer_is_refused(demo_url: str) -> None:
    """Two CLI commands (each its own process's work): the second is refused with exit 1 and
    one line, and the ledger holds one such institution."""
    args = ["--db", demo_url, "--as", CURATOR, "institutions", "add", "CLI-K", "--name", "Lab",
            "--country", "CN", "--city", "Beijing", "--kind", "borrower"]  # fmt: skip
    assert CliRunner().invoke(app, args, env=ENV).exit_code == 0
    before = _events(demo_url)
    again = CliRunner().invoke(app, args, env=ENV)
    assert again.exit_code == 1
    assert "institution CLI-K already exists" in again.stderr
    assert "Traceback" not in again.stderr
    assert _events(demo_url) == before


def test_sqlite_writes_are_unchanged(tmp_path: Path) -> None:
    """On SQLite the declared keys are simply read by the command: a duplicate is refused, a
    new one recorded, and the ledger verifies."""
    folder = tmp_path / "demo"
    demo_copy(folder)
    engine = db.open_engine(db.url_for_path(folder / "ledger.db"))
    try:
        _add_institution(engine, "SQ-1")
        with pytest.raises(Conflict, match="SQ-1 already exists"):
            _add_institution(engine, "SQ-1")
        assert verify(engine).problems == []
    finally:
        engine.dispose()


def test_a_key_read_queued_behind_the_lock_sees_the_holders_commit(
    writers: tuple[Engine, Engine], demo_url: str
) -> None:
    """Writer B holds the lock with KEY-Q written but not committed; writer A asks for the same
    short name and waits in the lock's queue; B commits: A's read, sent before B committed but
    run after the grant, finds the row, and A is refused with nothing written."""
    first, second = writers
    _add_institution(first, "KEY-W")  # A's connection is warm, its statements prepared
    outcome: list[BaseException | None] = []
    with db.transaction(second) as session:
        reference.add_institution(
            session, ctx_for(now=LATER), short_name="KEY-Q", name="Lab Q",
            country="CN", city="Beijing", institution_kind="borrower",
        )  # fmt: skip
        session.flush()

        def queued() -> None:
            try:
                _add_institution(first, "KEY-Q")
            except Conflict as exc:
                outcome.append(exc)
            else:
                outcome.append(None)

        waiting = threading.Thread(target=queued)
        waiting.start()
        assert _lock_waiters(demo_url) == 1  # A is queued behind B's lock
        before = _events(demo_url)
    waiting.join(timeout=30)
    assert len(outcome) == 1 and isinstance(outcome[0], Conflict), outcome
    assert _events(demo_url) == before + 1  # B's event only
    assert verify(first).problems == []


def _lock_waiters(url: str) -> int:
    """How many sessions wait for an advisory lock (polled until one does, up to 10 s)."""
    deadline = time.monotonic() + 10
    with psycopg.connect(url, autocommit=True) as connection:
        while True:
            found = connection.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            ).fetchone()
            count = int(found[0]) if found else 0
            if count or time.monotonic() > deadline:
                return count
            time.sleep(0.02)


@pytest.mark.parametrize(
    "trigger",
    [
        "TRIGGER refuse_r1 BEFORE INSERT ON institution",
        # checked at the COMMIT itself, the last statement of the rows' pipeline
        "CONSTRAINT TRIGGER refuse_r1 AFTER INSERT ON institution DEFERRABLE INITIALLY DEFERRED",
    ],
    ids=["at the row", "at the commit"],
)
def test_a_row_the_server_refuses_in_the_commits_pipeline_is_an_error_and_writes_nothing(
    writers: tuple[Engine, Engine], demo_url: str, trigger: str
) -> None:
    """The unit's rows go on the driver's own cursor in the COMMIT's pipeline: a row the server
    refuses (here a trigger a DBA added, at the INSERT or deferred to the COMMIT) still comes
    back as SQLAlchemy's error, nothing of the transaction is written, and the writer's next
    write works."""
    first, _second = writers
    _add_institution(first, "KEY-R0")
    with psycopg.connect(demo_url, autocommit=True) as admin:
        admin.execute(
            "CREATE FUNCTION refuse_r1() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.short_name = 'KEY-R1' THEN RAISE EXCEPTION 'no KEY-R1 here'; END IF; "
            "RETURN NEW; END $$"
        )
        admin.execute(f"CREATE {trigger} FOR EACH ROW EXECUTE FUNCTION refuse_r1()")
    before = _events(demo_url)
    with pytest.raises(DBAPIError, match="no KEY-R1 here"):
        _add_institution(first, "KEY-R1")
    assert _events(demo_url) == before
    _add_institution(first, "KEY-R2")
    assert _events(demo_url) == before + 1


def test_a_case_twin_committed_by_the_writer_before_is_refused_with_the_lock(
    writers: tuple[Engine, Engine], demo_url: str
) -> None:
    """Writer B adds Twin-1; writer A's "a code differing only in case?" goes with the lock
    (no query of its own) and sees it: TWIN-1 is refused, nothing written."""
    first, second = writers
    _add_institution(first, "KEY-0")  # the first writer's connection is open and warm
    _add_institution(second, "Twin-1")
    before = _events(demo_url)
    seen = _selects_sent_through_sqlalchemy(first)
    with pytest.raises(Conflict, match="TWIN-1 differs only in case from institution Twin-1"):
        _add_institution(first, "TWIN-1")
    assert not [s for s in seen if "lower(" in s]  # answered from the lock's pipeline
    assert _events(demo_url) == before
