"""Issue 11, item 1: corrections that change numbers (`custody correct SEQ --mass … --reason …`).

A `mass.corrected` event supersedes a recorded mass (consumption, weighing, registration, split
child); the corrected event stays as it was, the balance and reports use the new value, `verify`
replays it, `import` accepts it, and a correction that would break conservation is refused.
"""

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import SQLModel, select
from typer.testing import CliRunner, Result

from sampleloans import db
from sampleloans.cli import app
from sampleloans.errors import InvalidInput, PermissionDenied, RuleViolation
from sampleloans.models import Consumption, LedgerEvent, LoanItem, Sample, Weighing
from sampleloans.readmodels.report import ReturnBody
from sampleloans.services import incidents, loans, samples
from sampleloans.services.corrections import correct_mass
from sampleloans.services.reporting import build_report, make_request
from sampleloans.services.results import LoanWritten
from sampleloans.services.verify import verify
from sampleloans.units import parse_mass_ug as mass
from tests.conftest import COMPLIANCE, CURATOR, NOW, OU_PI, Run, ctx_for, fingerprint
from tests.factories import received_loan, signed_agreement

CODE = "CE5C0200YJFM00112"  # 20 mg in the demo catalogue
ROOT = "CE5C0000YJYX061"  # 12.4 mg, never lent in the fixtures
PARENT = "CE5C0100YJFM00201"  # 1000 mg


def consumed_and_returning(run: Run, consumed: str = "0.5 mg") -> int:
    """L-1 (20 mg of CODE) received, `consumed` recorded, the rest released for return; returns
    the consumption's seq."""
    signed_agreement(run)
    received_loan(run)
    envelope = run(
        loans.consume,
        number="L-1",
        sample=CODE,
        technique="EPMA",
        mass_ug=mass(consumed),
        destructive=False,
    )
    run(loans.release_return, number="L-1", container="N2 box", seal_number="S-2")
    return envelope.seq


def accept(run: Run, weighed: str) -> LoanWritten:
    """Accept L-1's return with CODE weighed at `weighed`."""
    return run(
        loans.accept_return,
        number="L-1",
        seal_intact=True,
        condition="unchanged",
        weighed_ug={CODE: mass(weighed)},
    )


def row(engine: Engine, model: type[SQLModel], key: object) -> dict[str, Any]:
    """One projection row (detached copy of its values); the row must exist."""
    with db.transaction(engine, write=False) as session:
        found = session.get(model, key)
        assert found is not None, (model.__name__, key)
        return found.model_dump()


def assert_verifies(engine: Engine) -> None:
    """`verify` replays the ledger (corrections included) and finds nothing."""
    result = verify(engine)
    assert result.ok, [p.message for p in result.problems]


# --- service level ------------------------------------------------------------------------------


def test_a_corrected_consumption_lets_the_true_return_be_accepted(engine: Engine, run: Run) -> None:
    seq = consumed_and_returning(run, "0.5 mg")  # the analysis really took 0.3 mg
    with pytest.raises(RuleViolation, match="accountable"):
        accept(run, "19.7 mg")
    original = row(engine, LedgerEvent, seq)
    run(correct_mass, corrects_seq=seq, mass_ug=mass("0.3 mg"), reason="lab log: 0.3 mg")
    accept(run, "19.7 mg")  # no fake loss needed
    item = row(engine, LoanItem, ("L-1", CODE))
    assert (item["consumed_ug"], item["returned_ug"], item["lost_ug"]) == (300, 19_700, 0)
    sample = row(engine, Sample, CODE)
    assert (sample["consumed_ug"], sample["vault_ug"], sample["lost_ug"]) == (300, 19_700, 0)
    assert row(engine, Consumption, seq)["mass_ug"] == 300
    assert row(engine, LedgerEvent, seq) == original  # the old event is untouched
    assert json.loads(original["payload"])["mass_ug"] == 500
    assert_verifies(engine)


def test_raising_a_consumption_beyond_what_is_held_is_refused(
    engine: Engine, db_path: Path, run: Run
) -> None:
    seq = consumed_and_returning(run, "0.5 mg")
    before = fingerprint(db_path)
    with pytest.raises(RuleViolation, match=r"holds 19\.500 mg"):
        run(correct_mass, corrects_seq=seq, mass_ug=mass("25 mg"), reason="typo")
    # taking everything left would leave the return shipment empty
    with pytest.raises(RuleViolation, match="return shipment empty"):
        run(correct_mass, corrects_seq=seq, mass_ug=mass("20 mg"), reason="x")
    assert fingerprint(db_path) == before


def test_a_consumption_cannot_change_once_the_sample_came_back(
    engine: Engine, db_path: Path, run: Run
) -> None:
    seq = consumed_and_returning(run, "0.5 mg")
    accept(run, "19.5 mg")
    before = fingerprint(db_path)
    for new in ("0.3 mg", "0.6 mg"):  # lowering: nobody holds it; raising: nothing held
        with pytest.raises(RuleViolation, match=r"returned on loan L-1|holds 0 µg"):
            run(correct_mass, corrects_seq=seq, mass_ug=mass(new), reason="late")
    assert fingerprint(db_path) == before


def test_lowering_a_consumption_that_used_everything_makes_the_sample_held_again(
    engine: Engine, run: Run
) -> None:
    signed_agreement(run)
    received_loan(run)
    seq = run(
        loans.consume,
        number="L-1",
        sample=CODE,
        technique="ICP-MS",
        mass_ug=mass("20 mg"),
        destructive=True,
    ).seq
    assert row(engine, LoanItem, ("L-1", CODE))["state"] == "consumed"
    run(correct_mass, corrects_seq=seq, mass_ug=mass("18 mg"), reason="2 mg left over")
    item = row(engine, LoanItem, ("L-1", CODE))
    assert (item["state"], item["held_ug"], item["consumed_ug"]) == ("held", 2_000, 18_000)
    assert row(engine, Sample, CODE)["custody_state"] == "held"
    assert_verifies(engine)


def test_a_registration_is_corrected_before_the_sample_is_split_or_lent(
    engine: Engine, db_path: Path, run: Run
) -> None:
    seq = _registration_seq(db_path, ROOT)
    run(correct_mass, corrects_seq=seq, mass_ug=mass("12 mg"), reason="reweighed dry")
    sample = row(engine, Sample, ROOT)
    assert (sample["initial_mass_ug"], sample["vault_ug"]) == (12_000, 12_000)
    assert_verifies(engine)
    run(samples.split_sample, parent=ROOT, children=[("-01", mass("2 mg"))])
    before = fingerprint(db_path)
    with pytest.raises(RuleViolation, match="was split after event"):
        run(correct_mass, corrects_seq=seq, mass_ug=mass("11 mg"), reason="again")
    assert fingerprint(db_path) == before


def test_a_registration_cannot_take_a_mission_past_what_it_returned(
    engine: Engine, db_path: Path, run: Run
) -> None:
    seq = _registration_seq(db_path, ROOT)
    with pytest.raises(RuleViolation, match="returned"):
        run(correct_mass, corrects_seq=seq, mass_ug=mass("2000 g"), reason="x")


def test_a_split_childs_mass_moves_between_child_and_parent_vault(
    engine: Engine, db_path: Path, run: Run
) -> None:
    seq = run(samples.split_sample, parent=PARENT, children=[("-01", mass("20 mg"))]).seq
    child = f"{PARENT}-01"
    run(correct_mass, corrects_seq=seq, mass_ug=mass("25 mg"), reason="balance drift")
    parent = row(engine, Sample, PARENT)
    assert (parent["vault_ug"], parent["split_ug"]) == (975_000, 25_000)
    assert row(engine, Sample, child)["initial_mass_ug"] == 25_000
    assert_verifies(engine)
    signed_agreement(run)
    received_loan(run, samples=(child,))
    before = fingerprint(db_path)
    with pytest.raises(RuleViolation, match="was lent after event"):
        run(correct_mass, corrects_seq=seq, mass_ug=mass("20 mg"), reason="x")
    assert fingerprint(db_path) == before


def test_a_borrowers_split_child_is_corrected_against_the_parents_held_mass(
    engine: Engine, run: Run
) -> None:
    signed_agreement(run)
    received_loan(run)
    seq = run(
        loans.borrower_split, number="L-1", parent=CODE, child="-G1", mass_ug=mass("2 mg")
    ).seq
    run(correct_mass, corrects_seq=seq, mass_ug=mass("3 mg"), reason="x")
    parent = row(engine, LoanItem, ("L-1", CODE))
    child = row(engine, LoanItem, ("L-1", f"{CODE}-G1"))
    assert (parent["held_ug"], parent["split_ug"]) == (17_000, 3_000)
    assert (child["issued_ug"], child["held_ug"]) == (3_000, 3_000)
    assert_verifies(engine)
    with pytest.raises(RuleViolation, match=r"holds 17\.000 mg"):
        run(correct_mass, corrects_seq=seq, mass_ug=mass("21 mg"), reason="x")


def test_weighings_are_corrected_and_a_return_weighing_stays_exact(
    engine: Engine, db_path: Path, run: Run
) -> None:
    signed_agreement(run)
    received_loan(run)
    with db.transaction(engine, write=False) as session:
        receipt = session.exec(select(Weighing).where(Weighing.loan_number == "L-1")).one()
        receipt_seq = receipt.seq
    run(correct_mass, corrects_seq=receipt_seq, mass_ug=mass("19.9 mg"), reason="scale log")
    assert row(engine, Weighing, (receipt_seq, CODE))["weighed_ug"] == 19_900
    run(loans.release_return, number="L-1", container="N2 box", seal_number="S-2")
    back = accept(run, "20 mg").seq
    with pytest.raises(RuleViolation, match="exactly what was accountable"):
        run(correct_mass, corrects_seq=back, mass_ug=mass("19 mg"), reason="x")
    assert_verifies(engine)


def test_a_loss_is_corrected_on_loan_and_in_the_vault(
    engine: Engine, db_path: Path, run: Run
) -> None:
    signed_agreement(run)
    received_loan(run)
    on_loan = run(
        incidents.report_incident,
        sample=CODE,
        incident_kind="loss",
        description="spill",
        mass_lost_ug=mass("1 mg"),
    ).seq
    run(correct_mass, corrects_seq=on_loan, mass_ug=mass("0.1 mg"), reason="0.1 mg spilled")
    item = row(engine, LoanItem, ("L-1", CODE))
    assert (item["held_ug"], item["lost_ug"]) == (19_900, 100)
    assert row(engine, Sample, CODE)["lost_ug"] == 100
    in_vault = run(
        incidents.report_incident, sample=ROOT, incident_kind="damage", description="vial cracked"
    ).seq
    run(correct_mass, corrects_seq=in_vault, mass_ug=mass("0.4 mg"), reason="fragments lost")
    sample = row(engine, Sample, ROOT)
    assert (sample["vault_ug"], sample["lost_ug"]) == (12_000, 400)
    assert_verifies(engine)
    with pytest.raises(RuleViolation, match="in the vault now"):
        run(correct_mass, corrects_seq=in_vault, mass_ug=mass("13 mg"), reason="x")


def test_bad_requests_are_input_errors_and_researchers_may_not_correct(
    engine: Engine, run: Run
) -> None:
    seq = consumed_and_returning(run)
    with pytest.raises(InvalidInput, match="records no mass"):
        run(correct_mass, corrects_seq=seq + 1, mass_ug=1, reason="x")  # the return shipment
    with pytest.raises(InvalidInput, match="records no mass of"):
        run(correct_mass, corrects_seq=seq, mass_ug=1, reason="x", sample=ROOT)
    with pytest.raises(InvalidInput, match="already"):
        run(correct_mass, corrects_seq=seq, mass_ug=500, reason="x")
    with pytest.raises(InvalidInput, match="reason"):
        run(correct_mass, corrects_seq=seq, mass_ug=400, reason=" ")
    with pytest.raises(PermissionDenied):
        run(correct_mass, corrects_seq=seq, mass_ug=400, reason="x", actor=OU_PI)


def test_the_return_form_uses_the_corrected_consumption(engine: Engine, run: Run) -> None:
    seq = consumed_and_returning(run, "0.5 mg")
    run(correct_mass, corrects_seq=seq, mass_ug=mass("0.3 mg"), reason="lab log")
    accept(run, "19.7 mg")
    with db.transaction(engine, write=False) as session:
        report = build_report(
            session, ctx_for(COMPLIANCE), make_request("return", loan="L-1"), generated_at=NOW
        )
    body = report.body
    assert isinstance(body, ReturnBody)
    (line,) = body.lines
    assert line.consumed_ug == 300 and [a.mass_ug for a in line.analyses] == [300]
    assert body.total.returned_now_ug + body.total.returned_before_ug == 19_700


def _registration_seq(db_path: Path, code: str) -> int:
    """The seq of a sample's registration event."""
    with sqlite3.connect(db_path) as connection:
        (seq,) = connection.execute(
            "SELECT seq FROM ledger_event WHERE kind = 'sample.registered' "
            "AND json_extract(payload, '$.code') = ?",
            (code,),
        ).fetchone()
    return int(seq)


# --- through the CLI ----------------------------------------------------------------------------


def cli(runner: CliRunner, *args: str, actor: str = CURATOR) -> Result:
    """Invoke the CLI as `actor`."""
    return runner.invoke(app, ["--as", actor, *args])


def ok(runner: CliRunner, *args: str, actor: str = CURATOR) -> str:
    """Invoke and require exit 0; returns stdout."""
    result = cli(runner, *args, actor=actor)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def refused(runner: CliRunner, db_path: Path, *args: str, code: int, actor: str = CURATOR) -> str:
    """Exit `code`, one `Error:` line, nothing written; returns the message."""
    before = fingerprint(db_path)
    result = cli(runner, *args, actor=actor)
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert fingerprint(db_path) == before
    return result.stderr


@pytest.mark.usefixtures("cli_env")
def test_cli_corrects_a_consumption_and_every_view_follows(
    engine: Engine, run: Run, runner: CliRunner, db_path: Path
) -> None:
    seq = consumed_and_returning(run, "0.5 mg")
    refused(
        runner,
        db_path,
        "loans",
        "accept-return",
        "L-1",
        "--seal-intact",
        "--condition",
        "ok",
        "--weighed",
        f"{CODE}=19.7mg",
        code=1,
    )
    out = ok(runner, "custody", "correct", str(seq), "--mass", "0.3 mg", "--reason", "lab log")
    found = re.search(r"\(event (\d+)\)", out)
    assert found is not None, out
    correction = int(found.group(1))
    ok(
        runner,
        "loans",
        "accept-return",
        "L-1",
        "--seal-intact",
        "--condition",
        "ok",
        "--weighed",
        f"{CODE}=19.7mg",
    )
    shown = json.loads(ok(runner, "loans", "show", "L-1", "--json"))
    assert [c["mass_ug"] for c in shown["consumptions"] if c["seq"] == seq] == [300]
    history = json.loads(ok(runner, "custody", "history", "--loan", "L-1", "--json"))
    events = {e["seq"]: e for e in history["events"]}
    assert events[seq]["corrected_by"] == [correction]
    assert events[seq]["description"].startswith("500 µg of")  # the old event as recorded
    assert events[correction]["kind"] == "mass.corrected"
    assert events[correction]["corrects_seq"] == seq
    assert "500 µg → 300 µg" in events[correction]["description"]
    # wide enough that no description wraps: the mark is read whole
    wide = runner.invoke(
        app, ["--as", CURATOR, "custody", "history", "--loan", "L-1"], env={"COLUMNS": "250"}
    )
    assert wide.exit_code == 0, wide.stderr
    table = wide.stdout
    assert f"corrected by {correction}" in table and "500 µg → 300 µg" in table
    balance = json.loads(ok(runner, "balance", "--loan", "L-1", "--json", actor=COMPLIANCE))
    (item,) = [i for i in balance["item_balance"]["rows"] if i["sample_code"] == CODE]
    assert (item["consumed_ug"], item["returned_ug"], item["lost_ug"]) == (300, 19_700, 0)
    assert ok(runner, "verify", actor=COMPLIANCE).startswith("verify: OK")


@pytest.mark.usefixtures("cli_env")
def test_cli_refusals(engine: Engine, run: Run, runner: CliRunner, db_path: Path) -> None:
    seq = consumed_and_returning(run, "0.5 mg")
    msg = refused(
        runner, db_path, "custody", "correct", str(seq), "--mass", "25 mg", "--reason", "x", code=1
    )
    assert "holds 19.500 mg" in msg
    refused(runner, db_path, "custody", "correct", str(seq), "--mass", "0.3 mg", code=2)
    refused(
        runner, db_path, "custody", "correct", str(seq), "--mass", "0.3", "--reason", "x", code=2
    )
    refused(
        runner, db_path, "custody", "correct", str(seq), "--text", "t", "--mass", "1 mg", code=2
    )
    msg = refused(
        runner, db_path, "custody", "correct", "3", "--mass", "1 mg", "--reason", "x", code=2
    )
    assert "records no mass" in msg and "--text" in msg
    refused(
        runner,
        db_path,
        "custody",
        "correct",
        str(seq),
        "--mass",
        "0.3 mg",
        "--reason",
        "x",
        code=4,
        actor=OU_PI,
    )
    refused(
        runner, db_path, "custody", "correct", "99999", "--mass", "1 mg", "--reason", "x", code=2
    )


@pytest.mark.usefixtures("cli_env")
def test_cli_corrects_a_registration_and_the_text_form_still_works(
    engine: Engine, runner: CliRunner, db_path: Path
) -> None:
    seq = _registration_seq(db_path, ROOT)
    ok(runner, "custody", "correct", str(seq), "--mass", "12 mg", "--reason", "reweighed")
    shown = json.loads(ok(runner, "balance", "--sample", ROOT, "--json"))
    (sample,) = [s for s in shown["sample_balance"]["rows"] if s["code"] == ROOT]
    assert (sample["initial_ug"], sample["vault_ug"]) == (12_000, 12_000)
    ok(runner, "custody", "correct", str(seq), "--text", "catalogue typo fixed")
    assert ok(runner, "verify").startswith("verify: OK")


@pytest.mark.usefixtures("cli_env")
def test_import_accepts_a_mass_correction(
    engine: Engine, runner: CliRunner, db_path: Path, tmp_path: Path
) -> None:
    with sqlite3.connect(db_path) as connection:
        (head,) = connection.execute("SELECT max(seq) FROM ledger_event").fetchone()
    registered = {
        "code": "CE5C0000YJYX099",
        "mission": "CE-5",
        "origin": "scoop",
        "material_type": "basalt",
        "physical_form": "rock fragment",
        "purpose_class": "research",
        "storage_location": "NAOC N2 cabinet B",
        "condition": "pristine",
        "mass_ug": 3_200,
    }
    lines: list[dict[str, Any]] = [
        {"kind": "sample.registered", "actor": CURATOR, "payload": registered},
        {
            "kind": "mass.corrected",
            "actor": CURATOR,
            "corrects_seq": head + 1,
            "reason": "catalogue typo",
            "payload": {
                "what": "registration",
                "sample": "CE5C0000YJYX099",
                "old_mass_ug": 3_200,
                "new_mass_ug": 2_300,
            },
        },
    ]
    history = tmp_path / "history.jsonl"
    history.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    ok(runner, "import", str(history))
    assert row(engine, Sample, "CE5C0000YJYX099")["initial_mass_ug"] == 2_300
    assert ok(runner, "verify").startswith("verify: OK")
    stale = tmp_path / "stale.jsonl"  # old_mass_ug must be the mass in force
    lines[1]["corrects_seq"] = head + 1
    lines[1]["payload"]["old_mass_ug"] = 3_200
    lines[1]["payload"]["new_mass_ug"] = 2_000
    stale.write_text(json.dumps(lines[1]) + "\n", encoding="utf-8")
    before = fingerprint(db_path)
    result = cli(runner, "import", str(stale))
    assert result.exit_code == 2 and "old_mass_ug is 3200 but the ledger records 2300" in (
        result.stderr
    )
    assert fingerprint(db_path) == before
    unnamed = tmp_path / "unnamed.jsonl"  # a mass correction must name the event it corrects
    del lines[1]["corrects_seq"]
    unnamed.write_text(json.dumps(lines[1]) + "\n", encoding="utf-8")
    result = cli(runner, "import", str(unnamed))
    assert result.exit_code == 2 and "corrects_seq: a mass.corrected record names" in result.stderr
    assert fingerprint(db_path) == before
