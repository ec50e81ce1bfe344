"""Sweep s30 "users" (3): `import` names the field of a NaN or an Infinity.

JSON's parser hands NaN and Infinity to a hook that knows no key, so the refusal read "line 1:
NaN is not a number the ledger takes; give a whole number", leaving the user to search the line
for it. Every other refused value is named by its field (`payload.mass_ug: …`); so is this one
now, at any depth, still one line, exit 2, nothing written.
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

CASES = [
    ('{"kind": "loan.consumed", "actor": "%s", "payload": {"number": "L-BULK-1", '
     '"sample": "CE5C0100YJFM00201", "technique": "SIMS", "mass_ug": Infinity, '
     '"destructive": true}}', "payload.mass_ug: Infinity"),
    ('{"kind": "sample.split", "actor": "%s", "payload": {"parent": "S", '
     '"children": [["S-1", 5], ["S-2", NaN]]}}', "payload.children[1][1]: NaN"),
    ('{"kind": "loan.recalled", "actor": "%s", "payload": {"number": "L"}, '
     '"corrects_seq": -Infinity}', "corrects_seq: -Infinity"),
]  # fmt: skip


@pytest.mark.parametrize(("line", "named"), CASES)
def test_the_import_names_the_field_of_a_constant(
    line: str,
    named: str,
    engine: Engine,
    db_path: Path,
    tmp_path: Path,
    cli_env: dict[str, str],
    runner: CliRunner,
) -> None:
    engine.dispose()
    lines = refused_import(
        runner, db_path, write(tmp_path, "c.jsonl", line % CURATOR + "\n"), code=2
    )
    assert lines[0] == f"line 1: {named} is not a number the ledger takes; give a whole number"


@pytest.mark.parametrize(("line", "named"), CASES)
def test_the_service_names_the_field_of_a_constant(line: str, named: str, engine: Engine) -> None:
    with pytest.raises(BulkRejected) as refused, db.transaction(engine) as session:
        import_records(session, ctx_for(now=LATER), [line % CURATOR], fmt="jsonl")
    assert refused.value.details[0].startswith(f"line 1: {named} is not a number"), refused.value


def test_a_line_that_is_only_a_constant_says_so_without_a_field(engine: Engine) -> None:
    """Nothing to name: the value is the whole line (and a later fault in the line, after the
    constant the parser met first, leaves the constant refused, unnamed, as before)."""
    for line in ("NaN", '{"kind": NaN, "kind": 1}'):
        with pytest.raises(BulkRejected) as refused, db.transaction(engine) as session:
            import_records(session, ctx_for(now=LATER), [line], fmt="jsonl")
        assert refused.value.details[0] == (
            "line 1: NaN is not a number the ledger takes; give a whole number"
        ), (line, refused.value.details)
