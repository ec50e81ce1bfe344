"""One home per event kind: everything the program knows about a kind, listed together.

For every kind: its payload type (`ledger/events.py`), its projection (`ledger/apply.py`), the
line `custody history` prints (`services/history.py`), the label every table and PDF prints
(`vocab.py`) and how a history import maps a line to its service
(`services/bulk.py`), or why it is never imported. The parts stay beside the code that uses
them (each layer keeps its own); this registry joins them by kind, so a kind that lacks one is
found at once: `missing` names what is lacking and a test requires it to be empty. It lives in
`services/` because it names service-level knowledge, which the ledger may not import.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sampleloans.ledger.apply import APPLIERS
from sampleloans.ledger.events import EVENT_TYPES, Event
from sampleloans.services.bulk import HANDLERS
from sampleloans.services.history import DESCRIBERS
from sampleloans.vocab import EVENT_LABELS, HANDOVER_LABELS

NOT_IMPORTED: dict[str, str] = {
    "ledger.created": "every ledger writes its own first event ('init'); a history never has it",
}
"""The kinds a history import refuses, each with the reason."""


@dataclass(frozen=True)
class EventKind:
    """Everything known about one event kind; None where a part is missing."""

    kind: str
    payload: type[Event] | None
    apply: Callable[..., None] | None
    describe: Callable[..., str] | None
    custody_labels: tuple[str, ...]  # one label, or one per shipment direction
    import_mapping: Callable[..., Any] | None
    not_imported_because: str | None


def _labels(kind: str) -> tuple[str, ...]:
    """The custody-report labels of a kind (a hand-over has one per direction)."""
    if kind in EVENT_LABELS:
        return (EVENT_LABELS[kind],)
    return tuple(label for (k, _direction), label in sorted(HANDOVER_LABELS.items()) if k == kind)


def all_kinds() -> list[str]:
    """Every kind any part knows of, sorted (so a part registered alone is found too)."""
    known = set(EVENT_TYPES) | set(APPLIERS) | set(DESCRIBERS) | set(HANDLERS)
    known |= set(EVENT_LABELS) | {k for k, _direction in HANDOVER_LABELS} | set(NOT_IMPORTED)
    return sorted(known)


def entry(kind: str) -> EventKind:
    """What is known of one kind."""
    return EventKind(
        kind=kind,
        payload=EVENT_TYPES.get(kind),
        apply=APPLIERS.get(kind),
        describe=DESCRIBERS.get(kind),
        custody_labels=_labels(kind),
        import_mapping=HANDLERS.get(kind),
        not_imported_because=NOT_IMPORTED.get(kind),
    )


def registry() -> dict[str, EventKind]:
    """Every kind and what is known of it."""
    return {kind: entry(kind) for kind in all_kinds()}


def missing(kind: str) -> list[str]:
    """The parts a kind lacks ('payload', 'apply', …); empty when the kind is complete."""
    known = entry(kind)
    lacking = [
        part
        for part, value in (
            ("payload", known.payload),
            ("apply", known.apply),
            ("description", known.describe),
        )
        if value is None
    ]
    if not known.custody_labels:
        lacking.append("custody-report label")
    if (known.import_mapping is None) == (known.not_imported_because is None):
        lacking.append("import mapping (or a reason in NOT_IMPORTED, not both)")
    return lacking
