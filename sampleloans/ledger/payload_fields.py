"""Each event kind's payload fields: name → (type, required). Generated from the
event classes (`sampleloans/ledger/events.py`) by `python -m tests.payload_fields_source`; do
not edit by hand. The readers check a stored payload against it without loading the event
classes (the write side, ~50 ms of a cold start). Types: `str`, `int`, `bool`, a `?` when null is
allowed, `list[str]`, `pairs` ([[code, micrograms], …])."""

FIELDS: dict[str, dict[str, tuple[str, bool]]] = {
    "agreement.created": {
        "number": ("str", True),
        "institution": ("str", True),
        "term": ("str", True),
        "max_total_mass_ug": ("int", True),
        "allowed_purposes": ("list[str]", True),
        "destructive_use_allowed": ("bool", True),
        "onward_transfer_allowed": ("bool", True),
        "max_loan_period": ("str", True),
        "max_extensions": ("int", True),
        "max_extension_period": ("str", True),
        "inventory_interval": ("str", True),
    },
    "agreement.ended": {
        "number": ("str", True),
        "status": ("str", True),
    },
    "agreement.signed": {
        "number": ("str", True),
        "signed_by": ("str", True),
    },
    "event.corrected": {
        "text": ("str", True),
    },
    "incident.reported": {
        "sample": ("str", True),
        "loan": ("str?", True),
        "incident_kind": ("str", True),
        "description": ("str", True),
        "mass_lost_ug": ("int", False),
    },
    "incident.resolved": {
        "incident_seq": ("int", True),
        "resolution": ("str", True),
    },
    "institution.added": {
        "short_name": ("str", True),
        "name": ("str", True),
        "country": ("str", True),
        "city": ("str", True),
        "institution_kind": ("str", True),
    },
    "institution.place_changed": {
        "short_name": ("str", True),
        "previous_city": ("str", True),
        "previous_country": ("str", True),
        "city": ("str", True),
        "country": ("str", True),
    },
    "institution.renamed": {
        "short_name": ("str", True),
        "previous_name": ("str", True),
        "name": ("str", True),
    },
    "ledger.created": {
        "ledger_id": ("str", True),
        "software": ("str", True),
    },
    "loan.approved": {
        "number": ("str", True),
    },
    "loan.closed": {
        "number": ("str", True),
    },
    "loan.consumed": {
        "number": ("str", True),
        "sample": ("str", True),
        "technique": ("str", True),
        "destructive": ("bool", True),
        "mass_ug": ("int", True),
    },
    "loan.extended": {
        "number": ("str", True),
        "period": ("str", True),
        "approver": ("str", True),
    },
    "loan.inventory": {
        "number": ("str", True),
        "held": ("pairs", True),
        "note": ("str?", False),
    },
    "loan.issued": {
        "number": ("str", True),
        "items": ("pairs", True),
        "released_by": ("str?", False),
        "received_by": ("str?", False),
        "courier": ("str?", False),
        "witness": ("str?", False),
    },
    "loan.recalled": {
        "number": ("str", True),
        "due_at": ("str", True),
    },
    "loan.received": {
        "number": ("str", True),
        "shipment_seq": ("int", True),
        "seal_intact": ("bool", True),
        "condition": ("str", True),
        "weighed": ("pairs", True),
        "released_by": ("str?", False),
        "received_by": ("str?", False),
        "courier": ("str?", False),
        "witness": ("str?", False),
    },
    "loan.requested": {
        "number": ("str", True),
        "agreement": ("str", True),
        "pi": ("str", True),
        "purpose_class": ("str", True),
        "transfer_type": ("str", True),
        "loan_period": ("str", True),
        "samples": ("list[str]", True),
    },
    "loan.settled": {
        "number": ("str", True),
        "obligations": ("str", True),
    },
    "loan.shipped": {
        "number": ("str", True),
        "direction": ("str", True),
        "container": ("str", True),
        "seal_number": ("str", True),
        "method": ("str", True),
        "samples": ("list[str]", True),
        "released_by": ("str?", False),
        "received_by": ("str?", False),
        "courier": ("str?", False),
        "witness": ("str?", False),
    },
    "loan.split": {
        "number": ("str", True),
        "parent": ("str", True),
        "child": ("str", True),
        "mass_ug": ("int", True),
    },
    "loan.withdrawn": {
        "number": ("str", True),
    },
    "mass.corrected": {
        "what": ("str", True),
        "sample": ("str", True),
        "old_mass_ug": ("int", True),
        "new_mass_ug": ("int", True),
    },
    "mission.added": {
        "code": ("str", True),
        "name": ("str", True),
        "returned_at": ("str?", True),
        "returned_mass_ug": ("int?", True),
    },
    "person.added": {
        "email": ("str", True),
        "name": ("str", True),
        "institution": ("str", True),
        "role": ("str", True),
    },
    "person.deactivated": {
        "email": ("str", True),
    },
    "person.reactivated": {
        "email": ("str", True),
    },
    "person.renamed": {
        "email": ("str", True),
        "previous_name": ("str", True),
        "name": ("str", True),
    },
    "person.role_changed": {
        "email": ("str", True),
        "previous_role": ("str", True),
        "role": ("str", True),
    },
    "sample.moved": {
        "code": ("str", True),
        "storage_location": ("str", True),
    },
    "sample.registered": {
        "code": ("str", True),
        "mission": ("str", True),
        "origin": ("str", True),
        "depth_top_mm": ("int?", True),
        "depth_bottom_mm": ("int?", True),
        "material_type": ("str", True),
        "physical_form": ("str", True),
        "purpose_class": ("str", True),
        "storage_location": ("str", True),
        "condition": ("str", True),
        "record": ("str", True),
        "mass_ug": ("int", True),
        "custodian": ("str", True),
    },
    "sample.split": {
        "parent": ("str", True),
        "children": ("pairs", True),
        "loss_ug": ("int", True),
    },
    "sample.transferred": {
        "recipient": ("str", True),
        "items": ("pairs", True),
        "reference": ("str", True),
    },
}
