"""Sweep s18 (the whole round, as a curator signing the ledger): a checkpoint's clock.

With `SAMPLELOANS_NOW` (or the system clock) before the last event was recorded, every write is
refused ("the recording clock must not go back"), but `checkpoint --key` signed and kept a
checkpoint whose `time` line came before the events it covers: in the round, checkpoint 1 of
122 events was "made 2026-08-01 12:00" while event 122 was recorded on 2028-02-29, and
`report statement` on it then refused every `--generated-at` a reader would take from the
checkpoint's own time. It is now refused the same way (exit 1, one line, no checkpoint kept,
no file written); at or after the head's recording it signs as before.
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import demo_env, fingerprint


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo ledger, signed by its curator."""
    return demo_env(tmp_path_factory, "curator@naoc.example")


def test_a_checkpoint_dated_before_its_head_is_refused(
    tmp_path: Path, demo: dict[str, str]
) -> None:
    runner = CliRunner(env=demo)
    key = tmp_path / "key"
    assert runner.invoke(app, ["keys", "generate", "--out", str(key)]).exit_code == 0
    ledger = Path(demo["SAMPLELOANS_DB"])
    before = fingerprint(ledger)
    out = tmp_path / "cp.txt"
    early = {**demo, "SAMPLELOANS_NOW": "2025-01-01T00:00:00Z"}
    refused = runner.invoke(app, ["checkpoint", "--key", str(key), "--out", str(out)], env=early)
    assert refused.exit_code == 1, refused.output
    assert refused.stderr.startswith("Error: clock: now is 2025-01-01T00:00:00Z, before event ")
    assert refused.stderr.endswith("must not go back: set it right (from "
                                   "2026-04-20T10:00:00Z on) and try again; no checkpoint "
                                   "was made\n"), refused.stderr  # fmt: skip
    assert refused.stderr.count("\n") == 1
    assert fingerprint(ledger) == before and not out.exists()
    listed = runner.invoke(app, ["checkpoint", "list", "--json"])
    assert listed.exit_code == 0 and listed.stdout.strip() == "[]", listed.stdout
    signed = runner.invoke(app, ["checkpoint", "--key", str(key), "--out", str(out)])
    assert signed.exit_code == 0, signed.output  # at the demo's clock: after its last event
    assert f"time {demo['SAMPLELOANS_NOW']}" in out.read_text(encoding="utf-8")
