"""End to end: custody history, balance, overdue and status through the CLI."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner, Result

from sampleloans.cli import app
from sampleloans.services import loans
from sampleloans.units import parse_mass_ug as mass
from tests.conftest import COMPLIANCE, CURATOR, OU_PI, UOC_PI, Run
from tests.factories import LATER, received_loan, signed_agreement

SAMPLE = "CE5C0200YJFM00112"
CONSUMED = mass("2.5 mg")


@pytest.fixture
def ledger(run: Run, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """OU's loan L-1 of one 20 mg sample, received at NOW, 2.5 mg consumed 30 days later."""
    signed_agreement(run)
    received_loan(run)
    run(
        loans.consume,
        now=LATER,
        number="L-1",
        sample=SAMPLE,
        technique="SIMS",
        mass_ug=CONSUMED,
        destructive=True,
    )
    monkeypatch.setenv("SAMPLELOANS_NOW", "2025-05-10T09:00:00Z")
    return "L-1"


def invoke(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(app, list(args))


def test_history_of_a_loan_as_table_and_json(runner: CliRunner, ledger: str) -> None:
    result = invoke(runner, "--as", OU_PI, "custody", "history", "--loan", "L-1")
    assert result.exit_code == 0, result.stderr
    assert (
        "shipped" in result.stdout
        and "loan.shipped" not in result.stdout
        and "NAOC → OU" in result.stdout
    )
    assert "2.500 mg of CE5C0200YJFM00112 consumed" in result.stdout
    result = invoke(runner, "--as", OU_PI, "custody", "history", "--loan", "L-1", "--json")
    data = json.loads(result.stdout)
    kinds = [e["kind"] for e in data["events"]]
    assert kinds == [
        "loan.requested",
        "loan.approved",
        "loan.issued",
        "loan.shipped",
        "loan.received",
        "loan.consumed",
    ]
    assert data["replayed_state"] is None and data["subject_key"] == "L-1"


def test_history_of_a_sample_and_an_institution(runner: CliRunner, ledger: str) -> None:
    result = invoke(runner, "--as", CURATOR, "custody", "history", "--sample", SAMPLE, "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["lineage"] == [SAMPLE]
    assert data["events"][0]["kind"] == "sample.registered"
    assert "20.000 mg" in data["events"][0]["description"]
    result = invoke(runner, "--as", COMPLIANCE, "custody", "history", "--institution", "OU")
    assert result.exit_code == 0, result.stderr
    assert "Agreement signed" in result.stdout and "Person added" in result.stdout


def test_history_as_of_shows_the_earlier_state(runner: CliRunner, ledger: str) -> None:
    args = ["--as", COMPLIANCE, "custody", "history", "--sample", SAMPLE]
    before = invoke(runner, *args, "--as-of", "2025-04-15", "--json")
    assert before.exit_code == 0, before.stderr
    data = json.loads(before.stdout)
    assert "loan.consumed" not in [e["kind"] for e in data["events"]]
    (sample,) = data["replayed_state"]["samples"]
    assert sample["custody_state"] == "held" and sample["custodian"] == "OU"
    assert sample["on_loan_ug"] == mass("20 mg") and sample["consumed_ug"] == 0
    now = json.loads(invoke(runner, *args, "--as-of", "2025-05-10", "--json").stdout)
    assert now["replayed_state"]["samples"][0]["consumed_ug"] == CONSUMED
    table = invoke(runner, *args, "--as-of", "2025-04-15")
    assert "State as of 2025-04-15 00:00 UTC" in table.stdout
    bad = invoke(runner, *args, "--as-of", "15/04/2025")
    assert bad.exit_code == 2 and bad.stderr.startswith("Error: --as-of:")


def test_history_refusals(runner: CliRunner, ledger: str) -> None:
    other = invoke(runner, "--as", UOC_PI, "custody", "history", "--loan", "L-1")
    assert other.exit_code == 2
    assert "--loan 'L-1': no such loan among the records" in other.stderr
    none = invoke(runner, "--as", CURATOR, "custody", "history")
    assert none.exit_code == 2 and "exactly one" in none.stderr
    missing = invoke(runner, "--as", CURATOR, "custody", "history", "--loan", "L-9")
    assert missing.exit_code == 2


def test_balance_of_a_loan(runner: CliRunner, ledger: str) -> None:
    result = invoke(runner, "--as", COMPLIANCE, "balance", "--loan", "L-1", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    (item,) = data["item_balance"]["rows"]
    assert item["issued_ug"] == mass("20 mg")
    assert item["consumed_ug"] == CONSUMED
    assert item["held_ug"] == mass("20 mg") - CONSUMED
    assert data["balanced"] and data["item_balance"]["total"]["issued_ug"] == mass("20 mg")
    table = invoke(runner, "--as", OU_PI, "balance", "--loan", "L-1")
    assert "issued = held + consumed + returned + transferred + split + lost" in table.stdout
    assert "✓" in table.stdout and "17.500 mg" in table.stdout


def test_balance_of_a_lineage_and_the_collection(runner: CliRunner, ledger: str) -> None:
    result = invoke(runner, "--as", OU_PI, "balance", "--sample", SAMPLE, "--json")
    assert result.exit_code == 0, result.stderr
    (sample,) = json.loads(result.stdout)["sample_balance"]["rows"]
    assert sample["on_loan_ug"] == mass("20 mg") - CONSUMED and sample["consumed_ug"] == CONSUMED
    whole = json.loads(invoke(runner, "--as", COMPLIANCE, "balance", "--json").stdout)
    assert whole["subject_type"] == "collection" and whole["balanced"]
    assert whole["sample_balance"]["total"]["consumed_ug"] == CONSUMED
    refused = invoke(runner, "--as", OU_PI, "balance")
    assert refused.exit_code == 4


def test_overdue_after_the_clock_moves(
    runner: CliRunner, ledger: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    quiet = invoke(runner, "--as", COMPLIANCE, "overdue", "--json")
    assert quiet.exit_code == 0 and json.loads(quiet.stdout) == []
    monkeypatch.setenv("SAMPLELOANS_NOW", "2026-04-13T12:00:00Z")  # due 2026-04-01 09:00
    result = invoke(runner, "--as", COMPLIANCE, "overdue", "--json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["loan_number"], r["what"], r["days_late"]) for r in rows] == [
        ("L-1", "inventory", 12),
        ("L-1", "return", 12),
    ]
    assert rows[1]["due_at"] == "2026-04-01T09:00:00Z"
    table = invoke(runner, "--as", OU_PI, "overdue")
    assert table.exit_code == 0 and "L-1" in table.stdout
    uoc = invoke(runner, "--as", UOC_PI, "overdue")
    assert uoc.exit_code == 0 and "Nothing is overdue" in uoc.stdout
    assert invoke(runner, "--as", UOC_PI, "overdue", "--institution", "OU").exit_code == 2


def test_status_for_a_researcher(runner: CliRunner, ledger: str) -> None:
    result = invoke(runner, "--as", OU_PI, "status", "--json")
    assert result.exit_code == 0, result.stderr
    (loan,) = json.loads(result.stdout)["loans"]
    assert loan["number"] == "L-1" and loan["held_ug"] == mass("20 mg") - CONSUMED
    assert loan["days_left"] == 326  # 2025-05-10 to 2026-04-01
    assert loan["extensions_granted"] == 0 and loan["max_extensions"] == 2
    assert loan["obligations"] == ["return due in 326 days"]
    assert loan["items"] == [
        {
            "sample_code": SAMPLE,
            "source": "issued",
            "custody_state": "held",
            "frozen": False,
            "issued_ug": mass("20 mg"),
            "from_split_ug": 0,
            "held_ug": mass("20 mg") - CONSUMED,
            "consumed_ug": CONSUMED,
            "returned_ug": 0,
            "transferred_ug": 0,
            "split_ug": 0,
            "lost_ug": 0,
        }
    ]
    table = invoke(runner, "--as", OU_PI, "status")
    assert "Loan L-1" in table.stdout and "326 days left" in table.stdout


def test_status_refusals(runner: CliRunner, ledger: str) -> None:
    other = invoke(runner, "--as", UOC_PI, "status", "--loan", "L-1")
    assert other.exit_code == 2
    assert other.stderr.startswith("Error: --loan 'L-1': no such loan among the records")
    staff = invoke(runner, "--as", COMPLIANCE, "status")
    assert staff.exit_code == 2 and "give --loan NUMBER or --institution SHORT" in staff.stderr
    ok = invoke(runner, "--as", COMPLIANCE, "status", "--institution", "OU", "--json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["loans"][0]["number"] == "L-1"
    nobody = invoke(runner, "status")
    assert nobody.exit_code == 4


def test_status_does_not_import_reportlab(ledger: str, cli_env: dict[str, str]) -> None:
    # a fresh interpreter: popping modules here would break later tests' reportlab classes
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from sampleloans.cli import app\n"
        f"result = CliRunner().invoke(app, ['--as', {OU_PI!r}, 'status'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(sorted(m for m in sys.modules if m.startswith('reportlab')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
