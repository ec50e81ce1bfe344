"""A stored or imported event payload checked against its kind's fields and their declared
types, with messages that show the value as its author wrote it.

`import` checks every line with it before its rules run, and every reader of a stored event
(`stored_payload`) with it before it renders the event: a payload edited in the ledger file
(even with its chain recomputed) is named, never a traceback. The fields come from
`payload_fields` (generated from the event classes), so a reader loads no write side.
"""

import json
from decimal import Decimal
from typing import Any

from sampleloans.errors import InvalidInput, StorageError
from sampleloans.ledger.payload_fields import FIELDS
from sampleloans.units import quote_input

MAX_INT = 2**63 - 1  # SQLite's largest integer: a larger one cannot be stored at all


def check_value(value: Any, declared: str, what: str) -> None:
    """Refuse a JSON value whose type is not the declared one (`str`, `int?`, `pairs`, …)."""
    if declared.endswith("?"):
        if value is None:
            return
        declared = declared[:-1]
    if declared == "pairs" or declared.startswith("list["):
        _check_list(value, declared, what)
    elif declared == "bool":
        if not isinstance(value, bool):
            raise InvalidInput(f"{what}: give true or false, not {shown(value)}")
    elif declared == "int":
        check_int(value, what)
    elif declared == "str" and not isinstance(value, str):
        raise InvalidInput(f"{what}: give text, not {shown(value)}")


def _check_list(value: Any, declared: str, what: str) -> None:
    """A list of the declared items; `pairs` are [code, micrograms] pairs."""
    if not isinstance(value, list):
        raise InvalidInput(f"{what}: give a list, not {shown(value)}")
    for n, entry in enumerate(value):
        if declared == "pairs":  # [[code, micrograms], …]
            if not isinstance(entry, list) or len(entry) != 2:
                raise InvalidInput(f"{what}[{n}]: give a [code, micrograms] pair")
            check_value(entry[0], "str", f"{what}[{n}][0]")
            check_int(entry[1], f"{what}[{n}][1]")
        else:
            check_value(entry, declared[len("list[") : -1], f"{what}[{n}]")


def check_int(value: Any, what: str) -> None:
    """A whole number (true, false and 2.0 are not), not negative, that SQLite can store.

    Larger values the rules judge (a mass more than is held is a refusal by the rule, exit 1).
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{what}: give a whole number, not {shown(value)}")
    if not 0 <= value <= MAX_INT:
        raise InvalidInput(
            f"{what}: {value} is out of range; give a whole number from 0 to {MAX_INT}"
        )


def shown(value: Any) -> str:
    """A JSON value as its author wrote it, cut short for a one-line message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, Decimal):
        return quote_input(getattr(value, "typed", str(value))).strip("'")
    if isinstance(value, str):
        return quote_input(value)
    return quote_input(json.dumps(value, default=str)).strip("'")


def check_payload(kind: str, payload: dict[str, Any]) -> None:
    """Every payload field is one the event has, with the type it declares."""
    fields = FIELDS[kind]
    extra = sorted(set(payload) - set(fields))
    if extra:
        raise InvalidInput(f"payload: {kind} has no field {quote_input(extra[0])}")
    for name, value in payload.items():
        check_value(value, fields[name][0], f"payload.{name}")


_EXACT_TYPES: dict[str, frozenset[type]] = {
    "str": frozenset({str}),
    "str?": frozenset({str, type(None)}),
    "int": frozenset({int}),  # a JSON true is a bool, not an int: `type`, not `isinstance`
    "int?": frozenset({int, type(None)}),
    "bool": frozenset({bool}),
}
"""The Python types `json.loads` gives a value of each scalar declared type (lists: none, so
they are always checked in full)."""

_ACCEPTED: dict[str, dict[str, frozenset[type]]] = {
    kind: {name: _EXACT_TYPES.get(declared, frozenset()) for name, (declared, _) in fields.items()}
    for kind, fields in FIELDS.items()
}
"""Per kind and field, the types accepted at a glance: a replay checks a million payloads."""


def check_types(kind: str, payload: dict[str, Any]) -> None:
    """Every field a kind declares holds a value of its JSON type (a whole number of any
    size: the rules judge its range; a field the kind lacks is the event class's to name).

    A replay calls it on each stored event before the event is applied, so a value no
    projection column takes (a `destructive` of "yes") is named with its event, not found
    later as an error of the batch's writes."""
    accepted = _ACCEPTED.get(kind)
    if accepted is None:
        return  # not a kind: `event_from_payload` names it
    for name, value in payload.items():
        types = accepted.get(name)
        if types is None or type(value) in types:
            continue  # a field the kind lacks, or a scalar of its type
        _check_field(FIELDS[kind][name][0], name, value)


def _check_field(declared: str, name: str, value: Any) -> None:
    """One field `check_types` did not accept at a glance: a list, or a wrong value named."""
    if declared in ("int", "int?"):
        if isinstance(value, bool) or not (
            isinstance(value, int) or (value is None and declared == "int?")
        ):
            raise InvalidInput(f"payload.{name}: give a whole number, not {shown(value)}")
    else:
        check_value(value, declared, f"payload.{name}")


def stored_payload(seq: int, kind: str, text: str) -> dict[str, Any]:
    """A stored event's payload, checked against its kind's fields and types before anyone
    reads it: a row edited in the file (even with its chain recomputed) is named, exit 3."""
    try:
        payload = json.loads(text)
        if kind not in FIELDS:
            raise InvalidInput(f"{kind!r} is not an event kind")
        if not isinstance(payload, dict):
            raise InvalidInput("its payload is not a JSON object")
        check_payload(kind, payload)
        missing = sorted(
            n for n, (_, required) in FIELDS[kind].items() if required and n not in payload
        )
        if missing:
            raise InvalidInput(f"the {kind} payload lacks {', '.join(missing)}")
    except (ValueError, InvalidInput, RecursionError) as exc:  # JSONDecodeError: a ValueError
        raise StorageError(
            f"event {seq} ({kind}) cannot be read: {exc}; it was altered in the ledger file: "
            "run 'sampleloans verify' and restore the latest verified backup"
        ) from None
    return payload
