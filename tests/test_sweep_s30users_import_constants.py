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
    # what the field accepts follows: a whole number (corrects_seq: or null)
    said = f"line 1: {named} is not a number the ledger takes; give a whole number"
    assert lines[0].startswith(said), lines[0]


@pytest.mark.parametrize(("line", "named"), CASES)
def test_the_service_names_the_field_of_a_constant(line: str, named: str, engine: Engine) -> None:
    with pytest.raises(BulkRejected) as refused, db.transaction(engine) as session:
        import_records(session, ctx_for(now=LATER), [line % CURATOR], fmt="jsonl")
    assert refused.value.details[0].startswith(f"line 1: {named} is not a number"), refused.value


def test_a_line_that_is_only_a_constant_says_so_without_a_field(engine: Engine) -> None:
    """Nothing to name: the value is the whole line (and a later fault in the line, after the
    constant the parser met first, leaves the constant refused, unnamed, as before)."""
    for line, accepts in (
        ("NaN", "each line must be a JSON object with kind, actor and payload"),
        ('{"kind": NaN, "kind": 1}', "no field accepts it"),
    ):
        with pytest.raises(BulkRejected) as refused, db.transaction(engine) as session:
            import_records(session, ctx_for(now=LATER), [line], fmt="jsonl")
        assert refused.value.details[0] == (
            f"line 1: NaN is not a number the ledger takes; {accepts}"
        ), (line, refused.value.details)


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ('{"' + "k" * 100_000 + '": NaN}', "payload.'" + "k" * 40 + "…'"),
        ('{"x": ' + "[" * 900 + "NaN" + "]" * 900 + "}", "payload.x" + "[0]" * 23 + "[0…"),
        ('{"a b\\u202e": NaN}', "payload.'a b\\u202e'"),
    ],
    ids=["a long key", "a deep array", "a key with a space and a bidi control"],
)
def test_a_constant_under_a_long_or_unusual_name_is_named_in_one_short_line(
    payload: str, named: str, engine: Engine
) -> None:
    """The review found the field's path printed whole: a 100,000-character key gave a
    100,086-character line. A name is cut short and quoted as every import refusal quotes a
    key it does not know (`quote_input`); the path itself is cut at 80 characters."""
    line = '{"kind": "loan.consumed", "actor": "' + CURATOR + '", "payload": ' + payload + "}"
    with pytest.raises(BulkRejected) as refused, db.transaction(engine) as session:
        import_records(session, ctx_for(now=LATER), [line], fmt="jsonl")
    said = refused.value.details[0]
    assert said.startswith(f"line 1: {named}: NaN is not a number the ledger takes"), said[:300]
    assert len(said) < 200, len(said)


def test_a_long_key_through_the_command_is_one_short_line(
    db_path: Path,
    engine: Engine,
    tmp_path: Path,
    cli_env: dict[str, str],
    runner: CliRunner,
) -> None:
    """The same through `import`: one short line, exit 2, nothing written (refused_import
    checks the ledger is unchanged)."""
    engine.dispose()
    key = "k" * 100_000
    line = '{"kind": "loan.consumed", "actor": "' + CURATOR + '", "payload": {"' + key + '": NaN}}'
    lines = refused_import(runner, db_path, write(tmp_path, "k.jsonl", line + "\n"), code=2)
    assert lines[0].startswith("line 1: payload.'kkkk"), lines[0][:200]
    assert max(len(said) for said in lines) < 200
