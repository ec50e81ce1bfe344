"""The overdue notice of a demo ledger: printed through the CLI, and built at service level to
render it in an earlier page layout (`reports.render(replace(report, layout=…))`)."""

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans import db, reports
from sampleloans.cli import app
from sampleloans.ledger.envelope import Context
from sampleloans.readmodels.report import OverdueBody, Report
from sampleloans.services.reporting import build_report, make_request
from tests.conftest import COMPLIANCE, demo_env
from tests.pdf_reading import layout_of, words


def overdue_notice(env: dict[str, str], institution: str, actor: str, now: str) -> Report:
    """The overdue notice of `institution` in the ledger `env` names, as `actor` prints it at
    `now` (ISO 8601)."""
    context = Context(actor=actor, os_user="tester", now=datetime.fromisoformat(now))
    engine = db.open_engine(db.url_for_path(Path(env["SAMPLELOANS_DB"])))
    try:
        with db.transaction(engine, write=False) as session:
            request = make_request("overdue", institution=institution)
            report = build_report(session, context, request, generated_at=context.now)
    finally:
        engine.dispose()
    assert isinstance(report.body, OverdueBody)
    return report


NOTICE_NOW = "2026-11-29T10:00:00Z"
"""A moment when the demo's Osaka loan and its extended UoC loan (due 2026-10-25) are late."""


EXTENDABLE_NOW = "2026-05-10T10:00:00Z"
"""A moment when the demo's Osaka loan (due 2026-04-25, one extension of up to 6 months unused)
is late and can still be extended: its notice offers the extension."""


def notice_env(factory: pytest.TempPathFactory, now: str = NOTICE_NOW) -> dict[str, str]:
    """A demo ledger read by the compliance officer at `now` (a module fixture's)."""
    return {**demo_env(factory, COMPLIANCE), "SAMPLELOANS_NOW": now}


def pdf_words(pdf: Path) -> str:
    """A PDF file's text, every run of whitespace one space."""
    return words(pdf.read_bytes())


def printed_notice(env: dict[str, str], institution: str, out: Path, *extra: str) -> str:
    """`institution`'s overdue notice printed to `out` through the CLI; its text."""
    args = ["report", "overdue", "--institution", institution, "--out", str(out), *extra]
    done = CliRunner().invoke(app, args, env=env)
    assert done.exit_code == 0, done.stdout + done.stderr
    return pdf_words(out)


def verified_in_layout(env: dict[str, str], report: Report, layout: int, out: Path) -> str:
    """`report` rendered in page `layout` to `out`, which names that layout and which
    `verify-document` re-renders byte for byte against the ledger; its text."""
    out.write_bytes(reports.render(replace(report, layout=layout)))
    assert layout_of(out.read_bytes()) == layout
    done = CliRunner().invoke(app, ["verify-document", str(out)], env=env)
    assert done.exit_code == 0, done.stdout + done.stderr
    assert "byte-identical to a fresh rendering" in done.stdout
    return pdf_words(out)
