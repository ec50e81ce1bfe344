"""Two writers racing on PostgreSQL (issue 14): the checks run on the rows read with the
writers' lock, so of two writers racing for the same last grams, the same new short name or
the same shelf exactly one wins, and the loser is refused as a lone writer would be and writes
nothing. A guard for any change that builds part of a write before the lock (stop 33 built
the event and its canonical body there, measured no gain and reverted it: bench/RESULTS.md
"(stop 33)"); the second writer here waits for the lock after it has read its input.
"""

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.errors import Conflict, RecordConflict, RuleViolation
from sampleloans.services import loans
from sampleloans.services.reference import add_institution
from sampleloans.services.samples import move_sample
from sampleloans.services.verify import verify
from sampleloans.units import format_mass
from tests.conftest import ctx_for
from tests.pgcluster import DEMO_LEDGER_ID, PgServer, fresh_database

LATER = datetime(2026, 4, 28, 9, 0, tzinfo=UTC)
LOAN, SAMPLE = "L-2025-UoC", "CE5C0000YJYX052"  # received by the University of Cologne


@pytest.fixture(scope="module")
def ledger(pg_server: PgServer) -> Iterator[str]:
    """One demo ledger on PostgreSQL for the module (each test names its own records)."""
    with fresh_database(pg_server) as url:
        made = CliRunner().invoke(
            app,
            ["--db", url, "demo", "--ledger-id", DEMO_LEDGER_ID],
            env={"SAMPLELOANS_NOW": "2025-04-01T09:00:00Z"},
        )
        assert made.exit_code == 0, made.stderr
        yield url


def _race(url: str, write: Callable[[Session], object]) -> tuple[BaseException | None, ...]:
    """Two writers run `write`, each its own engine: the first holds the lock until the
    second, its event built, waits for it; what each raised (None: it committed)."""
    first_engine, second_engine = db.open_engine(url), db.open_engine(url)
    outcomes: list[BaseException | None] = [None, None]

    def second() -> None:
        try:
            with db.transaction(second_engine) as session:
                write(session)
        except Exception as exc:  # what the loser is refused with
            outcomes[1] = exc

    try:
        with db.transaction(first_engine) as session:
            write(session)  # the lock is held from here to the commit
            waiter = threading.Thread(target=second)
            waiter.start()
            _wait_for_a_lock_waiter(url)
        waiter.join(timeout=60)
        assert not waiter.is_alive()
    finally:
        first_engine.dispose()
        second_engine.dispose()
    return tuple(outcomes)


def _wait_for_a_lock_waiter(url: str) -> None:
    """Until a session waits for the writers' advisory lock."""
    with psycopg.connect(url, autocommit=True) as connection:
        for _ in range(600):
            waiting = connection.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            ).fetchone()
            if waiting and waiting[0]:
                return
            time.sleep(0.01)
    raise AssertionError("the second writer never waited for the lock")


def _events(url: str) -> int:
    """How many events the ledger holds."""
    with psycopg.connect(url) as connection:
        found = connection.execute("SELECT count(*) FROM ledger_event").fetchone()
    return int(found[0]) if found else 0


def _held_ug(url: str) -> int:
    """What the borrower holds of the race's sample on its loan."""
    with psycopg.connect(url) as connection:
        found = connection.execute(
            "SELECT held_ug FROM loan_item WHERE loan_number = %s AND sample_code = %s",
            (LOAN, SAMPLE),
        ).fetchone()
    assert found is not None
    return int(found[0])


def test_two_writers_racing_for_the_last_grams_one_wins(ledger: str) -> None:
    """Both build a consumption of more than half of what the borrower holds before the lock;
    the second, its check run on the item as read with the lock, is refused and writes
    nothing."""
    held = _held_ug(ledger)
    wanted = held // 2 + 1
    before = _events(ledger)

    def consume_the_rest(session: Session) -> None:
        loans.consume(
            session, ctx_for(now=LATER), number=LOAN, sample=SAMPLE, technique="race",
            mass_ug=wanted, destructive=True,
        )  # fmt: skip

    first, second = _race(ledger, consume_the_rest)
    assert first is None
    assert isinstance(second, RuleViolation)
    assert f"holds only {format_mass(held - wanted)}" in str(second)
    assert _events(ledger) == before + 1
    assert _held_ug(ledger) == held - wanted


def test_two_writers_adding_one_short_name_or_moving_to_one_shelf_one_wins(ledger: str) -> None:
    """The same new institution, the same sample to the same shelf: one event each, the
    second writer refused as a lone one would be; the ledger verifies."""
    before = _events(ledger)
    first, second = _race(
        ledger,
        lambda s: add_institution(
            s, ctx_for(now=LATER), short_name="PRE-RACE", name="Lab R", country="CN",
            city="Beijing", institution_kind="borrower",
        ),
    )  # fmt: skip
    assert first is None and isinstance(second, RecordConflict)
    first, second = _race(
        ledger,
        lambda s: move_sample(
            s, ctx_for(now=LATER), code="CE5C0400YJFM00505", storage_location="Shelf R"
        ),
    )
    assert first is None and isinstance(second, Conflict) and "already in" in str(second)
    assert _events(ledger) == before + 2
    engine = db.open_engine(ledger)
    try:
        assert verify(engine).problems == []
    finally:
        engine.dispose()
