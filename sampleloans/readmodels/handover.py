"""How a hand-over reads: its persons resolved to names, its step, and both of its times.

Frozen dataclasses and pure helpers, no SQL: `services/handover.py` builds them from the
ledger; the custody report, `loans show` and `custody history` print them.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

BACKDATED_AFTER = timedelta(hours=1)
"""An event recorded more than this after it happened is shown with both times."""


def is_backdated(occurred_at: datetime, recorded_at: datetime) -> bool:
    """Whether an event was entered after the fact (recorded over an hour after it happened)."""
    return recorded_at - occurred_at > BACKDATED_AFTER


@dataclass(frozen=True)
class PartyView:
    """One person of a hand-over as shown: a registered person with name and institution, or
    someone unregistered by the name recorded (e-mail and institution None)."""

    email: str | None
    name: str
    institution: str | None

    @property
    def label(self) -> str:
        """'Name (INST)' for a registered person, the name as recorded otherwise."""
        if self.email is None:
            return self.name
        return f"{self.name} ({self.institution})"


@dataclass(frozen=True)
class Handover:
    """One hand-over event with its persons, its step and both of its times."""

    seq: int
    step: str  # issue | ship | receive | return | accept-return
    occurred_at: datetime
    recorded_at: datetime
    recorded_by: str
    released_by: PartyView | None
    received_by: PartyView | None
    courier: PartyView | None
    witness: PartyView | None

    @property
    def backdated(self) -> bool:
        """Whether this hand-over was entered after the fact."""
        return is_backdated(self.occurred_at, self.recorded_at)


RETURN_STEPS = ("return", "accept-return")
"""The steps of a shipment back to the lender."""


def direction_of(handover: Handover | None) -> str:
    """The direction of the shipment a hand-over belongs to ('return' for a return shipped or
    accepted); 'outbound' for any other event, which has none."""
    if handover is not None and handover.step in RETURN_STEPS:
        return "return"
    return "outbound"


def label(view: PartyView | None) -> str:
    """A person's label, or an em dash when none is recorded."""
    return view.label if view is not None else "—"


def receiver_label(step: str, received_by: PartyView | None) -> str:
    """Who received: the person recorded, or the unnamed carrier of a shipment."""
    if received_by is None and step in ("ship", "return"):
        return "the carrier (not named)"
    return label(received_by)
