"""Sweep s33 "users" (2): `import` refuses NaN or Infinity naming what its field accepts.

The refusal ended "give a whole number" whatever the field: NaN given for a text field (an
incident's description), a flag, a time or the actor asked for a number the field never takes.
Every field's refusal now names what that field accepts, in the words of its other refusals
(`give text`, `give true or false`), still one line, exit 2, nothing written.
"""

from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.services.bulk import BulkRejected, import_records
from tests.conftest import CURATOR, ctx_for
from tests.test_bulk import LATER
from tests.test_i10_import import refused_import, write

INCIDENT = (
    '{"kind": "incident.reported", "actor": %s, "occurred_at": %s, "payload": {"sample": "S", '
    '"loan": %s, "incident_kind": "loss", "description": %s, "mass_lost_ug": %s}}'
)
GOOD = {
    "actor": f'"{CURATOR}"',
    "occurred_at": '"2026-01-01T00:00:00Z"',
    "loan": "null",
    "description": '"dropped"',
    "mass_lost_ug": "1",
}
ACCEPTS = {
    "actor": "actor: NaN is not a number the ledger takes; give the e-mail of the person who acted",
    "occurred_at": "occurred_at: NaN is not a number the ledger takes; give an ISO 8601 time as "
    "text",
    "loan": "payload.loan: NaN is not a number the ledger takes; give text, or null",
    "description": "payload.description: NaN is not a number the ledger takes; give text",
    "mass_lost_ug": "payload.mass_lost_ug: NaN is not a number the ledger takes; give a whole "
    "number",
}
OTHERS = [
    ('{"kind": "loan.consumed", "actor": "%s", "payload": {"destructive": Infinity}}',
     "payload.destructive: Infinity is not a number the ledger takes; give true or false"),
    ('{"kind": "sample.split", "actor": "%s", "payload": {"children": [[-Infinity, 5]]}}',
     "payload.children[0][0]: -Infinity is not a number the ledger takes; give text"),
    ('{"kind": "sample.split", "actor": "%s", "payload": {"children": [NaN]}}',
     "payload.children[0]: NaN is not a number the ledger takes; give a [code, micrograms] pair"),
    ('{"kind": "loan.consumed", "actor": "%s", "payload": {"colour": NaN}}',
     "payload.colour: NaN is not a number the ledger takes; loan.consumed has no such field"),
    ('{"kind": "loan.recalled", "actor": "%s", "payload": {}, "reason": NaN}',
     "reason: NaN is not a number the ledger takes; give text, or null"),
]  # fmt: skip


def _line(field: str) -> str:
    """An incident line with NaN in `field`, every other field well formed."""
    values = {**GOOD, field: "NaN"}
    return INCIDENT % tuple(values[k] for k in GOOD)


def _refusal(line: str, engine: Engine) -> str:
    """The first line of the service's refusal of a one-line history."""
    with pytest.raises(BulkRejected) as refused, db.transaction(engine) as session:
        import_records(session, ctx_for(now=LATER), [line], fmt="jsonl")
    return refused.value.details[0]


@pytest.mark.parametrize("field", list(GOOD))
def test_the_service_names_what_the_field_accepts(field: str, engine: Engine) -> None:
    """NaN in each field of an incident line: the refusal says what that field takes."""
    assert _refusal(_line(field), engine) == f"line 1: {ACCEPTS[field]}"


@pytest.mark.parametrize(("line", "said"), OTHERS)
def test_a_flag_a_pair_an_unknown_field_and_a_reason(line: str, said: str, engine: Engine) -> None:
    """A flag, each part of a [code, micrograms] pair, a field the kind lacks, the reason."""
    assert _refusal(line % CURATOR, engine) == f"line 1: {said}"


def test_the_import_command_says_give_text_for_a_description(
    engine: Engine,
    db_path: Path,
    tmp_path: Path,
    cli_env: dict[str, str],
    runner: CliRunner,
) -> None:
    """Through `import`: one line naming the field and 'give text', exit 2, nothing written."""
    engine.dispose()
    lines = refused_import(
        runner, db_path, write(tmp_path, "n.jsonl", _line("description") + "\n"), code=2
    )
    assert lines[0] == f"line 1: {ACCEPTS['description']}"
