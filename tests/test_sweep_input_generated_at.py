"""`report … --generated-at` typed before what the report prints (its head event was recorded,
or its --as-of moment) is refused (exit 1, no file); before, `--generated-at 1969-12-31` wrote
a report dated decades before its own content, and verify-document passed it."""

from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR

S = "CE5C0200YJFM00112"  # registered when the test ledger was made, 2025-04-01 09:00 UTC


def report(tmp_path: Path, *extra: str) -> tuple[int, str, list[str]]:
    out = tmp_path / "custody.pdf"
    argv = ["--as", CURATOR, "report", "custody", "--sample", S, "--out", str(out), *extra]
    result = CliRunner().invoke(app, argv)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stderr, sorted(p.name for p in tmp_path.glob("*.pdf"))


@pytest.mark.parametrize("when", ["1969-12-31", "2025-04-01T08:59:59Z"])
def test_a_report_dated_before_its_head_event(
    when: str, engine: Engine, cli_env: dict[str, str], tmp_path: Path
) -> None:
    code, stderr, written = report(tmp_path, "--generated-at", when)
    assert code == 1
    assert stderr.startswith("Error: --generated-at: ")
    assert stderr.endswith(
        "(the last the report prints) was recorded; a report is dated when it is made: give "
        "--generated-at from 2025-04-01T09:00:00Z on\n"
    )
    assert written == []


def test_a_report_dated_before_its_as_of(
    engine: Engine, cli_env: dict[str, str], tmp_path: Path
) -> None:
    code, stderr, written = report(
        tmp_path, "--as-of", "2025-04-01T09:00:00Z", "--generated-at", "2025-04-01T08:59:50Z"
    )
    assert code == 1
    assert stderr == (
        "Error: --generated-at: 2025-04-01T08:59:50Z is before --as-of 2025-04-01T09:00:00Z; a "
        "report is dated when it is made: give --generated-at from 2025-04-01T09:00:00Z on\n"
    )
    assert written == []


def test_a_report_dated_at_or_after_its_head(
    engine: Engine, cli_env: dict[str, str], tmp_path: Path
) -> None:
    code, stderr, written = report(tmp_path, "--generated-at", "2025-04-01T09:00:00Z")
    assert code == 0, stderr
    assert written == ["custody.pdf"]
