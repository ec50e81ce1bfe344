"""Sweep s42 (two years of one ledger): the overdue notice of a loan whose agreement ended.

Found: Osaka's agreement expired (`agreements expire`) with its samples still out. `loans
extend` refused ("agreement AG-2025-Osaka is not in force …"), and the notice asked for the
return alone, "the agreement terms below allow no further extension" — while the terms it
quoted said "signed 2025-04-24 08:00 UTC; L-2025-Osaka has used 0 of 1 extension", one left,
and nothing of the end. Now (report layout 20) the terms say when an agreement no longer in
force ended: "expired 2026-09-01 09:00 UTC", or "its term ended …" past its term; a notice of
an earlier layout keeps its words and still verifies.
"""

from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from tests.i15_statement_helpers import copy_ledger, env_for, invoke, make_demo

COMPLIANCE = "compliance@naoc.example"
EXPIRED_AT = "2026-09-01T09:00:00Z"
LATER = "2026-10-26T09:00:00Z"


def text_of(pdf: Path) -> str:
    """The words of a report's pages, one space between."""
    return " ".join(" ".join((page.extract_text() or "").split()) for page in PdfReader(pdf).pages)


@pytest.fixture(scope="module")
def ended(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo with Osaka's agreement expired while its loan is out and overdue; a notice of
    Osaka made before the expiry and one after."""
    folder = tmp_path_factory.mktemp("ended")
    ledger = copy_ledger(make_demo(folder / "demo"), folder / "ledger.db")
    before = folder / "before.pdf"
    made = invoke(env_for(ledger, COMPLIANCE, now="2026-08-01T09:00:00Z"), "report", "overdue",
                  "--institution", "Osaka", "--out", str(before))  # fmt: skip
    assert made.exit_code == 0, made.output
    expired = invoke(env_for(ledger, now=EXPIRED_AT), "agreements", "expire", "AG-2025-Osaka",
                     "--reason", "not renewed by Osaka")  # fmt: skip
    assert expired.exit_code == 0, expired.output
    after = folder / "after.pdf"
    made = invoke(env_for(ledger, COMPLIANCE, now=LATER), "report", "overdue",
                  "--institution", "Osaka", "--out", str(after))  # fmt: skip
    assert made.exit_code == 0, made.output
    return {"db": ledger, "before": before, "after": after}


def test_the_notice_says_when_the_agreement_expired(ended: dict[str, Any]) -> None:
    text = text_of(ended["after"])
    assert "signed 2025-04-24 08:00 UTC; expired 2026-09-01 09:00 UTC; L-2025-Osaka has used 0" in (
        text
    )
    assert "the agreement terms below allow no further extension" in text


def test_loans_extend_refuses_for_the_reason_the_notice_quotes(ended: dict[str, Any]) -> None:
    refused = invoke(env_for(ended["db"], now=LATER), "loans", "extend", "L-2025-Osaka",
                     "--period", "P3M", "--approver", "curator@naoc.example",
                     "--reason", "late")  # fmt: skip
    assert refused.exit_code == 1
    assert "agreement AG-2025-Osaka is not in force" in refused.stderr
    assert "(expired)" in refused.stderr


def test_a_notice_before_the_end_says_nothing_of_it(ended: dict[str, Any]) -> None:
    text = text_of(ended["before"])
    assert "signed 2025-04-24 08:00 UTC; L-2025-Osaka has used 0" in text
    assert "expired" not in text


def test_the_notice_after_the_end_verifies(ended: dict[str, Any]) -> None:
    env = env_for(ended["db"], COMPLIANCE, now=LATER)
    checked = invoke(env, "verify-document", str(ended["after"]))
    assert checked.exit_code == 0, checked.output


def test_a_notice_past_the_term_says_the_term_ended(tmp_path: Path) -> None:
    """An agreement past its term without an 'expire' event: its term's end is quoted."""
    ledger = copy_ledger(make_demo(tmp_path / "demo"), tmp_path / "ledger.db")
    pdf = tmp_path / "notice.pdf"
    made = invoke(env_for(ledger, COMPLIANCE, now="2030-05-01T09:00:00Z"), "report", "overdue",
                  "--institution", "Osaka", "--out", str(pdf))  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "its term ended 2030-04-24 08:00 UTC; L-2025-Osaka has used 0" in text_of(pdf)


def test_status_says_why_no_extension_is_left(ended: dict[str, Any]) -> None:
    """`status` counted "extensions 0 of 1 allowed" for a loan `loans extend` refuses: it now
    says, as the notice does, that the agreement expired; a loan in force is unchanged."""
    env = {**env_for(ended["db"], COMPLIANCE, now=LATER), "COLUMNS": "200"}
    result = invoke(env, "status", "--institution", "Osaka")
    assert result.exit_code == 0, result.output
    assert (
        "extensions 0 of 1 allowed (none now: agreement AG-2025-Osaka: expired 2026-09-01 "
        "09:00 UTC); next inventory"
    ) in result.stdout
    other = invoke(env, "status", "--institution", "OU")
    assert "extensions 0 of 1 allowed; next inventory" in other.stdout
    assert "none now" not in other.stdout


def test_loans_show_says_it_as_status_does(ended: dict[str, Any]) -> None:
    """`loans show` counted the same "0 of 1 allowed" beside `status`'s reason: one wording for
    both now; its JSON keeps its keys (the agreement's number is there to look up)."""
    env = {**env_for(ended["db"], COMPLIANCE, now=LATER), "COLUMNS": "200"}
    shown = invoke(env, "loans", "show", "L-2025-Osaka")
    assert shown.exit_code == 0, shown.output
    assert (
        "0 of 1 allowed (none now: agreement AG-2025-Osaka: expired 2026-09-01 09:00 UTC)"
        in " ".join(shown.stdout.split())
    )
    in_force = invoke(env, "loans", "show", "L-2025-OU")
    assert "0 of 1 allowed" in in_force.stdout and "none now" not in in_force.stdout
    as_json = invoke(env, "loans", "show", "L-2025-Osaka", "--json")
    assert as_json.exit_code == 0, as_json.output
    assert "agreement_ended" not in as_json.stdout and '"max_extensions": 1' in as_json.stdout
