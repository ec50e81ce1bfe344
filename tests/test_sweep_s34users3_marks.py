"""Sweep s34 users3 (3, 4): the return report and the statement say what `status` and
`custody history` say.

With a partial return in flight, `status` said "59.250 mg (20.000 mg of it on its way back)"
while the return report said "The borrower remains accountable for 59.250 mg." and listed the
item shipped back like the others. A back-dated analysis showed "(recorded … UTC)" in `custody
history` and the custody report, not in the return report's Analyses nor in the statement's
events; a corrected event was "[corrected by 110]" in `custody history` only. Report layout 15
and statement layout 14 say all of it; the older layouts are re-rendered as they were printed.
(5) A researcher's `loans list` at 120 columns wrapped the held cell over five lines.
"""

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.ledger.envelope import Context
from sampleloans.readmodels.report import (
    MARKED_EVENTS_LAYOUT,
    REPORT_LAYOUT,
    CustodyBody,
    ReturnBody,
    plain,
)
from sampleloans.readmodels.statement import MARKED_EVENTS_VERSION
from sampleloans.services.reporting import build_report, make_request
from sampleloans.services.statement import build_statements
from tests.test_sweep_s34users3_labels import AT, CURATOR, LOAN, NOW, PI, partial_return_scenario

RETURNING = "CE5C0300YJFM00307"  # shipped back, not yet accepted
RECORDED = datetime.fromisoformat(NOW)  # event 109 happened on 21 April, recorded on 1 May


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The brief's reproduction, built once for the module."""
    return partial_return_scenario(tmp_path_factory.mktemp("marks"))


def _body(path: Path, kind: str) -> Any:
    """A report's read model of the loan, as the curator prints it."""
    engine = db.open_engine(db.url_for_path(path))
    try:
        with db.transaction(engine, write=False) as session:
            ctx = Context(actor=CURATOR, os_user="tester", now=AT)
            return build_report(session, ctx, make_request(kind, loan=LOAN), generated_at=AT).body
    finally:
        engine.dispose()


def _pdf_text(env: dict[str, str], folder: Path, *args: str) -> str:
    """A report through the CLI, its text with the line breaks of table cells undone."""
    out = folder / f"{args[0]}.pdf"
    result = CliRunner().invoke(
        app,
        ["--as", CURATOR, "report", *args, "--out", str(out)],
        env={**env, "SAMPLELOANS_NOW": NOW},
    )
    assert result.exit_code == 0, result.output
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(out).pages)


def test_the_return_report_marks_what_is_on_its_way_back(ledger: dict[str, Any]) -> None:
    body = _body(ledger["path"], "return")
    assert isinstance(body, ReturnBody)
    marked = {line.code for line in body.lines if line.on_its_way_back}
    assert marked == {RETURNING}
    # an older layout digests the line as it printed it: without the mark
    assert "on_its_way_back" not in plain(body.lines[0], MARKED_EVENTS_LAYOUT - 1)
    assert plain(body.lines[0], REPORT_LAYOUT)["on_its_way_back"] is False


def test_the_return_report_and_status_say_the_same(ledger: dict[str, Any], tmp_path: Path) -> None:
    said = "59.250 mg (20.000 mg of it on its way back)"
    status = CliRunner().invoke(
        app, ["--as", PI, "status"], env={**ledger["env"], "SAMPLELOANS_NOW": NOW}
    )
    assert f"held {said}" in status.stdout
    text = _pdf_text(ledger["env"], tmp_path, "return", "--loan", LOAN)
    assert f"The borrower remains accountable for {said}." in text
    assert f"{RETURNING} (on its way back)" in text
    assert "(recorded 2026-05-01 10:00 UTC)" in text  # the back-dated analysis 109


def test_a_back_dated_analysis_says_when_it_was_recorded(ledger: dict[str, Any]) -> None:
    body = _body(ledger["path"], "return")
    recorded = {a.seq: a.recorded_at for line in body.lines for a in line.analyses}
    assert recorded == {99: None, 109: RECORDED}


def test_the_custody_report_marks_the_corrected_event(
    ledger: dict[str, Any], tmp_path: Path
) -> None:
    body = _body(ledger["path"], "custody")
    assert isinstance(body, CustodyBody)
    assert {row.seq: row.corrected_by for row in body.events if row.corrected_by} == {109: (110,)}
    assert "[corrected by 110]" in _pdf_text(ledger["env"], tmp_path, "custody", "--loan", LOAN)


def test_the_statement_marks_back_dated_and_corrected_events(
    ledger: dict[str, Any], tmp_path: Path
) -> None:
    from sampleloans.commands.statement import checkpoint_ref

    engine = db.open_engine(db.url_for_path(ledger["path"]))
    try:
        with db.transaction(engine, write=False) as session:
            ctx = Context(actor=CURATOR, os_user="tester", now=AT)
            ref = checkpoint_ref(ledger["note"], "checkpoint")
            (statement,) = build_statements(session, ctx, ref, pi=PI, generated_at=AT)
    finally:
        engine.dispose()
    events = {e.seq: e for e in statement.body.events}
    assert {seq for seq, e in events.items() if e.recorded_at} == {109}
    assert {seq: e.corrected_by for seq, e in events.items() if e.corrected_by} == {109: (110,)}
    assert "corrected_by" not in plain(events[109], MARKED_EVENTS_VERSION - 1)
    out = tmp_path / "st"
    result = CliRunner().invoke(
        app,
        [
            "--as",
            CURATOR,
            "report",
            "statement",
            "--pi",
            PI,
            "--out",
            str(out),
            "--checkpoint",
            str(ledger["cp"]),
        ],
        env={**ledger["env"], "SAMPLELOANS_NOW": NOW},
    )
    assert result.exit_code == 0, result.output
    (pdf,) = out.iterdir()
    text = " ".join(" ".join(p.extract_text().split()) for p in PdfReader(pdf).pages)
    assert "(ICP-MS, destructive) [corrected by 110]" in text
    assert "2026-04-21 09:00 UTC (recorded 2026-05-01 10:00 UTC)" in text
    checked = CliRunner().invoke(
        app,
        ["--as", CURATOR, "verify-document", str(pdf)],
        env={**ledger["env"], "SAMPLELOANS_NOW": NOW},
    )
    assert checked.exit_code == 0, checked.output


def _loans_list(env: dict[str, str], columns: int) -> list[str]:
    """A researcher's `loans list` table at a terminal width: the lines of the loan's row."""
    result = CliRunner().invoke(
        app,
        ["--as", PI, "loans", "list"],
        env={**env, "SAMPLELOANS_NOW": NOW, "COLUMNS": str(columns)},
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    first = next(k for k, line in enumerate(lines) if LOAN in line)
    end = next(k for k in range(first, len(lines)) if lines[k].startswith("└"))
    return lines[first:end]


def test_a_researchers_loans_list_keeps_the_held_cell_short(ledger: dict[str, Any]) -> None:
    """At 120 columns the held cell took five lines ("of it on", "its way", "back)"): in a list
    it says "(20.000 mg returning)", three lines at most, the PI's e-mail whole on its line (a
    two-line row there folded it, 'anand@open.exam' over 'ple'); wide enough, one line."""
    row = _loans_list(ledger["env"], 120)
    assert len(row) <= 3, "\n".join(row)
    assert "anand@open.example" in row[0], "\n".join(row)
    assert "59.250 mg" in row[0] and "returning)" in row[-1]
    assert "2026-05-05 08:00" in row[0]
    (wide,) = _loans_list(ledger["env"], 160)
    assert "59.250 mg (20.000 mg returning)" in wide
