"""A researcher reads only their own institution, even through a sample's split lineage; and
balance totals count split mass once."""

import json
from pathlib import Path

from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.services import loans, samples
from sampleloans.units import parse_mass_ug as mass
from tests.conftest import COMPLIANCE, OU_PI, UOC_PI, Run
from tests.factories import received_loan, signed_agreement

PARENT = "CE5C0100YJFM00201"


def two_loans_from_one_parent(run: Run) -> None:
    """-01 goes to the Open University, -02 to Cologne; OU's PI splits -01 further."""
    run(
        samples.split_sample,
        parent=PARENT,
        children=[("-01", mass("20 mg")), ("-02", mass("30 mg"))],
    )
    signed_agreement(run, "OU")
    signed_agreement(run, "UoC")
    received_loan(run, number="L-OU", agreement="AG-OU", pi=OU_PI, samples=(f"{PARENT}-01",))
    received_loan(run, number="L-UoC", agreement="AG-UoC", pi=UOC_PI, samples=(f"{PARENT}-02",))
    run(
        loans.borrower_split,
        number="L-OU",
        parent=f"{PARENT}-01",
        child="-G1",
        mass_ug=mass("5 mg"),
    )


def history(runner: CliRunner, actor: str, code: str) -> dict:
    result = runner.invoke(app, ["--as", actor, "custody", "history", "--sample", code, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_researcher_history_hides_siblings_and_other_loans(
    run: Run, cli_env: dict[str, str], runner: CliRunner
) -> None:
    two_loans_from_one_parent(run)
    mine = history(runner, OU_PI, f"{PARENT}-01")
    assert mine["lineage"] == [f"{PARENT}-01", f"{PARENT}-01-G1"]
    text = json.dumps(mine["events"])
    assert "L-UoC" not in text
    assert UOC_PI not in text
    assert "L-OU" in text
    # the split that created -01 names its sibling (provenance), but nothing of the sibling's loan
    assert [e["kind"] for e in mine["events"] if f"{PARENT}-02" in e["description"]] == [
        "sample.split"
    ]
    staff = history(runner, COMPLIANCE, f"{PARENT}-01")
    assert f"{PARENT}-02" in staff["lineage"] and PARENT in staff["lineage"]
    assert "L-UoC" in json.dumps(staff["events"])


def test_researcher_cannot_print_a_lineage_report(
    run: Run, cli_env: dict[str, str], runner: CliRunner, tmp_path: Path
) -> None:
    two_loans_from_one_parent(run)
    out = tmp_path / "r.pdf"
    result = runner.invoke(
        app,
        ["--as", OU_PI, "report", "custody", "--sample", f"{PARENT}-01", "--out", str(out)],
    )
    assert result.exit_code == 4
    assert not out.exists()


def test_balance_totals_count_a_borrower_split_once(
    run: Run, cli_env: dict[str, str], runner: CliRunner
) -> None:
    two_loans_from_one_parent(run)
    result = runner.invoke(app, ["--as", COMPLIANCE, "balance", "--loan", "L-OU", "--json"])
    total = json.loads(result.stdout)["item_balance"]["total"]
    assert total["issued_ug"] == mass("20 mg")  # what the curator issued, not 25 mg
    assert total["held_ug"] == mass("20 mg")
    # the child's 5 mg is "from split" (not issued), and the parent's split: the rows add up
    assert total["split_ug"] == total["from_split_ug"] == mass("5 mg")
    lineage = runner.invoke(app, ["--as", COMPLIANCE, "balance", "--sample", PARENT, "--json"])
    sample_total = json.loads(lineage.stdout)["sample_balance"]["total"]
    assert sample_total["initial_ug"] == mass("1000 mg")  # the root's mass, children not again
    assert sample_total["split_ug"] == 0
    assert json.loads(lineage.stdout)["balanced"] is True


def test_researcher_tree_starts_at_their_sample(
    run: Run, cli_env: dict[str, str], runner: CliRunner
) -> None:
    two_loans_from_one_parent(run)
    mine = runner.invoke(app, ["--as", OU_PI, "samples", "tree", f"{PARENT}-01", "--json"])
    tree = json.loads(mine.stdout)
    assert tree["code"] == f"{PARENT}-01"
    assert [c["code"] for c in tree["children"]] == [f"{PARENT}-01-G1"]
    staff = runner.invoke(app, ["--as", COMPLIANCE, "samples", "tree", f"{PARENT}-01", "--json"])
    assert json.loads(staff.stdout)["code"] == PARENT


def test_as_of_ignores_events_recorded_later_but_dated_earlier(
    run: Run, cli_env: dict[str, str], runner: CliRunner
) -> None:
    """A back-dated entry must not drag the replay forward past the as-of moment."""
    from datetime import timedelta

    from tests.conftest import NOW

    later, latest = NOW + timedelta(days=20), NOW + timedelta(days=30)
    signed_agreement(run, "OU")
    code = "CE5C0200YJFM00112"
    run(loans.request_loan, number="L-OU", agreement="AG-OU", pi=OU_PI, samples=[code], now=later)
    run(loans.approve_loan, number="L-OU", now=later)
    run(loans.issue_loan, number="L-OU", now=later)
    run(
        samples.register_sample,
        code="CE5C0000YJYX099",
        mission="CE-5",
        mass_ug=mass("1 mg"),
        origin="scoop",
        material_type="glass bead",
        physical_form="rock fragment",
        purpose_class="research",
        storage_location="NAOC N2 cabinet B",
        now=latest,
        occurred_at=NOW + timedelta(days=5),  # recorded last, dated before the loan
    )
    before = (NOW + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = runner.invoke(
        app,
        ["--as", COMPLIANCE, "custody", "history", "--sample", code, "--as-of", before, "--json"],
        env={"SAMPLELOANS_NOW": latest.strftime("%Y-%m-%dT%H:%M:%SZ")},
    )
    assert result.exit_code == 0, result.output
    state = json.loads(result.stdout)["replayed_state"]
    (sample,) = state["samples"]
    assert sample["custody_state"] == "vault"  # the loan did not exist yet
    assert state["loans"] == []


def test_as_of_replays_a_sample_dated_before_the_ledger_began(
    run: Run, cli_env: dict[str, str], runner: CliRunner
) -> None:
    """Chang'e-5 material registered with its real 2020 date replays as of 2024."""
    from datetime import UTC, datetime

    run(
        samples.register_sample,
        code="CE5C0000YJYX098",
        mission="CE-5",
        mass_ug=mass("2 mg"),
        origin="scoop",
        material_type="basalt clast",
        physical_form="rock fragment",
        purpose_class="research",
        storage_location="NAOC N2 cabinet B",
        occurred_at=datetime(2020, 12, 20, tzinfo=UTC),
    )
    result = runner.invoke(
        app,
        [
            "--as",
            COMPLIANCE,
            "custody",
            "history",
            "--sample",
            "CE5C0000YJYX098",
            "--as-of",
            "2024-01-01",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    (sample,) = json.loads(result.stdout)["replayed_state"]["samples"]
    assert (sample["custody_state"], sample["vault_ug"]) == ("vault", mass("2 mg"))
