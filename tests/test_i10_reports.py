"""Issue 10, reports: custody findings that happened, F-75 totals equal to `balance`, the OS
account of each event, and `verify-document`'s one-line refusals."""

import json
import os
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import Engine
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.services import incidents, loans
from sampleloans.services.reporting import CustodyBody, ReturnBody, build_report, make_request
from sampleloans.units import parse_mass_ug as mass
from tests.conftest import COMPLIANCE, NOW, OU_PI, ctx_for
from tests.factories import held_ug, received_loan, signed_agreement

A, B, C = "CE5C0200YJFM00112", "CE5C0300YJFM00307", "CE5C0500YJFM00415"
AS_STAFF = ["--as", COMPLIANCE]
GEN = ["--generated-at", "2025-04-01T09:00:00Z"]

Run = Callable[..., object]


def text_of(path: Path) -> str:
    """Every page's text of a PDF file."""
    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def report_cli(runner: CliRunner, out: Path, *args: str, actor: str = COMPLIANCE) -> object:
    """Run `report ARGS --out OUT` through the CLI."""
    return runner.invoke(app, ["--as", actor, "report", *args, "--out", str(out), *GEN])


def custody_body(engine: Engine, **scope: str) -> CustodyBody:
    """The custody report's read model for one scope, as a compliance officer."""
    with db.transaction(engine, write=False) as session:
        request = make_request("custody", **scope)  # type: ignore[arg-type]
        report = build_report(session, ctx_for(COMPLIANCE), request, generated_at=NOW)
    assert isinstance(report.body, CustodyBody)
    return report.body


def return_body(engine: Engine, number: str) -> ReturnBody:
    """The F-75's read model of one loan."""
    with db.transaction(engine, write=False) as session:
        request = make_request("return", loan=number)
        report = build_report(session, ctx_for(COMPLIANCE), request, generated_at=NOW)
    assert isinstance(report.body, ReturnBody)
    return report.body


def return_part(run: Run, number: str, codes: list[str], seal: str) -> None:
    """Release some held samples for return and accept them back whole."""
    run(loans.release_return, number=number, container="N2 box", seal_number=seal, samples=codes)
    run(
        loans.accept_return,
        number=number,
        seal_intact=True,
        condition="unchanged",
        weighed_ug={code: held_ug(run, number, code) for code in codes},
    )


def partial_returns(run: Run) -> None:
    """Three samples lent to OU; one comes back alone, then the other two together."""
    signed_agreement(run, "OU")
    received_loan(run, number="L-1", samples=(A, B, C))
    return_part(run, "L-1", [A], "R-1")
    return_part(run, "L-1", [B, C], "R-2")


def every_case(run: Run) -> None:
    """Partial returns, a borrower split and its own return, a recall, a loss, corrections, and
    a returned sample lent again to the same institution."""
    signed_agreement(run, "OU")
    received_loan(run, number="L-1", samples=(A, B, C))
    run(loans.borrower_split, number="L-1", sample=B, child="-G1", mass_ug=mass("5 mg"))
    run(
        loans.consume,
        number="L-1",
        sample=A,
        technique="SIMS",
        mass_ug=mass("1 mg"),
        destructive=True,
    )
    run(loans.recall_loan, number="L-1", due_at=NOW + timedelta(days=30), reason="audit")
    return_part(run, "L-1", [A], "R-1")
    seal = run(
        loans.release_return,
        number="L-1",
        container="N2 box",
        seal_number="R-2",
        samples=[B + "-G1"],
    )
    run(incidents.record_correction, corrects_seq=seal.seq, text="seal was R-2b")  # type: ignore[attr-defined]
    run(
        loans.accept_return,
        number="L-1",
        seal_intact=True,
        condition="unchanged",
        weighed_ug={B + "-G1": mass("5 mg")},
    )
    return_part(run, "L-1", [B, C], "R-3")
    received_loan(run, number="L-2", samples=(A,))
    return_part(run, "L-2", [A], "R-4")


@pytest.mark.parametrize("build", [partial_returns, every_case])
@pytest.mark.parametrize(
    "scope",
    [("loan", "L-1"), ("sample", A), ("sample", B), ("sample", C), ("institution", "OU")],
)
def test_custody_report_shows_no_finding_that_did_not_happen(
    engine: Engine, run: Run, build: Callable[[Run], None], scope: tuple[str, str]
) -> None:
    build(run)
    body = custody_body(engine, **{scope[0]: scope[1]})
    assert body.findings == ()
    assert {e.flag for e in body.events} <= {"", "correction"}


@pytest.mark.parametrize(
    ("build", "args"),
    [
        (partial_returns, ["--loan", "L-1"]),
        (every_case, ["--sample", B]),
        (partial_returns, ["--institution", "OU"]),
    ],
)
def test_cli_custody_report_after_a_partial_return_has_no_gap(
    engine: Engine,
    run: Run,
    cli_env: dict[str, str],
    runner: CliRunner,
    tmp_path: Path,
    build: Callable[[Run], None],
    args: list[str],
) -> None:
    build(run)
    out = tmp_path / "custody.pdf"
    result = report_cli(runner, out, "custody", *args)
    assert result.exit_code == 0, result.stderr
    text = text_of(out)
    assert "Findings: gaps, discrepancies, incidents (0)" in text
    assert "last recorded holder" not in text


def split_and_loss(run: Run) -> None:
    """A borrower's split of B, 300 µg of the split lost, part of A consumed; A returned."""
    signed_agreement(run, "OU")
    received_loan(run, number="L-1", samples=(A, B))
    run(loans.borrower_split, number="L-1", sample=B, child="-G1", mass_ug=mass("5 mg"))
    run(
        incidents.report_incident,
        sample=B + "-G1",
        kind="loss",
        description="spilled",
        mass_lost_ug=300,
    )
    run(
        loans.consume,
        number="L-1",
        sample=A,
        technique="SIMS",
        mass_ug=mass("1 mg"),
        destructive=True,
    )
    return_part(run, "L-1", [A], "R-1")


def accounting_rows(text: str) -> dict[str, list[int]]:
    """The F-75's mass accounting table as printed: each row's label and its 8 masses (µg)."""
    table = text.split("Remaining\naccountable\n", 1)[1]
    lines = [line for line in table.splitlines() if line != "(continuation)"]
    rows: dict[str, list[int]] = {}
    while lines and re.fullmatch(r"[A-Z0-9-]+|Total", lines[0]):
        rows[lines[0]] = [mass(cell, allow_zero=True) for cell in lines[1:9]]
        lines = lines[9:]
    return rows


def f75_as_balance(cells: list[int]) -> dict[str, int]:
    """An F-75 row in `balance`'s terms (returned = now + before, held = remaining)."""
    issued, transferred, consumed, now_ug, before_ug, split, lost, remaining = cells
    return {
        "issued_ug": issued,
        "transferred_ug": transferred,
        "consumed_ug": consumed,
        "returned_ug": now_ug + before_ug,
        "split_ug": split,
        "lost_ug": lost,
        "held_ug": remaining,
    }


@pytest.mark.parametrize("build", [split_and_loss, every_case])
def test_f75_agrees_with_balance_line_for_line(
    engine: Engine,
    run: Run,
    cli_env: dict[str, str],
    runner: CliRunner,
    tmp_path: Path,
    build: Callable[[Run], None],
) -> None:
    build(run)
    shown = runner.invoke(app, [*AS_STAFF, "balance", "--loan", "L-1", "--json"])
    assert shown.exit_code == 0, shown.stderr
    balance = json.loads(shown.stdout)
    out = tmp_path / "f75.pdf"
    result = report_cli(runner, out, "return", "--loan", "L-1")
    assert result.exit_code == 0, result.stderr
    printed = accounting_rows(text_of(out))
    terms = list(f75_as_balance([0] * 8))
    expected = {i["sample_code"]: {t: i[t] for t in terms} for i in balance["items"]}
    expected["Total"] = {t: balance["item_total"][t] for t in terms}
    assert {code: f75_as_balance(cells) for code, cells in printed.items()} == expected
    assert list(printed) == [*sorted(i["sample_code"] for i in balance["items"]), "Total"]


def test_f75_read_model_total_counts_the_continuation(engine: Engine, run: Run) -> None:
    split_and_loss(run)
    body = return_body(engine, "L-1")
    assert body.total.lost_ug == 300
    assert body.total.issued_ug == mass("40 mg")  # what the curator issued, once
    assert body.total.remaining_ug == mass("19.7 mg")
    assert [line.split_from for line in body.lines] == ["", "", B]


def test_f75_lists_only_this_loans_incidents(engine: Engine, run: Run) -> None:
    signed_agreement(run, "OU")
    received_loan(run, number="L-1", samples=(A,))
    envelope = run(incidents.report_incident, sample=A, kind="damage", description="chipped")
    run(incidents.resolve_incident, incident_seq=envelope.seq, resolution="cleaned")  # type: ignore[attr-defined]
    return_part(run, "L-1", [A], "R-1")
    received_loan(run, number="L-2", samples=(A,))
    assert [f.kind for f in return_body(engine, "L-1").findings] == ["incident"]
    assert return_body(engine, "L-2").findings == ()


def test_lineage_report_judges_only_its_own_samples_weighings(engine: Engine, run: Run) -> None:
    signed_agreement(run, "OU")
    run(loans.request_loan, number="L-1", agreement="AG-OU", pi=OU_PI, samples=[A, B])
    run(loans.approve_loan, number="L-1")
    run(loans.issue_loan, number="L-1")
    run(loans.ship_loan, number="L-1", container="N2 box", seal_number="S-1")
    run(
        loans.receive_loan,
        number="L-1",
        seal_intact=True,
        condition="pristine",
        weighed_ug={B: mass("19.5 mg")},
    )
    assert custody_body(engine, sample=A).findings == ()
    found = custody_body(engine, sample=B).findings
    assert [(f.kind, f.text.split(":")[0]) for f in found] == [("weighing", B)]
    assert [f.kind for f in custody_body(engine, loan="L-1").findings] == ["weighing"]


def test_holders_still_find_a_real_gap() -> None:
    from sampleloans.services.reporting import Holders

    holders = Holders()
    holders.place([A, B], "NAOC")
    assert holders.ship(10, [A, B], "NAOC", "OU") == []
    holders.receive(10, [], "OU")
    assert holders.ship(11, [A], "OU", "NAOC") == []
    holders.receive(11, [], "NAOC")
    assert holders.ship(12, [B], "OU", "NAOC") == []  # B stayed at OU: no gap
    assert holders.ship(13, [A], "OU", "NAOC") == [(A, "NAOC")]  # A is back at NAOC: a gap


def real_account() -> str:
    """The operating-system account running these tests, as the CLI records it."""
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def test_custody_history_json_names_each_events_os_account(
    engine: Engine, run: Run, cli_env: dict[str, str], runner: CliRunner
) -> None:
    signed_agreement(run, "OU")
    received_loan(run, number="L-1", samples=(A,))  # recorded by the services as "tester"
    consumed = runner.invoke(
        app,
        [
            "--as",
            "curator@naoc.example",
            "loans",
            "consume",
            "L-1",
            "--sample",
            A,
            "--technique",
            "SIMS",
            "--mass",
            "1 mg",
            "--destructive",
        ],
    )
    assert consumed.exit_code == 0, consumed.stderr
    shown = runner.invoke(app, [*AS_STAFF, "custody", "history", "--loan", "L-1", "--json"])
    assert shown.exit_code == 0, shown.stderr
    events = json.loads(shown.stdout)["events"]
    accounts = {e["kind"]: e["os_user"] for e in events}
    assert accounts["loan.issued"] == "tester"
    assert accounts["loan.consumed"] == real_account()


def test_custody_report_event_table_names_the_os_account(
    engine: Engine, run: Run, cli_env: dict[str, str], runner: CliRunner, tmp_path: Path
) -> None:
    signed_agreement(run, "OU")
    received_loan(run, number="L-1", samples=(A,))
    assert {e.os_user for e in custody_body(engine, loan="L-1").events} == {"tester"}
    out = tmp_path / "custody.pdf"
    result = report_cli(runner, out, "custody", "--loan", "L-1")
    assert result.exit_code == 0, result.stderr
    text = text_of(out)
    assert "OS account" in text
    assert text.count("\ntester\n") == len(custody_body(engine, loan="L-1").events)
    checked = runner.invoke(app, [*AS_STAFF, "verify-document", str(out)])
    assert checked.exit_code == 0, checked.stdout
    assert "verified against the ledger" in checked.stdout
