"""The overdue notice asked for an extension "under the agreement's extension clause below",
but the PDF prints the agreement terms above its "What to do" section: the pointer pointed at
nothing. Report layout 18 words it "under the extension clause of the agreement terms quoted in
this notice", true wherever the terms stand; a notice printed in layout 17 keeps its words, so
it still verifies byte for byte."""

from pathlib import Path

import pytest

from sampleloans.readmodels.report import (
    EXTENSION_CLAUSE_LAYOUT,
    REPORT_LAYOUT,
    OverdueBody,
    Reworded,
)
from tests.conftest import COMPLIANCE
from tests.notice_steps import (
    EXTENDABLE_NOW,
    notice_env,
    overdue_notice,
    pdf_words,
    printed_notice,
    verified_in_layout,
)

NEW = "under the extension clause of the agreement terms quoted in this notice"
OLD = "under the agreement's extension clause below"
NOW = EXTENDABLE_NOW  # Osaka's notice offers the extension only while one would be granted


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo, read by the compliance officer after Osaka's loan fell due, while it could
    still be extended."""
    return notice_env(tmp_path_factory, NOW)


def _notice(env: dict[str, str], out: Path, *extra: str) -> None:
    """Print Osaka's overdue notice to `out` through the CLI."""
    printed_notice(env, "Osaka", out, *extra)


def _words(pdf: Path) -> str:
    """A PDF's text, every run of whitespace one space."""
    return pdf_words(pdf)


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
    report = overdue_notice(env, "Osaka", COMPLIANCE, NOW)
    assert isinstance(report.body, OverdueBody)
    action = report.body.actions[0]
    assert isinstance(action, Reworded) and action.since == EXTENSION_CLAUSE_LAYOUT
    text = verified_in_layout(env, report, EXTENSION_CLAUSE_LAYOUT - 1, tmp_path / "notice-17.pdf")
    assert OLD in text and NEW not in text
