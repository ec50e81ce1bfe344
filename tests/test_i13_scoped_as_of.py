"""A scoped "as of" replay equals the full one for every record in scope (issue 13, point 1).

For every loan, sample lineage and institution of the demo ledger and of a generated (bench)
ledger, at several moments (including back-dated events), the rows a scoped replay produces for
the records of the scope are the rows the full replay produces; and it replays fewer events.
"""

import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select, text
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.ledger import replay
from sampleloans.ledger.envelope import from_stored
from sampleloans.models import LedgerEvent
from sampleloans.services import loans
from sampleloans.services.history import lineage
from tests.conftest import COMPLIANCE, NOW
from tests.factories import received_loan, signed_agreement
from tests.i15_statement_helpers import make_demo

LOAN_TABLES = ("loan_item", "shipment", "weighing", "consumption", "extension", "inventory")


def _rows(connection: Connection, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    return sorted(tuple(r) for r in connection.execute(text(sql), params))


def _in(name: str, values: set[str]) -> str:
    quoted = ",".join("'" + v.replace("'", "''") + "'" for v in sorted(values)) or "NULL"
    return f"{name} IN ({quoted})"


def _picture(connection: Connection, roots: list[tuple[str, str]]) -> dict[str, Any]:
    """Every row of the records in scope: the roots and what their events name."""
    pairs = " OR ".join(
        f"(subject_type = '{t}' AND subject_key = '{k.replace(chr(39), chr(39) * 2)}')"
        for t, k in roots
    )
    named = _rows(
        connection,
        "SELECT DISTINCT subject_type, subject_key FROM event_subject WHERE seq IN "
        f"(SELECT seq FROM event_subject WHERE {pairs})",
    )
    samples = {k for t, k in named if t == "sample"} | {k for t, k in roots if t == "sample"}
    numbers = {k for t, k in named if t == "loan"} | {k for t, k in roots if t == "loan"}
    picture: dict[str, Any] = {
        "index": _rows(connection, f"SELECT * FROM event_subject WHERE {pairs}"),
        "events": _rows(
            connection,
            "SELECT * FROM ledger_event WHERE seq IN "
            f"(SELECT seq FROM event_subject WHERE {pairs})",
        ),
        "sample": _rows(connection, f"SELECT * FROM sample WHERE {_in('code', samples)}"),
        "loan": _rows(connection, f"SELECT * FROM loan WHERE {_in('number', numbers)}"),
        "incident": _rows(
            connection,
            f"SELECT * FROM incident WHERE {_in('sample_code', samples)} "
            f"OR {_in('loan_number', numbers)}",
        ),
        "agreement": _rows(
            connection,
            "SELECT * FROM agreement WHERE number IN (SELECT agreement FROM loan WHERE "
            f"{_in('number', numbers)})",
        ),
    }
    for table in LOAN_TABLES:
        picture[table] = _rows(
            connection, f"SELECT * FROM {table} WHERE {_in('loan_number', numbers)}"
        )
    return picture


REFERENCE_TABLES = ("person", "institution", "mission")
"""Reference records: a scoped replay holds only those its scope names and a view of it reads
(each as in the full replay, checked here); that it holds all those read is
`tests/test_i13_asof_references.py`."""


def _references(connection: Connection) -> dict[str, set[tuple[Any, ...]]]:
    return {table: set(_rows(connection, f"SELECT * FROM {table}")) for table in REFERENCE_TABLES}


def _scopes(engine: Engine) -> Iterator[list[tuple[str, str]]]:
    """Every loan, every sample lineage and every institution of a ledger."""
    with db.transaction(engine, write=False) as session:
        connection = session.connection()
        numbers = [r[0] for r in connection.execute(text("SELECT number FROM loan"))]
        codes = [r[0] for r in connection.execute(text("SELECT code FROM sample ORDER BY code"))]
        institutions = [
            r[0] for r in connection.execute(text("SELECT short_name FROM institution"))
        ]
        lineages = {tuple(lineage(session, code)) for code in codes}
    yield from ([("loan", n)] for n in sorted(numbers))
    yield from ([("sample", c) for c in group] for group in sorted(lineages))
    yield from ([("institution", i)] for i in sorted(institutions))


def _moments(engine: Engine, count: int) -> list[datetime]:
    """`count` moments spread over the dates of the ledger's events, and its last one."""
    with engine.connect() as connection:
        dated = sorted(
            from_stored(r[0])
            for r in connection.execute(select(LedgerEvent.__table__.c.occurred_at))  # type: ignore[attr-defined]  # SQLModel sets it
        )
    picks = [dated[len(dated) * (i + 1) // (count + 1)] for i in range(count)]
    return [*picks, picks[0] + timedelta(seconds=1), dated[-1]]


def _assert_scoped_equals_full(engine: Engine, moments: list[datetime], every: int = 1) -> None:
    scopes = list(_scopes(engine))[::every]
    assert scopes
    for moment in moments:
        with db.transaction(engine, write=False) as session:
            cut = replay.as_of(session, moment)
            with replay.ledger_at(session, cut) as full:
                total = full.connection().execute(text("SELECT count(*) FROM ledger_event"))
                replayed = int(total.scalar() or 0)
                for scope in scopes:
                    with replay.ledger_at(session, cut, scope=scope) as scoped:
                        expected = _picture(full.connection(), scope)
                        assert _picture(scoped.connection(), scope) == expected, (scope, moment)
                        held, whole = (
                            _references(scoped.connection()),
                            _references(full.connection()),
                        )
                        for table in REFERENCE_TABLES:
                            assert held[table] <= whole[table], (scope, moment, table)
                        count = scoped.connection().execute(
                            text("SELECT count(*) FROM ledger_event")
                        )
                        assert int(count.scalar() or 0) <= replayed


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger (read only)."""
    return make_demo(tmp_path_factory.mktemp("demo") / "d")


def test_demo_scoped_as_of_equals_full(demo: Path) -> None:
    engine = db.open_engine(db.url_for_path(demo))
    try:
        _assert_scoped_equals_full(engine, _moments(engine, 4))
    finally:
        engine.dispose()


def test_generated_scoped_as_of_equals_full(tmp_path: Path) -> None:
    from bench.generate import SCALES, build

    path = tmp_path / "gen.db"
    build(path, SCALES["tiny"], tmp_path)
    engine = db.open_engine(db.url_for_path(path))
    try:
        _assert_scoped_equals_full(engine, _moments(engine, 3), every=7)
    finally:
        engine.dispose()


def test_a_loan_replays_only_its_scope(demo: Path) -> None:
    engine = db.open_engine(db.url_for_path(demo))
    try:
        with db.transaction(engine, write=False) as session:
            head = int(
                session.connection().execute(text("SELECT max(seq) FROM ledger_event")).scalar()
                or 0
            )
            cut = replay.Cut(up_to_seq=head)
            seqs = replay.scope_seqs(session.connection(), [("loan", "L-2025-UoC")], cut)
        assert 0 < len(seqs) < head / 2  # the loan's cone, not the ledger
    finally:
        engine.dispose()


def test_the_cut_seq_compares_fractions_of_a_second(tmp_path: Path) -> None:
    """Text order is not time order inside one second: '…:05.5Z' sorts before '…:05Z'."""
    con = sqlite3.connect(tmp_path / "t.db")
    con.execute("CREATE TABLE ledger_event (seq INTEGER PRIMARY KEY, kind TEXT, occurred_at TEXT)")
    con.executemany(
        "INSERT INTO ledger_event VALUES (?, 'loan.consumed', ?)",
        [
            (1, "2025-01-01T00:00:05Z"),
            (2, "2025-01-01T00:00:05.500000Z"),
            (3, "2025-01-01T00:00:06Z"),
            (4, "2025-01-01T00:00:04.999999Z"),
        ],
    )
    con.commit()
    con.close()
    engine = db.make_engine(db.url_for_path(tmp_path / "t.db"))
    try:
        with engine.connect() as connection:
            at = from_stored("2025-01-01T00:00:05Z")
            assert replay.as_of(connection, at).up_to_seq == 4
            assert replay.as_of(connection, at + timedelta(microseconds=500_000)).up_to_seq == 4
            later = at + timedelta(microseconds=600_000)
            assert replay.as_of(connection, later).up_to_seq == 4
            assert replay.as_of(connection, at + timedelta(seconds=1)).up_to_seq == 4
            assert replay.as_of(connection, at - timedelta(seconds=2)).up_to_seq == 0
    finally:
        engine.dispose()


# --- back-dated events, through the CLI -----------------------------------------------------

S1, S2 = "CE5C0200YJFM00112", "CE5C0300YJFM00307"


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_backdated_scoped_equals_full_and_verify_document(
    engine: Engine, run: Any, cli_env: dict[str, str], tmp_path: Path
) -> None:
    signed_agreement(run)
    received_loan(run, samples=(S1, S2))
    run(loans.consume, number="L-1", sample=S1, technique="late", mass_ug=1_000,
        destructive=True, now=NOW + timedelta(days=10))  # fmt: skip
    run(loans.consume, number="L-1", sample=S2, technique="back-dated", mass_ug=2_000,
        destructive=True, now=NOW + timedelta(days=11),
        occurred_at=NOW + timedelta(days=5))  # fmt: skip
    moment = NOW + timedelta(days=7)
    _assert_scoped_equals_full(engine, [moment, NOW + timedelta(days=5), NOW + timedelta(days=11)])

    later = _iso(NOW + timedelta(days=12))
    runner = CliRunner()
    out = tmp_path / "then.pdf"

    def cli(*args: str, now: str = later) -> Any:
        return runner.invoke(app, ["--as", COMPLIANCE, *args], env={"SAMPLELOANS_NOW": now})

    made = cli("report", "custody", "--loan", "L-1", "--as-of", _iso(moment), "--out", str(out),
               "--generated-at", later)  # fmt: skip
    assert made.exit_code == 0, made.stderr
    assert cli("verify-document", str(out)).exit_code == 0
    # a later event dated after the moment changes nothing the report shows
    run(loans.consume, number="L-1", sample=S1, technique="after", mass_ug=10,
        destructive=True, now=NOW + timedelta(days=13))  # fmt: skip
    checked = cli("verify-document", str(out), now=_iso(NOW + timedelta(days=14)))
    assert checked.exit_code == 0, checked.stdout
    # a later event back-dated before the moment changes what the ledger says of then
    run(loans.consume, number="L-1", sample=S2, technique="back again", mass_ug=10,
        destructive=True, now=NOW + timedelta(days=15),
        occurred_at=NOW + timedelta(days=6))  # fmt: skip
    failed = cli("verify-document", str(out), now=_iso(NOW + timedelta(days=16)))
    assert failed.exit_code != 0, failed.stdout


def test_the_cut_and_the_scope_are_index_seeks(demo: Path) -> None:
    """No statement of `as_of` or of a scoped replay scans the ledger or its subject index."""
    from sqlalchemy import event

    engine = db.open_engine(db.url_for_path(demo))
    statements: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        with db.transaction(engine, write=False) as session:
            cut = replay.as_of(session, NOW + timedelta(days=30))
            with replay.ledger_at(session, cut, scope=[("loan", "L-2025-UoC")]):
                pass
        event.remove(engine, "before_cursor_execute", keep)
        assert any("occurred_at" in s for s, _ in statements)
        with engine.connect() as connection:
            raw = connection.connection.driver_connection
            assert raw is not None
            for statement, parameters in statements:
                plan = [
                    row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)
                ]
                scans = [
                    p for p in plan if p.startswith(("SCAN ledger_event", "SCAN event_subject"))
                ]
                assert not scans, (statement, plan)
                # the cut: a range, not a walk (the head, max(seq) of the whole table, is one
                # seek of the table's b-tree)
                if statement.lstrip().startswith("SELECT max(") and "WHERE" in statement:
                    assert any("(occurred_at<?" in p for p in plan), plan
    finally:
        engine.dispose()
