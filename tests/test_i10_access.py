"""Issue 10, items 6 and 7: a researcher sees nothing of another institution, and a refusal
never tells them what exists elsewhere.

The ledger: the Open University borrows two samples; its PI's split child and one sample go
back (a partial return) and are lent on to Cologne, where one is damaged; the curator splits a
third sample in the vault, lends the parent to OU and the child to Cologne.
"""

import io
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.errors import NotFound
from sampleloans.services import catalog, history, incidents, loans, samples, standing
from sampleloans.units import parse_mass_ug as mass
from tests.conftest import COMPLIANCE, CURATOR, NOW, OU_PI, UOC_PI, StartFrom, fingerprint
from tests.factories import received_loan, signed_agreement

Run = Callable[..., Any]
S1 = "CE5C0200YJFM00112"
S2 = "CE5C0300YJFM00307"
CHILD = f"{S1}-G1"
PARENT = "CE5C0100YJFM00201"
VAULT_CHILD = f"{PARENT}-01"
# anything of Cologne's a researcher of the Open University must never read
FOREIGN = ("UoC", "L-UoC", "AG-UoC", UOC_PI, "Cologne", "Münker", "muenker")


def intertwined(run: Run) -> None:
    """OU and Cologne loans that share samples through a partial return and two splits."""
    signed_agreement(run, "OU", max_mass="3 g")
    signed_agreement(run, "UoC", max_mass="3 g")
    received_loan(run, number="L-OU", pi=OU_PI, samples=(S1, S2))
    run(loans.borrower_split, number="L-OU", parent=S1, child="-G1", mass_ug=mass("5 mg"))
    run(
        loans.release_return,
        number="L-OU",
        container="N2 box",
        seal_number="R-1",
        samples=[CHILD, S2],
    )
    run(
        loans.accept_return,
        number="L-OU",
        seal_intact=True,
        condition="pristine",
        weighed_ug={CHILD: mass("5 mg"), S2: mass("20 mg")},
    )
    run(samples.split_sample, parent=PARENT, children=[("-01", mass("20 mg"))])
    received_loan(run, number="L-OU2", pi=OU_PI, samples=(PARENT,))
    received_loan(
        run, number="L-UoC", agreement="AG-UoC", pi=UOC_PI, samples=(CHILD, S2, VAULT_CHILD)
    )
    run(
        loans.consume,
        number="L-UoC",
        sample=S2,
        technique="SIMS",
        mass_ug=mass("1 mg"),
        destructive=True,
    )
    run(incidents.report_incident, sample=S2, incident_kind="damage", description="vial cracked")


@pytest.fixture
def ledger(start_from: StartFrom, cli_env: dict[str, str]) -> None:
    start_from(intertwined)


def cli(runner: CliRunner, actor: str, *args: str) -> Any:
    """Run one command as `actor`."""
    return runner.invoke(app, ["--as", actor, *args])


def foreign_in(text: str) -> list[str]:
    """Which of Cologne's markers a text names."""
    return [marker for marker in FOREIGN if marker in text]


AS_OF = "2025-04-01T09:00:00Z"  # the clock of the fixture: every event is at or before it

READS: list[tuple[str, ...]] = [
    ("samples", "list"),
    ("samples", "show", S1),
    ("samples", "show", PARENT),
    ("samples", "tree", S1),
    ("samples", "tree", PARENT),
    ("loans", "list"),
    ("loans", "show", "L-OU"),
    ("loans", "show", "L-OU2"),
    ("status",),
    ("status", "--loan", "L-OU"),
    ("balance", "--loan", "L-OU"),
    ("balance", "--sample", S1),
    ("balance", "--sample", PARENT),
    ("custody", "history", "--sample", S1),
    ("custody", "history", "--sample", S1, "--as-of", AS_OF),
    ("custody", "history", "--sample", PARENT, "--as-of", AS_OF),
    ("custody", "history", "--loan", "L-OU", "--as-of", AS_OF),
    ("custody", "history", "--loan", "L-OU2", "--as-of", AS_OF),
    ("custody", "history", "--institution", "OU", "--as-of", AS_OF),
    ("custody", "history", "--institution", "OU"),
    ("incidents", "list"),
    ("people", "list"),
    ("institutions", "list"),
    ("agreements", "list"),
    ("overdue",),
]


@pytest.mark.parametrize("as_json", [False, True], ids=["table", "json"])
@pytest.mark.parametrize("args", READS, ids=lambda a: " ".join(a))
def test_researcher_reads_name_nothing_of_another_institution(
    ledger: None, runner: CliRunner, args: tuple[str, ...], as_json: bool
) -> None:
    command = [*args, "--json"] if as_json else list(args)
    result = cli(runner, OU_PI, *command)
    assert result.exit_code == 0, result.output
    assert foreign_in(result.stdout + result.stderr) == []


def test_staff_still_read_the_whole_lineage(ledger: None, runner: CliRunner) -> None:
    """The same reads as compliance officer do show Cologne: the filter is the reader's."""
    tree = json.loads(cli(runner, COMPLIANCE, "samples", "tree", S1, "--json").stdout)
    assert [c["code"] for c in tree["children"]] == [CHILD]
    assert tree["children"][0]["loan_number"] == "L-UoC"
    past = cli(runner, COMPLIANCE, "custody", "history", "--sample", S1, "--as-of", AS_OF, "--json")
    assert "L-UoC" in [
        loan["number"] for loan in json.loads(past.stdout)["replayed_state"]["loans"]
    ]


def test_tree_and_as_of_history_leave_out_the_child_on_cologne_loan(
    ledger: None, runner: CliRunner
) -> None:
    """The reproduction of item 6: a split child of an OU sample is on a Cologne loan."""
    tree = json.loads(cli(runner, OU_PI, "samples", "tree", S1, "--json").stdout)
    assert (tree["code"], tree["loan_number"], tree["children"]) == (S1, "L-OU", [])
    vault_tree = json.loads(cli(runner, OU_PI, "samples", "tree", PARENT, "--json").stdout)
    assert (vault_tree["code"], vault_tree["children"]) == (PARENT, [])
    args = ("custody", "history", "--sample", S1, "--as-of", AS_OF, "--json")
    past = json.loads(cli(runner, OU_PI, *args).stdout)
    assert [loan["number"] for loan in past["replayed_state"]["loans"]] == ["L-OU"]
    assert [s["code"] for s in past["replayed_state"]["samples"]] == [
        S1
    ]  # the child is Cologne's now
    # the child was OU's before it went back: its history on the OU loan stays readable
    assert CHILD in past["lineage"]
    assert "loan.split" in [e["kind"] for e in past["events"]]


def test_reports_of_an_own_loan_name_nothing_of_where_its_samples_went(
    ledger: None, runner: CliRunner, tmp_path: Path
) -> None:
    """Same class in the PDFs: returned items' custodian and incidents are the loan's own."""
    for kind, scope in (
        ("custody", ("--loan", "L-OU")),
        ("return", ("--loan", "L-OU")),
        ("inventory", ("--loan", "L-OU")),
        ("custody", ("--institution", "OU")),
        ("overdue", ("--institution", "OU")),
    ):
        out = tmp_path / f"{kind}-{scope[1]}.pdf"
        result = cli(runner, OU_PI, "report", kind, *scope, "--out", str(out))
        assert result.exit_code == 0, result.output
        text = "\n".join(
            page.extract_text() for page in PdfReader(io.BytesIO(out.read_bytes())).pages
        )
        assert foreign_in(text) == [], (kind, scope)
        assert "vial cracked" not in text  # Cologne's incident, not this loan's


def test_status_obligations_are_the_loans_own(run: Run, ledger: None) -> None:
    """Service level: an incident on a sample since lent to Cologne is no obligation of L-OU."""
    (own,) = run(standing.loan_status, actor=COMPLIANCE, loan="L-OU")
    assert not [o for o in own.obligations if o.startswith("open incident")]
    (theirs,) = run(standing.loan_status, actor=COMPLIANCE, loan="L-UoC")
    assert [o for o in theirs.obligations if o.startswith("open incident")]


def test_service_views_hold_only_own_samples(run: Run, ledger: None) -> None:
    """Service level: tree, show, balance and the as-of state of a researcher."""
    assert run(catalog.sample_tree, actor=OU_PI, code=S1).children == ()
    assert run(catalog.show_sample, actor=OU_PI, code=PARENT).children == ()
    assert run(catalog.show_sample, actor=COMPLIANCE, code=PARENT).children == (VAULT_CHILD,)
    balance = run(standing.mass_balance, actor=OU_PI, sample=S1)
    assert [s.code for s in balance.samples] == [S1] and balance.sample_total.balanced
    past = run(history.record_history, actor=OU_PI, sample=S1, as_of=NOW)
    assert {loan.institution for loan in past.state.loans} == {"OU"}
    assert {s.loan_number for s in past.state.samples} == {"L-OU"}


# --- item 7: "not yours" and "does not exist" are one answer ------------------------------------

PROBES: list[tuple[tuple[str, ...], tuple[str, ...], str]] = [
    # (command with another institution's record, the same with a missing one, what)
    (("loans", "show", "L-UoC"), ("loans", "show", "L-NONE"), "loan"),
    (("status", "--loan", "L-UoC"), ("status", "--loan", "L-NONE"), "loan"),
    (("balance", "--loan", "L-UoC"), ("balance", "--loan", "L-NONE"), "loan"),
    (("custody", "history", "--loan", "L-UoC"), ("custody", "history", "--loan", "L-NONE"), "loan"),
    (("loans", "inventory", "L-UoC"), ("loans", "inventory", "L-NONE"), "loan"),
    (("samples", "show", VAULT_CHILD), ("samples", "show", "CE5NONE"), "sample"),
    (("samples", "tree", S2), ("samples", "tree", "CE5NONE"), "sample"),
    (("balance", "--sample", S2), ("balance", "--sample", "CE5NONE"), "sample"),
    (
        ("custody", "history", "--sample", S2),
        ("custody", "history", "--sample", "CE5NONE"),
        "sample",
    ),
    (("people", "show", UOC_PI), ("people", "show", "nobody@none.example"), "person"),
    (("agreements", "show", "AG-UoC"), ("agreements", "show", "AG-NONE"), "agreement"),
    (("institutions", "show", "UoC"), ("institutions", "show", "NONE"), "institution"),
    (
        ("loans", "list", "--institution", "UoC"),
        ("loans", "list", "--institution", "NONE"),
        "institution",
    ),
    (
        ("people", "list", "--institution", "UoC"),
        ("people", "list", "--institution", "NONE"),
        "institution",
    ),
    (("overdue", "--institution", "UoC"), ("overdue", "--institution", "NONE"), "institution"),
    (("status", "--institution", "UoC"), ("status", "--institution", "NONE"), "institution"),
    (
        ("custody", "history", "--institution", "UoC"),
        ("custody", "history", "--institution", "NONE"),
        "institution",
    ),
]


def masked(stderr: str, foreign: tuple[str, ...], missing: tuple[str, ...]) -> str:
    """The refusal with the record's key taken out, to compare the two answers' words."""
    key_of = {f: m for f, m in zip(foreign, missing, strict=True) if f != m}
    for f, m in key_of.items():
        stderr = stderr.replace(f"'{f}'", "'KEY'").replace(f"'{m}'", "'KEY'")
    return stderr


@pytest.mark.parametrize(
    "foreign,missing,what", PROBES, ids=lambda p: " ".join(p) if isinstance(p, tuple) else p
)
def test_not_yours_and_missing_get_one_answer(
    ledger: None,
    runner: CliRunner,
    db_path: Path,
    foreign: tuple[str, ...],
    missing: tuple[str, ...],
    what: str,
) -> None:
    before = fingerprint(db_path)
    theirs, nothing = cli(runner, OU_PI, *foreign), cli(runner, OU_PI, *missing)
    assert (theirs.exit_code, nothing.exit_code) == (2, 2), (theirs.output, nothing.output)
    assert masked(theirs.stderr, foreign, missing) == masked(nothing.stderr, foreign, missing)
    assert f": no such {what} among the records you may read; " in theirs.stderr
    assert theirs.stderr.count("\n") == 1 and theirs.stdout == ""
    assert foreign_in(theirs.stderr.replace(foreign[-1], "KEY")) == []  # names no holder
    assert fingerprint(db_path) == before


def test_staff_keep_the_precise_message(ledger: None, runner: CliRunner) -> None:
    result = cli(runner, COMPLIANCE, "loans", "show", "L-NONE")
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: NUMBER 'L-NONE': no such loan; see 'sampleloans loans list'\n",
    )
    assert cli(runner, CURATOR, "loans", "show", "L-UoC").exit_code == 0


def test_report_of_a_foreign_loan_reads_as_missing(
    ledger: None, runner: CliRunner, tmp_path: Path
) -> None:
    theirs = cli(
        runner, OU_PI, "report", "return", "--loan", "L-UoC", "--out", str(tmp_path / "a.pdf")
    )
    nothing = cli(
        runner, OU_PI, "report", "return", "--loan", "L-NONE", "--out", str(tmp_path / "b.pdf")
    )
    assert (theirs.exit_code, nothing.exit_code) == (2, 2)
    assert theirs.stderr.replace("L-UoC", "KEY") == nothing.stderr.replace("L-NONE", "KEY")
    assert not list(tmp_path.glob("*.pdf*"))


def test_service_refusal_is_notfound_for_both(run: Run, ledger: None) -> None:
    for number in ("L-UoC", "L-NONE"):
        with pytest.raises(NotFound, match=r"among the records you may read"):
            run(loans.attest_inventory, actor=OU_PI, number=number, now=NOW + timedelta(hours=1))
