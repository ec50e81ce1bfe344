"""`verify` on a ledger file too damaged to read a single event (sweep s19, tamper): it names
the damage and prints no head, rather than the head `0:` (no event, an empty hash) that
`--json` readers and anyone comparing heads would take for one."""

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.services.verify import UNPROVEN_WITHOUT_WITNESS
from tests.conftest import COMPLIANCE, demo_env

DAMAGE = (
    "the database file is damaged (database disk image is malformed); verify could not run: "
    "restore the latest verified backup"
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger, made once."""
    return Path(demo_env(tmp_path_factory, COMPLIANCE)["SAMPLELOANS_DB"])


@pytest.fixture
def truncated(demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the demo ledger cut at half its size, as SAMPLELOANS_DB."""
    path = tmp_path / "ledger.db"
    shutil.copy(demo, path)
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size // 2)
    monkeypatch.setenv("SAMPLELOANS_DB", str(path))
    monkeypatch.setenv("NO_COLOR", "1")
    return path


def test_verify_json_gives_no_head_for_an_unreadable_file(truncated: Path) -> None:
    """`head` is null (was "0:"), the finding says verify could not run."""
    result = CliRunner().invoke(app, ["--as", COMPLIANCE, "verify", "--json"])
    assert result.exit_code == 1, result.stderr
    assert json.loads(result.stdout) == {
        "event_count": 0,
        "head": None,
        "ok": False,
        "problems": [{"area": "integrity", "message": DAMAGE}],
        "not_checked": [UNPROVEN_WITHOUT_WITNESS],
    }


@pytest.mark.parametrize("args", [(), ("--print-head",)])
def test_verify_says_no_event_could_be_read(truncated: Path, args: tuple[str, ...]) -> None:
    """The verdict line names no head (was "head 0:"), also with --print-head."""
    result = CliRunner().invoke(app, ["--as", COMPLIANCE, "verify", *args])
    assert result.exit_code == 1, result.stderr
    assert result.stdout.splitlines() == [
        "verify: 1 problem found; no event could be read",
        f"  [integrity] {DAMAGE}",
    ]
