"""Sweep s24, an attacker (or a typo) with `SAMPLELOANS_NOW` set ahead of the real clock.

Before: `SAMPLELOANS_NOW=2099-01-01T00:00:00Z` recorded event 108 at 2099, and as the recording
clock never goes back, every later write on the real clock was refused until 2099: one bad
clock blocked the whole ledger for everyone, and the event can never be removed. Now a write,
an `import` line or a `checkpoint` more than 5 minutes ahead of this computer's clock is
refused (exit 1), naming SAMPLELOANS_NOW and what to do, nothing recorded; the real clock's next
write goes through (docs/architecture.md "Time").
"""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sampleloans import dates
from sampleloans.dates import RECORDING_CLOCK_AHEAD_MAX, to_iso
from tests.conftest import fingerprint
from tests.i15_statement_helpers import (
    copy_ledger,
    env_for,
    institution_history,
    invoke,
    make_demo,
)
from tests.test_sweep_s21attack_clock_ahead import AHEAD, INSTITUTION


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger (fixed clock in 2026), made once."""
    return make_demo(tmp_path_factory.mktemp("ahead24") / "d")


@pytest.fixture
def ledger(demo: Path, tmp_path: Path) -> Path:
    """A copy of the demo ledger this test may write."""
    return copy_ledger(demo, tmp_path / "ledger.db")


def _add(env: dict[str, str], short: str) -> tuple[int, str, str]:
    """`institutions add SHORT`: exit code, stdout, stderr."""
    result = invoke(env, "institutions", "add", short, "--name", short.title(), *INSTITUTION)
    return result.exit_code, result.stdout, result.stderr


def _says_ahead(stderr: str) -> None:
    """One line naming SAMPLELOANS_NOW, its value, why, and what to do."""
    assert stderr.startswith(
        f"Error: SAMPLELOANS_NOW: {AHEAD} is ahead of this computer's clock ("
    ), stderr
    assert f"every later write would be refused until {AHEAD}" in stderr
    assert "unset SAMPLELOANS_NOW (or set it to the real time) and try again" in stderr
    assert stderr.count("\n") == 1
    assert "\x1b" not in stderr


def test_a_write_dated_ahead_is_refused_and_the_ledger_stays_writable(ledger: Path) -> None:
    """Before: exit 0, event 108 at 2099, and the real clock's next write refused (exit 1)."""
    before = fingerprint(ledger)
    code, out, err = _add(env_for(ledger, now=AHEAD), "EVIL")
    assert (code, out) == (1, "")
    _says_ahead(err)
    assert fingerprint(ledger) == before
    real = {**env_for(ledger), "SAMPLELOANS_NOW": ""}  # set but empty is unset
    code, out, err = _add(real, "GOOD")
    assert code == 0, err
    assert "event 108" in out


def test_an_import_dated_ahead_is_refused(ledger: Path, tmp_path: Path) -> None:
    """`import` records each line at the same clock: refused alike, no line recorded."""
    history = institution_history(tmp_path, "EVIL", "Evil")
    before = fingerprint(ledger)
    result = invoke(env_for(ledger, now=AHEAD), "import", str(history))
    assert result.exit_code == 1, result.stdout
    assert f"SAMPLELOANS_NOW: {AHEAD} is ahead of this computer's clock" in result.stderr
    assert fingerprint(ledger) == before


def test_a_checkpoint_dated_ahead_is_refused(ledger: Path, tmp_path: Path) -> None:
    """A note dated 2099 would be taken for one of events not yet there: no checkpoint, no
    file."""
    key = tmp_path / "k"
    assert invoke(env_for(ledger), "keys", "generate", "--out", str(key)).exit_code == 0
    before = fingerprint(ledger)
    out = tmp_path / "cp.txt"
    result = invoke(env_for(ledger, now=AHEAD), "checkpoint", "--key", str(key), "--out", str(out))
    assert result.exit_code == 1, result.stdout
    _says_ahead(result.stderr)
    assert result.stderr.endswith("; no checkpoint was made\n")
    assert fingerprint(ledger) == before
    assert not out.exists()


def test_a_clock_a_moment_ahead_is_within_the_tolerance(ledger: Path) -> None:
    """A SAMPLELOANS_NOW copied from another computer a moment ago still records."""
    moment = datetime.now(UTC) + RECORDING_CLOCK_AHEAD_MAX / 5
    code, _, err = _add(env_for(ledger, now=to_iso(moment.replace(microsecond=0))), "NEAR")
    assert code == 0, err


def test_past_the_tolerance_is_refused(ledger: Path) -> None:
    """Twice the tolerance ahead is refused: the limit is a few minutes, not a day."""
    moment = datetime.now(UTC) + 2 * RECORDING_CLOCK_AHEAD_MAX + timedelta(seconds=5)
    code, _, err = _add(env_for(ledger, now=to_iso(moment.replace(microsecond=0))), "FAR")
    assert code == 1
    assert "is ahead of this computer's clock" in err


def test_a_fixed_clock_in_the_past_still_records(ledger: Path) -> None:
    """The demo's and the tests' clock (2026-06-15) is not affected."""
    code, _, err = _add(env_for(ledger), "PAST")
    assert code == 0, err


@pytest.fixture
def restored_ahead(ledger: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A new ledger imported from an events export whose event 108 a computer with its clock
    at 2099 recorded (the path `import` of an export keeps: the file's recorded times)."""
    with monkeypatch.context() as wrong:
        wrong.setattr(dates, "utc_now", lambda: datetime(2099, 1, 1, tzinfo=UTC))
        assert _add(env_for(ledger, now=AHEAD), "EVIL")[0] == 0
        exported = tmp_path / "ahead.jsonl"
        assert invoke(env_for(ledger), "export", "--events", str(exported)).exit_code == 0
    new = tmp_path / "new.db"
    made = invoke({**env_for(new), "SAMPLELOANS_NOW": ""}, "import", str(exported))
    assert made.exit_code == 0, made.stderr
    return new


def test_verify_reports_an_event_recorded_ahead_of_this_clock(restored_ahead: Path) -> None:
    """Before: 'verify: OK' for a ledger whose last event is dated 2099, which no write on
    this computer can follow; now a [clock] problem (exit 1) saying what it means."""
    result = invoke({**env_for(restored_ahead), "SAMPLELOANS_NOW": ""}, "verify")
    assert result.exit_code == 1, result.stdout
    assert result.stdout.startswith("verify: 1 problem found; head 108:")
    assert (
        f"[clock] event 108 was recorded at {AHEAD}, after this computer's clock (" in result.stdout
    )
    assert f"or this computer's clock is behind; no write can be recorded before {AHEAD}" in (
        result.stdout
    )
    as_json = invoke({**env_for(restored_ahead), "SAMPLELOANS_NOW": ""}, "verify", "--json")
    assert [p["area"] for p in json.loads(as_json.stdout)["problems"]] == ["clock"]


def test_verify_of_a_ledger_on_time_is_ok(ledger: Path) -> None:
    """The demo (recorded in 2026, before today) verifies clean on the real clock."""
    result = invoke({**env_for(ledger), "SAMPLELOANS_NOW": ""}, "verify")
    assert result.exit_code == 0, result.stdout
    assert result.stdout.startswith("verify: OK")
