"""Issue 14 point 6 in the PDF: from page layout 3 on, the custody report's "Recorded by" column
marks an event a researcher of the borrowing institution recorded; reports printed in layouts 1
and 2 still re-render byte-identically (their content digest leaves the mark out).

The golden ledger's event 105 is loan L-2025-UoC's inventory, attested by UoC's researcher; every
other event of that loan was recorded by the curator. `tests/golden/report-layout2-*.pdf` were
printed from it by the last layout-2 code (see tests/golden/README.md).
"""

import io
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from psycopg import sql
from pypdf import PdfReader
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.readmodels.report import REPORT_LAYOUT, CustodyBody, Report, content_digest
from sampleloans.reports import render
from sampleloans.reports.custody import BORROWER_LAYOUT, BORROWER_MARK
from sampleloans.services.reporting import build_report, make_request
from tests.conftest import COMPLIANCE, CURATOR, GOLDEN, OU_PI, UOC_PI, ctx_for, fingerprint
from tests.pgcluster import PgServer

KINDS = ("custody", "return", "overdue", "inventory")
PRINTED_AT = "2025-09-01T00:00:00Z"  # the golden reports' --generated-at
AFTER_THE_LEDGER = "2026-06-01T00:00:00Z"  # its last event was recorded on 2026-04-20
BORROWER_EVENT = 105  # the inventory UoC's researcher attested on L-2025-UoC


def cli(*args: str) -> tuple[int, str]:
    """Run a command: its exit code and everything it printed."""
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout + result.stderr


def print_custody(out: Path, loan: str, actor: str = COMPLIANCE) -> None:
    """`report custody --loan LOAN --out OUT`, which must succeed."""
    code, output = cli("--as", actor, "report", "custody", "--loan", loan, "--out", str(out))
    assert code == 0, output


def pdf_lines(path: Path) -> list[str]:
    """The text of every page, a line each."""
    pages = PdfReader(path).pages
    return [line.strip() for page in pages for line in page.extract_text().splitlines()]


def marked_actors(path: Path) -> list[str]:
    """The "Recorded by" cells followed by the borrower mark: the line just above each mark,
    which is the e-mail of the person who recorded that event."""
    lines = pdf_lines(path)
    return [lines[i - 1] for i, line in enumerate(lines) if line == BORROWER_MARK]


def recorded_by_rows(path: Path) -> dict[str, int]:
    """How many event rows each person recorded (the lines naming them in the table)."""
    counts: dict[str, int] = {}
    for line in pdf_lines(path):
        if "@" in line and " " not in line:
            counts[line] = counts.get(line, 0) + 1
    return counts


def keywords(path: Path) -> dict[str, object]:
    """The report metadata a PDF carries in its Keywords."""
    info = PdfReader(io.BytesIO(path.read_bytes())).metadata
    assert info is not None
    loaded: dict[str, object] = json.loads(str(info["/Keywords"]))
    return loaded


def test_the_custody_report_marks_the_borrowers_event_only(
    golden_ledger: Path, tmp_path: Path
) -> None:
    """Through the CLI: the researcher's inventory is marked, none of the curator's seven
    events is; the new file names the current layout and verifies against the ledger."""
    out = tmp_path / "custody.pdf"
    print_custody(out, "L-2025-UoC")
    assert marked_actors(out) == [UOC_PI]
    assert recorded_by_rows(out) == {CURATOR: 7, UOC_PI: 1}  # the curator's rows, unmarked
    assert keywords(out)["v"] == REPORT_LAYOUT >= BORROWER_LAYOUT
    before = fingerprint(golden_ledger)
    code, output = cli("--as", COMPLIANCE, "verify-document", str(out))
    assert code == 0, output
    assert "byte-identical to a fresh rendering" in output
    assert fingerprint(golden_ledger) == before


def test_a_consumption_the_borrower_records_is_marked(
    golden_ledger: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A researcher records an analysis on their own loan; the curator's report marks that row
    and the researcher's earlier inventory, and nothing the curator recorded."""
    monkeypatch.setenv("SAMPLELOANS_NOW", AFTER_THE_LEDGER)
    code, output = cli(
        "--as", OU_PI, "loans", "consume", "L-2025-OU", "--sample", "CE5C0300YJFM00307",
        "--technique", "SIMS", "--mass", "1 mg", "--destructive",
    )  # fmt: skip
    assert code == 0, output
    out = tmp_path / "custody.pdf"
    print_custody(out, "L-2025-OU", actor=CURATOR)
    assert marked_actors(out) == [OU_PI, OU_PI]
    code, output = cli("--as", COMPLIANCE, "verify-document", str(out))
    assert code == 0, output


@pytest.mark.parametrize("kind", KINDS)
def test_a_layout_2_report_still_verifies_byte_for_byte(golden_ledger: Path, kind: str) -> None:
    """The reports layout 2 printed (the custody one lists the borrower's event unmarked) are
    still byte-identical to their re-rendering, and nothing is written to the ledger."""
    before = fingerprint(golden_ledger)
    golden = GOLDEN / f"report-layout2-{kind}.pdf"
    code, output = cli("--as", COMPLIANCE, "verify-document", str(golden))
    assert code == 0, output
    assert "byte-identical to a fresh rendering" in output
    assert "no later event" in output
    assert fingerprint(golden_ledger) == before


def test_the_layout_2_golden_has_no_mark_and_claiming_layout_3_is_caught(
    golden_ledger: Path, tmp_path: Path
) -> None:
    """Layout 2 printed no mark; the same file claiming layout 3 is re-rendered with the mark
    (and its digest) and no longer matches (exit 1)."""
    golden = GOLDEN / "report-layout2-custody.pdf"
    assert marked_actors(golden) == []
    assert UOC_PI in recorded_by_rows(golden)
    data = golden.read_bytes()
    assert data.count(b'"v":2') == 1
    altered = tmp_path / "altered.pdf"
    altered.write_bytes(data.replace(b'"v":2', b'"v":3'))
    code, output = cli("--as", COMPLIANCE, "verify-document", str(altered))
    assert code == 1, output
    assert "Traceback" not in output


def golden_custody_report(ledger: Path) -> Report:
    """The custody report of L-2025-UoC at the golden head, as the golden reports were dated."""
    engine = db.open_engine(db.url_for_path(ledger))
    printed_at = datetime(2025, 9, 1, tzinfo=UTC)
    try:
        with db.transaction(engine, write=False) as session:
            request = make_request("custody", loan="L-2025-UoC")
            return build_report(
                session, ctx_for(COMPLIANCE, printed_at), request, generated_at=printed_at
            )
    finally:
        engine.dispose()


def test_the_read_model_marks_the_borrowers_people_and_each_layout_digests_its_fields(
    golden_ledger: Path,
) -> None:
    """Service level: only event 105 (recorded by a person of UoC, the loan's borrower) is
    marked; in layout 2 the same read model gives
    the digest and the very bytes of the layout-2 golden, in layout 3 another digest."""
    report = golden_custody_report(golden_ledger)
    body = report.body
    assert isinstance(body, CustodyBody)
    assert [e.seq for e in body.events if e.by_borrower] == [BORROWER_EVENT]
    assert report.layout == REPORT_LAYOUT >= 3  # the current layout digests the mark
    golden = GOLDEN / "report-layout2-custody.pdf"
    as_layout_2 = replace(report, layout=2)
    assert content_digest(as_layout_2) == keywords(golden)["digest"]
    assert content_digest(report) != content_digest(as_layout_2)
    assert render(as_layout_2) == golden.read_bytes()
    unmarked = replace(
        report, body=replace(body, events=tuple(replace(e, by_borrower=False) for e in body.events))
    )
    assert content_digest(unmarked) != content_digest(report)  # layout 3 digests the mark
    assert content_digest(replace(unmarked, layout=2)) == content_digest(as_layout_2)


def test_on_a_secured_postgres_ledger_either_side_verifies_the_others_report(
    pg_server: PgServer, pg_url: str, tmp_path: Path
) -> None:
    """Row-level security hides the person events from a researcher, so the mark is read from
    what both sides see (the people and the loan): OU's researcher records an analysis and
    prints the custody report of their loan, the curator prints their own; both are marked on
    the same rows, and each verifies the other's file."""
    name = pg_url.rsplit("/", 1)[1]
    env = {"SAMPLELOANS_NOW": AFTER_THE_LEDGER, "COLUMNS": "200", "SAMPLELOANS_USER": ""}
    runner = CliRunner()
    assert runner.invoke(app, ["--db", pg_url, "demo"], env=env).exit_code == 0
    secured = runner.invoke(app, ["--db", pg_url, "--as", CURATOR, "db", "secure"], env=env)
    assert secured.exit_code == 0, secured.stderr
    logins = {}
    for email in (OU_PI, CURATOR):
        pg_server.admin(
            sql.SQL("ALTER ROLE {} PASSWORD 'borrower-mark'")
            .format(sql.Identifier(email))
            .as_string(None)
        )
        logins[email] = PgServer(pg_server.host, pg_server.port, email, "borrower-mark").url(name)
    env = {"COLUMNS": "200", "SAMPLELOANS_USER": ""}  # a secured ledger keeps the server's clock
    consumed = runner.invoke(app, ["--db", logins[OU_PI], "loans", "consume", "L-2025-OU",
                                   "--sample", "CE5C0300YJFM00307", "--technique", "SIMS",
                                   "--mass", "1 mg", "--destructive"], env=env)  # fmt: skip
    assert consumed.exit_code == 0, consumed.stderr
    files = {}
    for email in (OU_PI, CURATOR):
        files[email] = tmp_path / f"{email}.pdf"
        args = ["report", "custody", "--loan", "L-2025-OU", "--out", str(files[email])]
        printed = runner.invoke(app, ["--db", logins[email], *args], env=env)
        assert printed.exit_code == 0, printed.stderr
        assert marked_actors(files[email]) == [OU_PI, OU_PI]  # the inventory and the analysis
    for reader, writer in ((CURATOR, OU_PI), (OU_PI, CURATOR)):
        checked = runner.invoke(
            app, ["--db", logins[reader], "verify-document", str(files[writer])], env=env
        )
        assert checked.exit_code == 0, (reader, checked.stdout)
        assert "byte-identical to a fresh rendering" in checked.stdout
