"""Issue 12 §8: one home per event kind, and a kind that lacks a part is caught."""

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import pytest

from sampleloans.ledger import events as ev
from sampleloans.ledger.apply import APPLIERS
from sampleloans.services import kinds
from sampleloans.services.bulk import HANDLERS
from sampleloans.services.history import DESCRIBERS
from sampleloans.services.reporting import EVENT_LABELS


def test_every_kind_has_every_part() -> None:
    incomplete = {kind: kinds.missing(kind) for kind in kinds.all_kinds() if kinds.missing(kind)}
    assert incomplete == {}
    assert set(kinds.registry()) == set(ev.EVENT_TYPES)  # no part names an unknown kind


@dataclass(frozen=True)
class _Audited(ev.Event):
    """A kind added without its other parts."""

    kind: ClassVar[str] = "sample.audited"
    code: str


def test_a_new_kind_without_its_parts_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ev.EVENT_TYPES, _Audited.kind, _Audited)
    assert kinds.missing("sample.audited") == [
        "apply",
        "description",
        "custody-report label",
        "import mapping (or a reason in NOT_IMPORTED, not both)",
    ]
    # giving it each part in turn shrinks the list to nothing
    monkeypatch.setitem(APPLIERS, _Audited.kind, lambda *_args: None)
    monkeypatch.setitem(DESCRIBERS, _Audited.kind, lambda *_args: "audited")
    monkeypatch.setitem(EVENT_LABELS, _Audited.kind, "Audit")
    assert kinds.missing("sample.audited") == [
        "import mapping (or a reason in NOT_IMPORTED, not both)"
    ]
    monkeypatch.setitem(HANDLERS, _Audited.kind, lambda *_args: None)
    assert kinds.missing("sample.audited") == []


def test_a_part_registered_for_an_unknown_kind_is_reported(monkeypatch) -> None:
    monkeypatch.setitem(DESCRIBERS, "loan.teleported", lambda *_args: "teleported")
    assert "loan.teleported" in kinds.all_kinds()
    assert "payload" in kinds.missing("loan.teleported")


def test_the_registry_entry_joins_the_parts_of_a_kind() -> None:
    entry = kinds.entry("loan.shipped")
    assert entry.payload is ev.LoanShipped
    assert entry.custody_labels == ("Shipment", "Return shipped")  # outbound, return
    assert entry.import_mapping is HANDLERS["loan.shipped"]
    assert kinds.entry("ledger.created").import_mapping is None
    assert kinds.entry("ledger.created").not_imported_because
    assert dataclasses.is_dataclass(entry)
