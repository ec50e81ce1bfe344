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
from sampleloans.vocab import EVENT_LABELS


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


def test_a_part_registered_for_an_unknown_kind_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
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


def test_payload_pairs_are_typed_records_with_the_same_json() -> None:
    from sampleloans.ledger.chain import canonical

    event = ev.LoanIssued(number="L-1", items=[ev.CodeMass("CE5-A", 20_000)])
    assert event.items[0].mass_ug == 20_000
    assert canonical(event.to_payload()) == (
        '{"courier":null,"items":[["CE5-A",20000]],"number":"L-1","received_by":null,'
        '"released_by":null,"witness":null}'
    )
    back = ev.event_from_payload("loan.issued", {"number": "L-1", "items": [["CE5-A", 20_000]]})
    assert isinstance(back, ev.LoanIssued)
    assert back.items == [ev.CodeMass(code="CE5-A", mass_ug=20_000)]
    assert type(back.items[0]) is ev.CodeMass
    pair_kinds = {k for k, cls in ev.EVENT_TYPES.items() if cls.pair_fields}
    assert pair_kinds == {
        "sample.split",
        "sample.transferred",
        "loan.issued",
        "loan.received",
        "loan.inventory",
    }


def test_the_import_mapping_names_only_the_kinds_that_differ() -> None:
    import inspect

    from sampleloans.services import bulk

    generic = {k for k, h in HANDLERS.items() if h.__qualname__.startswith("_same_names")}
    assert set(HANDLERS) - generic == {
        "mission.added",  # returned_at is text in the payload, a time for the service
        "sample.transferred",  # the payload lists [code, mass] items; the service takes codes
        "loan.shipped",  # outbound or return: two services
        "loan.received",  # a receipt or an accepted return: two services
        "loan.recalled",  # due_at is text in the payload
        "event.corrected",  # corrects_seq is the envelope's
        "mass.corrected",  # corrects_seq is the envelope's
    }
    # a same-named kind: every argument the service requires is a payload field of the kind
    for kind in generic:
        fields = set(ev.EVENT_TYPES[kind].__dataclass_fields__)
        service = inspect.getclosurevars(HANDLERS[kind]).nonlocals["service"]
        required = {
            name
            for name, p in inspect.signature(service).parameters.items()
            if p.kind is p.KEYWORD_ONLY and p.default is p.empty and name != "reason"
        }
        assert required <= fields, (kind, required - fields)
    assert bulk.REASON_KINDS  # the envelope's reason still goes to the services that take one
