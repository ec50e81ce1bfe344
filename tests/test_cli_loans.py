"""`sampleloans loans …` and `incidents …` end to end: output, exit codes, exact errors."""

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from sampleloans.cli import app
from sampleloans.services import agreements, loans
from sampleloans.units import parse_mass_ug as mass
from tests.conftest import BROWN_PI, COMPLIANCE, CURATOR, OU_PI, UOC_PI, Run, fingerprint
from tests.factories import issued_loan, received_loan, signed_agreement

S1 = "CE5C0200YJFM00112"
S2 = "CE5C0300YJFM00307"

pytestmark = pytest.mark.usefixtures("cli_env")


def cli(runner: CliRunner, *args: str, actor: str = CURATOR) -> Result:
    """Invoke the CLI as `actor`."""
    return runner.invoke(app, ["--as", actor, *args])


def ok(runner: CliRunner, *args: str, actor: str = CURATOR) -> str:
    """Invoke and require exit 0; returns stdout."""
    result = cli(runner, *args, actor=actor)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def show(runner: CliRunner, number: str = "L-1", actor: str = CURATOR) -> dict:
    """`loans show --json` parsed."""
    return json.loads(ok(runner, "loans", "show", number, "--json", actor=actor))


def refused(
    runner: CliRunner, db_path: Path, args: list[str], code: int, message: str, actor: str = CURATOR
) -> None:
    """The command fails with `code`, prints exactly `Error: message`, and writes nothing."""
    before = fingerprint(db_path)
    result = cli(runner, *args, actor=actor)
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stderr == f"Error: {message}\n"
    assert result.stdout == ""
    assert fingerprint(db_path) == before


def event_seq(line: str) -> int:
    """The event number at the end of a confirmation line."""
    found = re.search(r"\(event (\d+)\)\.$", line.strip())
    assert found, line
    return int(found.group(1))


# --- the whole life of a loan -----------------------------------------------------------------


def test_full_lifecycle_through_the_cli(runner: CliRunner, run: Run, db_path: Path) -> None:
    signed_agreement(run)
    out = ok(
        runner,
        "loans",
        "request",
        "L-1",
        "--agreement",
        "AG-OU",
        "--pi",
        OU_PI,
        "--sample",
        S1,
        "--sample",
        S2,
        "--period",
        "12 months",
    )
    assert out.startswith("Loan L-1 requested: 2 samples under agreement AG-OU (event ")
    detail = show(runner)
    assert detail["status"] == "requested"
    assert [i["sample_code"] for i in detail["items"]] == [S1, S2]
    assert detail["loan_period"] == "12 months"
    assert detail["due_at"] is None and detail["days_left"] is None

    ok(runner, "loans", "approve", "L-1")
    out = ok(runner, "loans", "issue", "L-1")
    seq = event_seq(out)
    assert out == (
        "Loan L-1 issued: 2 samples, 40.000 mg left the vault; due 2026-04-01 09:00 UTC "
        f"(event {seq}).\n"
    )
    detail = show(runner)
    assert detail["status"] == "issued"
    assert detail["issued_at"] == "2025-04-01T09:00:00Z"
    assert detail["due_at"] == "2026-04-01T09:00:00Z"
    assert detail["days_left"] == 365 and detail["overdue"] is False
    assert detail["next_inventory_due_at"] == "2026-04-01T09:00:00Z"
    assert [i["issued_ug"] for i in detail["items"]] == [20000, 20000]

    out = ok(
        runner,
        "loans",
        "ship",
        "L-1",
        "--container",
        "N2 box 7",
        "--seal",
        "S-0042",
        "--method",
        "hand-carried",
    )
    assert out.startswith("Loan L-1 shipped in N2 box 7, seal S-0042 (event ")
    detail = show(runner)
    assert detail["status"] == "in-transit"
    (shipment,) = detail["shipments"]
    assert shipment["seal_number"] == "S-0042" and shipment["method"] == "hand-carried"
    assert shipment["sender"] == "NAOC" and shipment["receiver"] == "OU"
    assert shipment["received_at"] is None

    ok(
        runner,
        "loans",
        "receive",
        "L-1",
        "--seal-intact",
        "--condition",
        "pristine",
        "--weighed",
        f"{S1}=19.999 mg",
    )
    detail = show(runner)
    assert detail["status"] == "received"
    assert detail["shipments"][0]["seal_intact"] is True
    assert {i["custody_state"] for i in detail["items"]} == {"held"}

    out = ok(
        runner,
        "loans",
        "consume",
        "L-1",
        "--sample",
        S1,
        "--technique",
        "SIMS",
        "--mass",
        "2 mg",
        "--destructive",
    )
    assert out.startswith(
        f"Loan L-1: 2.000 mg of {S1} consumed by SIMS (destructive); "
        "it no longer has to come back (event "
    )
    out = ok(runner, "loans", "split", "L-1", "--sample", S1, "--child", "-G1", "--mass", "1 mg")
    assert out.startswith(f"Loan L-1: {S1}-G1 (1.000 mg) split from {S1} (event ")
    out = ok(
        runner,
        "loans",
        "extend",
        "L-1",
        "--period",
        "P6M",
        "--approver",
        CURATOR,
        "--reason",
        "instrument downtime",
    )
    assert out.startswith("Loan L-1 extended; now due 2026-10-01 09:00 UTC (event ")
    ok(runner, "loans", "inventory", "L-1", "--note", "all present", actor=OU_PI)
    detail = show(runner)
    items = {i["sample_code"]: i for i in detail["items"]}
    assert items[S1]["held_ug"] == 17000
    assert items[S1]["consumed_ug"] == 2000 and items[S1]["split_ug"] == 1000
    assert items[f"{S1}-G1"]["source"] == "borrower-split"
    assert detail["consumptions"][0]["mass_ug"] == 2000
    assert detail["consumptions"][0]["destructive"] is True
    assert detail["extensions_granted"] == 1 and detail["max_extensions"] == 2
    assert detail["extensions"][0]["new_due_at"] == "2026-10-01T09:00:00Z"

    ok(runner, "loans", "return", "L-1", "--container", "N2 box 7", "--seal", "S-0043")
    assert show(runner)["status"] == "return-in-transit"
    out = ok(
        runner,
        "loans",
        "accept-return",
        "L-1",
        "--seal-intact",
        "--condition",
        "good",
        "--weighed",
        f"{S1}=17mg",
        "--weighed",
        f"{S1}-G1=1mg",
        "--weighed",
        f"{S2}=20mg",
    )
    assert out.startswith(
        "Loan L-1 return accepted; every sample is accounted for; the loan is returned (event "
    )
    detail = show(runner)
    assert detail["status"] == "returned"
    assert sum(i["returned_ug"] for i in detail["items"]) == 38000
    assert detail["days_left"] is None

    ok(runner, "loans", "settle", "L-1", "--obligations", "final report received")
    ok(runner, "loans", "close", "L-1")
    detail = show(runner)
    assert detail["status"] == "closed"
    assert detail["settled_obligations"] == "final report received"
    assert detail["closed_at"] == "2025-04-01T09:00:00Z"


def test_show_table_and_list(runner: CliRunner, run: Run) -> None:
    signed_agreement(run)
    received_loan(run)
    out = ok(runner, "loans", "show", "L-1")
    for text in (
        "AG-OU",
        OU_PI,
        "2026-04-01 09:00 UTC (365 days left)",
        "0 of 2 allowed",
        S1,
        "20.000 mg",
        "S-1 (intact)",
        "NAOC → OU",
    ):
        assert text in out
    out = ok(runner, "loans", "list")
    assert "L-1" in out and "received" in out
    rows = json.loads(ok(runner, "loans", "list", "--json"))
    assert rows == [
        {
            "number": "L-1",
            "agreement_number": "AG-OU",
            "institution": "OU",
            "pi_email": OU_PI,
            "status": "received",
            "transfer_type": "loan",
            "sample_count": 1,
            "issued_ug": 20000,
            "held_ug": 20000,
            "returning_ug": 0,
            "due_at": "2026-04-01T09:00:00Z",
            "days_left": 365,
            "overdue": False,
            "sent_back_in_time": False,
            "returned_at": None,
            "settled_at": None,
            "closed_at": None,
            "withdrawn_reason": None,
            "loan_period": "1 year",
        }
    ]
    assert json.loads(ok(runner, "loans", "list", "--status", "closed", "--json")) == []


def test_overdue_loan_shows_days_overdue(
    runner: CliRunner, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    signed_agreement(run)
    received_loan(run)
    monkeypatch.setenv("SAMPLELOANS_NOW", "2026-05-01T09:00:00Z")
    detail = show(runner)
    assert detail["overdue"] is True and detail["days_left"] == -30
    assert "(overdue by 30 days)" in ok(runner, "loans", "show", "L-1")


def test_recall_brings_the_due_date_forward(runner: CliRunner, run: Run) -> None:
    signed_agreement(run)
    received_loan(run)
    out = ok(runner, "loans", "recall", "L-1", "--due", "2025-06-30T00:00:00Z", "--reason", "audit")
    assert out.startswith("Loan L-1 recalled; due back 2025-06-30 00:00 UTC (event ")
    detail = show(runner)
    assert detail["recalled_at"] == "2025-04-01T09:00:00Z"
    assert detail["due_at"] == "2025-06-30T00:00:00Z"


def test_at_option_records_the_given_time(
    runner: CliRunner, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    signed_agreement(run)
    run(loans.request_loan, number="L-1", agreement="AG-OU", pi=OU_PI, samples=[S1])
    monkeypatch.setenv("SAMPLELOANS_NOW", "2025-04-03T09:00:00Z")
    ok(runner, "loans", "approve", "L-1", "--at", "2025-04-02T12:30:00+02:00")
    assert show(runner)["approved_at"] == "2025-04-02T10:30:00Z"


def test_partial_return_keeps_the_loan_received(runner: CliRunner, run: Run) -> None:
    signed_agreement(run)
    received_loan(run, samples=(S1, S2))
    ok(runner, "loans", "return", "L-1", "--container", "box", "--seal", "S-2", "--sample", S2)
    ok(
        runner,
        "loans",
        "accept-return",
        "L-1",
        "--seal-broken",
        "--condition",
        "dusty",
        "--weighed",
        f"{S2}=20 mg",
    )
    detail = show(runner)
    assert detail["status"] == "received"
    assert detail["shipments"][-1]["seal_intact"] is False
    assert {i["sample_code"]: i["custody_state"] for i in detail["items"]} == {
        S1: "held",
        S2: "returned",
    }


# --- refusals: exact message, exit code, nothing written ---------------------------------------


def test_request_refusals(runner: CliRunner, run: Run, db_path: Path) -> None:
    signed_agreement(run)
    refused(
        runner,
        db_path,
        ["loans", "request", "L-1", "--agreement", "AG-X", "--pi", OU_PI, "--sample", S1],
        2,
        "--agreement 'AG-X': no such agreement; see 'sampleloans agreements list'",
    )
    refused(
        runner,
        db_path,
        [
            "loans",
            "request",
            "L-1",
            "--agreement",
            "AG-OU",
            "--pi",
            OU_PI,
            "--sample",
            "CE5C0900YJFM00001",
        ],
        1,
        "sample CE5C0900YJFM00001 is permanent storage material, which is never lent",
    )
    before = fingerprint(db_path)
    result = cli(
        runner,
        "loans",
        "request",
        "L-1",
        "--agreement",
        "AG-OU",
        "--pi",
        OU_PI,
        "--sample",
        S1,
        "--period",
        "forever",
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --period: ")
    assert fingerprint(db_path) == before


def test_approve_twice_is_refused(runner: CliRunner, run: Run, db_path: Path) -> None:
    signed_agreement(run)
    run(loans.request_loan, number="L-1", agreement="AG-OU", pi=OU_PI, samples=[S1])
    ok(runner, "loans", "approve", "L-1")
    refused(
        runner,
        db_path,
        ["loans", "approve", "L-1"],
        1,
        "loan L-1 is approved; cannot approve: only a requested loan can be approved",
    )


def test_issue_under_a_pending_agreement_is_refused(
    runner: CliRunner, run: Run, db_path: Path
) -> None:
    run(
        agreements.create_agreement,
        number="AG-BR",
        institution="Brown",
        term="P5Y",
        max_total_mass_ug=mass("1 g"),
        allowed_purposes=["research"],
        max_loan_period="P1Y",
    )
    run(loans.request_loan, number="L-9", agreement="AG-BR", pi=BROWN_PI, samples=[S1])
    run(loans.approve_loan, number="L-9")
    refused(
        runner,
        db_path,
        ["loans", "issue", "L-9"],
        1,
        "agreement AG-BR with Brown is not signed; loan L-9 cannot be issued until it is "
        "('agreements sign')",
    )


def test_ship_before_issue_is_refused(runner: CliRunner, run: Run, db_path: Path) -> None:
    signed_agreement(run)
    run(loans.request_loan, number="L-1", agreement="AG-OU", pi=OU_PI, samples=[S1])
    refused(
        runner,
        db_path,
        ["loans", "ship", "L-1", "--container", "box", "--seal", "S"],
        1,
        "loan L-1 is requested; cannot ship: approve it first ('loans approve')",
    )


def test_receive_with_a_malformed_weighing_is_refused(
    runner: CliRunner, run: Run, db_path: Path
) -> None:
    signed_agreement(run)
    issued_loan(run)
    run(loans.ship_loan, number="L-1", container="box", seal_number="S-1")
    refused(
        runner,
        db_path,
        ["loans", "receive", "L-1", "--seal-intact", "--condition", "ok", "--weighed", "oops"],
        2,
        "--weighed: 'oops' is not CODE=MASS; write e.g. CE5C0200YJFM00112=19.5mg",
    )
    refused(
        runner,
        db_path,
        ["loans", "receive", "L-1", "--seal-intact", "--condition", "ok", "--weighed", f"{S2}=1mg"],
        2,
        f"--weighed: {S2} is not in the shipment of loan L-1 under seal S-1; it carries {S1}",
    )


def test_destructive_use_forbidden_by_the_agreement(
    runner: CliRunner, run: Run, db_path: Path
) -> None:
    signed_agreement(run, destructive=False)
    received_loan(run)
    refused(
        runner,
        db_path,
        [
            "loans",
            "consume",
            "L-1",
            "--sample",
            S1,
            "--technique",
            "SIMS",
            "--mass",
            "2 mg",
            "--destructive",
        ],
        1,
        f"agreement AG-OU does not allow destructive use; SIMS on {S1} cannot be "
        "recorded as destructive",
    )
    ok(
        runner,
        "loans",
        "consume",
        "L-1",
        "--sample",
        S1,
        "--technique",
        "Raman",
        "--mass",
        "1 mg",
        "--non-destructive",
    )


def test_consume_more_than_held_and_a_bare_number(
    runner: CliRunner, run: Run, db_path: Path
) -> None:
    signed_agreement(run)
    received_loan(run)
    refused(
        runner,
        db_path,
        [
            "loans",
            "consume",
            "L-1",
            "--sample",
            S1,
            "--technique",
            "SIMS",
            "--mass",
            "25 mg",
            "--destructive",
        ],
        1,
        f"--mass: cannot consume 25.000 mg of {S1}: the borrower holds only 20.000 mg on loan L-1",
    )
    before = fingerprint(db_path)
    result = cli(
        runner,
        "loans",
        "consume",
        "L-1",
        "--sample",
        S1,
        "--technique",
        "SIMS",
        "--mass",
        "2",
        "--destructive",
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --mass: ")
    assert fingerprint(db_path) == before


def test_split_refusals(runner: CliRunner, run: Run, db_path: Path) -> None:
    signed_agreement(run)
    received_loan(run)
    refused(
        runner,
        db_path,
        ["loans", "split", "L-1", "--sample", S1, "--child", "-G1", "--mass", "30 mg"],
        1,
        f"--mass: cannot split 30.000 mg of {S1}: the borrower holds only 20.000 mg on loan L-1",
    )
    refused(
        runner,
        db_path,
        ["loans", "split", "L-1", "--sample", S2, "--child", "-G1", "--mass", "1 mg"],
        2,
        f"--sample: {S2} is not part of loan L-1; see 'loans show L-1'",
    )


def test_return_before_receipt_is_refused(runner: CliRunner, run: Run, db_path: Path) -> None:
    signed_agreement(run)
    issued_loan(run)
    refused(
        runner,
        db_path,
        ["loans", "return", "L-1", "--container", "box", "--seal", "S"],
        1,
        "loan L-1 is issued; cannot release it for return: ship it first ('loans ship')",
    )


def test_accept_return_with_a_shortfall_is_refused(
    runner: CliRunner, run: Run, db_path: Path
) -> None:
    signed_agreement(run)
    received_loan(run)
    run(loans.release_return, number="L-1", container="box", seal_number="S-2")
    refused(
        runner,
        db_path,
        [
            "loans",
            "accept-return",
            "L-1",
            "--seal-intact",
            "--condition",
            "ok",
            "--weighed",
            f"{S1}=19mg",
        ],
        1,
        f"sample {S1} weighs 19.000 mg but 20.000 mg is accountable; record the missing "
        f"1.000 mg as a loss first ('incidents report --sample {S1} --kind loss "
        "--mass-lost 1.000mg --description …')",
    )
    refused(
        runner,
        db_path,
        [
            "loans",
            "accept-return",
            "L-1",
            "--seal-intact",
            "--condition",
            "ok",
            "--weighed",
            f"{S1}=19mg",
            "--weighed",
            f"{S1}=20mg",
        ],
        2,
        f"--weighed: {S1} is given twice; weigh each sample once",
    )


def test_extend_beyond_the_maximum_is_refused(runner: CliRunner, run: Run, db_path: Path) -> None:
    signed_agreement(run, max_extensions=1)
    received_loan(run)
    args = [
        "loans",
        "extend",
        "L-1",
        "--period",
        "P6M",
        "--approver",
        CURATOR,
        "--reason",
        "more time",
    ]
    ok(runner, *args)
    refused(
        runner, db_path, args, 1, "loan L-1 has used 1 of the 1 extension agreement AG-OU allows"
    )


def test_recall_into_the_past_is_refused(runner: CliRunner, run: Run, db_path: Path) -> None:
    signed_agreement(run)
    received_loan(run)
    refused(
        runner,
        db_path,
        ["loans", "recall", "L-1", "--due", "2025-03-01T00:00:00Z", "--reason", "audit"],
        1,  # time order is a rule (README, exit codes)
        "--due: 2025-03-01T00:00:00Z is not after the recall (2025-04-01T09:00:00Z); a recall must "
        "give the borrower a due date after the recall: give one from 2025-04-01T09:00:01Z on",
    )


def test_inventory_by_a_compliance_officer_is_refused(
    runner: CliRunner, run: Run, db_path: Path
) -> None:
    signed_agreement(run)
    received_loan(run)
    refused(
        runner,
        db_path,
        ["loans", "inventory", "L-1"],
        4,
        f"{COMPLIANCE} is a compliance officer; only curators and the borrowing institution's "
        "researchers may attest inventories",
        actor=COMPLIANCE,
    )


def test_settle_with_mass_still_held_and_close_before_settle(
    runner: CliRunner, run: Run, db_path: Path
) -> None:
    signed_agreement(run)
    received_loan(run)
    refused(
        runner,
        db_path,
        ["loans", "settle", "L-1", "--obligations", "report"],
        1,
        f"loan L-1 still has 20.000 mg held by the borrower ({S1}); record its return, "
        "consumption or loss first",
    )
    refused(
        runner,
        db_path,
        ["loans", "close", "L-1"],
        1,
        "loan L-1 is received by the borrower; cannot close: settle it first ('loans settle')",
    )


def test_researchers_cannot_write(runner: CliRunner, run: Run, db_path: Path) -> None:
    signed_agreement(run)
    run(loans.request_loan, number="L-1", agreement="AG-OU", pi=OU_PI, samples=[S1])
    refused(
        runner,
        db_path,
        ["loans", "approve", "L-1"],
        4,
        f"{OU_PI} is a researcher; only curators may approve loans",
        actor=OU_PI,
    )


# --- who may read -----------------------------------------------------------------------------


def test_researcher_of_another_institution_cannot_show(
    runner: CliRunner, run: Run, db_path: Path
) -> None:
    signed_agreement(run)
    issued_loan(run)
    refused(
        runner,
        db_path,
        ["loans", "show", "L-1"],
        2,
        "NUMBER 'L-1': no such loan among the records you may read; see 'sampleloans loans list'",
        actor=UOC_PI,
    )
    assert show(runner, actor=OU_PI)["number"] == "L-1"
    assert show(runner, actor=COMPLIANCE)["number"] == "L-1"


def test_researchers_list_only_their_own_loans(runner: CliRunner, run: Run, db_path: Path) -> None:
    signed_agreement(run)
    signed_agreement(run, "UoC")
    issued_loan(run)
    issued_loan(run, number="L-2", agreement="AG-UoC", pi=UOC_PI, samples=(S2,))
    numbers = [r["number"] for r in json.loads(ok(runner, "loans", "list", "--json"))]
    assert numbers == ["L-1", "L-2"]
    mine = json.loads(ok(runner, "loans", "list", "--json", actor=UOC_PI))
    assert [r["number"] for r in mine] == ["L-2"]
    refused(
        runner,
        db_path,
        ["loans", "list", "--institution", "OU"],
        2,
        "--institution 'OU': no such institution among the records you may read; see "
        "'sampleloans institutions list'",
        actor=UOC_PI,
    )


def test_reads_need_an_actor(runner: CliRunner, run: Run) -> None:
    result = runner.invoke(app, ["loans", "list"])
    assert result.exit_code == 4
    assert result.stderr == (
        "Error: no acting person: pass --as EMAIL or set SAMPLELOANS_USER to a registered person\n"
    )


def test_show_unknown_loan(runner: CliRunner, run: Run, db_path: Path) -> None:
    refused(
        runner,
        db_path,
        ["loans", "show", "L-404"],
        2,
        "NUMBER 'L-404': no such loan; see 'sampleloans loans list'",
    )


# --- incidents --------------------------------------------------------------------------------


def test_incident_freezes_the_sample_until_resolved(
    runner: CliRunner, run: Run, db_path: Path
) -> None:
    signed_agreement(run)
    received_loan(run)
    out = ok(
        runner,
        "incidents",
        "report",
        "--sample",
        S1,
        "--kind",
        "damage",
        "--description",
        "vial cracked",
    )
    seq = event_seq(out)
    assert out.startswith(f"Incident {seq} reported on {S1}; the sample is frozen")
    consume = [
        "loans",
        "consume",
        "L-1",
        "--sample",
        S1,
        "--technique",
        "SIMS",
        "--mass",
        "1 mg",
        "--destructive",
    ]
    refused(
        runner,
        db_path,
        consume,
        1,
        f"sample {S1} is frozen by open incident {seq}; "
        f"resolve it first ('incidents resolve {seq} --resolution …')",
    )
    (row,) = json.loads(ok(runner, "incidents", "list", "--open", "--json"))
    assert row == {
        "seq": seq,
        "sample_code": S1,
        "loan_number": "L-1",
        "institution": "OU",
        "kind": "damage",
        "description": "vial cracked",
        "mass_lost_ug": 0,
        "reported_at": "2025-04-01T09:00:00Z",
        "reported_by": CURATOR,
        "status": "open",
        "resolved_at": None,
        "resolution": None,
    }
    assert "vial cracked" in ok(runner, "incidents", "list")
    out = ok(runner, "incidents", "resolve", str(seq), "--resolution", "repacked")
    assert out.startswith(f"Incident {seq} resolved (event ")
    ok(runner, *consume)
    assert json.loads(ok(runner, "incidents", "list", "--open", "--json")) == []
    refused(
        runner,
        db_path,
        ["incidents", "resolve", str(seq), "--resolution", "again"],
        1,
        f"incident {seq} is already resolved",
    )


def test_incident_with_lost_mass_and_refusals(runner: CliRunner, run: Run, db_path: Path) -> None:
    signed_agreement(run)
    received_loan(run)
    ok(
        runner,
        "incidents",
        "report",
        "--sample",
        S1,
        "--kind",
        "loss",
        "--description",
        "spilled",
        "--mass-lost",
        "1 mg",
    )
    item = show(runner)["items"][0]
    assert item["lost_ug"] == 1000 and item["held_ug"] == 19000
    refused(
        runner,
        db_path,
        ["incidents", "report", "--sample", S1, "--kind", "fire", "--description", "x"],
        2,
        "--kind: 'fire' is not one of loss, theft, damage",
    )
    refused(
        runner,
        db_path,
        ["incidents", "resolve", "999", "--resolution", "x"],
        2,
        "SEQ 999: no such incident; see 'sampleloans incidents list'",
    )
    # a researcher of another institution does not see OU's incidents
    assert json.loads(ok(runner, "incidents", "list", "--json", actor=UOC_PI)) == []
    assert len(json.loads(ok(runner, "incidents", "list", "--json", actor=OU_PI))) == 1


def test_help_does_not_import_sqlalchemy() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from sampleloans.cli import app\n"
        "from typer.testing import CliRunner\n"
        "CliRunner().invoke(app, ['loans', '--help'])\n"
        "CliRunner().invoke(app, ['incidents', '--help'])\n"
        "assert 'sqlalchemy' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_shortfall_found_on_return_is_recorded_as_loss_then_accepted(
    runner: CliRunner, engine: Engine, db_path: Path, cli_env: dict[str, str], run: Run
) -> None:
    """Mass missing when a return arrives: record the loss in transit, then accept the rest."""
    signed_agreement(run)
    received_loan(run)
    run(loans.release_return, number="L-1", container="box", seal_number="S-R")
    lost = runner.invoke(
        app,
        [
            "--as",
            CURATOR,
            "incidents",
            "report",
            "--sample",
            S1,
            "--kind",
            "loss",
            "--description",
            "vial cracked in transit",
            "--mass-lost",
            "1 mg",
        ],
    )
    assert lost.exit_code == 0, lost.output
    accepted = runner.invoke(
        app,
        [
            "--as",
            CURATOR,
            "loans",
            "accept-return",
            "L-1",
            "--seal-intact",
            "--condition",
            "ok",
            "--weighed",
            f"{S1}=19mg",
        ],
    )
    assert accepted.exit_code == 0, accepted.output
    shown = json.loads(ok(runner, "loans", "show", "L-1", "--json"))
    item = shown["items"][0]
    assert (item["returned_ug"], item["lost_ug"], item["held_ug"]) == (19_000, 1_000, 0)
    assert runner.invoke(app, ["--as", CURATOR, "verify"]).exit_code == 0
