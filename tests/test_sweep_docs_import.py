"""Sweep "a newcomer who trusts the documentation": a history line as the ledger records it.

`import` takes a history of `{"kind", "occurred_at", "actor", "payload", "reason",
"corrects_seq"}` lines. `custody correct SEQ --text` records its text as the event's reason too
(an events export shows it so), but a history line giving that reason was refused: "reason:
event.corrected does not take a reason". It is now accepted when it is the text, and a
different one is refused (exit 2, nothing written).
"""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, fingerprint

NOTE = "the seal number was SL-OU-02, not SL-OU-20"


@pytest.fixture
def ledger(tmp_path: Path) -> dict[str, str]:
    """A new ledger made by `init`, and the environment to import into it."""
    env = {
        "SAMPLELOANS_DB": str(tmp_path / "lab.db"),
        "SAMPLELOANS_USER": CURATOR,
        "SAMPLELOANS_NOW": "2025-04-01T09:00:00Z",
    }
    init = ["init", "--curator-email", CURATOR, "--curator-name", "Li Na", "--at", "2025-03-03"]
    assert CliRunner().invoke(app, init, env=env).exit_code == 0
    return env


def history(tmp_path: Path, reason: str | None) -> str:
    """A one-line history: a note on event 1, with this reason."""
    line = {
        "kind": "event.corrected",
        "occurred_at": "2025-03-10T09:00:00Z",
        "actor": CURATOR,
        "payload": {"text": NOTE},
        "reason": reason,
        "corrects_seq": 1,
    }
    path = tmp_path / "history.jsonl"
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    return str(path)


def test_a_note_imported_with_its_text_as_reason_is_what_the_command_records(
    ledger: dict[str, str], tmp_path: Path
) -> None:
    """The line as an events export holds it is imported, and the ledger then says what
    `custody correct --text` would have: the text as the reason."""
    result = CliRunner().invoke(app, ["import", history(tmp_path, NOTE)], env=ledger)
    assert result.exit_code == 0, result.stderr
    out = tmp_path / "events.jsonl"
    assert CliRunner().invoke(app, ["export", "--events", str(out)], env=ledger).exit_code == 0
    last = json.loads(out.read_text(encoding="utf-8").splitlines()[-1])
    assert (last["kind"], last["reason"], last["corrects_seq"]) == ("event.corrected", NOTE, 1)


def test_a_note_imported_without_a_reason_still_works(
    ledger: dict[str, str], tmp_path: Path
) -> None:
    """As before: no reason given, the text is recorded as the reason."""
    result = CliRunner().invoke(app, ["import", history(tmp_path, None)], env=ledger)
    assert result.exit_code == 0, result.stderr


def test_a_note_imported_with_another_reason_is_refused(
    ledger: dict[str, str], tmp_path: Path
) -> None:
    """A reason that is not the note's text would be lost: refused, nothing written."""
    before = fingerprint(Path(ledger["SAMPLELOANS_DB"]))
    result = CliRunner().invoke(app, ["import", history(tmp_path, "typo")], env=ledger)
    assert result.exit_code == 2
    assert "line 1: reason: event.corrected records its text as its reason" in result.stderr
    assert fingerprint(Path(ledger["SAMPLELOANS_DB"])) == before
