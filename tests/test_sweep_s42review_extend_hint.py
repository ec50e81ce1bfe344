"""Sweep s42 review: `loans extend`'s hint near the agreement's end, followed literally.

Found (review of s42-years): the refusal of an extension past the agreement's end named "a
--period of at most N days", N the whole days from the due date to the end, and that was
wrong twice. (1) A loan already overdue in the last day of the term: N days from the due date
is already past, so the period named was refused as "already past ... grant a longer period",
and every longer one as after the end: the user went round in a circle, while the overdue
notice still offered an extension. (2) Across months of 31 days the N days named could be
longer than the agreement's longest extension counted as `loans extend` counts it (6 months:
182 days), so the period named was refused as "longer than one extension may be". Now the
hint names only a period `loans extend` grants (at least and at most, in whole days), or the
return alone when none is left; the overdue notice and `status` agree with it. `status` and
`loans show` also say why none is left where the term ends less than a day past what an
extension must reach, or the loan is overdue by more than the longest extension.
"""

from pathlib import Path
from typing import Any

import pytest

from tests.i15_statement_helpers import copy_ledger, env_for, invoke, make_demo
from tests.test_sweep_s42years_notice_agreement_end import text_of

CODE = "CE5C0000YJBP005"  # a vault sample of the demo
LOAN = "L-2026-OU-9"
EXTEND = ("loans", "extend", LOAN, "--approver", "curator@naoc.example", "--reason", "beam time")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger, made once for the module."""
    return make_demo(tmp_path_factory.mktemp("demo") / "d")


def lend(
    ledger: Path, signed: str, issued: str, term: str = "1 year", period: str = "6 months"
) -> None:
    """An agreement for OU of `term` signed at `signed` and a loan of `period` under it issued
    at `issued`, through the CLI."""
    steps = [
        (signed, ("agreements", "add", "AG-2026-OU9", "--institution", "OU", "--term",
                  term, "--max-mass", "100 mg", "--purpose", "research",
                  "--max-loan-period", "6 months")),
        (signed, ("agreements", "sign", "AG-2026-OU9", "--signed-by", "CNSA")),
        (issued, ("loans", "request", LOAN, "--agreement", "AG-2026-OU9", "--pi",
                  "anand@open.example", "--sample", CODE, "--period", period)),
        (issued, ("loans", "approve", LOAN)),
        (issued, ("loans", "issue", LOAN)),
    ]  # fmt: skip
    for now, args in steps:
        done = invoke(env_for(ledger, now=now), *args)
        assert done.exit_code == 0, (args, done.output)


def extend(ledger: Path, now: str, period: str) -> Any:
    """`loans extend` of the loan by `period` at `now`."""
    return invoke(env_for(ledger, now=now), *EXTEND, "--period", period)


def test_overdue_in_the_last_day_of_the_term_is_told_to_record_the_return(
    demo: Path, tmp_path: Path
) -> None:
    """Due 2026-11-02 20:00, the agreement ends 2027-05-01 08:00 (179.5 days later); at
    2027-05-01 02:00 the loan is overdue and 179 days from its due date are past."""
    ledger = copy_ledger(demo, tmp_path / "ledger.db")
    lend(ledger, "2026-05-01T08:00:00Z", "2026-05-02T20:00:00Z")
    now = "2027-05-01T02:00:00Z"
    for period in ("P6M", "179 days", "180 days", "1 day"):
        refused = extend(ledger, now, period)
        assert refused.exit_code == 1, (period, refused.output)
        assert refused.stderr.count("\n") == 1, refused.stderr
        assert refused.stderr.rstrip().endswith(" record the return"), refused.stderr
        assert "--period of" not in refused.stderr and "longer period" not in refused.stderr
        assert "or record the return" not in refused.stderr
    notice = tmp_path / "notice.pdf"
    made = invoke(env_for(ledger, "compliance@naoc.example", now=now), "report", "overdue",
                  "--institution", "OU", "--out", str(notice))  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "the agreement terms below allow no further extension" in text_of(notice)
    status = invoke(env_for(ledger, "anand@open.example", now=now), "status")
    assert status.exit_code == 0, status.output
    why = "its term ends 2027-05-01 08:00 UTC, before a whole day more"
    assert f"extensions 0 of 1 allowed (none now: agreement AG-2026-OU9: {why})" in status.stdout
    # OU's loan of 2025, due 2026-05-05, is overdue by more than one extension may add
    reach = "its longest extension, 6 months, leaves the loan overdue"
    assert f"0 of 1 allowed (none now: agreement AG-2025-OU: {reach})" in status.stdout
    refused = invoke(env_for(ledger, now=now), "loans", "extend", "L-2025-OU", "--period", "P6M",
                     "--approver", "curator@naoc.example", "--reason", "late")  # fmt: skip
    assert refused.stderr.rstrip().endswith("the loan would stay overdue: record the return")
    shown = invoke(env_for(ledger, now=now), "loans", "show", LOAN)
    words = " ".join(shown.stdout.split())  # the header's cell wraps at the terminal's width
    assert f"extensions 0 of 1 allowed (none now: agreement AG-2026-OU9: {why})" in words


def test_overdue_with_days_left_is_told_the_range_and_the_shortest_is_granted(
    demo: Path, tmp_path: Path
) -> None:
    """Due 2026-11-02 20:00, ends 2027-05-01 08:00: at 2027-04-28 02:00, 176 days from the due
    date are past and 179 fit."""
    ledger = copy_ledger(demo, tmp_path / "ledger.db")
    lend(ledger, "2026-05-01T08:00:00Z", "2026-05-02T20:00:00Z")
    now = "2027-04-28T02:00:00Z"
    hint = "grant a --period of at least 177 days and at most 179 days, or record the return"
    for period in ("P6M", "30 days"):
        refused = extend(ledger, now, period)
        assert refused.exit_code == 1, refused.output
        assert refused.stderr.rstrip().endswith(hint), refused.stderr
    granted = extend(ledger, now, "177 days")  # the fewest named, typed as named
    assert granted.exit_code == 0, granted.output
    assert "now due 2027-04-28 20:00 UTC" in granted.stdout


def test_the_longest_named_is_no_longer_than_one_extension_may_be(
    demo: Path, tmp_path: Path
) -> None:
    """Due 2026-07-01 08:00, the agreement ends 2026-12-31 08:00 (183 days on); 6 months
    from 2026-07-01 are 184 days, but `loans extend` counts 6 months as 182 days."""
    ledger = copy_ledger(demo, tmp_path / "ledger.db")
    signed = "2026-05-01T08:00:00Z"
    lend(ledger, signed, signed, term="7 months 30 days", period="2 months")
    now = "2026-06-25T09:00:00Z"
    refused = extend(ledger, now, "P6M")
    assert refused.exit_code == 1
    assert refused.stderr.rstrip().endswith(
        "; grant a --period of at most 182 days, or record the return"
    ), refused.stderr
    longer = extend(ledger, now, "183 days")  # what the hint named before: refused
    assert "183 days is longer than one extension may be" in longer.stderr
    granted = extend(ledger, now, "182 days")
    assert granted.exit_code == 0, granted.output
    assert "now due 2026-12-30 08:00 UTC" in granted.stdout


def test_due_less_than_a_day_before_the_end_is_told_to_record_the_return(
    demo: Path, tmp_path: Path
) -> None:
    """Not yet due (2026-10-31 20:00) and the agreement ends 12 hours after (2026-11-01 08:00):
    no whole day fits, and each command says so alike."""
    ledger = copy_ledger(demo, tmp_path / "ledger.db")
    lend(ledger, "2026-05-01T08:00:00Z", "2026-05-02T20:00:00Z", "6 months", "182 days")
    now = "2026-10-01T09:00:00Z"
    refused = extend(ledger, now, "1 day")
    assert refused.exit_code == 1, refused.output
    assert refused.stderr.rstrip().endswith("ends on 2026-11-01 08:00 UTC; record the return")
    why = "its term ends 2026-11-01 08:00 UTC, before a whole day more"
    status = invoke(env_for(ledger, "anand@open.example", now=now), "status")
    assert f"extensions 0 of 1 allowed (none now: agreement AG-2026-OU9: {why})" in status.stdout
