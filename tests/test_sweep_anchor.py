"""`verify --anchor 0:HASH` names no event (the first is seq 1): one line, exit 2, not "events
were removed"."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.errors import InvalidInput
from sampleloans.services.verify import parse_anchor
from tests.conftest import COMPLIANCE

HASH = "a" * 64


@pytest.mark.parametrize("seq", ["0", "00", "000000000000"])
def test_an_anchor_at_event_0_is_invalid_input(seq: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="names event 0"):
        parse_anchor(f"{seq}:{HASH}")
    ledger = tmp_path / "demo.db"
    assert CliRunner().invoke(app, ["--db", str(ledger), "demo"]).exit_code == 0
    result = CliRunner().invoke(
        app, ["--db", str(ledger), "--as", COMPLIANCE, "verify", "--anchor", f"{seq}:{HASH}"]
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: --anchor: ") and "names event 0" in result.stderr
    assert "removed" not in result.output


def test_an_anchor_at_event_1_is_read() -> None:
    assert parse_anchor(f"1:{HASH}") == (1, HASH)
