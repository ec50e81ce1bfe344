"""Issue 11, items 2–5: who handed over to whom, back-dated entries shown with both times,
weighing discrepancies and broken seals in `loans show`, and `samples move`."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select
from typer.testing import CliRunner, Result

from sampleloans import db
from sampleloans.cli import app
from sampleloans.errors import Conflict, InvalidInput, PermissionDenied, RuleViolation
from sampleloans.ledger.events import LoanShipped, event_from_payload
from sampleloans.models import LedgerEvent, Sample
from sampleloans.readmodels.handover import is_backdated
from sampleloans.services import loans, samples
from sampleloans.services.handover import loan_handovers, parties_of
from sampleloans.services.verify import verify
from tests.conftest import COMPLIANCE, CURATOR, OU_PI, Run, fingerprint
from tests.factories import issued_loan, received_loan, signed_agreement

S1 = "CE5C0200YJFM00112"
VAULT_SAMPLE = "CE5C0100YJFM00201"
COURIER = "Wang Wei (SF Express)"
WITNESS = "Claire Dupont"

pytestmark = pytest.mark.usefixtures("cli_env")


def cli(runner: CliRunner, *args: str, actor: str = CURATOR) -> Result:
    """Invoke the CLI as `actor`."""
    return runner.invoke(app, ["--as", actor, *args])


def ok(runner: CliRunner, *args: str, actor: str = CURATOR) -> str:
    """Invoke and require exit 0; returns stdout."""
    result = cli(runner, *args, actor=actor)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def wide(runner: CliRunner, *args: str, env: dict[str, str] | None = None) -> str:
    """Invoke as the curator on a 250-column terminal (no cell wraps); returns stdout."""
    result = runner.invoke(app, ["--as", CURATOR, *args], env={"COLUMNS": "250", **(env or {})})
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def show_json(runner: CliRunner, number: str = "L-1") -> dict:
    """`loans show --json` parsed."""
    return json.loads(ok(runner, "loans", "show", number, "--json"))


def history_json(runner: CliRunner, number: str = "L-1") -> dict:
    """`custody history --loan --json` parsed."""
    return json.loads(ok(runner, "custody", "history", "--loan", number, "--json"))


def payload_of(engine: Engine, seq: int) -> dict:
    """The stored payload of one event."""
    with db.transaction(engine) as session:
        row = session.get(LedgerEvent, seq)
        assert row is not None
        return json.loads(row.payload)


def last_seq(engine: Engine) -> int:
    """The head's seq."""
    with db.transaction(engine) as session:
        return max(session.exec(select(LedgerEvent.seq)).all())


# --- item 2: who handed over to whom --------------------------------------------------------


def test_named_persons_are_recorded_apart_from_the_recorder(run: Run, engine: Engine) -> None:
    """A shipment names releaser, courier and witness; the payload keeps them, not the actor."""
    signed_agreement(run)
    issued_loan(run)
    envelope = run(
        loans.ship_loan,
        number="L-1",
        container="box",
        seal_number="S-1",
        released_by=COMPLIANCE,
        courier=COURIER,
        witness=WITNESS,
    )
    payload = payload_of(engine, envelope.seq)
    assert payload["released_by"] == COMPLIANCE
    assert payload["received_by"] == COURIER  # default: the courier takes the container
    assert (payload["courier"], payload["witness"]) == (COURIER, WITNESS)
    with db.transaction(engine) as session:
        ship = next(h for h in loan_handovers(session, "L-1") if h.step == "ship")
    assert ship.recorded_by == CURATOR
    assert ship.released_by is not None and ship.released_by.institution == "NAOC"
    assert ship.released_by.name.startswith("Zhang Wei")
    assert ship.courier is not None and ship.courier.email is None


def test_receipt_defaults_released_by_the_courier_received_by_the_pi(
    run: Run, engine: Engine
) -> None:
    """Left out, the receipt is released by the shipment's courier and received by the PI."""
    signed_agreement(run)
    issued_loan(run)
    run(loans.ship_loan, number="L-1", container="box", seal_number="S-1", courier=COURIER)
    envelope = run(loans.receive_loan, number="L-1", seal_intact=True, condition="ok")
    payload = payload_of(engine, envelope.seq)
    assert (payload["released_by"], payload["received_by"]) == (COURIER, OU_PI)


def test_events_written_before_the_fields_read_with_the_defaults(run: Run, engine: Engine) -> None:
    """An old payload without the fields still rebuilds, and reads with the documented defaults."""
    signed_agreement(run)
    issued_loan(run)
    old_shipment = {
        "number": "L-1",
        "direction": "return",
        "container": "box",
        "seal_number": "S-9",
        "method": "courier",
        "samples": [S1],
    }
    event = event_from_payload("loan.shipped", old_shipment)
    assert isinstance(event, LoanShipped)
    assert event.released_by is None
    with db.transaction(engine) as session:
        parties = parties_of(session, "loan.shipped", old_shipment, CURATOR)
    assert parties.released_by == OU_PI  # a return is released by the loan's PI
    assert parties.received_by is None and parties.courier is None


def test_an_unknown_email_is_refused_and_nothing_is_written(
    run: Run, engine: Engine, db_path: Path
) -> None:
    """An e-mail that is no registered person is refused (exit 2 at the CLI)."""
    signed_agreement(run)
    issued_loan(run)
    with pytest.raises(InvalidInput, match="released by: no registered person"):
        run(
            loans.ship_loan,
            number="L-1",
            container="box",
            seal_number="S-1",
            released_by="nobody@naoc.example",
        )
    runner = CliRunner()
    before = fingerprint(db_path)
    args = ["loans", "ship", "L-1", "--container", "box", "--seal", "S-1"]
    result = cli(runner, *args, "--courier", "ghost@nowhere.example")
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("Error: --courier: no registered person has the e-mail")
    assert result.stderr.count("\n") == 1
    result = cli(runner, *args, "--witness", "Cl\u0430ire")  # a Cyrillic а in a Latin word
    assert result.exit_code == 2 and result.stderr.startswith("Error: --witness: the word")
    assert fingerprint(db_path) == before


def test_cli_records_and_shows_each_hand_over(run: Run, runner: CliRunner, engine: Engine) -> None:
    """issue/ship/receive/return/accept-return through the CLI; show and history name them."""
    signed_agreement(run)
    ok(runner, "loans", "request", "L-1", "--agreement", "AG-OU", "--pi", OU_PI, "--sample", S1)
    ok(runner, "loans", "approve", "L-1")
    ok(runner, "loans", "issue", "L-1", "--received-by", COMPLIANCE)
    ok(runner, "loans", "ship", "L-1", "--container", "box", "--seal", "S-1",
       "--courier", COURIER, "--witness", WITNESS)  # fmt: skip
    ok(runner, "loans", "receive", "L-1", "--seal-intact", "--condition", "ok",
       "--received-by", "Dr Jane Lab-Manager")  # fmt: skip
    ok(runner, "loans", "return", "L-1", "--container", "box", "--seal", "S-2",
       "--released-by", OU_PI, "--received-by", "FedEx driver")  # fmt: skip
    ok(runner, "loans", "accept-return", "L-1", "--seal-intact", "--condition", "ok",
       "--weighed", f"{S1}=20mg")  # fmt: skip
    steps = {h["step"]: h for h in show_json(runner)["handovers"]}
    assert list(steps) == ["issue", "ship", "receive", "return", "accept-return"]
    assert steps["issue"]["received_by"]["email"] == COMPLIANCE
    assert steps["ship"]["courier"] == {"email": None, "name": COURIER, "institution": None}
    assert steps["ship"]["witness"]["name"] == WITNESS
    assert steps["receive"]["released_by"]["name"] == COURIER
    assert steps["receive"]["received_by"]["name"] == "Dr Jane Lab-Manager"
    assert steps["return"]["released_by"] == {
        "email": OU_PI,
        "name": "Mahesh Anand",
        "institution": "OU",
    }
    assert steps["accept-return"]["released_by"]["name"] == "FedEx driver"
    assert steps["accept-return"]["received_by"]["email"] == CURATOR
    assert all(h["recorded_by"] == CURATOR for h in steps.values())
    events = {e["seq"]: e for e in history_json(runner)["events"]}
    ship_seq = steps["ship"]["seq"]
    assert events[ship_seq]["handover"]["courier"]["name"] == COURIER
    assert events[ship_seq - 2]["handover"] is None  # the request is no hand-over
    table = wide(runner, "loans", "show", "L-1")
    assert "Hand-overs" in table and "Mahesh Anand (OU)" in table
    assert f"courier {COURIER}; witness {WITNESS}" in table
    text = wide(runner, "custody", "history", "--loan", "L-1")
    assert "received by Dr Jane Lab-Manager" in " ".join(text.split())
    result = verify(engine)
    assert result.ok, result.problems


def test_custody_report_shows_recorded_persons_not_the_actor(
    run: Run, runner: CliRunner, tmp_path: Path
) -> None:
    """The custody report's released/received cells are the recorded persons."""
    from pypdf import PdfReader

    signed_agreement(run)
    issued_loan(run)
    run(loans.ship_loan, number="L-1", container="box", seal_number="S-1", courier=COURIER)
    run(loans.receive_loan, number="L-1", seal_intact=True, condition="ok")
    out = tmp_path / "custody.pdf"
    ok(runner, "report", "custody", "--loan", "L-1", "--out", str(out))
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(out).pages).split())
    assert "Mahesh Anand (OU)" in text
    assert "courier Wang Wei (SF Express)" in text


# --- item 3: back-dated entries -------------------------------------------------------------


def test_backdated_threshold_is_one_hour() -> None:
    """Over an hour between occurring and recording is back-dated; up to an hour is not."""
    t0 = datetime(2025, 4, 1, 8, 0, tzinfo=UTC)
    assert not is_backdated(t0, datetime(2025, 4, 1, 9, 0, tzinfo=UTC))
    assert is_backdated(t0, datetime(2025, 4, 1, 9, 1, tzinfo=UTC))


def test_backdated_hand_over_shows_both_times(run: Run, runner: CliRunner, tmp_path: Path) -> None:
    """An entry made over an hour after it happened shows when it was recorded, everywhere;
    one made within the hour shows one time."""
    from pypdf import PdfReader

    signed_agreement(run)
    issued_loan(run)  # at NOW, 2025-04-01 09:00
    ship = ["loans", "ship", "L-1", "--container", "box", "--seal", "S-1"]
    wide(runner, *ship, "--at", "2025-04-01T09:30:00Z", env={"SAMPLELOANS_NOW": "2025-04-01T10:30:00Z"})  # fmt: skip  # noqa: E501
    later = {"SAMPLELOANS_NOW": "2025-04-10T09:00:00Z"}
    receive = ["loans", "receive", "L-1", "--seal-intact", "--condition", "ok"]
    wide(runner, *receive, "--at", "2025-04-02T10:00:00Z", env=later)
    detail = json.loads(wide(runner, "loans", "show", "L-1", "--json", env=later))
    assert [h["backdated"] for h in detail["handovers"]] == [False, False, True]
    receipt = detail["handovers"][2]
    assert (receipt["occurred_at"], receipt["recorded_at"]) == (
        "2025-04-02T10:00:00Z",
        "2025-04-10T09:00:00Z",
    )
    table = wide(runner, "loans", "show", "L-1", env=later)
    assert "(recorded 2025-04-10 09:00)" in table  # the column's heading says (UTC)
    assert "(recorded 2025-04-01 10:30)" not in table  # within the hour: one time
    history = wide(runner, "custody", "history", "--loan", "L-1", env=later)
    assert "(recorded 2025-04-10 09:00)" in history
    events = json.loads(wide(runner, "custody", "history", "--loan", "L-1", "--json", env=later))
    assert [e["backdated"] for e in events["events"]][-2:] == [False, True]
    out = tmp_path / "c.pdf"
    wide(runner, "report", "custody", "--loan", "L-1", "--out", str(out), env=later)
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(out).pages).split())
    assert "(recorded 2025-04-10 09:00 UTC)" in text


# --- item 4: discrepancies and broken seals in loans show -----------------------------------


def test_loans_show_lists_weighing_discrepancies_and_broken_seals(
    run: Run, runner: CliRunner
) -> None:
    """A receipt with a broken seal and a short weighing shows both, in the table and JSON."""
    signed_agreement(run)
    issued_loan(run)
    ok(runner, "loans", "ship", "L-1", "--container", "box", "--seal", "S-7")
    ok(runner, "loans", "receive", "L-1", "--seal-broken", "--condition", "dented",
       "--weighed", f"{S1}=19.5mg")  # fmt: skip
    detail = show_json(runner)
    (found,) = detail["weighing_discrepancies"]
    assert found["sample_code"] == S1
    assert (found["expected_ug"], found["weighed_ug"], found["difference_ug"]) == (
        20000,
        19500,
        -500,
    )
    (seal,) = detail["broken_seals"]
    assert seal["seal_number"] == "S-7" and seal["direction"] == "outbound"
    assert seal["seq"] == found["seq"]  # the receipt that found both
    table = wide(runner, "loans", "show", "L-1")
    assert "Weighing discrepancies" in table and "−500 µg" in table
    assert "Seal S-7 of the outbound shipment" in table and "BROKEN" in table


def test_loans_show_has_no_findings_for_a_clean_receipt(run: Run, runner: CliRunner) -> None:
    """Nothing to report: empty lists, no tables."""
    signed_agreement(run)
    received_loan(run)
    detail = show_json(runner)
    assert detail["weighing_discrepancies"] == [] and detail["broken_seals"] == []
    assert "Weighing discrepancies" not in ok(runner, "loans", "show", "L-1")


# --- item 5: samples move -------------------------------------------------------------------


def test_move_service_records_location_and_reason(run: Run, engine: Engine) -> None:
    """A move is an event with its reason; the sample's location follows."""
    envelope = run(
        samples.move_sample, code=VAULT_SAMPLE, storage_location="Shelf 9", reason="servicing"
    )
    assert envelope.reason == "servicing"
    with db.transaction(engine) as session:
        sample = session.get(Sample, VAULT_SAMPLE)
        assert sample is not None and sample.storage_location == "Shelf 9"
    with pytest.raises(PermissionDenied):
        run(samples.move_sample, code=VAULT_SAMPLE, storage_location="X", actor=COMPLIANCE)
    signed_agreement(run)
    issued_loan(run)
    with pytest.raises(Conflict, match="is on loan L-1, not in the vault"):
        run(samples.move_sample, code=S1, storage_location="X")


def test_samples_move_cli(run: Run, runner: CliRunner, db_path: Path) -> None:
    """`samples move` moves a vault sample; refuses one on loan (1) and non-curators (4)."""
    out = ok(runner, "samples", "move", VAULT_SAMPLE, "--location", "NAOC N2 cabinet D",
             "--reason", "cabinet C serviced")  # fmt: skip
    assert out.startswith(f"Moved {VAULT_SAMPLE} to NAOC N2 cabinet D; event ")
    shown = json.loads(ok(runner, "samples", "show", VAULT_SAMPLE, "--json"))
    assert "NAOC N2 cabinet D" in json.dumps(shown)
    history = wide(runner, "custody", "history", "--sample", VAULT_SAMPLE)
    assert "moved to NAOC N2 cabinet D; reason: cabinet C serviced" in history
    signed_agreement(run)
    issued_loan(run)
    before = fingerprint(db_path)
    result = cli(runner, "samples", "move", S1, "--location", "Shelf 1")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: sample {S1} is on loan L-1, not in the vault; only a sample in the "
        "vault can change storage location\n"
    )
    result = cli(runner, "samples", "move", VAULT_SAMPLE, "--location", "X", actor=COMPLIANCE)
    assert result.exit_code == 4 and result.stderr.startswith("Error: ")
    result = cli(runner, "samples", "move", VAULT_SAMPLE, "--location", "  ")
    assert result.exit_code == 2 and "--location: must not be empty" in result.stderr
    assert fingerprint(db_path) == before


def test_an_imported_history_line_keeps_its_hand_over_persons(
    run: Run, runner: CliRunner, tmp_path: Path, engine: Engine
) -> None:
    """`import` passes the persons of a hand-over line to the same service as the command."""
    signed_agreement(run)
    issued_loan(run)
    line = {
        "kind": "loan.shipped",
        "occurred_at": "2025-04-01T09:00:00Z",
        "actor": CURATOR,
        "payload": {
            "number": "L-1",
            "direction": "outbound",
            "container": "box",
            "seal_number": "S-1",
            "method": "courier",
            "samples": [S1],
            "courier": COURIER,
            "witness": COMPLIANCE,
        },
    }
    history = tmp_path / "history.jsonl"
    history.write_text(json.dumps(line) + "\n", encoding="utf-8")
    ok(runner, "import", str(history))
    payload = payload_of(engine, last_seq(engine))
    assert (payload["courier"], payload["witness"], payload["received_by"]) == (
        COURIER,
        COMPLIANCE,
        COURIER,
    )


def test_a_registered_person_on_the_wrong_side_is_refused(
    run: Run, runner: CliRunner, db_path: Path
) -> None:
    """The PI cannot release from the vault; another institution's researcher cannot receive."""
    signed_agreement(run)
    issued_loan(run)
    with pytest.raises(RuleViolation, match=r"released by: anand@open\.example is at OU"):
        run(loans.ship_loan, number="L-1", container="b", seal_number="S", released_by=OU_PI)
    run(loans.ship_loan, number="L-1", container="box", seal_number="S-1")
    before = fingerprint(db_path)
    result = cli(runner, "loans", "receive", "L-1", "--seal-intact", "--condition", "ok",
                 "--received-by", "muenker@uni-koeln.example")  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: --received-by: muenker@uni-koeln.example is at UoC, not at OU, the borrowing "
        "institution of loan L-1; name someone there (or someone who is not registered)\n"
    )
    assert fingerprint(db_path) == before


def test_a_deactivated_person_is_refused_in_a_hand_over(
    run: Run, runner: CliRunner, db_path: Path
) -> None:
    """Whoever may no longer act does not hand samples over or take them either (exit 1)."""
    signed_agreement(run)
    ok(runner, "loans", "request", "L-1", "--agreement", "AG-OU", "--pi", OU_PI, "--sample", S1)
    ok(runner, "loans", "approve", "L-1")
    ok(runner, "people", "deactivate", COMPLIANCE, "--reason", "retired")
    before = fingerprint(db_path)
    result = cli(runner, "loans", "issue", "L-1", "--received-by", COMPLIANCE)
    assert result.exit_code == 1, result.output
    assert result.stderr == (
        f"Error: --received-by: {COMPLIANCE} is deactivated; name an active person "
        "(see 'people list')\n"
    )
    assert fingerprint(db_path) == before


def test_a_return_is_not_received_by_a_third_institution(
    run: Run, runner: CliRunner, db_path: Path
) -> None:
    """A registered receiver of a return works at the lender or the borrower, never elsewhere."""
    signed_agreement(run)
    received_loan(run, number="L-1", samples=(S1,))
    before = fingerprint(db_path)
    args = ["loans", "return", "L-1", "--container", "box", "--seal", "S-9"]
    result = cli(runner, *args, "--received-by", "muenker@uni-koeln.example")
    assert result.exit_code == 1, result.output
    assert "is at UoC, neither the lender nor OU" in result.stderr
    assert fingerprint(db_path) == before
    assert cli(runner, *args, "--received-by", COMPLIANCE).exit_code == 0


def test_history_as_of_names_no_later_correction(
    run: Run, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--as-of` lists what had happened by then: a later correction is not named (nor its
    reason twice in the table)."""
    signed_agreement(run)
    received_loan(run, number="L-1", samples=(S1,))
    monkeypatch.setenv("SAMPLELOANS_NOW", "2025-05-01T09:00:00Z")
    ok(runner, "loans", "consume", "L-1", "--sample", S1, "--technique", "EPMA", "--mass",
       "0.5 mg", "--non-destructive", "--at", "2025-04-10T09:00:00Z")  # fmt: skip
    seq = max(e["seq"] for e in history_json(runner)["events"])
    ok(runner, "custody", "correct", str(seq), "--mass", "0.3 mg", "--reason", "reweighed")
    as_of = ["custody", "history", "--loan", "L-1", "--as-of", "2025-04-20T00:00:00Z", "--json"]
    before = json.loads(ok(runner, *as_of))
    (consumed,) = [e for e in before["events"] if e["seq"] == seq]
    assert consumed["corrected_by"] == []
    now = history_json(runner)
    (consumed,) = [e for e in now["events"] if e["seq"] == seq]
    assert consumed["corrected_by"] == [seq + 1]
    table = ok(runner, "custody", "history", "--loan", "L-1")
    assert table.count("reweighed") == 1
