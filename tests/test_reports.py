"""PDF reports: read models, rendering, determinism, metadata and Unicode (text via pypdf)."""

import io
import json
import os
import socket
from datetime import UTC, datetime, timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import Engine

from sampleloans import db
from sampleloans.errors import InvalidInput, NotFound
from sampleloans.ledger import store
from sampleloans.readmodels.report import (
    REPORT_LAYOUT,
    CustodyBody,
    OverdueBody,
    Report,
    ReturnBody,
    words_in,
)
from sampleloans.reports import layout, render, tables
from sampleloans.services import loans
from sampleloans.services.reporting import (
    build_report,
    make_request,
    rebuild_at,
)
from sampleloans.units import parse_mass_ug as mass
from tests.conftest import COMPLIANCE, NOW, OU_PI, UOC_PI, Run, ctx_for
from tests.factories import LATER, rich_history

GENERATED = NOW + timedelta(days=40)


def report_of(
    engine: Engine,
    kind: str,
    *,
    actor: str = COMPLIANCE,
    loan: str | None = None,
    sample: str | None = None,
    institution: str | None = None,
) -> Report:
    """Build a report's read model at the head as `actor`."""
    with db.transaction(engine, write=False) as session:
        request = make_request(kind, loan=loan, sample=sample, institution=institution)
        return build_report(session, ctx_for(actor, GENERATED), request, generated_at=GENERATED)


def text_of(data: bytes) -> str:
    """Every page's text."""
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


@pytest.fixture
def history(engine: Engine, run: Run) -> Engine:
    """The varied history of the factories: two loans, a split, an incident, a correction."""
    rich_history(run)
    return engine


def test_custody_report_lists_parties_items_events_and_the_head(history: Engine) -> None:
    report = report_of(history, "custody", loan="L-1")
    data = render(report)
    assert isinstance(report.body, CustodyBody)
    text = text_of(data)
    with db.transaction(history, write=False) as session:
        head_seq, head_hash = store.head(session)
    assert report.head == f"{head_seq}:{head_hash}"
    assert "Chain-of-custody report" in text
    assert "CE5C0200YJFM00112" in text and "CE5C0300YJFM00307" in text
    assert "Mahesh Anand" in text and "Open University" in text
    assert f"{head_seq}:{head_hash[:6]}…{head_hash[-4:]}" in text  # every footer
    assert report.digest[:16] in text
    assert "page 1 of" in text
    kinds = [e.kind for e in report.body.events]
    assert kinds[:3] == ["loan.requested", "loan.approved", "loan.issued"]
    assert "loan.closed" in kinds
    seqs = [e.seq for e in report.body.events]
    assert seqs == sorted(seqs)
    # accepted back 18 mg of an expected 18 mg; 15 mg of 15 mg: weighings agree, no findings
    assert "2.000 mg" in text  # the SIMS consumption


def test_custody_report_highlights_weighing_discrepancies_and_incidents(
    engine: Engine, run: Run
) -> None:
    from tests.factories import issued_loan, signed_agreement

    signed_agreement(run, "OU")
    issued_loan(run)
    run(loans.ship_loan, number="L-1", container="N2 box", seal_number="S-1")
    run(
        loans.receive_loan,
        number="L-1",
        seal_intact=False,
        condition="vial scratched",
        weighed_ug={"CE5C0200YJFM00112": mass("19.5 mg")},
    )
    report = report_of(engine, "custody", loan="L-1")
    assert isinstance(report.body, CustodyBody)
    kinds = {f.kind for f in report.body.findings}
    assert {"weighing", "seal"} <= kinds
    text = text_of(render(report))
    assert "expected 20.000 mg, weighed 19.500 mg" in text
    assert "discrepancy]" in text.replace("\n", "")


def test_sample_custody_covers_the_whole_lineage(history: Engine) -> None:
    report = report_of(history, "custody", sample="CE5C0300YJFM00307")
    assert isinstance(report.body, CustodyBody)
    codes = {i.code for i in report.body.items}
    assert {"CE5C0300YJFM00307", "CE5C0300YJFM00307-A"} <= codes
    assert "lineage" in report.scope_label


def test_return_report_accounts_for_every_microgram(history: Engine) -> None:
    report = report_of(history, "return", loan="L-1")
    body = report.body
    assert isinstance(body, ReturnBody)
    by_code = {line.code: line for line in body.lines}
    first = by_code["CE5C0200YJFM00112"]
    assert (first.issued_ug, first.consumed_ug, first.returned_now_ug) == (
        mass("20 mg"),
        mass("2 mg"),
        mass("18 mg"),
    )
    assert first.analyses[0].technique == "SIMS" and first.analyses[0].destructive
    assert all(line.remaining_ug == 0 for line in body.lines)
    assert [s.code for s in body.splits] == ["CE5C0300YJFM00307-A"]
    assert "returned 5.000 mg" in words_in(body.splits[0].fate, REPORT_LAYOUT)
    text = text_of(render(report))
    assert "Sample return report (F-75)" in text
    assert "40.000 mg" in text  # total issued
    assert "38.000 mg" not in text or "Total" in text
    assert "nothing remains accountable" in text
    assert "CE5C0300YJFM00307-A" in text


def test_overdue_and_inventory_reports(history: Engine, run: Run) -> None:
    late = NOW + timedelta(days=500)
    with db.transaction(history, write=False) as session:
        request = make_request("overdue", institution="UoC")
        notice = build_report(session, ctx_for(COMPLIANCE, late), request, generated_at=late)
    assert isinstance(notice.body, OverdueBody)
    assert [(line.loan, line.what) for line in notice.body.lines] == [
        ("L-2", "inventory"),
        ("L-2", "return"),
    ] or {line.loan for line in notice.body.lines} == {"L-2"}
    assert all(line.days_late > 0 for line in notice.body.lines)
    text = text_of(render(notice))
    assert "Notice of overdue obligations" in text and "L-2" in text and "days" in text.lower()
    statement = report_of(history, "inventory", loan="L-2")
    text = text_of(render(statement))
    assert "Inventory statement" in text and "CE5C0800YJFM00102" in text
    assert "Carsten Münker" in text


def test_same_ledger_same_time_gives_identical_bytes(history: Engine) -> None:
    for kind, scope in (
        ("custody", {"loan": "L-1"}),
        ("return", {"loan": "L-1"}),
        ("overdue", {"institution": "UoC"}),
        ("inventory", {"loan": "L-2"}),
    ):
        first = render(report_of(history, kind, **scope))
        second = render(report_of(history, kind, **scope))
        assert first == second, kind


def test_rebuilt_at_an_older_head_gives_the_same_digest(history: Engine, run: Run) -> None:
    report = report_of(history, "custody", loan="L-2")
    run(loans.attest_inventory, number="L-2", actor=UOC_PI)
    with db.transaction(history, write=False) as session:
        request = make_request("custody", loan="L-2")
        again = rebuild_at(session, ctx_for(COMPLIANCE), request, report.head_seq, GENERATED)
        now = build_report(session, ctx_for(COMPLIANCE, GENERATED), request, generated_at=GENERATED)
    assert again.digest == report.digest and again.head == report.head
    assert render(again) == render(report)
    assert now.digest != report.digest


def test_metadata_names_no_user_host_or_path(history: Engine) -> None:
    data = render(report_of(history, "custody", loan="L-1"))
    info = PdfReader(io.BytesIO(data)).metadata
    assert info is not None
    values = " ".join(str(v) for v in info.values())
    assert info["/Producer"] == "sampleloans" and info["/Creator"] == "sampleloans"
    assert info["/Author"] == "sampleloans"
    meta = json.loads(str(info["/Keywords"]))
    assert meta["kind"] == "custody" and meta["scope"] == "loan:L-1"
    for secret in (socket.gethostname(), os.getcwd(), os.path.expanduser("~"), "tester"):
        assert secret not in values
    for path in (os.getcwd(), os.path.expanduser("~"), layout.font_path().parent.as_posix()):
        assert path.encode() not in data


def test_unicode_names_render_in_the_embedded_font() -> None:
    story = [
        layout.para("Carsten Münker, Université Paris Cité, 大阪大学", layout.styles()["body"])
    ]
    data = layout.build_pdf(
        story,
        title="T",
        scope="s",
        head="1:" + "a" * 64,
        digest="b" * 64,
        generated_at="2025-04-01 09:00 UTC",
        created_at=datetime(2025, 4, 1, 9, 0, tzinfo=UTC),
        doc_title="T",
        subject="s",
        keywords="{}",
        qr_payload="x",
    )
    text = text_of(data)
    assert "Münker" in text and "Université" in text and "大阪大学" in text
    assert b"FontFile2" in data  # the TrueType font is embedded


def test_long_tables_are_split_and_repeat_their_header() -> None:
    rows = [(i, f"row {i}") for i in range(1_200)]
    chunks = tables.data_tables(("n", "text"), rows, (0.2, 0.8))
    assert len(chunks) == 3
    assert all(t.repeatRows == 1 for t in chunks)
    assert [len(t._cellvalues) for t in chunks] == [501, 501, 201]


def test_researchers_read_only_their_own_institution(history: Engine) -> None:
    assert report_of(history, "custody", actor=OU_PI, loan="L-1").request.loan == "L-1"
    with pytest.raises(NotFound, match=r"^loan 'L-2': no such loan among the records you may read"):
        report_of(history, "custody", actor=OU_PI, loan="L-2")


def test_requests_are_validated() -> None:
    with pytest.raises(InvalidInput, match="give exactly one of --loan"):
        make_request("return", institution="OU")
    with pytest.raises(InvalidInput, match="--as-of: only the custody report"):
        make_request("return", loan="L-1", as_of=NOW)
    with pytest.raises(InvalidInput, match="give exactly one of --loan or --sample"):
        make_request("custody", loan="L-1", sample="X")


def test_custody_as_of_shows_the_ledger_then(history: Engine, run: Run) -> None:
    run(loans.attest_inventory, number="L-2", actor=UOC_PI, now=LATER)
    full = report_of(history, "custody", loan="L-2")
    with db.transaction(history, write=False) as session:
        request = make_request("custody", loan="L-2", as_of=NOW)
        past = build_report(
            session, ctx_for(COMPLIANCE, GENERATED), request, generated_at=GENERATED
        )
    assert isinstance(past.body, CustodyBody) and isinstance(full.body, CustodyBody)
    assert len(past.body.events) < len(full.body.events)
    assert past.head_seq < full.head_seq
    assert "as of" in past.scope_label


def test_custody_flags_incidents_and_corrections(history: Engine) -> None:
    report = report_of(history, "custody", sample="CE5C0800YJFM00102")
    assert isinstance(report.body, CustodyBody)
    flags = {e.flag for e in report.body.events}
    assert "incident" in flags
    texts = [words_in(f.text, REPORT_LAYOUT) for f in report.body.findings if f.kind == "incident"]
    assert any("vial cracked" in text for text in texts)


def test_cli_start_up_imports_no_pdf_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys, sampleloans.cli, sampleloans.commands.reports; "
        "bad = [m for m in sys.modules if m.startswith(('reportlab', 'pypdf'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
