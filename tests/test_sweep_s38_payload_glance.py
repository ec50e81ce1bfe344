"""Sweep s38: `check_types` accepts a replayed payload's scalars at a glance (their exact
Python types), and falls back to the full check for anything else. Every value of every
declared field is judged as the full check (`check_value`, whole numbers of any size) judges
it: the same values accepted, the same refused with the same words."""

from typing import Any

import pytest

from sampleloans.errors import InvalidInput
from sampleloans.ledger.payload import check_types, check_value, shown
from sampleloans.ledger.payload_fields import FIELDS

VALUES: list[Any] = [
    None, True, False, 0, 7, -1, 2**63, 2**80, 1.5, 2.0, "", "x", [], ["a"], [1],
    [["a", 1]], [["a"]], [["a", True]], {}, {"a": 1},
]  # fmt: skip


def full_check(declared: str, name: str, value: Any) -> str | None:
    """What the full check says of one field (None: accepted): a whole number of any size
    (the rules judge its range), else `check_value`."""
    if declared in ("int", "int?"):
        whole = isinstance(value, int) and not isinstance(value, bool)
        if whole or (value is None and declared == "int?"):
            return None
        return f"payload.{name}: give a whole number, not {shown(value)}"
    try:
        check_value(value, declared, f"payload.{name}")
    except InvalidInput as exc:
        return str(exc)
    return None


def at_a_glance(kind: str, name: str, value: Any) -> str | None:
    """What `check_types` says of a payload holding only this field (None: accepted)."""
    try:
        check_types(kind, {name: value})
    except InvalidInput as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("kind", sorted(FIELDS))
def test_every_field_is_judged_as_the_full_check_judges_it(kind: str) -> None:
    for name, (declared, _) in FIELDS[kind].items():
        for value in VALUES:
            glance, full = at_a_glance(kind, name, value), full_check(declared, name, value)
            if declared in ("int", "int?") and full is not None:
                assert (
                    glance == f"payload.{name}: give a whole number, not {full.split('not ')[-1]}"
                )
            else:
                assert glance == full, (kind, name, declared, value)


def test_a_field_the_kind_lacks_and_a_kind_that_is_none_are_left_to_the_event_class() -> None:
    assert at_a_glance("sample.registered", "no_such_field", object()) is None
    assert at_a_glance("no.such.kind", "code", 1) is None
