"""A stored payload that does not fit its kind is named in words (a finding of `verify`'s
replay), never as a Python error about `__init__` arguments."""

import pytest

from sampleloans.ledger.events import event_from_payload


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ({}, "the loan.inventory payload lacks held, number"),
        (
            {"number": "L-1", "held": [], "colour": "red"},
            "the loan.inventory payload has fields no loan.inventory event has (colour)",
        ),
        (
            {"held": [], "colour": "red"},
            "the loan.inventory payload lacks number and has fields no loan.inventory event has "
            "(colour)",
        ),
    ],
)
def test_a_payload_that_does_not_fit_its_kind_is_named(payload: dict, words: str) -> None:
    with pytest.raises(ValueError) as caught:
        event_from_payload("loan.inventory", payload)
    assert str(caught.value) == words
    assert "__init__" not in str(caught.value)


def test_a_payload_that_fits_is_read() -> None:
    event = event_from_payload("loan.inventory", {"number": "L-1", "held": []})
    assert event.kind == "loan.inventory"
