"""The one "overdue" rule: when a loan's return or its inventory is late, and by how much.

Pure functions of a loan's status, a due time and an injected `now`; every place that says
"overdue" (`status`, `overdue`, `loans show`, `loans list`, the reports, the summary after
`demo` and the refusal to issue to a late borrower) decides through them, so they agree on
every instant.

The rule: a loan is *out* from its issue until everything is back (a return still in transit
is out). An obligation of a loan that is out is overdue once `now` is strictly past its due
time plus `GRACE`: at the due instant itself it is not yet late. Days late and days left count
calendar days between UTC dates.
"""

from datetime import UTC, datetime, timedelta

from sampleloans.vocab import ACTIVE_LOAN_STATUSES

OUT_STATUSES = ACTIVE_LOAN_STATUSES
"""The statuses of a loan that is out (a query selects loans that are out by this set)."""
GRACE = timedelta(0)
"""How long after its due time an obligation is still on time: none."""


def is_out(status: str) -> bool:
    """Whether a loan with this status is out (issued and not yet all back)."""
    return status in OUT_STATUSES


def late_if_due_before(now: datetime) -> datetime:
    """The instant such that an obligation due strictly before it is late at `now` (a list
    of many obligations compares each due time with this one instant)."""
    return now - GRACE


def past_due(due_at: datetime | None, now: datetime) -> bool:
    """Whether `now` is past a due time (and its grace); no due time is never late."""
    return due_at is not None and due_at < late_if_due_before(now)


def return_overdue(status: str, due_at: datetime | None, now: datetime) -> bool:
    """Whether a loan's return is overdue at `now`."""
    return is_out(status) and past_due(due_at, now)


def inventory_due(status: str, next_inventory_due_at: datetime | None) -> datetime | None:
    """The inventory attestation a loan owes: its next due time while it is out, none once
    everything is back (returned, settled, closed) or before it is issued."""
    return next_inventory_due_at if is_out(status) else None


def inventory_overdue(status: str, next_inventory_due_at: datetime | None, now: datetime) -> bool:
    """Whether a loan's inventory attestation is overdue at `now`."""
    return is_out(status) and past_due(next_inventory_due_at, now)


def calendar_days(earlier: datetime, later: datetime) -> int:
    """Calendar days from earlier's UTC date to later's UTC date (negative if reversed)."""
    return (later.astimezone(UTC).date() - earlier.astimezone(UTC).date()).days


def days_late(due_at: datetime, now: datetime) -> int:
    """Calendar days an obligation due at `due_at` is late at `now` (0: late since today)."""
    return calendar_days(due_at, now)


def return_due(status: str, due_at: datetime | None, now: datetime) -> tuple[int | None, bool]:
    """Calendar days left until a loan that is out must be back (negative when late), and
    whether it is overdue; (None, False) for a loan that is not out or has no due date."""
    if due_at is None or not is_out(status):
        return None, False
    return calendar_days(now, due_at), return_overdue(status, due_at, now)
