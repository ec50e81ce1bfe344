"""Issue 13 points 3–4 (stop 33, import10): the append's encoding and a loan step's stored reads
with less Python per event, the same bytes and rows as before.

- an event's hashed body is written by a fixed template (`chain._body_text`): for any body of
  text, null and safe integers it is the sorted encoder's text, and the link hash is the
  general path's (`link_hash`);
- a stored time is read by the C parser once the pattern has held it (`dates.from_iso`) and
  written through `isoformat` (`dates.to_iso`): the same instant, the same text and the same
  refusal as the hand-built code before (kept here as the oracle);
- a loan step's stored rows in an import's batch (`Unit.rows_where`) are read on SQLite's
  driver (`db.read_all`): every batch read of the golden ledger gives Core's rows, the same
  values of the same types, a fixed `IN (…)` list included; and the import story of
  `test_i13_imp_batch_reads` (in batches of 4 too: rows stored by an earlier batch are read)
  is refused line for line and written row for row as with Core's reads, through the service
  and through the command.
"""

import shutil
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.dates import _STORED_RE, from_iso, to_iso
from sampleloans.errors import InvalidInput
from sampleloans.ledger import chain
from sampleloans.services.bulk import BulkRejected, LineError, import_records
from sampleloans.services.common import OPEN_REQUESTS
from sampleloans.services.loans import _BATCH_READS
from tests.conftest import CURATOR, GOLDEN, ctx_for
from tests.test_i13_imp_batch_reads import LATER, rows, story, text_of

ANY_TEXT = st.text(st.characters(blacklist_categories=()), max_size=40)  # surrogates too
SAFE_INT = st.integers(-chain.MAX_SAFE_INTEGER, chain.MAX_SAFE_INTEGER)
SCALAR = st.one_of(st.none(), ANY_TEXT, SAFE_INT)
BODIES = st.fixed_dictionaries({name: SCALAR for name in chain.BODY_FIELDS})


@settings(max_examples=300, deadline=None)
@given(body=BODIES, prev=st.text("0123456789abcdef", min_size=64, max_size=64))
def test_the_body_template_writes_the_sorted_encoders_text(body: dict[str, Any], prev: str) -> None:
    assert chain._body_text(body) == chain._SORTED.encode(body)
    try:
        expected: str | type[InvalidInput] = chain.link_hash(prev, body)
    except InvalidInput:  # a lone surrogate: refused by name on both paths
        expected = InvalidInput
    if expected is InvalidInput:
        with pytest.raises(InvalidInput):
            chain.stored_link_hash(prev, body)
    else:
        assert chain.stored_link_hash(prev, body) == expected


def test_a_body_of_other_keys_or_types_takes_the_general_path() -> None:
    body = {name: "x" for name in chain.BODY_FIELDS}
    for odd in ({**body, "seq": True}, {**body, "extra": "y"}, {**body, "reason": ["a"]}):
        assert chain.stored_link_hash("0" * 64, odd) == chain.link_hash("0" * 64, odd)
    with pytest.raises(InvalidInput, match="outside"):  # refused by name, as before
        chain.stored_link_hash("0" * 64, {**body, "seq": 2**60})


def _to_iso_before(moment: datetime) -> str:
    """`to_iso` as it was built by hand before this change (the oracle)."""
    u = moment.astimezone(UTC)
    text_ = f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}"
    return text_ + (f".{u.microsecond:06d}" if u.microsecond else "") + "Z"


def _from_iso_before(text_: str) -> datetime:
    """`from_iso` as it was before this change (the oracle)."""
    m = _STORED_RE.fullmatch(text_)
    if m is None or m.group(7) == "000000":
        raise ValueError("not stored")
    parts = [int(g) for g in m.groups()[:6]]
    micro = int(m.group(7)) if m.group(7) else 0
    try:
        year, month, day, hour, minute, second = parts
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"not a stored UTC timestamp: '{text_}' ({exc})") from exc


ZONES = st.integers(-23 * 60, 23 * 60).map(lambda m: timezone(timedelta(minutes=m)))
MOMENTS = st.datetimes(
    min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=ZONES
)


@settings(max_examples=300, deadline=None)
@given(moment=MOMENTS)
def test_a_time_is_written_and_read_back_as_before(moment: datetime) -> None:
    written = to_iso(moment)
    assert written == _to_iso_before(moment)
    back = from_iso(written)
    assert back == moment and back.tzinfo is UTC and back == _from_iso_before(written)


DIGITS = st.text("0123456789", min_size=2, max_size=2)


@settings(max_examples=300, deadline=None)
@given(
    year=st.text("0123456789", min_size=4, max_size=4),
    parts=st.tuples(DIGITS, DIGITS, DIGITS, DIGITS, DIGITS),
    micro=st.one_of(
        st.just(""), st.text("0123456789", min_size=6, max_size=6).map(lambda digits: "." + digits)
    ),
)
def test_any_text_of_the_stored_shape_reads_or_is_refused_as_before(
    year: str, parts: tuple[str, ...], micro: str
) -> None:
    month, day, hour, minute, second = parts
    text_ = f"{year}-{month}-{day}T{hour}:{minute}:{second}{micro}Z"
    try:
        expected: datetime | str = _from_iso_before(text_)
    except ValueError as refused:
        expected = str(refused)
    try:
        got: datetime | str = from_iso(text_)
    except ValueError as refused:
        got = str(refused)
    if isinstance(expected, datetime):
        assert isinstance(got, datetime) and got == expected and got.tzinfo is UTC
    elif expected == "not stored":  # '.000000': refused by the pattern alone
        assert isinstance(got, str) and got.startswith("not a stored UTC timestamp")
    else:
        assert got == expected


def _golden(tmp_path: Path) -> Path:
    ledger = tmp_path / "ledger.db"
    shutil.copy(GOLDEN / "ledger-0.1.db", ledger)
    return ledger


def test_every_batch_read_gives_cores_rows_on_the_driver(tmp_path: Path) -> None:
    engine = db.open_engine(db.url_for_path(_golden(tmp_path)))
    compared = 0
    try:
        with engine.connect() as connection:
            keys = {
                name: list(connection.exec_driver_sql(sql).scalars())
                for name, sql in (
                    ("institution", "SELECT short_name FROM institution"),
                    ("number", "SELECT number FROM loan"),
                    ("agreement", "SELECT number FROM agreement"),
                    ("code", "SELECT sample_code FROM loan_item"),
                )
            }
            cases: list[tuple[Any, dict[str, Any]]] = [
                *((_BATCH_READS["loans out"], {"institution": i}) for i in keys["institution"]),
                *((_BATCH_READS["issued under"], {"agreement": a}) for a in keys["agreement"]),
                *((_BATCH_READS["returns sent"], {"number": n}) for n in keys["number"]),
                *(
                    (_BATCH_READS["in transit"], {"number": n, "direction": d})
                    for n in keys["number"]
                    for d in ("outbound", "return")
                ),
                *(
                    (_BATCH_READS["case twins"], {"lower": n.lower(), "number": n.upper()})
                    for n in keys["number"]
                ),
                *((OPEN_REQUESTS, {"code": c}) for c in keys["code"]),
            ]
            for statement, params in cases:
                core = [tuple(row) for row in connection.execute(statement, params)]
                driver = db.read_all(connection, statement, params)
                assert [tuple(row) for row in driver] == core
                assert [[type(v) for v in row] for row in driver] == [
                    [type(v) for v in row] for row in core
                ]
                compared += len(core)
            on_driver = db._READ_ALLS[connection.dialect]
            assert all(on_driver[statement] is not None for statement, _params in cases)
    finally:
        engine.dispose()
    assert compared > 20  # loans out, issued items, shipments, requests of the golden ledger


def _core_reads(connection: Any, statement: Any, params: dict[str, Any]) -> list[Any]:
    """The read before the change: through Core's execute."""
    return list(connection.execute(statement, params))


def _both_ways(
    monkeypatch: pytest.MonkeyPatch, seeded: Path, tmp_path: Path, run: Any
) -> dict[str, Any]:
    """`run(ledger)` on two copies of a ledger, reading stored rows on the driver, then
    through Core; what it returned, and every row the story writes, each way."""
    results: dict[str, Any] = {}
    for how in ("driver", "core"):
        if how == "core":
            monkeypatch.setattr(db, "read_all", _core_reads)
        ledger = tmp_path / f"{how}.db"
        shutil.copy(seeded, ledger)
        said = run(ledger)
        engine = db.open_engine(db.url_for_path(ledger))
        with engine.connect() as connection:
            written = rows(engine) | {
                "events": list(map(tuple, connection.execute(text("SELECT * FROM ledger_event"))))
            }
        engine.dispose()
        results[how] = (said, written)
    return results


@pytest.mark.parametrize("batch", [4, 1000])
def test_a_batch_refuses_and_writes_alike_with_driver_reads(
    engine: Engine, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    """The batch-read story (a loan issued in one batch overdue at another's issue, a receipt
    of a shipment an earlier batch stored, …): in batches of 4 a loan step reads rows stored by
    an earlier batch. The same refusals and rows whether they come from the driver or Core."""
    engine.dispose()

    def run(ledger: Path) -> list[LineError]:
        """The story imported, its refusals (the import rolled back), then without them."""
        eng = db.open_engine(db.url_for_path(ledger))
        with pytest.raises(BulkRejected) as refused, db.transaction(eng) as session:
            import_records(session, ctx_for(now=LATER), text_of(story()), fmt="jsonl", batch=batch)
        with db.transaction(eng) as session:
            lines = text_of(story(refused=False))
            import_records(session, ctx_for(now=LATER), lines, fmt="jsonl", batch=batch)
        eng.dispose()
        return refused.value.errors

    results = _both_ways(monkeypatch, db_path, tmp_path, run)
    assert results["driver"] == results["core"]
    assert len(results["driver"][0]) == 6  # the story's six refusals
    assert results["driver"][1]["shipment"]  # and its accepted lines written


def test_cli_import_refuses_and_writes_alike_with_driver_reads(
    engine: Engine,
    db_path: Path,
    tmp_path: Path,
    cli_env: dict[str, str],
    runner: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAMPLELOANS_NOW", LATER.isoformat())
    engine.dispose()
    history = tmp_path / "history.jsonl"
    history.write_text("".join(text_of(story())), encoding="utf-8")

    def run(ledger: Path) -> tuple[int, str]:
        """`import` of the story: its exit and what it said."""
        done = runner.invoke(app, ["--db", str(ledger), "--as", CURATOR, "import", str(history)])
        return done.exit_code, done.stderr

    results = _both_ways(monkeypatch, db_path, tmp_path, run)
    assert results["driver"] == results["core"]
    exit_code, said = results["driver"][0]
    assert exit_code == 1 and said.count("line ") >= 6, said  # nothing written, each line named


@pytest.mark.parametrize("change", ["renamed", "added", "missing"])
def test_a_body_of_other_keys_goes_through_the_encoder(change: str) -> None:
    """Only a body of exactly the event fields takes the template: one with a key renamed
    (as many keys as the template's), added or missing hashes as the JSON encoder writes it
    (the template raised KeyError for a renamed key of the same count)."""
    body: dict[str, Any] = {name: None for name in chain.BODY_FIELDS}
    body.update(seq=7, kind="loan.consumed", actor="a@b.example")
    if change == "renamed":
        body["reason_text"] = body.pop("reason")
    elif change == "added":
        body["extra"] = "x"
    else:
        del body["os_user"]
    expected = chain.link_hash("0" * 64, body)
    assert chain.stored_link_hash("0" * 64, body) == expected
