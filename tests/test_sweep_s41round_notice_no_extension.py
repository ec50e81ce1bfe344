"""The overdue notice told a PI whose loan had used every extension its agreement allows to
"return the samples, or request an extension" (in its "Respond by" line, its first action and
the e-mail `notify` sends), though `loans extend` refuses that extension. Report layout 19 asks
for the return alone when no loan past due has an extension left (the demo's UoC loan, extended
once of once); a notice with one left (Osaka) still offers it; a notice printed in layout 18
keeps its words and verifies byte for byte."""

import email
import io
import json
import shutil
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from sampleloans import db, reports
from sampleloans.cli import app
from sampleloans.ledger.envelope import Context
from sampleloans.readmodels.report import NO_EXTENSION_LEFT_LAYOUT, REPORT_LAYOUT
from sampleloans.services.reporting import build_report, make_request
from tests.conftest import COMPLIANCE, CURATOR, demo_env

NOW = "2026-11-29T10:00:00Z"  # UoC's extended loan (due 2026-10-25) and Osaka's are past due
RETURN_ALONE = "return the samples: the agreement terms below allow no further extension"
EACH_USED = "each has used every extension the agreement terms quoted in this notice allow"
OFFERED = "or request an extension"


def _words(pdf: Path) -> str:
    """A PDF's text, every run of whitespace one space."""
    return " ".join(" ".join(page.extract_text() for page in PdfReader(pdf).pages).split())


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo, read by the compliance officer once UoC's extended loan fell due."""
    return {**demo_env(tmp_path_factory, COMPLIANCE), "SAMPLELOANS_NOW": NOW, "COLUMNS": "120"}


def _notice(env: dict[str, str], institution: str, out: Path) -> str:
    """An institution's overdue notice printed through the CLI, as text."""
    args = ["report", "overdue", "--institution", institution, "--out", str(out)]
    done = CliRunner().invoke(app, args, env=env)
    assert done.exit_code == 0, done.stdout + done.stderr
    return _words(out)


def test_no_extension_left_asks_for_the_return_alone(env: dict[str, str], tmp_path: Path) -> None:
    """UoC's loan has used 1 of 1 extension: the notice asks for the return, not an extension."""
    text = _notice(env, "UoC", tmp_path / "uoc.pdf")
    assert "L-2025-UoC has used 1 of 1 extension" in text
    assert RETURN_ALONE in text and EACH_USED in text, text
    assert OFFERED not in text, text


def test_the_extension_the_old_words_offered_is_refused(env: dict[str, str]) -> None:
    """Followed literally, the old words led to a refusal: the curator cannot extend it."""
    args = ["--as", CURATOR, "loans", "extend", "L-2025-UoC", "--period", "1 month"]
    args += ["--approver", CURATOR, "--reason", "the notice offered it"]
    done = CliRunner().invoke(app, args, env={**env, "SAMPLELOANS_USER": ""})
    assert done.exit_code == 1, done.stdout + done.stderr
    assert "extension" in done.stderr


def test_an_extension_left_is_still_offered(env: dict[str, str], tmp_path: Path) -> None:
    """Osaka's loan has used 0 of 1: its notice still offers the extension."""
    text = _notice(env, "Osaka", tmp_path / "osaka.pdf")
    assert "L-2025-Osaka has used 0 of 1 extension" in text
    assert OFFERED in text and RETURN_ALONE not in text and EACH_USED not in text


def test_the_email_asks_what_the_notice_asks(env: dict[str, str], tmp_path: Path) -> None:
    """`notify --outbox`: UoC's overdue message asks for the return alone, as its PDF does."""
    ledger = tmp_path / "ledger.db"
    shutil.copy2(env["SAMPLELOANS_DB"], ledger)  # the module's ledger keeps no checkpoint
    mine = {**env, "SAMPLELOANS_DB": str(ledger), "SAMPLELOANS_USER": CURATOR}
    key = tmp_path / "ck"
    outbox = tmp_path / "outbox"
    for args in (
        ["keys", "generate", "--out", str(key)],
        ["checkpoint", "--key", str(key)],
        ["notify", "--institution", "UoC", "--outbox", str(outbox)],
    ):
        done = CliRunner().invoke(app, args, env=mine)
        assert done.exit_code == 0, done.stdout + done.stderr
    (notice,) = outbox.glob("overdue-UoC-*.eml")
    message = email.message_from_bytes(notice.read_bytes())
    body = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    payload = body.get_payload(decode=True)
    assert isinstance(payload, bytes)
    words = " ".join(payload.decode().split())
    assert EACH_USED in words and OFFERED not in words, words


def test_a_layout_18_notice_keeps_its_words_and_verifies(
    env: dict[str, str], tmp_path: Path
) -> None:
    """A notice rendered in layout 18 offers the extension as it did, and `verify-document`
    re-renders it so, byte for byte."""
    context = Context(actor=COMPLIANCE, os_user="tester", now=datetime.fromisoformat(NOW))
    engine = db.open_engine(db.url_for_path(Path(env["SAMPLELOANS_DB"])))
    try:
        with db.transaction(engine, write=False) as session:
            request = make_request("overdue", institution="UoC")
            report = build_report(session, context, request, generated_at=context.now)
    finally:
        engine.dispose()
    assert REPORT_LAYOUT >= NO_EXTENSION_LEFT_LAYOUT
    old = tmp_path / "notice-18.pdf"
    old.write_bytes(reports.render(replace(report, layout=NO_EXTENSION_LEFT_LAYOUT - 1)))
    meta = PdfReader(io.BytesIO(old.read_bytes())).metadata
    assert meta is not None
    assert json.loads(str(meta["/Keywords"]))["v"] == NO_EXTENSION_LEFT_LAYOUT - 1
    assert OFFERED in _words(old) and RETURN_ALONE not in _words(old)
    done = CliRunner().invoke(app, ["verify-document", str(old)], env=env)
    assert done.exit_code == 0, done.stdout + done.stderr
    assert "byte-identical to a fresh rendering" in done.stdout
