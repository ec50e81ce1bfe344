"""Sweep s21, an attacker (or a careless user) with `SAMPLELOANS_NOW` set ahead.

On SQLite a write records "now" as its `recorded_at`, and the recording clock never goes back.
One write made with `SAMPLELOANS_NOW=2099-01-01T00:00:00Z` (a typo for 2026, or on purpose)
therefore stops every later write on the real clock until 2099. That rule stays (the ledger
cannot tell a test's clock from a wrong one, and an event is never removed), but the refusal
told the curator whose clock was right to "set it right and try again". Now, on this
computer's clock (no `SAMPLELOANS_NOW`), it says what happened: event N was recorded by a clock
set ahead, nothing can be recorded before that moment, and whom to show. A fixed clock that
goes back keeps the old words. The README says not to set `SAMPLELOANS_NOW` on a real ledger.
"""

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import fingerprint
from tests.i15_statement_helpers import env_for, invoke, make_demo

AHEAD = "2099-01-01T00:00:00Z"
INSTITUTION = ("--country", "France", "--city", "Paris", "--kind", "borrower")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger, made once."""
    return make_demo(tmp_path_factory.mktemp("ahead") / "d")


@pytest.fixture
def ahead(demo: Path, tmp_path: Path) -> Path:
    """A copy of the demo whose event 108 was recorded with the clock set to 2099."""
    ledger = Path(shutil.copy(demo, tmp_path / "ledger.db"))
    made = invoke(
        env_for(ledger, now=AHEAD), "institutions", "add", "EVIL", "--name", "Evil", *INSTITUTION
    )
    assert made.exit_code == 0, made.stderr
    return ledger


def _real_clock(ledger: Path) -> dict[str, str]:
    """The CLI environment on this computer's clock (SAMPLELOANS_NOW set but empty is unset)."""
    return {**env_for(ledger), "SAMPLELOANS_NOW": ""}


def _says_clock_ahead(stderr: str) -> None:
    """The refusal names the event, the clock that was ahead, and until when nothing goes."""
    assert stderr.startswith(
        f"Error: clock: event 108 was recorded at {AHEAD}, after this computer's clock ("
    ), stderr
    assert "a clock set ahead recorded it" in stderr
    assert f"nothing can be recorded before {AHEAD}" in stderr
    assert "set it right" not in stderr  # this computer's clock is right
    assert stderr.count("\n") == 1


def test_a_write_on_the_real_clock_says_the_ledger_was_recorded_ahead(ahead: Path) -> None:
    """Before: 'now is …, before event 108 was recorded (2099-…); … set it right'."""
    before = fingerprint(ahead)
    result = invoke(
        _real_clock(ahead), "institutions", "add", "GOOD", "--name", "Good", *INSTITUTION
    )
    assert result.exit_code == 1, result.stdout
    _says_clock_ahead(result.stderr)
    assert fingerprint(ahead) == before


def test_import_says_the_same(ahead: Path, tmp_path: Path) -> None:
    """`import` records each line on the same clock and is refused in the same words."""
    line = {
        "kind": "institution.added",
        "occurred_at": "2026-05-01T00:00:00Z",
        "actor": "curator@naoc.example",
        "payload": {
            "short_name": "GOOD",
            "name": "Good",
            "country": "France",
            "city": "Paris",
            "institution_kind": "borrower",
        },
        "reason": None,
        "corrects_seq": None,
    }
    history = tmp_path / "h.jsonl"
    history.write_text(json.dumps(line) + "\n", encoding="utf-8")
    before = fingerprint(ahead)
    result = invoke(_real_clock(ahead), "import", str(history))
    assert result.exit_code == 1, result.stdout
    assert "event 108 was recorded at 2099-01-01T00:00:00Z, after this computer's clock" in (
        result.stderr
    )
    assert fingerprint(ahead) == before


def test_a_checkpoint_on_the_real_clock_says_so_too(ahead: Path, tmp_path: Path) -> None:
    """`checkpoint` dates its note now, so it is refused alike, naming what was not made."""
    key = tmp_path / "k"
    assert invoke(env_for(ahead), "keys", "generate", "--out", str(key)).exit_code == 0
    result = invoke(_real_clock(ahead), "checkpoint", "--key", str(key))
    assert result.exit_code == 1, result.stdout
    _says_clock_ahead(result.stderr)
    assert result.stderr.endswith("; no checkpoint was made\n")


def test_a_fixed_clock_that_goes_back_keeps_its_words(ahead: Path) -> None:
    """With SAMPLELOANS_NOW set before the last event, the fixed clock is what to set right."""
    result = invoke(
        env_for(ahead, now="2098-01-01T00:00:00Z"),
        *("institutions", "add", "GOOD", "--name", "Good", *INSTITUTION),
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: clock: now is 2098-01-01T00:00:00Z, before event 108 was recorded "
        f"({AHEAD}); the recording clock (SAMPLELOANS_NOW or the system clock) must not go "
        f"back: set it right (from {AHEAD} on) and try again"
    ), result.stderr
