"""Sweep s35 users4: the PDFs mark a correction as `custody history` does, once.

`custody history` and the custody report mark a corrected analysis "[corrected by 110]"; the
return report's Analyses listed it unmarked. The custody report named the correction itself
"Mass corrected [correction]", the flag repeating the label. Report layout 16 marks the
analysis in the return report and names the correction by its label alone; files printed in
layout 15 are re-rendered as they were and still verify byte for byte.
"""

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from sampleloans import db, reports
from sampleloans.cli import app
from sampleloans.ledger.envelope import Context
from sampleloans.readmodels.report import (
    CORRECTED_ANALYSES_LAYOUT,
    REPORT_LAYOUT,
    Report,
    ReturnBody,
    plain,
)
from sampleloans.services.reporting import build_report, make_request
from tests.test_sweep_s34users3_labels import AT, CURATOR, LOAN, NOW, partial_return_scenario

CORRECTED = 109  # the back-dated ICP-MS analysis
CORRECTION = 110  # its mass corrected


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo with a corrected analysis on L-2025-OU, built once for the module."""
    return partial_return_scenario(tmp_path_factory.mktemp("s35marks"))


def _report(path: Path, kind: str) -> Report:
    """A report of the loan as the curator prints it (this release's layout)."""
    engine = db.open_engine(db.url_for_path(path))
    try:
        with db.transaction(engine, write=False) as session:
            ctx = Context(actor=CURATOR, os_user="tester", now=AT)
            return build_report(session, ctx, make_request(kind, loan=LOAN), generated_at=AT)
    finally:
        engine.dispose()


def _text(pdf: Path) -> str:
    """A PDF's text, the line breaks of table cells undone."""
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(pdf).pages)


def _cli(env: dict[str, str], *args: str) -> Any:
    """A command as the curator on the scenario's clock."""
    return CliRunner().invoke(app, ["--as", CURATOR, *args], env={**env, "SAMPLELOANS_NOW": NOW})


def test_the_return_reports_analysis_knows_its_correction(ledger: dict[str, Any]) -> None:
    """Service level: the corrected analysis carries the correction's seq, the others none; a
    layout-15 file's digest leaves the field out, as that layout printed no mark."""
    body = _report(ledger["path"], "return").body
    assert isinstance(body, ReturnBody)
    analyses = {a.seq: a for line in body.lines for a in line.analyses}
    assert {seq: a.corrected_by for seq, a in analyses.items() if a.corrected_by} == {
        CORRECTED: (CORRECTION,)
    }
    assert "corrected_by" not in plain(analyses[CORRECTED], CORRECTED_ANALYSES_LAYOUT - 1)
    assert plain(analyses[CORRECTED], REPORT_LAYOUT)["corrected_by"] == [CORRECTION]


def test_the_pdfs_mark_the_correction_once(ledger: dict[str, Any], tmp_path: Path) -> None:
    """Through the CLI: the return report marks the analysis as `custody history` does; the
    custody report says "Mass corrected" without "[correction]"; both verify."""
    history = _cli(ledger["env"], "custody", "history", "--loan", LOAN, "--json")
    assert history.exit_code == 0, history.output
    marked = {
        e["seq"]: e["corrected_by"]
        for e in json.loads(history.stdout)["events"]
        if e["corrected_by"]
    }
    assert marked == {CORRECTED: [CORRECTION]}  # what the PDFs must say too
    for kind in ("return", "custody"):
        out = tmp_path / f"{kind}.pdf"
        made = _cli(ledger["env"], "report", kind, "--loan", LOAN, "--out", str(out))
        assert made.exit_code == 0, made.output
        checked = _cli(ledger["env"], "verify-document", str(out))
        assert checked.exit_code == 0, checked.output
    assert f"ICP-MS [corrected by {CORRECTION}]" in _text(tmp_path / "return.pdf")
    custody = _text(tmp_path / "custody.pdf")
    assert "Mass corrected" in custody and "[correction]" not in custody
    assert f"[corrected by {CORRECTION}]" in custody


@pytest.mark.parametrize("kind", ["return", "custody"])
def test_a_layout_15_file_still_verifies_byte_for_byte(
    ledger: dict[str, Any], tmp_path: Path, kind: str
) -> None:
    """A file printed in layout 15 (no mark in the return report, the custody report's
    "[correction]") is re-rendered in its own words by `verify-document`."""
    older = replace(_report(ledger["path"], kind), layout=CORRECTED_ANALYSES_LAYOUT - 1)
    out = tmp_path / f"{kind}-15.pdf"
    out.write_bytes(reports.render(older))
    text = _text(out)
    if kind == "return":
        assert "[corrected by" not in text
    else:
        assert "Mass corrected [correction]" in text
    checked = _cli(ledger["env"], "verify-document", str(out))
    assert checked.exit_code == 0, checked.output
    assert "byte-identical to a fresh rendering" in checked.output
