"""Issue 13 points 3–4: an import's loan steps read the batch unit's rows without writing the
batch first, and refuse exactly what the single commands refuse, with the same messages.

The history below makes every rule those reads serve turn on records of the same batch (rows
inserted or changed and not yet written): a case twin of a loan requested a line before, the
agreement's mass limit reached by two issues just made, an institution's loan overdue by the
time another is issued, a receipt of a shipment just made, an accepted return with none in
transit. The batched import must list exactly the refusals the reference path gives (record
by record through the session, as single commands run), and write the same rows.
"""

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.ledger.unit import Unit
from sampleloans.services import setup
from sampleloans.services.bulk import BulkRejected, LineError, _import_per_record, import_records
from sampleloans.services.verify import verify
from tests.conftest import CURATOR, UOC_PI, ctx_for

LATER = ctx_for().now.replace(year=2025, month=7, day=1)
A, B, C, D = "CE5C0100YJFM00201", "CE5C0200YJFM00112", "CE5C0300YJFM00307", "CE5C0500YJFM00415"
PROJECTIONS = ("loan", "loan_item", "sample", "shipment", "agreement", "consumption")


def rec(kind: str, day: str, payload: dict[str, Any], actor: str = CURATOR) -> dict[str, Any]:
    """One history line."""
    return {
        "kind": kind,
        "occurred_at": f"2025-{day}T10:00:00Z",
        "actor": actor,
        "payload": payload,
    }


def story(*, refused: bool = True) -> list[dict[str, Any]]:
    """The history (with the lines that must be refused, or without them)."""
    agreement = {
        "number": "AG-IMP",
        "institution": "UoC",
        "term": "P5Y",
        "max_total_mass_ug": 1_030_000,  # A (1,000 mg) and B (20 mg) fit; C (20 mg) more does not
        "allowed_purposes": ["research"],
        "max_loan_period": "P1M",
        "destructive_use_allowed": True,
    }
    ship = {"direction": "outbound", "container": "box", "seal_number": "S1"}
    lines: list[tuple[bool, dict[str, Any]]] = [
        (False, rec("agreement.created", "04-02", agreement)),
        (False, rec("agreement.signed", "04-03", {"number": "AG-IMP", "signed_by": "x"})),
        *(
            (False, rec("loan.requested", "04-04", request(number, code)))
            for number, code in (("L-IMP-A", A), ("L-IMP-B", B), ("L-IMP-C", C))
        ),
        (True, rec("loan.requested", "04-04", request("l-imp-a", D))),  # a case twin of A
        *((False, rec("loan.approved", "04-05", {"number": n})) for n in ("L-IMP-A", "L-IMP-B")),
        (False, rec("loan.approved", "04-05", {"number": "L-IMP-C"})),
        (False, rec("loan.issued", "04-06", {"number": "L-IMP-A"})),
        (False, rec("loan.issued", "04-06", {"number": "L-IMP-B"})),
        (True, rec("loan.issued", "04-06", {"number": "L-IMP-C"})),  # over the agreement's mass
        (True, rec("loan.received", "04-07", received("L-IMP-A"))),  # nothing shipped yet
        (False, rec("loan.shipped", "04-07", {"number": "L-IMP-A", **ship})),
        (False, rec("loan.received", "04-08", received("L-IMP-A"))),
        (False, rec("loan.requested", "04-09", request("L-IMP-D", D))),
        (False, rec("loan.approved", "04-09", {"number": "L-IMP-D"})),
        (True, rec("loan.issued", "06-01", {"number": "L-IMP-D"})),  # A is overdue by then
        (True, rec("loan.received", "06-02", {**received("L-IMP-A"), "weighed": [[A, 1_000_000]]})),
        (False, rec("loan.shipped", "06-02", returned("L-IMP-A"))),
        (
            False,
            rec("loan.received", "06-03", {**received("L-IMP-A"), "weighed": [[A, 1_000_000]]}),
        ),
        (True, rec("loan.received", "06-04", {**received("L-IMP-A"), "weighed": [[A, 1_000_000]]})),
    ]
    return [line for bad, line in lines if refused or not bad]


def request(number: str, code: str) -> dict[str, Any]:
    """A loan request's payload for one sample under AG-IMP."""
    return {"number": number, "agreement": "AG-IMP", "pi": UOC_PI, "samples": [code]}


def received(number: str) -> dict[str, Any]:
    """A receipt's payload."""
    return {"number": number, "seal_intact": True, "condition": "pristine"}


def returned(number: str) -> dict[str, Any]:
    """The return trip's payload."""
    return {"number": number, "direction": "return", "container": "box", "seal_number": "R1"}


def text_of(records: list[dict[str, Any]]) -> list[str]:
    """JSON Lines."""
    return [json.dumps(record) + "\n" for record in records]


def refusals(
    engine: Engine, records: list[dict[str, Any]], *, batched: bool, batch: int = 1000
) -> list[LineError]:
    """The lines refused by the batched import or by the reference path (rolled back)."""
    with pytest.raises(BulkRejected) as refused, db.transaction(engine) as session:
        if batched:
            import_records(session, ctx_for(now=LATER), text_of(records), fmt="jsonl", batch=batch)
        else:
            _import_per_record(
                session, ctx_for(now=LATER), text_of(records), "jsonl", "history", None
            )
    return refused.value.errors


def rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every projection table's rows, sorted."""
    with engine.connect() as connection:
        return {
            table: sorted(map(tuple, connection.execute(text(f"SELECT * FROM {table}"))), key=repr)
            for table in PROJECTIONS
        }


@pytest.mark.parametrize("batch", [1000, 4])
def test_the_batch_refuses_what_the_commands_refuse_with_the_same_words(
    engine: Engine, batch: int
) -> None:
    """In one batch the rows are inserted and changed in the unit; in batches of 4, stored
    rows are changed by a later batch (a loan issued, then overdue at another's issue)."""
    records = story()
    batched = refusals(engine, records, batched=True, batch=batch)
    reference = refusals(engine, records, batched=False)
    assert batched == reference
    said = {error.line: error.message for error in batched}
    assert len(said) == 6
    words = [
        "loan l-imp-a differs only in case from loan L-IMP-A",
        "agreement AG-IMP allows 1.030 g in total; 1.020 g already issued + 20.000 mg",
        "loan L-IMP-A is issued; cannot accept return: ship it first",
        "UoC cannot be issued new material while loan L-IMP-A was due 2025-05-06",
        "loan L-IMP-A has no return shipment in transit",
        "loan L-IMP-A is returned; cannot accept return: no return of it is in transit",
    ]
    for message, expected in zip(sorted(said.items()), words, strict=True):
        assert expected in message[1], (message, expected)


def test_the_batch_writes_the_rows_the_commands_write(engine: Engine, tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    engine.dispose()
    shutil.copyfile(str(engine.url.database), copy)
    other = db.open_engine(db.url_for_path(copy))
    records = story(refused=False)
    with db.transaction(engine) as session:
        done = import_records(session, ctx_for(now=LATER), text_of(records), fmt="jsonl", batch=5)
    with db.transaction(other) as session:
        _import_per_record(session, ctx_for(now=LATER), text_of(records), "jsonl", "h", None)
    assert done.events == len(records)
    assert rows(engine) == rows(other)
    assert verify(engine).ok
    other.dispose()


def test_a_batch_of_loan_steps_writes_once(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each step's reads (items, loans out, shipments, mass issued, case twins, its result)
    come from the unit: the batch is written once, by its closing checks."""
    writes: list[int] = []
    flush = Unit.flush

    def counted(unit: Unit) -> None:
        if unit._pending or unit._changed:
            writes.append(len(unit._pending))
        flush(unit)

    agreement, steps = story(refused=False)[:2], story(refused=False)[2:]
    with db.transaction(engine) as session:  # (an agreement's own result reads the session)
        import_records(session, ctx_for(now=LATER), text_of(agreement), fmt="jsonl")
    monkeypatch.setattr(Unit, "flush", counted)
    with db.transaction(engine) as session:
        import_records(session, ctx_for(now=LATER), text_of(steps), fmt="jsonl")
    assert len(writes) == 1


def test_cli_import_names_each_refused_line_as_the_command_does(
    engine: Engine,
    tmp_path: Path,
    cli_env: dict[str, str],
    runner: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAMPLELOANS_NOW", LATER.isoformat())
    engine.dispose()
    records = story()
    path = tmp_path / "history.jsonl"
    path.write_text("".join(text_of(records)), encoding="utf-8")
    refused = runner.invoke(app, ["--as", CURATOR, "import", str(path)])
    assert refused.exit_code == 1, refused.stderr
    blocked = next(n for n, r in enumerate(records, 1) if r["occurred_at"].startswith("2025-06-01"))
    # the same state through the import of the lines before it, then the single command
    before = tmp_path / "before.jsonl"
    kept = [r for r in story(refused=False) if r["occurred_at"] < "2025-06-01"]
    before.write_text("".join(text_of(kept)), encoding="utf-8")
    assert runner.invoke(app, ["--as", CURATOR, "import", str(before)]).exit_code == 0
    single = runner.invoke(
        app, ["--as", CURATOR, "loans", "issue", "L-IMP-D", "--at", "2025-06-01T10:00:00Z"]
    )
    assert single.exit_code == 1
    message = single.stderr.strip().removeprefix("Error: ")
    assert "was due 2025-05-06" in message
    assert f"line {blocked}: {message}" in " ".join(refused.stderr.split())


def test_on_postgresql_the_batch_refuses_as_on_sqlite(engine: Engine, pg_url: str) -> None:
    """The unit's reads are Core statements on its connection: PostgreSQL answers them alike."""
    pg = db.open_engine(pg_url, create=True)
    with db.transaction(pg) as session:
        setup.init_ledger(session, ctx_for(), curator_name="Li Na (test curator)")
        setup.add_people_rows(session, ctx_for(), setup.read_rows("demo/people.csv"))
        setup.register_sample_rows(session, ctx_for(), setup.read_rows("demo/samples.csv"))
    try:
        on_postgresql = refusals(pg, story(), batched=True)
        assert on_postgresql == refusals(engine, story(), batched=True)
        assert len(on_postgresql) == 6
    finally:
        pg.dispose()
