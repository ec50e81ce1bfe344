"""Sweep "the whole 2025 round, as each user": the PDFs a compliance officer prints and hands on.

A PI with a long name (a real one: 'von und zu Hohenzollern-Sigmaringen-Hechingen') made the
statement's running head run over 'sampleloans custody ledger' at the top right of every page.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.reports import layout
from sampleloans.reports.statement import METADATA_VERSION, METADATA_VERSIONS
from tests.conftest import demo_env

CURATOR = "curator@naoc.example"
COMPLIANCE = "compliance@naoc.example"
LONG_PI = "woelfle@uni-muenster.example"
LONG_NAME = "Ægidius Wölfle-Ñúñez von und zu Hohenzollern-Sigmaringen-Hechingen"


def cli(env: dict[str, str], *args: str, code: int = 0) -> Any:
    """Invoke the CLI; check the exit code."""
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == code, (args, result.stdout, result.stderr)
    return result


@pytest.fixture(scope="module")
def round_ledger(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo round, plus a PI with a long name at the Open University holding a loan, and a
    signed checkpoint (statements are built on one)."""
    env = {**demo_env(tmp_path_factory, CURATOR, "2026-04-28T10:00:00Z"), "COLUMNS": "120"}
    person = ["--name", LONG_NAME, "--institution", "OU", "--role", "researcher"]
    cli(env, "people", "add", LONG_PI, *person)
    return env


@pytest.fixture(scope="module")
def long_statement(round_ledger: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The statement to the long-named PI, built on a fresh checkpoint."""
    env = round_ledger
    folder = tmp_path_factory.mktemp("statement")
    agreement = ["--agreement", "AG-2025-OU", "--pi", LONG_PI]
    cli(env, "loans", "request", "L-2026-OU-W", *agreement, "--sample", "CE5C0000YJYX070")
    cli(env, "keys", "generate", "--out", str(folder / "naoc.key"), "--name", "naoc")
    cli(env, "checkpoint", "--key", str(folder / "naoc.key"))
    out = folder / "out"
    out.mkdir()
    cli(env, "--as", COMPLIANCE, "report", "statement", "--pi", LONG_PI, "--out", str(out))
    (pdf,) = out.glob("*.pdf")
    return pdf


def running_head(pdf: Path) -> tuple[str, float, float]:
    """The left text of the running head, its left x and the right text's left x (points)."""
    page = PdfReader(pdf).pages[0]
    resources: Any = page["/Resources"]
    form = resources["/XObject"]["/FormXob." + layout.DECORATION].get_object()
    drawn: list[tuple[str, float]] = []

    def visit(text: str, _cm: Any, tm: Any, _font: Any, _size: Any) -> None:
        if text.strip() and tm[5] > layout.PAGE[1] - 12 * mm:
            drawn.append((text.strip(), tm[4]))

    # pypdf's page text leaves form XObjects out; its own walker reads the form's operators
    page._extract_text(form, page.pdf, (0,), 200.0, None, visitor_text=visit)
    (left, left_x), (right, right_x) = sorted(drawn, key=lambda item: item[1])
    assert right == "sampleloans custody ledger"
    return left, left_x, right_x


def test_a_long_name_in_the_running_head_stops_before_the_right_text(long_statement: Path) -> None:
    """The statement's running head is shortened with '…' and ends before the right text."""
    left, left_x, right_x = running_head(long_statement)
    layout.register_font()
    assert left.startswith("Statement to the principal investigator — Ægidius")
    assert left.endswith("…")
    assert left_x + stringWidth(left, layout.FONT, 8) < right_x


def test_the_shortened_statement_verifies_and_names_its_layout(
    round_ledger: dict[str, str], long_statement: Path
) -> None:
    """verify-document re-renders the statement in the layout its metadata names."""
    metadata: Any = PdfReader(long_statement).metadata
    keywords = json.loads(str(metadata["/Keywords"]))
    assert keywords["v"] == METADATA_VERSION  # the current layout (2 shortened the head)
    result = cli(round_ledger, "--as", COMPLIANCE, "verify-document", str(long_statement))
    assert "byte-identical to a fresh rendering" in result.stdout


def test_a_short_running_head_is_whole(round_ledger: dict[str, str], tmp_path: Path) -> None:
    """A custody report's short running head is printed whole, without '…'."""
    out = tmp_path / "custody.pdf"
    cli(round_ledger, "report", "custody", "--loan", "L-2025-OU", "--out", str(out))
    left, _, _ = running_head(out)
    assert left == "Chain-of-custody report — loan L-2025-OU"


def test_a_statement_of_the_first_layout_still_verifies(
    round_ledger: dict[str, str], long_statement: Path, tmp_path: Path
) -> None:
    """A statement printed before the change (version 1: the head cut at 120 characters) is
    re-rendered that way by verify-document, so it still matches the ledger byte for byte."""
    from sampleloans import db
    from sampleloans.dates import parse_datetime
    from sampleloans.ledger.envelope import Context
    from sampleloans.reports.statement import render
    from sampleloans.services.statement import build_statements, checkpoint_ref

    proofs = json.loads(
        PdfReader(long_statement).attachments["statement-proofs.json"][0].decode("utf-8")
    )
    engine = db.make_engine(db.url_for_path(round_ledger["SAMPLELOANS_DB"]))
    now = parse_datetime(round_ledger["SAMPLELOANS_NOW"])
    with db.transaction(engine) as session:
        (statement,) = build_statements(
            session,
            Context(COMPLIANCE, "tester", now),
            checkpoint_ref(proofs["checkpoint"], "checkpoint"),
            pi=LONG_PI,
            generated_at=now,
        )
    engine.dispose()
    old = tmp_path / "statement-v1.pdf"
    old.write_bytes(render(statement, 1))
    left, _, _ = running_head(old)
    assert len(left) == 120 and not left.endswith("…")  # as release 0.13 printed it
    result = cli(round_ledger, "--as", COMPLIANCE, "verify-document", str(old))
    assert "byte-identical to a fresh rendering" in result.stdout


def test_a_statement_claiming_an_unknown_layout_is_altered(
    round_ledger: dict[str, str], long_statement: Path, tmp_path: Path
) -> None:
    """A statement whose metadata names a layout no release writes: one line naming v, exit 1."""
    data = long_statement.read_bytes()
    current = f'"v":{METADATA_VERSION}'.encode()
    assert data.count(current) == 1
    unknown = max(METADATA_VERSIONS) + 3
    altered = tmp_path / "altered.pdf"
    altered.write_bytes(data.replace(current, f'"v":{unknown}'.encode()))
    result = cli(round_ledger, "--as", COMPLIANCE, "verify-document", str(altered), code=1)
    accepted = ", ".join(str(v) for v in METADATA_VERSIONS)
    assert f"v: '{unknown}' is not a statement layout (accepted: {accepted})" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.fixture(scope="module")
def returned_ou(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    """The demo round with the Open University's loan returned (not yet settled) and a
    checkpoint after it; the folder to print into."""
    env = {**demo_env(tmp_path_factory, CURATOR, "2026-04-28T10:00:00Z"), "COLUMNS": "120"}
    folder = Path(env["SAMPLELOANS_DB"]).parent
    cli(env, "loans", "return", "L-2025-OU", "--container", "vial", "--seal", "SL-OU-R")
    weighed = ["CE5C0200YJFM00112=19.5mg", "CE5C0300YJFM00307=20mg", "CE5C0500YJFM00415=20mg"]
    accept = ["--seal-intact", "--condition", "unchanged"]
    cli(env, "loans", "accept-return", "L-2025-OU", *accept, *(f"--weighed={w}" for w in weighed))
    cli(env, "keys", "generate", "--out", str(folder / "naoc.key"), "--name", "naoc")
    cli(env, "checkpoint", "--key", str(folder / "naoc.key"))
    return env, folder


def page_text(pdf: Path) -> str:
    """The text of every page of a PDF."""
    return "\n".join(page.extract_text() for page in PdfReader(pdf).pages)


def test_a_returned_loan_owes_no_inventory_in_the_statement(
    returned_ou: tuple[dict[str, str], Path],
) -> None:
    """The PI's statement shows no inventory date for a loan that came back, as status says."""
    env, folder = returned_ou
    status = cli(env, "--as", "anand@open.example", "status", "--loan", "L-2025-OU").stdout
    assert "next inventory —" in status
    out = folder / "statements"
    out.mkdir()
    cli(
        env,
        "--as",
        COMPLIANCE,
        "report",
        "statement",
        "--pi",
        "anand@open.example",
        "--out",
        str(out),
    )
    (pdf,) = out.glob("*.pdf")
    text = page_text(pdf)
    # the "Your loans" table: no inventory date, but why none is owed, as `status` says it
    # (statement layout 13; before, a bare "—")
    loans = " ".join(text.split("Your loans", 1)[1].split("What you hold", 1)[0].split())
    assert loans.startswith(
        "Loan Agreement Status Return due Extensions Inventory due Held L-2025-OU"
    )
    assert "— (none owed: the loan is returned)" in loans, loans
    assert loans.endswith("0 µg"), loans
    assert "settlement report" in text
    result = cli(env, "--as", COMPLIANCE, "verify-document", str(pdf))
    assert "byte-identical to a fresh rendering" in result.stdout


def test_a_returned_loan_owes_no_inventory_in_the_inventory_report(
    returned_ou: tuple[dict[str, str], Path],
) -> None:
    """The inventory report of a returned loan says no inventory is due."""
    env, folder = returned_ou
    pdf = folder / "inventory.pdf"
    cli(env, "--as", COMPLIANCE, "report", "inventory", "--loan", "L-2025-OU", "--out", str(pdf))
    text = page_text(pdf)
    # the dash and why, as `status` says it (report layout 14; before, a bare "—")
    assert text.split("Next inventory due\n", 1)[1].startswith(
        "— (none owed: the loan is returned)\n"
    )
    result = cli(env, "--as", COMPLIANCE, "verify-document", str(pdf))
    assert "byte-identical to a fresh rendering" in result.stdout


def test_the_printed_inventory_rule_is_the_ledgers() -> None:
    """The renderers' copy of the rule (they load no ledger module) agrees with the ledger's
    for every loan status."""
    from datetime import UTC, datetime

    from sampleloans.ledger import overdue
    from sampleloans.readmodels.report import owed_inventory_due
    from sampleloans.vocab import LoanStatus

    due = datetime(2027, 4, 20, 10, tzinfo=UTC)
    # (a loan sent back by its inventory's due time: the service prints no date, so the
    # renderer's copy needs no sent-back time: `parts.printed_inventory_due`)
    for status in LoanStatus:
        assert owed_inventory_due(status, due) == overdue.inventory_due(status, due, None), status
    assert overdue.inventory_due(LoanStatus.RETURNED, due, None) is None
    assert overdue.inventory_due(LoanStatus.RECEIVED, due, None) == due


def test_status_and_statement_say_the_same_of_a_returned_loan(
    returned_ou: tuple[dict[str, str], Path],
) -> None:
    """What the PI owes on a returned loan reads the same in `status` as in their statement
    (status said 'settle: record obligations', the curator's step, not the PI's)."""
    env, _ = returned_ou
    status = cli(env, "--as", "anand@open.example", "status", "--loan", "L-2025-OU", "--json")
    (loan,) = json.loads(status.stdout)["loans"]
    assert loan["obligations"] == [
        "settlement report: report the results and publications the agreement asks for"
    ]
