"""`verify --since` compared each new event's recording time with the one before as text: an
event recorded at 17:46:00.3 after one recorded at 17:46:00 (a clock set whole, then the real
clock inside the same second) sorts before it ('…:00.300000Z' < '…:00Z'), so `verify --since`
reported `[chain] event N was recorded before the event before it`, exit 1, where the full
`verify` passed. It now compares them in time order (`models.stored_time_order`)."""

from pathlib import Path

from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.models import stored_time_order
from tests.conftest import COMPLIANCE, CURATOR, demo_copy


def _ok(args: list[str], env: dict[str, str], now: str) -> str:
    """Run the CLI at `now`; it must succeed; its standard output."""
    done = CliRunner().invoke(app, args, env={**env, "SAMPLELOANS_NOW": now})
    assert done.exit_code == 0, done.stdout + done.stderr
    return done.stdout


def test_an_event_later_in_the_same_second_is_in_order(tmp_path: Path) -> None:
    """Two events recorded at 17:46:00 and 17:46:00.3 after a checkpoint: both verifies pass."""
    env = {"SAMPLELOANS_DB": str(demo_copy(tmp_path / "demo")), "NO_COLOR": "1"}
    key, checkpoint = tmp_path / "k", tmp_path / "cp.txt"
    _ok(["keys", "generate", "--out", str(key)], env, "2026-12-03T17:40:00Z")
    _ok(
        ["--as", CURATOR, "checkpoint", "--key", str(key), "--out", str(checkpoint)],
        env,
        "2026-12-03T17:45:00Z",
    )
    report = ["--as", CURATOR, "incidents", "report", "--kind", "damage", "--description", "crack"]
    _ok([*report, "--sample", "CE5C0400YJFM00505"], env, "2026-12-03T17:46:00Z")
    _ok([*report, "--sample", "CE5C0400YJFM00507"], env, "2026-12-03T17:46:00.300000Z")
    since = ["--as", COMPLIANCE, "verify", "--since", str(checkpoint), "--public-key", f"{key}.pub"]
    assert ": OK — 2 new events" in _ok(since, env, "2026-12-03T17:47:00Z")
    assert "verify: OK" in _ok(["--as", COMPLIANCE, "verify"], env, "2026-12-03T17:47:00Z")


def test_padded_text_orders_as_time() -> None:
    """A whole second sorts before a moment inside it, and after the second before."""
    whole, inside, before = (
        "2026-12-03T17:46:00Z",
        "2026-12-03T17:46:00.300000Z",
        "2026-12-03T17:45:59.900000Z",
    )
    assert stored_time_order(before) < stored_time_order(whole) < stored_time_order(inside)
