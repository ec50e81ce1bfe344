"""`custody history --as-of` prints each hand-over's persons by the names they had then.

Before: a history "as of" a moment before a rename named the PI who received a loan by the
name they were given later (`people rename`), in the table and in `--json`, while `report
custody --as-of` of the same moment printed the name then: two views of one moment that
disagreed. After: both print the name as it stood (`services.handover.names_at`); a history
without `--as-of` prints today's name.
"""

import json
from datetime import UTC, datetime
from pathlib import Path

from sampleloans import db
from sampleloans.services import history
from tests.conftest import ctx_for
from tests.test_sweep_s43corrections_rename import PI, pdf_text
from tests.test_sweep_s43corrections_void_consumption import demo, run

__all__ = ["demo"]  # the fixture (a demo copy per test), shared by name

BEFORE, AFTER = "Frédéric Moynier", "F. Moynier (renamed)"
LOAN, THEN = "L-2025-IPGP", "2025-12-01"
NOW = datetime(2026, 6, 15, 9, tzinfo=UTC)  # env_for's clock


def received_by(listing: dict[str, object]) -> set[str]:
    """The names of who received the loan, over the events of a history's `--json`."""
    events = listing["events"]
    assert isinstance(events, list)
    return {
        e["handover"]["received_by"]["name"]
        for e in events
        if e["handover"] is not None and e["handover"]["step"] == "receive"
    }


def test_a_history_as_of_names_the_pi_as_the_report_as_of_does(demo: Path) -> None:
    from tests.i15_statement_helpers import env_for

    env = env_for(demo)
    run(env, "people", "rename", PI, "--name", AFTER, "--reason", "as in the contract")
    then = json.loads(
        run(env, "custody", "history", "--loan", LOAN, "--as-of", THEN, "--json").stdout
    )
    now = json.loads(run(env, "custody", "history", "--loan", LOAN, "--json").stdout)
    assert received_by(then) == {BEFORE}
    assert received_by(now) == {AFTER}
    table = run(env, "custody", "history", "--loan", LOAN, "--as-of", THEN).stdout
    assert "Moynier (renamed)" not in table and "Frédéric Moynier" in table
    report = demo.parent / "then.pdf"
    run(env, "report", "custody", "--loan", LOAN, "--as-of", THEN, "--out", str(report))
    assert BEFORE in pdf_text(report) and AFTER not in pdf_text(report)


def test_two_renames_the_name_between_them(demo: Path) -> None:
    """Renamed twice: a moment between the renames reads the first new name, at service level."""
    from tests.i15_statement_helpers import env_for

    env = env_for(demo)
    run(env, "people", "rename", PI, "--name", "First", "--reason", "typo", "--at", "2026-05-01")
    run(env, "people", "rename", PI, "--name", "Second", "--reason", "typo again")
    engine = db.open_engine(db.url_for_path(demo))
    names = {}
    try:
        for moment in ("2025-12-01T00:00", "2026-05-15T00:00", "2026-06-15T09:00"):
            as_of = datetime.fromisoformat(moment).replace(tzinfo=UTC)
            with db.transaction(engine) as session:
                listing, _count = history.history_listing(
                    session, ctx_for(now=NOW), loan=LOAN, as_of=as_of
                )
                names[moment] = {
                    e.handover.received_by.name
                    for e in listing.entries
                    if e.handover is not None
                    and e.handover.step == "receive"
                    and e.handover.received_by is not None
                }
    finally:
        engine.dispose()
    assert names == {
        "2025-12-01T00:00": {BEFORE},
        "2026-05-15T00:00": {"First"},
        "2026-06-15T09:00": {"Second"},  # the moment of the second rename: it counts
    }
