"""The text of `sampleloans/ledger/payload_fields.py`, worked out from the event classes:
`python -m tests.payload_fields_source` writes it after an event kind or field changes (a
test fails until then)."""

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

from sampleloans.ledger.events import EVENT_TYPES, CodeMass

TARGET = Path(__file__).resolve().parent.parent / "sampleloans" / "ledger" / "payload_fields.py"

HEADER = '''"""Each event kind's payload fields: name → (type, required). Generated from the
event classes (`sampleloans/ledger/events.py`) by `python -m tests.payload_fields_source`; do
not edit by hand. The readers check a stored payload against it without loading the event
classes (the write side, ~50 ms of a cold start). Types: `str`, `int`, `bool`, a `?` when null is
allowed, `list[str]`, `pairs` ([[code, micrograms], …])."""

FIELDS: dict[str, dict[str, tuple[str, bool]]] = {
'''


def type_code(hint: Any) -> str:
    """The short name of a field's declared type."""
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType)
    if optional:
        (hint,) = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        return "pairs" if item is CodeMass else f"list[{item.__name__}]"
    return f"{hint.__name__}{'?' if optional else ''}"


def source() -> str:
    """The module's text."""
    lines = []
    for kind in sorted(EVENT_TYPES):
        cls = EVENT_TYPES[kind]
        hints = typing.get_type_hints(cls)
        lines.append(f"    {kind!r}: {{\n")
        for field in dataclasses.fields(cls):
            required = (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            )
            code = type_code(hints[field.name])
            lines.append(f"        {field.name!r}: ({code!r}, {required}),\n")
        lines.append("    },\n")
    lines.append("}\n")
    return HEADER + "".join(lines).replace("'", '"')


if __name__ == "__main__":
    TARGET.write_text(source())
