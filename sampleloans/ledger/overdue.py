"""The one "overdue" rule: when a loan's return or its inventory is late, and by how much.

Pure functions of a loan's status, a due time and an injected `now`; every place that says
"overdue" (`status`, `overdue`, `loans show`, `loans list`, the reports, the summary after
`demo` and the refusal to issue to a late borrower) decides through them, so they agree on
every instant.

The rule: a loan is *out* from its issue until everything is back (a return still in transit
is out). An obligation of a loan that is out is overdue once `now` is strictly past its due
time plus `GRACE`: at the due instant itself it is not yet late. Days late and days left count
calendar days between UTC dates.

"Returned by the due date" means *sent back* by it, as a loan agreement means it: a return is
owed until the borrower has dispatched everything left (the loan is `return_in_transit`: nothing
held, the rest on its way back); its last return shipment leaving at or before the due time
meets it, however long the carrier takes. One that left after the due time stays overdue until
it arrives (the loan was late; it is back, and no longer out, only then).

The inventory attestation follows the same rule: it is about what the PI holds, and a PI who
sent everything left back by its due time holds nothing to attest (the return receipt's
weighing accounts for what was sent), so it is no longer owed; one sent after the inventory
fell due leaves it overdue until everything arrives, as a late return stays late.
"""

from datetime import UTC, datetime, timedelta

from sampleloans.vocab import ACTIVE_LOAN_STATUSES, LoanStatus

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


def sent_back_in_time(status: str, due_at: datetime | None, sent_back_at: datetime | None) -> bool:
    """Whether a loan's return was met by dispatch: everything left is on its way back
    (`status`), its last return shipment having left (`sent_back_at`) by the due time."""
    return (
        status == LoanStatus.RETURN_IN_TRANSIT
        and due_at is not None
        and sent_back_at is not None
        and sent_back_at <= due_at
    )


def return_owed(status: str, due_at: datetime | None, sent_back_at: datetime | None) -> bool:
    """Whether a loan still owes its return: it is out, and not everything left was sent back
    by the due time (`sent_back_at`: when its last return shipment left, None if none did)."""
    return is_out(status) and not sent_back_in_time(status, due_at, sent_back_at)


def return_overdue(
    status: str, due_at: datetime | None, now: datetime, sent_back_at: datetime | None
) -> bool:
    """Whether a loan's return is overdue at `now` (`sent_back_at`: see `return_owed`)."""
    return return_owed(status, due_at, sent_back_at) and past_due(due_at, now)


def inventory_due(
    status: str, next_inventory_due_at: datetime | None, sent_back_at: datetime | None
) -> datetime | None:
    """The inventory attestation a loan owes: its next due time while it is out, none once
    everything is back (returned, settled, closed), before it is issued, or once everything left
    was sent back by that time (`sent_back_at`: see `return_owed`; nothing left to attest)."""
    if not is_out(status) or sent_back_in_time(status, next_inventory_due_at, sent_back_at):
        return None
    return next_inventory_due_at


def inventory_overdue(
    status: str,
    next_inventory_due_at: datetime | None,
    now: datetime,
    sent_back_at: datetime | None,
) -> bool:
    """Whether a loan's inventory attestation is overdue at `now` (`sent_back_at`: see
    `inventory_due`)."""
    due_at = inventory_due(status, next_inventory_due_at, sent_back_at)
    return past_due(due_at, now)


def calendar_days(earlier: datetime, later: datetime) -> int:
    """Calendar days from earlier's UTC date to later's UTC date (negative if reversed)."""
    return (later.astimezone(UTC).date() - earlier.astimezone(UTC).date()).days


def days_late(due_at: datetime, now: datetime) -> int:
    """Calendar days an obligation due at `due_at` is late at `now` (0: late since today)."""
    return calendar_days(due_at, now)


def return_due(
    status: str, due_at: datetime | None, now: datetime, sent_back_at: datetime | None
) -> tuple[int | None, bool]:
    """Calendar days left until a loan that is out must be sent back (negative when late), and
    whether it is overdue; (None, False) for a loan that owes no return (not out, no due date,
    or everything left sent back in time: `return_owed`)."""
    if due_at is None or not return_owed(status, due_at, sent_back_at):
        return None, False
    return calendar_days(now, due_at), return_overdue(status, due_at, now, sent_back_at)
