"""The unit of work (issue 12, `ledger/unit.py`): one write path for commands, import and replay."""

from typing import Any

import pytest
from sqlalchemy import Engine, event
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.ledger import unit as unit_module
from sampleloans.models import Sample
from sampleloans.services import samples
from sampleloans.services.verify import verify
from tests.conftest import CURATOR, ctx_for

SAMPLE = "CE5C0100YJFM00201"


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tables the unit of work writes new rows to, in order (a spy on its one writer)."""
    seen: list[str] = []
    real = unit_module.Unit._write_new_rows

    def spy(
        self: unit_module.Unit, table_name: str, pending: list[dict[str, Any] | unit_module.Tracked]
    ) -> None:
        if pending:
            seen.append(table_name)
        real(self, table_name, pending)

    monkeypatch.setattr(unit_module.Unit, "_write_new_rows", spy)
    return seen


def test_a_command_and_the_replay_persist_through_the_same_code(
    engine: Engine, cli_env: dict[str, str], writes: list[str]
) -> None:
    result = CliRunner().invoke(
        app, ["--as", CURATOR, "samples", "move", SAMPLE, "--location", "cabinet 9"]
    )
    assert result.exit_code == 0, result.stderr
    assert writes == ["ledger_event", "event_subject"]  # the event, then its index
    writes.clear()
    assert verify(engine).ok  # the replay writes the projections through the same unit …
    assert {"sample", "mission"} <= set(writes)
    # … and compares the ledger's own events and index instead of copying them
    # (tests/test_i13_index_check.py)
    assert not {"ledger_event", "event_subject"} & set(writes)


def test_the_session_sees_a_command_s_changes_without_reading_again(engine: Engine) -> None:
    statements: list[str] = []
    with db.transaction(engine) as session:
        before = session.get(Sample, SAMPLE)
        assert before is not None and before.storage_location != "cabinet 9"
        connection = session.connection()
        event.listen(connection, "before_cursor_execute", lambda *a: statements.append(a[2]))
        samples.move_sample(session, ctx_for(), code=SAMPLE, storage_location="cabinet 9")
        assert any(s.startswith("UPDATE sample") for s in statements)  # written by the unit
        statements.clear()
        assert before.storage_location == "cabinet 9"  # brought up to date by the unit …
        assert statements == []  # … without a query


def test_a_refused_write_leaves_nothing_and_the_next_one_works(engine: Engine) -> None:
    from sampleloans.errors import SampleLoansError

    with pytest.raises(SampleLoansError), db.transaction(engine) as session:
        samples.move_sample(session, ctx_for(), code="NO-SUCH-SAMPLE", storage_location="x")
    with db.transaction(engine) as session:
        samples.move_sample(session, ctx_for(), code=SAMPLE, storage_location="cabinet 7")
    with db.transaction(engine, write=False) as session:
        found = session.get(Sample, SAMPLE)
        assert found is not None and found.storage_location == "cabinet 7"
    assert verify(engine).ok
