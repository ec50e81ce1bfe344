"""Issue 11, items 11–16: PDF forms a reviewer signs.

One date format in every report, e-mails and event names never broken mid-word, a signature
line per hand-over and an overdue flag on the custody report, F-75 headings kept with their
content, an overdue notice addressed to the PI with a respond-by date and the agreement terms,
an inventory statement with a measured-mass column, remarks and returned items apart, and the
generation time as the PDF's creation date.
"""

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from reportlab.platypus import Spacer
from sqlalchemy import Engine
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.readmodels.report import (
    RESPOND_WITHIN_DAYS,
    CustodyBody,
    InventoryBody,
    Overdue,
    OverdueBody,
    ReturnBody,
)
from sampleloans.reports import layout, returns, tables
from sampleloans.reports.custody import HANDOVER_PARTIES
from sampleloans.services import loans
from sampleloans.services.reporting import build_report, make_request
from tests.conftest import COMPLIANCE, CURATOR, OU_PI, ctx_for
from tests.factories import Run, held_ug, received_loan, signed_agreement

A, B, C = "CE5C0200YJFM00112", "CE5C0300YJFM00307", "CE5C0500YJFM00415"
LATE = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)  # the loan (issued NOW, one year) is 30 days late
LATE_ISO = "2026-05-01T09:00:00Z"
DUE = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)  # NOW + the agreement's one-year loan period

# "2025-04-24 08:00 UTC" or a date alone "2025-04-24"; anything else with a date is wrong:
# ISO with a T, a time without UTC, seconds
WRONG_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:T|\s+\d{2}:\d{2}(?!\s+UTC)|\s+\d{2}:\d{2}:\d{2})")
RIGHT_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC")
DOTTED_KIND = re.compile(r"\b(?:loan|sample|incident|event|agreement|person)\.[a-z_]+\b")


def pages_of(path: Path) -> list[str]:
    """Each page's text of a PDF file."""
    return [page.extract_text() for page in PdfReader(path).pages]


def text_of(path: Path) -> str:
    """Every page's text of a PDF file."""
    return "\n".join(pages_of(path))


def flat(path: Path) -> str:
    """A PDF's text with every run of whitespace as one space."""
    return " ".join(text_of(path).split())


@pytest.fixture
def late_loan(engine: Engine, run: Run) -> Engine:
    """OU's loan L-1 of three samples, received, one analysed, one returned alone; due back a
    year after NOW and still out at LATE."""
    signed_agreement(run, "OU")
    received_loan(run, number="L-1", samples=(A, B, C))
    run(
        loans.consume,
        number="L-1",
        sample=B,
        technique="Hf-W chronometry, MC-ICP-MS",
        mass_ug=1000,
        destructive=True,
    )
    run(loans.release_return, number="L-1", container="N2 box", seal_number="R-1", samples=[A])
    run(
        loans.accept_return,
        number="L-1",
        seal_intact=True,
        condition="unchanged",
        weighed_ug={A: held_ug(run, "L-1", A)},
    )
    return engine


@pytest.fixture
def late_cli(late_loan: Engine, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Engine:
    """The late loan's ledger, the CLI's clock at LATE."""
    monkeypatch.setenv("SAMPLELOANS_NOW", LATE_ISO)
    return late_loan


def report(
    runner: CliRunner, out: Path, *args: str, generated_at: str = LATE_ISO, actor: str = COMPLIANCE
) -> Path:
    """`report ARGS --out OUT --generated-at …` through the CLI; the file written."""
    result = runner.invoke(
        app, ["--as", actor, "report", *args, "--out", str(out), "--generated-at", generated_at]
    )
    assert result.exit_code == 0, result.stderr
    return out


def body_of(
    engine: Engine,
    kind: str,
    at: datetime = LATE,
    *,
    loan: str | None = None,
    institution: str | None = None,
) -> object:
    """A report's read model, as a compliance officer, generated at `at`."""
    with db.transaction(engine, write=False) as session:
        request = make_request(kind, loan=loan, institution=institution)
        return build_report(session, ctx_for(COMPLIANCE, LATE), request, generated_at=at).body


ALL_REPORTS = [
    ("custody", "--loan", "L-1"),
    ("custody", "--loan", "L-1", "--as-of", "2025-04-01T09:00:00Z"),
    ("return", "--loan", "L-1"),
    ("overdue", "--institution", "OU"),
    ("inventory", "--loan", "L-1"),
]


@pytest.fixture
def all_reports(late_cli: Engine, runner: CliRunner, tmp_path: Path) -> dict[str, Path]:
    """Every report of the late loan, written through the CLI."""
    return {
        "-".join(args[:1] + args[3:4]): report(runner, tmp_path / f"r{i}.pdf", *args)
        for i, args in enumerate(ALL_REPORTS)
    }


# --- 11. one date format; nothing broken mid-word ---------------------------------------------


def test_every_report_prints_dates_in_one_format(all_reports: dict[str, Path]) -> None:
    for name, path in all_reports.items():
        text = text_of(path)
        assert not WRONG_DATE.findall(text), (name, WRONG_DATE.findall(text))
        assert RIGHT_DATETIME.search(text), name
    # the agreement's expiry and the return form's condition history were raw ISO
    assert "Expires 2030-04-01 09:00 UTC" in flat(all_reports["custody"])
    assert "received 2025-04-01 09:00 UTC" in flat(all_reports["return"])
    assert "as of 2025-04-01 09:00 UTC" in flat(all_reports["custody---as-of"])


def test_event_kinds_print_as_words_and_emails_are_never_cut(
    all_reports: dict[str, Path],
) -> None:
    emails = (CURATOR, OU_PI, "curator@naoc.example")
    for name, path in all_reports.items():
        text = text_of(path)
        assert not DOTTED_KIND.findall(text), (name, DOTTED_KIND.findall(text))
        for email in emails:
            for at in range(1, len(email)):
                assert f"{email[:at]}\n{email[at:]}" not in text, (name, email, at)
    custody = text_of(all_reports["custody"])
    for label in ("Issue from vault", "Shipment", "Receipt", "Analysis"):
        assert label in custody
    assert "Return\nshipped" in custody or "Return shipped" in custody
    assert "Return\naccepted" in custody or "Return accepted" in custody


def test_a_long_word_breaks_before_the_at_sign_not_inside_a_name() -> None:
    measure = tables.measurer()
    email = "muenker@uni-koeln.example"
    width = measure("muenker@uni-koeln.") - 1  # the whole address does not fit
    lines = tables.wrap_lines(email, width, measure)
    assert lines == ["muenker", "@uni-koeln.example"]
    assert tables.wrap_lines("li.na@naoc.example", measure("@naoc.exa"), measure) == [
        "li.na",
        "@naoc.",
        "example",
    ]


# --- 12. custody report: hand-over signatures, overdue flag -----------------------------------


def test_custody_report_has_a_signature_line_per_hand_over(
    all_reports: dict[str, Path], late_loan: Engine
) -> None:
    body = body_of(late_loan, "custody", loan="L-1")
    assert isinstance(body, CustodyBody)
    handovers = [e for e in body.events if e.handover is not None]
    # issue, shipment, receipt, return shipped, return accepted
    assert [e.label for e in handovers] == [
        "Issue from vault",
        "Shipment",
        "Receipt",
        "Return shipped",
        "Return accepted",
    ]
    text = text_of(all_reports["custody"])
    assert f"Hand-overs to sign ({len(handovers)})" in text
    section = text.split("Hand-overs to sign", 1)[1].split("\nSignatures\n", 1)[0]
    assert section.count("Date:") == 2 * len(handovers)  # one for each party of each
    flat = " ".join(section.split())
    for e in handovers:
        for name in HANDOVER_PARTIES:
            assert " ".join(getattr(e, name).split()) in flat, (e.seq, name)


def test_custody_report_flags_an_overdue_loan_in_its_header(
    all_reports: dict[str, Path], late_loan: Engine
) -> None:
    body = body_of(late_loan, "custody", loan="L-1")
    assert isinstance(body, CustodyBody)
    assert body.overdue == (Overdue("L-1", DUE, 30),)
    first_page = pages_of(all_reports["custody"])[0]
    header = first_page.split("Parties", 1)[0]
    assert "OVERDUE since 2026-04-01 09:00 UTC, 30 days" in header
    # the same loan before it was due: no flag
    on_time = body_of(late_loan, "custody", at=DUE - timedelta(days=1), loan="L-1")
    assert isinstance(on_time, CustodyBody) and on_time.overdue == ()
    # as of a moment the loan was not yet late, the report judges at that moment
    assert "OVERDUE" not in text_of(all_reports["custody---as-of"])


def test_return_and_inventory_forms_flag_the_past_due_return_too(
    all_reports: dict[str, Path],
) -> None:
    for name in ("return", "inventory"):
        assert "OVERDUE since 2026-04-01 09:00 UTC, 30 days" in pages_of(all_reports[name])[0]


# --- 13. F-75: a heading stays with its content -----------------------------------------------


def test_a_section_heading_moves_to_the_next_page_with_its_chart(late_loan: Engine) -> None:
    body = body_of(late_loan, "return", loan="L-1")
    assert isinstance(body, ReturnBody)
    frame_height = layout.PAGE[1] - 16 * layout.mm - 17 * layout.mm
    # room left on page 1 for the heading but not for the chart under it
    filler = Spacer(1, frame_height - 40 * layout.mm)
    data = layout.build_pdf(
        [filler, *layout.section("Mass balance", [returns.chart(body)])],
        title="T",
        scope="s",
        head="1:" + "a" * 64,
        digest="b" * 64,
        generated_at="2026-05-01 09:00 UTC",
        created_at=LATE,
        doc_title="T",
        subject="s",
        keywords="{}",
        qr_payload="x",
    )
    pages = [p.extract_text() for p in PdfReader(io.BytesIO(data)).pages]
    (heading_page,) = [i for i, p in enumerate(pages) if "Mass balance" in p]
    (chart_page,) = [i for i, p in enumerate(pages) if "mass in mg" in p]
    assert heading_page == chart_page == 1


def test_return_form_keeps_mass_balance_and_its_chart_on_one_page(
    all_reports: dict[str, Path],
) -> None:
    pages = pages_of(all_reports["return"])
    assert [i for i, p in enumerate(pages) if "Mass balance" in p] == [
        i for i, p in enumerate(pages) if "mass in mg" in p
    ]


# --- 14. overdue notice -----------------------------------------------------------------------


def test_overdue_notice_is_addressed_to_the_pi_with_a_date_and_the_agreement_terms(
    all_reports: dict[str, Path], late_loan: Engine
) -> None:
    body = body_of(late_loan, "overdue", institution="OU")
    assert isinstance(body, OverdueBody)
    assert body.respond_by == LATE + timedelta(days=RESPOND_WITHIN_DAYS)
    assert [p.name for p in body.addressees] == ["Mahesh Anand"]
    text = " ".join(text_of(all_reports["overdue"]).split())
    to = text.split(" To ", 1)[1].split("Obligations past due", 1)[0]
    for part in ("Mahesh Anand", OU_PI, "The Open University", "Milton Keynes", "United Kingdom"):
        assert part in to, part
    assert "Respond by 2026-05-15" in to
    terms = text.split("The agreement terms this notice rests on", 1)[1]
    assert "AG-OU" in terms and "at most 1 year" in terms
    assert "up to 2 extensions of at most 6 months each" in terms
    assert "used 0 of 2 extensions" in terms and "(s)" not in terms


# --- 15. inventory statement ------------------------------------------------------------------


def test_inventory_asks_for_the_measured_mass_and_remarks_not_for_returned_items(
    all_reports: dict[str, Path], late_loan: Engine
) -> None:
    body = body_of(late_loan, "inventory", loan="L-1")
    assert isinstance(body, InventoryBody)
    held = {i.code for i in body.items if i.held_ug}
    assert held == {B, C}
    text = text_of(all_reports["inventory"])
    assert "Measured by PI" in text
    confirm = text.split("measure and confirm", 1)[1].split("Not in the PI's hands", 1)[0]
    assert confirm.count("yes") == len(held)
    assert A not in confirm and B in confirm and C in confirm
    returned = text.split("Not in the PI's hands", 1)[1].split("Attestation", 1)[0]
    assert A in returned and "returned" in returned and "yes" not in returned
    remarks = text.split("Remarks (explain any difference)", 1)[1]
    decoration = ("Inventory statement —", "sampleloans", "ledger head", "page ", "Check this")
    written = [
        line
        for line in remarks.split("Signatures", 1)[0].splitlines()
        if line.strip() and not line.startswith(decoration)
    ]
    assert written == []  # only ruled lines: room to write


# --- 16. creation date; byte-identical; verify-document ---------------------------------------


def test_pdf_creation_date_is_the_generation_time(
    late_cli: Engine, runner: CliRunner, tmp_path: Path
) -> None:
    for generated in ("2026-05-01T09:00:00Z", "2025-12-24T17:30:00Z"):
        out = report(
            runner,
            tmp_path / f"{generated[:10]}.pdf",
            "custody",
            "--loan",
            "L-1",
            generated_at=generated,
        )
        info = PdfReader(out).metadata
        assert info is not None
        expected = datetime.fromisoformat(generated.replace("Z", "+00:00"))
        assert info.creation_date == expected
        assert info.modification_date == expected


def test_reports_are_byte_identical_and_verify(
    all_reports: dict[str, Path], runner: CliRunner, tmp_path: Path
) -> None:
    for i, (name, path) in enumerate(all_reports.items()):
        args = ALL_REPORTS[i]
        again = report(runner, tmp_path / f"again{i}.pdf", *args)
        assert again.read_bytes() == path.read_bytes(), name
        result = runner.invoke(app, ["--as", COMPLIANCE, "verify-document", str(path)])
        assert result.exit_code == 0, (name, result.stdout, result.stderr)
        assert "verified against the ledger" in result.stdout


def test_inventory_does_not_ask_to_confirm_a_sample_on_its_way_back(
    run: Run, runner: CliRunner, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """After a partial return the PI confirms only what is still in their hands."""
    signed_agreement(run)
    received_loan(run, number="L-1", samples=(A, B))
    run(loans.release_return, number="L-1", container="box", seal_number="S-9", samples=[A])
    text = text_of(report(runner, tmp_path / "inv.pdf", "inventory", "--loan", "L-1",
                          generated_at="2025-04-01T09:00:00Z"))  # fmt: skip
    confirm = text.split("measure and confirm", 1)[1].split("Not in the PI's hands", 1)[0]
    assert B in confirm and A not in confirm and confirm.count("yes") == 1
    assert A in text.split("Not in the PI's hands", 1)[1]
