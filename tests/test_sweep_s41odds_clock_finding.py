"""`verify --since CP` worded an event whose recording clock went backwards as `event N was
recorded before the event before it`, where the full `verify` says `event N (KIND) was recorded
at T, before event M (T'): the recording clock went backwards`: two wordings of one finding.
Both now take the line from one function (`ledger.chain.RecordingClock`), proven here
through the CLI on a ledger where an event after a checkpoint is stamped earlier than the one
before it, its hashes recomputed so that only the clock is wrong (as tests/test_i10_verify.py
plants it)."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import COMPLIANCE, CURATOR, demo_copy
from tests.test_i10_verify import rehash_from

LINE = (
    "event 109 (incident.reported) was recorded at 2026-12-03T17:45:30Z, before event 108 "
    "(2026-12-03T17:46:00Z): the recording clock went backwards"
)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], list[str]]:
    """The demo with a checkpoint of its 107 events, two incidents after it (108 at 17:46,
    109 at 17:47), then event 109 stamped 17:45:30 by hand; the env and the `--since` args."""
    folder = tmp_path_factory.mktemp("s41clock")
    env = {"SAMPLELOANS_DB": str(demo_copy(folder / "demo")), "NO_COLOR": "1"}
    key, checkpoint = folder / "k", folder / "cp.txt"
    report = ["--as", CURATOR, "incidents", "report", "--kind", "damage", "--description", "crack"]
    for args, now in (
        (["keys", "generate", "--out", str(key)], "2026-12-03T17:40:00Z"),
        (["--as", CURATOR, "checkpoint", "--key", str(key), "--out", str(checkpoint)], "17:45"),
        ([*report, "--sample", "CE5C0400YJFM00505"], "2026-12-03T17:46:00Z"),
        ([*report, "--sample", "CE5C0400YJFM00507"], "2026-12-03T17:47:00Z"),
    ):
        moment = now if "T" in now else f"2026-12-03T{now}:00Z"
        done = CliRunner().invoke(app, args, env={**env, "SAMPLELOANS_NOW": moment})
        assert done.exit_code == 0, done.stderr
    rehash_from(Path(env["SAMPLELOANS_DB"]), 109, recorded_at="2026-12-03T17:45:30Z")
    since = ["verify", "--since", str(checkpoint), "--public-key", f"{key}.pub"]
    return {**env, "SAMPLELOANS_NOW": "2026-12-03T18:00:00Z"}, since


def _clock_lines(env: dict[str, str], *args: str) -> list[str]:
    """The lines of a verify (exit 1: it found the clock) that speak of the recording clock."""
    done = CliRunner().invoke(app, ["--as", COMPLIANCE, *args], env=env)
    assert done.exit_code == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    return [line for line in done.stdout.splitlines() if "recorded" in line and "event 10" in line]


def test_the_full_verify_names_the_clock_going_back(
    ledger: tuple[dict[str, str], list[str]],
) -> None:
    """`verify`: one finding, naming both events and both times."""
    env, _ = ledger
    assert _clock_lines(env, "verify") == [f"  [chain] {LINE}"]


def test_verify_since_says_the_same_line(ledger: tuple[dict[str, str], list[str]]) -> None:
    """`verify --since CP`: the same line, word for word, for the same event."""
    env, since = ledger
    assert _clock_lines(env, *since) == [f"  [chain] {LINE}"]


def test_the_two_verifies_agree(ledger: tuple[dict[str, str], list[str]]) -> None:
    """Whatever the wording, both print one and the same line for the event."""
    env, since = ledger
    assert _clock_lines(env, *since) == _clock_lines(env, "verify")
