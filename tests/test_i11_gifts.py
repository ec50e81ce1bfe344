"""Issue 11, items 6, 17, 18: permanent transfers (gifts) and the real record set straight."""

import csv
import io
import json
import sqlite3
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from sampleloans import db
from sampleloans.cli import app
from sampleloans.errors import PermissionDenied, RuleViolation
from sampleloans.ledger import checks
from sampleloans.models import Sample
from sampleloans.services import agreements, incidents, loans, transfers
from sampleloans.services.catalog import show_agreement
from sampleloans.units import parse_mass_ug as mass
from tests.conftest import COMPLIANCE, CURATOR, OU_PI, Run, ctx_for, fingerprint
from tests.factories import issued_loan, signed_agreement

GIFT = "CE5C0400YJFM00507"  # real code, 1.5 g (Guo et al. 2022)
BEAD = "CE5C0600YJFM00304"
BACKUP = "CE5C0900YJFM00002"
TRANSFER = ["samples", "transfer", GIFT, "--to", "MNHN", "--reference", "CNSA gift, 24 Apr 2023"]
FIRMNESS = ("firm", "likely", "unsure", "illustrative")


def invoke(runner: CliRunner, actor: str, *args: str) -> Result:
    """Run the CLI as `actor`."""
    return runner.invoke(app, ["--as", actor, *args])


def as_json(runner: CliRunner, actor: str, *args: str) -> Any:
    """A read command's --json output."""
    result = invoke(runner, actor, *args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def refused(runner: CliRunner, db_path: Path, actor: str, args: list[str], code: int) -> str:
    """A command that must be refused with `code`, writing nothing; returns stderr."""
    before = fingerprint(db_path)
    result = invoke(runner, actor, *args)
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert fingerprint(db_path) == before
    return result.stderr


# --- item 6: the command ------------------------------------------------------------------------


@pytest.mark.usefixtures("cli_env", "engine")
def test_transfer_gives_a_sample_for_good_and_the_balance_counts_it(runner: CliRunner) -> None:
    result = invoke(runner, CURATOR, *TRANSFER, "--at", "2023-04-24")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"Transferred {GIFT} (1.500 g) to MNHN for good; event ")
    shown = as_json(runner, COMPLIANCE, "samples", "show", GIFT)
    assert (shown["custody_state"], shown["custodian"]) == ("transferred", "MNHN")
    assert (shown["vault_ug"], shown["transferred_ug"]) == (0, 1_500_000)
    lineage = as_json(runner, COMPLIANCE, "balance", "--sample", GIFT)
    (row,) = lineage["sample_balance"]["rows"]
    assert row["transferred_ug"] == 1_500_000 and lineage["balanced"] is True
    whole = as_json(runner, COMPLIANCE, "balance")
    total = whole["sample_balance"]["total"]
    assert total["transferred_ug"] == 1_500_000 and whole["balanced"] is True
    text = invoke(runner, COMPLIANCE, "balance", "--sample", GIFT).stdout
    assert "+ lost + transferred:" in text and "1.500 g ✓" in text
    listed = as_json(runner, COMPLIANCE, "samples", "list", "--state", "transferred")
    assert [s["code"] for s in listed] == [GIFT]
    history = as_json(runner, COMPLIANCE, "custody", "history", "--sample", GIFT)["events"]
    given = [e["description"] for e in history if e["kind"] == "sample.transferred"]
    assert len(given) == 1 and "given to MNHN for good" in given[0]
    as_of = as_json(
        runner, COMPLIANCE, "custody", "history", "--sample", GIFT, "--as-of", "2024-01-01"
    )
    assert as_of["replayed_state"]["samples"][0]["transferred_ug"] == 1_500_000
    assert invoke(runner, COMPLIANCE, "verify").exit_code == 0


@pytest.mark.usefixtures("cli_env")
def test_transfer_refusals_write_nothing(runner: CliRunner, db_path: Path, run: Run) -> None:
    borrower = [*TRANSFER[:4], "OU", *TRANSFER[5:]]
    assert "OU is a borrower" in refused(runner, db_path, CURATOR, borrower, 1)
    unknown = [*TRANSFER[:4], "NOPE", *TRANSFER[5:]]
    assert "--to 'NOPE': no such institution" in refused(runner, db_path, CURATOR, unknown, 2)
    storage = ["samples", "transfer", BACKUP, *TRANSFER[3:]]
    assert "backup storage" in refused(runner, db_path, CURATOR, storage, 1)
    assert "only curators" in refused(runner, db_path, OU_PI, TRANSFER, 4)
    assert "only curators" in refused(runner, db_path, COMPLIANCE, TRANSFER, 4)
    blank = [*TRANSFER[:6], "  "]
    assert "reference" in refused(runner, db_path, CURATOR, blank, 2)
    future = [*TRANSFER, "--at", "2030-01-01"]
    refused(runner, db_path, CURATOR, future, 1)
    run(incidents.report_incident, sample=BEAD, incident_kind="damage", description="cracked vial")
    frozen = ["samples", "transfer", BEAD, *TRANSFER[3:]]
    assert "frozen" in refused(runner, db_path, CURATOR, frozen, 1)


@pytest.mark.usefixtures("cli_env")
def test_a_sample_on_loan_or_already_given_cannot_be_given(
    runner: CliRunner, db_path: Path, run: Run
) -> None:
    signed_agreement(run)
    number = issued_loan(run, samples=("CE5C0200YJFM00112",))
    on_loan = ["samples", "transfer", "CE5C0200YJFM00112", *TRANSFER[3:]]
    assert f"is on loan {number}" in refused(runner, db_path, CURATOR, on_loan, 1)
    assert invoke(runner, CURATOR, *TRANSFER).exit_code == 0
    again = refused(runner, db_path, CURATOR, TRANSFER, 1)
    assert "transferred to MNHN for good" in again


@pytest.mark.usefixtures("cli_env", "engine")
def test_a_given_sample_is_named_as_given_when_lent_or_split(
    runner: CliRunner, db_path: Path
) -> None:
    """The same class of defect: a sample out of the vault read as 'on loan None'."""
    assert invoke(runner, CURATOR, *TRANSFER).exit_code == 0
    split = ["samples", "split", GIFT, "--child", "-01=1mg"]
    message = refused(runner, db_path, CURATOR, split, 1)
    assert "transferred to MNHN for good" in message and "None" not in message


def test_transfer_service_refuses_researchers_and_borrowers(engine: Engine) -> None:
    with db.transaction(engine) as session:
        with pytest.raises(PermissionDenied):
            transfers.transfer_samples(
                session, ctx_for(OU_PI), codes=[GIFT], recipient="MNHN", reference="x"
            )
        with pytest.raises(RuleViolation, match="UoC is a borrower"):
            transfers.transfer_samples(
                session, ctx_for(), codes=[GIFT], recipient="UoC", reference="x"
            )
        envelope = transfers.transfer_samples(
            session, ctx_for(), codes=[GIFT, BEAD], recipient="GEOKHI", reference="Feb 2022"
        )
        assert json.loads(envelope.payload or "{}")["items"] == [[GIFT, 1_500_000], [BEAD, 100]]
        note = transfers.record_custody_note(session, ctx_for(), code=BEAD, note="to a lab")
        assert note.corrects_seq == envelope.seq
        given = session.get(Sample, GIFT)
        assert given is not None and given.custodian == "GEOKHI"


def test_an_agreement_or_loan_is_not_made_with_a_recipient(run: Run) -> None:
    with pytest.raises(Exception, match="agreements are with borrowers"):
        run(
            agreements.create_agreement,
            number="AG-MNHN",
            institution="MNHN",
            term="P5Y",
            max_total_mass_ug=mass("1 g"),
            allowed_purposes=["research"],
            max_loan_period="P1Y",
        )


def test_import_accepts_a_transfer_and_verify_replays_it(
    cli_env: dict[str, str], engine: Engine, runner: CliRunner, tmp_path: Path
) -> None:
    engine.dispose()
    line: dict[str, Any] = {
        "kind": "sample.transferred",
        "occurred_at": "2022-02-15T08:00:00Z",
        "actor": CURATOR,
        "payload": {"recipient": "GEOKHI", "items": [[GIFT, 1_500_000]], "reference": "Feb 2022"},
        "reason": None,
        "corrects_seq": None,
    }
    path = tmp_path / "gift.jsonl"
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    result = invoke(runner, CURATOR, "import", str(path))
    assert result.exit_code == 0, result.output
    assert as_json(runner, COMPLIANCE, "samples", "show", GIFT)["custodian"] == "GEOKHI"
    assert invoke(runner, COMPLIANCE, "verify").exit_code == 0
    wrong = dict(line, payload=dict(line["payload"], items=[[BEAD, 5]]))
    path.write_text(json.dumps(wrong) + "\n", encoding="utf-8")
    before = fingerprint(Path(cli_env["SAMPLELOANS_DB"]))
    bad = invoke(runner, CURATOR, "import", str(path))
    assert bad.exit_code in (1, 2) and "line 1" in bad.stderr
    assert fingerprint(Path(cli_env["SAMPLELOANS_DB"])) == before


# --- item 6: the invariant ----------------------------------------------------------------------


def test_conservation_counts_the_transferred_mass() -> None:
    def sample(transferred_ug: int) -> SimpleNamespace:
        return SimpleNamespace(
            code="S", initial_mass_ug=100, vault_ug=0, on_loan_ug=0, split_ug=0,
            consumed_ug=0, lost_ug=0, transferred_ug=transferred_ug,
        )  # fmt: skip

    assert checks.check_sample_conservation(checks.Snapshot(samples=[sample(100)])) == []
    found = checks.check_sample_conservation(checks.Snapshot(samples=[sample(90)]))
    assert len(found) == 1 and "transferred 90" in found[0].message


@pytest.mark.usefixtures("cli_env", "engine")
def test_verify_names_a_tampered_transferred_mass(runner: CliRunner, db_path: Path) -> None:
    assert invoke(runner, CURATOR, *TRANSFER).exit_code == 0
    with sqlite3.connect(db_path) as connection:
        connection.execute("UPDATE sample SET transferred_ug = 1 WHERE code = ?", (GIFT,))
    result = invoke(runner, COMPLIANCE, "verify")
    assert result.exit_code == 1 and GIFT in result.stdout + result.stderr


# --- item 18: renewal as a configurable default --------------------------------------------------


@pytest.mark.usefixtures("cli_env", "engine")
def test_agreements_add_defaults_to_one_extension_of_six_months(runner: CliRunner) -> None:
    base = ["agreements", "add", "AG-R", "--institution", "OU", "--term", "5 years",
            "--max-mass", "1 g", "--max-loan-period", "12 months"]  # fmt: skip
    assert invoke(runner, CURATOR, *base, "--purpose", "research").exit_code == 0
    shown = as_json(runner, COMPLIANCE, "agreements", "show", "AG-R")
    assert (shown["max_extensions"], shown["max_extension_period"]) == (1, "6 months")
    welfare = [*base, "--purpose", "public-welfare"]
    welfare[2] = "AG-W"
    assert invoke(runner, CURATOR, *welfare).exit_code == 0
    shown = as_json(runner, COMPLIANCE, "agreements", "show", "AG-W")
    assert (shown["max_extensions"], shown["max_extension_period"]) == (1, "1 month")
    custom = [*base, "--purpose", "research", "--max-extensions", "3", "--max-extension-period",
              "P2M"]  # fmt: skip
    custom[2] = "AG-C"
    assert invoke(runner, CURATOR, *custom).exit_code == 0
    shown = as_json(runner, COMPLIANCE, "agreements", "show", "AG-C")
    assert (shown["max_extensions"], shown["max_extension_period"]) == (3, "2 months")


def test_renewal_default_service_and_second_extension_refused(run: Run, engine: Engine) -> None:
    run(
        agreements.create_agreement,
        number="AG-D",
        institution="OU",
        term="P5Y",
        max_total_mass_ug=mass("1 g"),
        allowed_purposes=["research"],
        max_loan_period="P1Y",
    )
    with db.transaction(engine) as session:
        view = show_agreement(session, ctx_for(), number="AG-D")
    assert (view.max_extensions, view.max_extension_period) == (1, "P6M")


# --- items 17, 18: the data ----------------------------------------------------------------------


def data_rows(name: str) -> list[dict[str, str]]:
    """The rows of a shipped CSV."""
    text = resources.files("sampleloans.data").joinpath(*name.split("/")).read_text("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def data_files() -> list[str]:
    """Every CSV shipped in data/ and data/demo/."""
    root = resources.files("sampleloans.data")
    top = [p.name for p in root.iterdir() if p.name.endswith(".csv")]
    demo = [f"demo/{p.name}" for p in root.joinpath("demo").iterdir() if p.name.endswith(".csv")]
    return sorted(top + demo)


@pytest.mark.parametrize("name", data_files())
def test_every_row_has_a_source_and_a_firmness(name: str) -> None:
    rows = data_rows(name)
    assert rows, name
    for number, row in enumerate(rows, start=2):
        assert row["record"] in ("real", "illustrative"), (name, number)
        assert row["source"].strip(), (name, number, "no source")
        assert row["firmness"] in FIRMNESS, (name, number, row.get("firmness"))
        if row["record"] == "illustrative":
            assert row["firmness"] == "illustrative", (name, number)


def test_real_samples_say_which_fields_are_invented_and_are_not_pristine() -> None:
    rows = {r["code"]: r for r in data_rows("samples.csv")}
    for code, row in rows.items():
        invented = row["illustrative_fields"].split(";")
        assert "storage_location" in invented, code
        assert (row["mass_source"] == "illustrative") == ("mass" in invented), code
        assert "pristine" not in row["condition"], code
    bead = rows[BEAD]
    assert mass(bead["mass"]) <= 100 and bead["physical_form"] == "bead"
    assert mass(rows[GIFT]["mass"]) == 1_500_000 and rows[GIFT]["firmness"] == "likely"
    assert "Guo" in rows[GIFT]["source"]


def test_institutions_are_set_straight() -> None:
    rows = {r["short_name"]: r for r in data_rows("institutions.csv")}
    assert rows["MNHN"]["kind"] == "recipient"
    assert rows["GEOKHI"]["kind"] == "recipient" and rows["GEOKHI"]["firmness"] == "unsure"
    assert rows["Osaka"]["city"] == "Toyonaka"
    assert "city" in rows["SUPARCO"]["unverified_fields"].split(";")
    assert rows["Brown"]["firmness"] == "likely" and "likely" in rows["Brown"]["source"]
    assert "9 May" not in rows["OU"]["source"] and "8 May 2025" in rows["OU"]["source"]
    assert "18 May 2025" in rows["OU"]["source"]
    assert "17 Apr 2025" in rows["IPGP"]["source"]
    assert "international" in rows["CNSA"]["source"] and "domestic" in rows["LESEC"]["source"]
    mission = {r["code"]: r for r in data_rows("missions.csv")}["CE-5"]
    assert "19 Dec 2020" in mission["source"] and "CGTN" in mission["source"]


def test_facts_hold_the_published_totals() -> None:
    facts = " | ".join(f"{r['value']} {r['date']}" for r in data_rows("facts.csv"))
    for fact in ("125.42 g", "2.18 g", "30,881.8 mg", "32 users", "25 institutions",
                 "2025-09-29", "Shaoshan", "2021-12-25", "6 months", "1 month"):  # fmt: skip
        assert fact in facts, fact


def test_demo_gifts_add_up_to_the_published_1_5_g_each() -> None:
    given: dict[str, int] = {}
    for row in data_rows("demo/gifts.csv"):
        given[row["recipient"]] = given.get(row["recipient"], 0) + mass(row["mass"])
    assert given == {"GEOKHI": 1_500_000, "MNHN": 1_500_000}


def test_demo_replays_the_gifts_and_verifies(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--dir", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert "verify: OK" in result.stdout and "to MNHN" in result.stdout
    ledger = tmp_path / "d" / "ledger.db"
    with sqlite3.connect(ledger) as connection:
        by_recipient = dict(
            connection.execute(
                "SELECT custodian, sum(transferred_ug) FROM sample "
                "WHERE custody_state = 'transferred' GROUP BY custodian"
            ).fetchall()
        )
        notes = connection.execute(
            "SELECT count(*) FROM ledger_event WHERE kind = 'event.corrected' "
            "AND payload LIKE '%IPGP%'"
        ).fetchone()[0]
        extensions = connection.execute(
            "SELECT DISTINCT max_extensions, max_extension_period FROM agreement"
        ).fetchall()
        borrowers = connection.execute(
            "SELECT short_name FROM institution WHERE kind = 'borrower'"
        ).fetchall()
    assert by_recipient == {"GEOKHI": 1_500_000, "MNHN": 1_500_000}
    assert notes == 1
    assert extensions == [(1, "P6M")]
    assert ("MNHN",) not in borrowers


def test_loans_request_of_a_given_sample_names_where_it_went(run: Run) -> None:
    run(transfers.transfer_samples, codes=[GIFT], recipient="MNHN", reference="gift")
    agreement = signed_agreement(run)
    with pytest.raises(Exception, match="transferred to MNHN for good"):
        run(
            loans.request_loan,
            number="L-G",
            agreement=agreement,
            pi=OU_PI,
            samples=[GIFT],
            loan_period="P1Y",
        )


@pytest.mark.usefixtures("cli_env", "engine")
def test_staff_at_a_recipient_is_refused_naming_its_kind(runner: CliRunner, db_path: Path) -> None:
    """Same class: the refusal said 'is a borrower' of any non-staff institution."""
    args = ["people", "add", "x@mnhn.example", "--name", "Xavier Dupont", "--institution", "MNHN",
            "--role", "curator"]  # fmt: skip
    message = refused(runner, db_path, CURATOR, args, 1)
    assert "MNHN is a recipient" in message and "borrower;" not in message
