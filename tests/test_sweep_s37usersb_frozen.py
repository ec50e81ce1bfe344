"""Sweep s37 users-b: "(frozen)" on a loan only while the sample is on that loan.

A sample an incident froze on its way back, then accepted back into the vault (still frozen),
read "returned (frozen)" in `loans show`, `status`, `balance`, their `--json` (`frozen: true`),
the custody and inventory reports and the PI's statement of the loan it had left; and a sample
frozen in the vault months after its loan was closed read "returned (frozen)" on that loan too.
Every view of a loan now asks one query (`queries.frozen_on_loan`); report layout 17 and
statement layout 15 print it so, and files printed in layout 16 and 14 re-render as printed.
"""

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from sqlmodel import Session
from typer.testing import CliRunner

from sampleloans import db, reports
from sampleloans.cli import app
from sampleloans.ledger.envelope import Context
from sampleloans.readmodels.report import (
    FROZEN_ON_LOAN_LAYOUT,
    REPORT_LAYOUT,
    ByLayout,
    CustodyBody,
    ItemRow,
)
from sampleloans.readmodels.statement import FROZEN_ON_LOAN_VERSION, STATEMENT_LAYOUT
from sampleloans.reports import statement as statement_pdf
from sampleloans.services.queries import frozen_on_loan
from sampleloans.services.reporting import build_report, make_request
from sampleloans.services.statement import build_statements
from tests.conftest import COMPLIANCE, CURATOR, OU_RETURNED, demo_copy
from tests.i15_statement_helpers import make_checkpoint

NOW = "2026-04-28T10:00:00Z"
OU, OU_PI = "L-2025-OU", "anand@open.example"
OU_KEPT = "CE5C0200YJFM00112"  # still held by OU, never frozen
IPGP, IPGP_SAMPLE = "L-2025-IPGP", "CE5C0100YJFM00201-01"  # closed in 2025, back in the vault


def cli(env: dict[str, str], who: str, *args: str, code: int = 0) -> str:
    """Run the CLI as `who` at 120 columns; check the exit code; its standard output."""
    result = CliRunner().invoke(app, ["--as", who, *args], env={**env, "COLUMNS": "120"})
    assert result.exit_code == code, (args, result.stdout, result.stderr)
    return result.stdout


def in_transit_and_frozen(folder: Path) -> dict[str, str]:
    """The demo: OU_RETURNED released for return, then damaged on its way (frozen on OU)."""
    demo_copy(folder / "demo")
    env = {"SAMPLELOANS_DB": str(folder / "demo" / "ledger.db"), "SAMPLELOANS_NOW": NOW}
    env["NO_COLOR"] = "1"
    cli(env, CURATOR, "loans", "return", OU, "--sample", OU_RETURNED, "--container", "box",
        "--seal", "S1")  # fmt: skip
    cli(env, CURATOR, "incidents", "report", "--sample", OU_RETURNED, "--kind", "damage",
        "--description", "vial cracked in transit")  # fmt: skip
    return env


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The frozen sample accepted back into the vault, still frozen; IPGP's returned sample
    frozen in the vault; a signed checkpoint of the head (for the statement)."""
    folder = tmp_path_factory.mktemp("s37frozen")
    env = in_transit_and_frozen(folder)
    cli(env, CURATOR, "loans", "accept-return", OU, "--seal-intact", "--condition", "cracked",
        "--weighed", f"{OU_RETURNED}=20mg")  # fmt: skip
    cli(env, CURATOR, "incidents", "report", "--sample", IPGP_SAMPLE, "--kind", "damage",
        "--description", "dropped in the vault")  # fmt: skip
    path = Path(env["SAMPLELOANS_DB"])
    return {"env": env, "path": path, "dir": folder, **make_checkpoint(path, folder)}


def items_by_code(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A JSON list of items by sample code."""
    return {str(i["sample_code"]): i for i in items}


def row_of(printed: str, code: str) -> str:
    """The table row of sample `code`."""
    return next(line for line in printed.splitlines() if f"│ {code} " in line)


def test_on_its_way_back_a_frozen_sample_is_frozen_on_its_loan(tmp_path: Path) -> None:
    """Still on the loan (return in transit): "(frozen)" and `frozen: true`, as before."""
    env = in_transit_and_frozen(tmp_path)
    shown_text = cli(env, CURATOR, "loans", "show", OU)
    assert "return in transit (frozen)" in row_of(shown_text, OU_RETURNED)
    shown = json.loads(cli(env, CURATOR, "loans", "show", OU, "--json"))
    assert items_by_code(shown["items"])[OU_RETURNED]["frozen"] is True


def test_back_in_the_vault_it_is_not_frozen_on_the_loan_it_left(ledger: dict[str, Any]) -> None:
    """`loans show`, `status`, `balance` and their --json: "returned", `frozen: false`, on the
    loan it left; `samples show` still says the sample itself is frozen, in the vault."""
    env = ledger["env"]
    for who, args in (
        (CURATOR, ("loans", "show", OU)),
        (OU_PI, ("status", "--loan", OU)),
        (COMPLIANCE, ("balance", "--loan", OU)),
        (CURATOR, ("loans", "show", IPGP)),
        (COMPLIANCE, ("balance", "--loan", IPGP)),
    ):
        printed = cli(env, who, *args)
        code = IPGP_SAMPLE if IPGP in args else OU_RETURNED
        assert "(frozen)" not in printed, args
        assert "returned" in row_of(printed, code), args
    shown = json.loads(cli(env, CURATOR, "loans", "show", OU, "--json"))
    assert {c: i["frozen"] for c, i in items_by_code(shown["items"]).items()} == {
        OU_KEPT: False,
        OU_RETURNED: False,
        "CE5C0500YJFM00415": False,
    }
    (loan,) = json.loads(cli(env, OU_PI, "status", "--loan", OU, "--json"))["loans"]
    assert items_by_code(loan["items"])[OU_RETURNED]["frozen"] is False
    rows = json.loads(cli(env, COMPLIANCE, "balance", "--loan", IPGP, "--json"))
    assert [r["frozen"] for r in rows["item_balance"]["rows"]] == [False]
    ipgp = json.loads(cli(env, CURATOR, "loans", "show", IPGP, "--json"))
    assert [i["frozen"] for i in ipgp["items"]] == [False]
    for code in (OU_RETURNED, IPGP_SAMPLE):
        assert "vault (frozen)" in cli(env, CURATOR, "samples", "show", code)


@contextmanager
def reading(path: Path) -> Iterator[Session]:
    """A read-only session of the ledger at `path`."""
    engine = db.open_engine(db.url_for_path(path))
    try:
        with db.transaction(engine, write=False) as session:
            yield session
    finally:
        engine.dispose()


def curator() -> Context:
    """The curator acting at the scenario's clock."""
    return Context(actor=CURATOR, os_user="tester", now=db_now())


def test_the_one_query(ledger: dict[str, Any]) -> None:
    """Service level: frozen on the loan it is on; not on the loans it left."""
    with reading(ledger["path"]) as session:
        assert frozen_on_loan(session, OU, [OU_RETURNED, OU_KEPT]) == frozenset()
        assert frozen_on_loan(session, IPGP, [IPGP_SAMPLE]) == frozenset()
        assert frozen_on_loan(session, OU, []) == frozenset()


def pdf_words(pdf: Path) -> str:
    """A PDF's text, every run of whitespace one space."""
    return " ".join(" ".join(page.extract_text() for page in PdfReader(pdf).pages).split())


def pdf_layout(pdf: Path) -> int:
    """The page layout ("v") a PDF's metadata names."""
    info = PdfReader(io.BytesIO(pdf.read_bytes())).metadata
    assert info is not None
    return int(json.loads(str(info["/Keywords"]))["v"])


@pytest.mark.parametrize(
    ("kind", "loan"), [("custody", OU), ("inventory", OU), ("custody", IPGP), ("return", IPGP)]
)
def test_the_reports_say_returned(
    ledger: dict[str, Any], tmp_path: Path, kind: str, loan: str
) -> None:
    """Layout 17: the item reads "returned" (the return report has no state column), no
    "(frozen)"; the file verifies."""
    out = tmp_path / f"{kind}.pdf"
    cli(ledger["env"], CURATOR, "report", kind, "--loan", loan, "--out", str(out))
    assert pdf_layout(out) == REPORT_LAYOUT >= FROZEN_ON_LOAN_LAYOUT
    text = pdf_words(out)
    assert "(frozen)" not in text
    assert kind == "return" or "returned" in text
    checked = cli(ledger["env"], COMPLIANCE, "verify-document", str(out))
    assert "byte-identical to a fresh rendering" in checked


def test_a_layout_16_file_still_verifies_byte_for_byte(
    ledger: dict[str, Any], tmp_path: Path
) -> None:
    """A custody report printed in layout 16 said "returned (frozen)": re-rendered so."""
    with reading(ledger["path"]) as session:
        request = make_request("custody", loan=OU)
        report = build_report(session, curator(), request, generated_at=db_now())
    assert isinstance(report.body, CustodyBody)
    (row,) = [r for r in report.body.items if r.code == OU_RETURNED]
    assert isinstance(row, ItemRow) and row.frozen == ByLayout(False, True, FROZEN_ON_LOAN_LAYOUT)
    out = tmp_path / "custody-16.pdf"
    out.write_bytes(reports.render(replace(report, layout=FROZEN_ON_LOAN_LAYOUT - 1)))
    assert f"{OU_RETURNED}" in pdf_words(out) and "returned (frozen)" in pdf_words(out)
    checked = cli(ledger["env"], COMPLIANCE, "verify-document", str(out))
    assert "byte-identical to a fresh rendering" in checked


def db_now() -> Any:
    """The scenario's clock as a datetime."""
    from datetime import datetime

    return datetime.fromisoformat(NOW)


def test_the_statement_says_returned_and_layout_14_still_verifies(
    ledger: dict[str, Any], tmp_path: Path
) -> None:
    """The OU PI's statement lists the sample sent back "returned" (layout 15), and one
    printed in statement layout 14 ("returned (frozen)") re-renders as printed."""
    out = tmp_path / "st"
    cli(ledger["env"], CURATOR, "report", "statement", "--pi", OU_PI, "--out", str(out),
        "--checkpoint", str(ledger["cp"]), "--generated-at", NOW)  # fmt: skip
    (pdf,) = out.iterdir()
    assert pdf_layout(pdf) == STATEMENT_LAYOUT >= FROZEN_ON_LOAN_VERSION
    assert OU_RETURNED in pdf_words(pdf) and "(frozen)" not in pdf_words(pdf)
    from sampleloans.commands.statement import checkpoint_ref

    with reading(ledger["path"]) as session:
        ref = checkpoint_ref(ledger["note"], "checkpoint")
        (statement,) = build_statements(session, curator(), ref, pi=OU_PI, generated_at=db_now())
    older = tmp_path / "statement-14.pdf"
    older.write_bytes(statement_pdf.render(statement, FROZEN_ON_LOAN_VERSION - 1))
    assert "returned (frozen)" in pdf_words(older)
    checked = cli(ledger["env"], COMPLIANCE, "verify-document", str(older))
    assert "byte-identical to a fresh rendering" in checked, checked
