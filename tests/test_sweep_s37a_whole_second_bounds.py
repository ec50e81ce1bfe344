"""Sweep s37 (task A, users): a refusal of a time earlier than a recorded one names a bound the
user can type and have accepted.

The ledger keeps times to the microsecond (the system clock's), but shows and takes them to the
second. Before, a refusal of `--at`, `--generated-at` or a clock set back named the last event's
time and at best "at or after it", and the agreement's term in minutes: with the last event at
10:00:00.4, the 10:00:00 a user read off a listing was refused again, and "in force from
10:00 UTC" refused 10:00 itself. Each refusal now names the first whole second it accepts
(`dates.bound_text`), and each test types exactly that bound and sees it accepted.
"""

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.dates import bound_text, format_moment, from_this_second_on
from sampleloans.errors import RuleViolation
from sampleloans.services.samples import split_sample
from tests.cli_steps import ok, received_ou_loan, refused
from tests.conftest import CURATOR, Run

pytestmark = pytest.mark.usefixtures("cli_env", "engine")

S = "CE5C0200YJFM00112"  # in the vault since the test ledger was made (2025-04-01 09:00 UTC)
FRACTION = "2025-04-02T10:00:00.4Z"  # the last event, recorded to the tenth of a second
LATER = "2025-04-03T09:00:00Z"


def named_bound(message: str) -> str:
    """The bound a refusal names ('from 2025-04-02T10:00:01Z on'); exactly one."""
    found = re.findall(r"from (\S+Z) on", message)
    assert len(found) == 1, message
    return str(found[0])


def split_at_a_fraction(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """Split S on a clock at 10:00:00.4 (its last event, recorded then), then move on a day."""
    monkeypatch.setenv("SAMPLELOANS_NOW", FRACTION)
    ok(runner, "samples", "split", S, "--child", "-01=1mg")
    monkeypatch.setenv("SAMPLELOANS_NOW", LATER)


def test_the_bound_is_the_first_whole_second_not_earlier() -> None:
    at = datetime(2025, 6, 1, 10, 0, 0, 400000, tzinfo=UTC)
    assert from_this_second_on(at) == datetime(2025, 6, 1, 10, 0, 1, tzinfo=UTC)
    assert bound_text(at) == "from 2025-06-01T10:00:01Z on"
    whole = datetime(2025, 6, 1, 10, 0, 0, tzinfo=UTC)
    assert from_this_second_on(whole) == whole  # a whole second is its own bound
    assert bound_text(datetime(2025, 6, 1, 23, 59, 59, 1, tzinfo=UTC)) == (
        "from 2025-06-02T00:00:00Z on"
    )
    assert format_moment(datetime(2025, 6, 1, 10, 0, 30, 500000, tzinfo=UTC)) == (
        "2025-06-01 10:00:30 UTC"
    )
    assert format_moment(whole) == "2025-06-01 10:00 UTC"  # as every listing shows it


def test_an_at_before_the_last_event_names_a_bound_that_is_accepted(
    runner: CliRunner, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    split_at_a_fraction(runner, monkeypatch)
    message = refused(
        runner, db_path, "samples", "split", S, "--child", "-02=1mg", "--at", "2025-04-02T10:00:00Z"
    )
    assert message.startswith("Error: --at: 2025-04-02T10:00:00Z is before the previous event of ")
    assert "(2025-04-02T10:00:00.400000Z)" in message
    bound = named_bound(message)
    assert bound == "2025-04-02T10:00:01Z"
    ok(runner, "samples", "split", S, "--child", "-02=1mg", "--at", bound)


def test_an_at_before_the_last_event_at_service_level(run: Run) -> None:
    """The service refuses the same way: the time, then the bound, then the state."""
    fraction = datetime(2025, 4, 2, 10, 0, 0, 400000, tzinfo=UTC)
    run(split_sample, now=fraction, parent=S, children=[("-01", 1000)])
    later = datetime(2025, 4, 3, 9, tzinfo=UTC)
    whole = fraction.replace(microsecond=0)
    with pytest.raises(RuleViolation) as caught:
        run(split_sample, now=later, parent=S, children=[("-02", 1000)], occurred_at=whole)
    assert named_bound(str(caught.value)) == "2025-04-02T10:00:01Z"
    bound = datetime(2025, 4, 2, 10, 0, 1, tzinfo=UTC)
    run(split_sample, now=later, parent=S, children=[("-02", 1000)], occurred_at=bound)


def test_a_clock_set_back_names_a_bound_that_is_accepted(
    runner: CliRunner, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    split_at_a_fraction(runner, monkeypatch)
    monkeypatch.setenv("SAMPLELOANS_NOW", "2025-04-02T10:00:00Z")
    message = refused(runner, db_path, "samples", "split", S, "--child", "-02=1mg")
    assert message.startswith("Error: clock: now is 2025-04-02T10:00:00Z, before event ")
    bound = named_bound(message)
    assert bound == "2025-04-02T10:00:01Z"
    monkeypatch.setenv("SAMPLELOANS_NOW", bound)
    ok(runner, "samples", "split", S, "--child", "-02=1mg")


def test_a_report_dated_before_its_head_names_a_bound_that_is_accepted(
    runner: CliRunner, db_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    split_at_a_fraction(runner, monkeypatch)
    out = tmp_path / "custody.pdf"
    report = ("report", "custody", "--sample", S, "--out", str(out), "--generated-at")
    message = refused(runner, db_path, *report, "2025-04-02T10:00:00Z")
    assert "when event " in message and "a report is dated when it is made" in message
    bound = named_bound(message)
    assert bound == "2025-04-02T10:00:01Z"
    assert not out.exists()
    ok(runner, *report, bound)
    assert out.stat().st_size > 0


def test_a_report_dated_before_its_as_of_names_a_bound_that_is_accepted(
    runner: CliRunner, db_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SAMPLELOANS_NOW", LATER)
    out = tmp_path / "custody.pdf"
    report = ("report", "custody", "--sample", S, "--out", str(out), "--as-of")
    as_of = (*report, "2025-04-01T09:00:00.5Z", "--generated-at")
    message = refused(runner, db_path, *as_of, "2025-04-01T09:00:00Z")
    assert "is before --as-of 2025-04-01T09:00:00.500000Z" in message
    bound = named_bound(message)
    assert bound == "2025-04-01T09:00:01Z"
    ok(runner, *as_of, bound)
    assert out.exists()


def test_a_person_changed_before_their_last_part_names_a_bound_that_is_accepted(
    runner: CliRunner, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    person = "wren@open.example"
    monkeypatch.setenv("SAMPLELOANS_NOW", FRACTION)
    ok(runner, "people", "add", person, "--name", "Kit Wren", "--institution", "OU",
       "--role", "researcher")  # fmt: skip
    monkeypatch.setenv("SAMPLELOANS_NOW", LATER)
    deactivate = ("people", "deactivate", person, "--reason", "left", "--at")
    message = refused(runner, db_path, *deactivate, "2025-04-02T10:00:00Z")
    assert "date a deactivation from 2025-04-02T10:00:01Z on (--at)" in message, message
    ok(runner, *deactivate, named_bound(message))


def test_an_agreement_signed_before_it_was_drafted_names_a_bound_that_is_accepted(
    runner: CliRunner, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAMPLELOANS_NOW", FRACTION)
    ok(runner, "agreements", "add", "AG-OU", "--institution", "OU", "--term", "5 years",
       "--max-mass", "1 g", "--purpose", "research", "--max-loan-period", "12 months")  # fmt: skip
    monkeypatch.setenv("SAMPLELOANS_NOW", LATER)
    sign = ("agreements", "sign", "AG-OU", "--signed-by", "LESEC and OU", "--at")
    message = refused(runner, db_path, *sign, "2025-04-02T10:00:00Z")
    assert "cannot be signed before it was drafted" in message
    ok(runner, *sign, named_bound(message))


def test_an_issue_before_the_signing_names_the_second_it_is_in_force_from(
    runner: CliRunner, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Signed at 10:00:30.5: the term was shown as "in force from 10:00 UTC", which 10:00
    did not satisfy; it now says 10:00:31, and that is accepted."""
    monkeypatch.setenv("SAMPLELOANS_NOW", "2025-04-02T09:00:00Z")
    ok(runner, "agreements", "add", "AG-OU", "--institution", "OU", "--term", "5 years",
       "--max-mass", "1 g", "--purpose", "research", "--max-loan-period", "12 months")  # fmt: skip
    monkeypatch.setenv("SAMPLELOANS_NOW", LATER)
    ok(runner, "agreements", "sign", "AG-OU", "--signed-by", "LESEC and OU",
       "--at", "2025-04-02T10:00:30.5Z")  # fmt: skip
    ok(runner, "loans", "request", "L-1", "--agreement", "AG-OU", "--pi", "anand@open.example",
       "--sample", S, "--at", "2025-04-02T10:00:00Z")  # fmt: skip
    ok(runner, "loans", "approve", "L-1", "--at", "2025-04-02T10:00:10Z")
    message = refused(runner, db_path, "loans", "issue", "L-1", "--at", "2025-04-02T10:00:30Z")
    assert "not in force on 2025-04-02 10:00:30 UTC: in force from 2025-04-02 10:00:31 UTC " in (
        message
    ), message
    shown = re.search(r"in force from (\S+) (\S+) UTC", message)
    assert shown is not None
    ok(runner, "loans", "issue", "L-1", "--at", f"{shown[1]}T{shown[2]}Z", actor=CURATOR)


def test_a_recall_due_at_its_own_second_names_a_bound_that_is_accepted(
    runner: CliRunner, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A recall's due date must come strictly after it: recalled at 10:00:00.4, 10:00:00 is
    refused, and the bound named is the first whole second after the recall."""
    received_ou_loan(runner, S, "20mg")
    monkeypatch.setenv("SAMPLELOANS_NOW", LATER)
    recall = ("loans", "recall", "L-1", "--reason", "audit", "--at", FRACTION, "--due")
    message = refused(runner, db_path, *recall, "2025-04-02T10:00:00Z")
    assert "is not after the recall (2025-04-02T10:00:00.400000Z)" in message, message
    bound = named_bound(message)
    assert bound == "2025-04-02T10:00:01Z"
    ok(runner, *recall, bound)
