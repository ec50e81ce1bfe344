"""The overdue notice asked for an extension "under the agreement's extension clause below",
but the PDF prints the agreement terms above its "What to do" section: the pointer pointed at
nothing. Report layout 18 words it "under the extension clause of the agreement terms quoted in
this notice", true wherever the terms stand; a notice printed in layout 17 keeps its words, so
it still verifies byte for byte."""

import io
import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from sampleloans import db, reports
from sampleloans.cli import app
from sampleloans.ledger.envelope import Context
from sampleloans.readmodels.report import (
    EXTENSION_CLAUSE_LAYOUT,
    REPORT_LAYOUT,
    OverdueBody,
    Reworded,
)
from sampleloans.services.reporting import build_report, make_request
from tests.conftest import COMPLIANCE, demo_env

NEW = "under the extension clause of the agreement terms quoted in this notice"
OLD = "under the agreement's extension clause below"
NOW = "2026-11-29T10:00:00Z"


def _words(pdf: Path) -> str:
    """A PDF's text, every run of whitespace one space."""
    return " ".join(" ".join(page.extract_text() for page in PdfReader(pdf).pages).split())


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo, read by the compliance officer after Osaka's loan fell due."""
    return {**demo_env(tmp_path_factory, COMPLIANCE), "SAMPLELOANS_NOW": NOW}


def _notice(env: dict[str, str], out: Path, *extra: str) -> None:
    """Print Osaka's overdue notice to `out` through the CLI."""
    args = ["report", "overdue", "--institution", "Osaka", "--out", str(out), *extra]
    done = CliRunner().invoke(app, args, env=env)
    assert done.exit_code == 0, done.stdout + done.stderr


def test_the_notice_points_at_the_terms_it_quotes_above(
    env: dict[str, str], tmp_path: Path
) -> None:
    """The terms section comes before "What to do", whose action names them without 'below'."""
    out = tmp_path / "notice.pdf"
    _notice(env, out)
    text = _words(out)
    assert REPORT_LAYOUT >= EXTENSION_CLAUSE_LAYOUT
    assert NEW in text and OLD not in text, text
    terms = text.index("The agreement terms this notice rests on")
    assert terms < text.index("What to do") < text.index(NEW), text


def test_a_layout_17_notice_keeps_its_words_and_verifies(
    env: dict[str, str], tmp_path: Path
) -> None:
    """Service level: the action is `Reworded`; a notice rendered in layout 17 says "below"
    as it did, and `verify-document` re-renders it so, byte for byte."""
    context = Context(actor=COMPLIANCE, os_user="tester", now=datetime.fromisoformat(NOW))
    engine = db.open_engine(db.url_for_path(Path(env["SAMPLELOANS_DB"])))
    try:
        with db.transaction(engine, write=False) as session:
            request = make_request("overdue", institution="Osaka")
            report = build_report(session, context, request, generated_at=context.now)
    finally:
        engine.dispose()
    assert isinstance(report.body, OverdueBody)
    action = report.body.actions[0]
    assert isinstance(action, Reworded) and action.since == EXTENSION_CLAUSE_LAYOUT
    old = tmp_path / "notice-17.pdf"
    old.write_bytes(reports.render(replace(report, layout=EXTENSION_CLAUSE_LAYOUT - 1)))
    meta = PdfReader(io.BytesIO(old.read_bytes())).metadata
    assert meta is not None
    assert json.loads(str(meta["/Keywords"]))["v"] == EXTENSION_CLAUSE_LAYOUT - 1
    assert OLD in _words(old) and NEW not in _words(old)
    done = CliRunner().invoke(app, ["verify-document", str(old)], env=env)
    assert done.exit_code == 0, done.stdout + done.stderr
    assert "byte-identical to a fresh rendering" in done.stdout
