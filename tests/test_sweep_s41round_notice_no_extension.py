"""The overdue notice told a PI whose loan had used every extension its agreement allows to
"return the samples, or request an extension" (in its "Respond by" line, its first action and
the e-mail `notify` sends), though `loans extend` refuses that extension. Report layout 19 asks
for the return alone when no loan past due could still be extended by the rules of `loans
extend` (the demo's UoC loan, extended once of once; Osaka's, with its extension unused but
more than its longest one past due, so any extension would leave it overdue); a notice whose
loan can still be extended (Osaka soon after its due date) still offers it; whichever the
notice says, `loans extend` agrees; a notice printed in layout 18 keeps its words and verifies
byte for byte."""

import email
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.readmodels.report import NO_EXTENSION_LEFT_LAYOUT, REPORT_LAYOUT
from tests.conftest import COMPLIANCE, CURATOR
from tests.notice_steps import (
    EXTENDABLE_NOW,
    NOTICE_NOW,
    notice_env,
    overdue_notice,
    printed_notice,
    verified_in_layout,
)

NOW = NOTICE_NOW  # UoC's extended loan (due 2026-10-25) and Osaka's are past due
RETURN_ALONE = "return the samples: the agreement terms below allow no further extension"
EACH_USED = "none can be extended any further under the agreement terms quoted in this notice"
OFFERED = "or request an extension"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo, read by the compliance officer once UoC's extended loan fell due."""
    return notice_env(tmp_path_factory)


def test_no_extension_left_asks_for_the_return_alone(env: dict[str, str], tmp_path: Path) -> None:
    """UoC's loan has used 1 of 1 extension: the notice asks for the return, not an extension."""
    text = printed_notice(env, "UoC", tmp_path / "uoc.pdf")
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


def test_an_extension_that_would_be_granted_is_offered(env: dict[str, str], tmp_path: Path) -> None:
    """Osaka soon after its due date: its notice still offers the extension."""
    text = printed_notice({**env, "SAMPLELOANS_NOW": EXTENDABLE_NOW}, "Osaka", tmp_path / "o.pdf")
    assert "L-2025-Osaka has used 0 of 1 extension" in text
    assert OFFERED in text and RETURN_ALONE not in text and EACH_USED not in text


def test_an_unused_extension_too_short_to_help_is_not_offered(
    env: dict[str, str], tmp_path: Path
) -> None:
    """Osaka at NOTICE_NOW: its extension is unused, but its longest (6 months from the due
    date) ends before now, so `loans extend` refuses every period: the notice asks for the
    return alone."""
    text = printed_notice(env, "Osaka", tmp_path / "osaka.pdf")
    assert "L-2025-Osaka has used 0 of 1 extension" in text
    assert RETURN_ALONE in text and EACH_USED in text, text
    assert OFFERED not in text, text


PERIODS = ("6 months", "1 month", "7 days", "1 day")
"""Periods a curator might grant, longest first (the demo's agreements allow 6 months)."""


def _some_extension_granted(env: dict[str, str], loan: str, folder: Path) -> bool:
    """Whether `loans extend` grants the loan any of `PERIODS`, each tried on its own copy of
    the ledger (exit 0), or refuses them all by its rules (exit 1)."""
    for period in PERIODS:
        copy = folder / f"{loan}-{period.replace(' ', '')}.db"
        shutil.copy2(env["SAMPLELOANS_DB"], copy)
        args = ["--as", CURATOR, "loans", "extend", loan, "--period", period]
        args += ["--approver", CURATOR, "--reason", "asked for after the notice"]
        mine = {**env, "SAMPLELOANS_DB": str(copy), "SAMPLELOANS_USER": ""}
        done = CliRunner().invoke(app, args, env=mine)
        assert done.exit_code in (0, 1), done.stdout + done.stderr
        if done.exit_code == 0:
            return True
    return False


LATE_MOMENTS = [
    ("Osaka", "L-2025-Osaka", "2026-04-26T10:00:00Z"),  # a day late
    ("Osaka", "L-2025-Osaka", EXTENDABLE_NOW),
    ("Osaka", "L-2025-Osaka", "2026-10-25T07:00:00Z"),  # an hour before its longest one ends
    ("Osaka", "L-2025-Osaka", "2026-10-25T09:00:00Z"),  # an hour after
    ("Osaka", "L-2025-Osaka", NOTICE_NOW),
    ("UoC", "L-2025-UoC", "2026-10-26T10:00:00Z"),  # a day late, its one extension used
    ("UoC", "L-2025-UoC", NOTICE_NOW),
]
"""Moments when the loan is past due (Osaka due 2026-04-25 08:00, UoC 2026-10-25 08:00):
before, around and after the end of the last extension `loans extend` would grant."""


@pytest.mark.parametrize("institution,loan,now", LATE_MOMENTS)
def test_the_notice_offers_an_extension_exactly_when_loans_extend_grants_one(
    env: dict[str, str], tmp_path: Path, institution: str, loan: str, now: str
) -> None:
    """The notice offers an extension when, and only when, the curator's `loans extend` would
    grant the loan some period at that moment."""
    at_now = {**env, "SAMPLELOANS_NOW": now}
    text = printed_notice(at_now, institution, tmp_path / "notice.pdf")
    granted = _some_extension_granted(at_now, loan, tmp_path)
    assert (OFFERED in text) == granted, (now, loan, granted, text)
    assert (RETURN_ALONE in text) == (not granted)


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
    report = overdue_notice(env, "UoC", COMPLIANCE, NOW)
    assert REPORT_LAYOUT >= NO_EXTENSION_LEFT_LAYOUT
    old = tmp_path / "notice-18.pdf"
    text = verified_in_layout(env, report, NO_EXTENSION_LEFT_LAYOUT - 1, old)
    assert OFFERED in text and RETURN_ALONE not in text
