"""A stored payload value of the wrong JSON type, written into the ledger file by hand: `verify`
names it with its event in the replay's words (`payload.check_types`), never a traceback from
the scratch projections' writes (a consumption's `destructive` of "yes" reached SQLAlchemy's
Boolean column and ended `verify` in a TypeError)."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.errors import InvalidInput
from sampleloans.ledger.payload import check_types
from sampleloans.services import verify as verify_module
from tests.conftest import demo_copy
from tests.test_verify_tamper import tamper

LAST = "(SELECT max(seq) FROM ledger_event WHERE kind = '{kind}')"
CASES = {
    "destructive yes": ("loan.consumed", "$.destructive", "'yes'", "give true or false"),
    "destructive 1": ("loan.consumed", "$.destructive", "1", "give true or false"),
    "mass as text": ("loan.consumed", "$.mass_ug", "'500'", "give a whole number"),
    "technique a number": ("loan.consumed", "$.technique", "7", "give text"),
    "agreement flag text": (
        "agreement.created",
        "$.destructive_use_allowed",
        "'no'",
        "give true or false",
    ),
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger, made once for the module."""
    return demo_copy(tmp_path_factory.mktemp("types") / "demo")


@pytest.mark.parametrize("name", sorted(CASES))
def test_verify_names_a_payload_value_of_the_wrong_type(
    demo: Path, tmp_path: Path, name: str
) -> None:
    """Through the CLI: exit 1, the replay's finding names the event and the field, no
    traceback; at service level the same finding."""
    kind, path, value, words = CASES[name]
    ledger = tmp_path / "ledger.db"
    ledger.write_bytes(demo.read_bytes())
    seq_sql = LAST.format(kind=kind)
    tamper(
        ledger,
        (
            f"UPDATE ledger_event SET payload = json_set(payload, '{path}', {value}) "
            f"WHERE seq = {seq_sql}",
            (),
        ),
    )
    result = CliRunner().invoke(
        app, ["--db", str(ledger), "--as", "compliance@naoc.example", "verify"]
    )
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    field = path.removeprefix("$.")
    replayed = [line for line in result.output.splitlines() if "[replay]" in line]
    assert replayed and f"({kind}) cannot be replayed: payload.{field}: {words}" in replayed[0]
    engine = db.open_engine(db.url_for_path(ledger))
    try:
        problems = verify_module.verify(engine).problems
    finally:
        engine.dispose()
    assert any(f"payload.{field}: {words}" in problem.message for problem in problems)


def test_check_types_leaves_ranges_and_unknown_fields_to_the_rules() -> None:
    """Service level: a whole number of any size and an unknown field pass (the rules and the
    event class name them in their own words); a value of another type is refused."""
    check_types("loan.consumed", {"mass_ug": -5, "destructive": True, "note": "x"})
    check_types("loan.consumed", {"mass_ug": 2**70})
    check_types("not.a.kind", {"anything": object()})
    for payload in ({"mass_ug": 1.0}, {"mass_ug": True}, {"destructive": "yes"}):
        with pytest.raises(InvalidInput):
            check_types("loan.consumed", payload)
