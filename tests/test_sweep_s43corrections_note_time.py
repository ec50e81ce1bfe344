"""Sweep s43 "a curator puts their mistakes right": a note dated before the event it corrects.

Before: `custody correct 94 --text … --at 2025-01-01` put a note on the shipment of 5 May 2025
dated four months before it, and `verify` passed; but every replay "as of" a moment between the
two (`custody history --as-of`, `report custody --as-of`) met the note without its event and
stopped: `Error: event 108 (event.corrected) cannot be replayed: event 94: no such event …;
run 'sampleloans verify'`, exit 3, which verify did not explain. (A mass correction was already
kept after the events of its records.) After: a note is dated at or after the event it corrects
(exit 1, one line naming the event, its time and the earliest time accepted, nothing recorded),
in `import` too, and `verify` names such a note in a ledger written before the rule.
"""

import json
from pathlib import Path

import pytest

from sampleloans.ledger import apply
from tests.i15_statement_helpers import env_for
from tests.test_sweep_s43corrections_void_consumption import demo, event_count, run

__all__ = ["demo"]  # the fixture (a demo copy per test), shared by name

SHIPMENT = 94  # the demo's outbound shipment of L-2025-OU, 2025-05-05 09:00 UTC
BEFORE = "2025-01-01T00:00:00Z"


def test_a_note_dated_before_its_event_is_refused_in_one_line(demo: Path) -> None:
    env = env_for(demo)
    refused = run(env, "custody", "correct", str(SHIPMENT), "--text", "x", "--at", BEFORE, code=1)
    assert refused.stderr.splitlines() == [
        f"Error: --at: {BEFORE} is before event {SHIPMENT}, which the correction corrects "
        "(2025-05-05T09:00:00Z); a correction is dated at or after the event it corrects: give "
        "a time from 2025-05-05T09:00:00Z on"
    ]
    assert event_count(demo) == 107
    # dated at the shipment itself: accepted, and a replay just after it reads the note
    run(
        env,
        "custody",
        "correct",
        str(SHIPMENT),
        "--text",
        "seal SL-OU-02",
        "--at",
        "2025-05-05T09:00:00Z",
    )
    replayed = run(
        env, "custody", "history", "--loan", "L-2025-OU", "--as-of", "2025-05-06", "--json"
    )
    assert 108 in [e["seq"] for e in json.loads(replayed.stdout)["events"]]
    run(env, "verify")


def test_a_history_line_dated_before_its_event_is_refused(demo: Path, tmp_path: Path) -> None:
    line = {
        "kind": "event.corrected",
        "occurred_at": BEFORE,
        "actor": "curator@naoc.example",
        "payload": {"text": "seal SL-OU-02"},
        "reason": "seal SL-OU-02",
        "corrects_seq": SHIPMENT,
    }
    history = tmp_path / "h.jsonl"
    history.write_text(json.dumps(line) + "\n", encoding="utf-8")
    refused = run(env_for(demo), "import", str(history), code=1)
    assert f"is before event {SHIPMENT}, which the correction corrects" in refused.stderr
    assert event_count(demo) == 107


def test_verify_names_such_a_note_written_before_the_rule(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = env_for(demo)
    with monkeypatch.context() as before_the_rule:
        before_the_rule.setattr(apply, "_after_corrected", lambda *_args: None)
        run(env, "custody", "correct", str(SHIPMENT), "--text", "x", "--at", BEFORE)
    found = run(env, "verify", code=1)
    assert (
        f"event 108 (event.corrected) cannot be replayed: time: {BEFORE} is before event 94"
        in found.stdout
    )
