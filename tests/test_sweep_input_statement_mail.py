"""`report statement --generated-at` typed before its checkpoint's last event was recorded is
refused (exit 1, no file), as for the other reports; `notify --smtp-host 'local host'` names the
space instead of saying no host is configured."""

from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR


@pytest.fixture
def checkpointed(engine: Engine, cli_env: dict[str, str], tmp_path: Path) -> Path:
    """The test ledger (made at 2025-04-01 09:00 UTC) with one kept checkpoint."""
    key = tmp_path / "cp.key"
    assert CliRunner().invoke(app, ["keys", "generate", "--out", str(key)]).exit_code == 0
    made = CliRunner().invoke(app, ["--as", CURATOR, "checkpoint", "--key", str(key)])
    assert made.exit_code == 0, made.stderr
    out = tmp_path / "out"
    out.mkdir()
    return out


def statement(out: Path, when: str) -> tuple[int, str]:
    argv = ["--as", CURATOR, "report", "statement", "--institution", "OU", "--out", str(out)]
    result = CliRunner().invoke(app, [*argv, "--generated-at", when])
    return result.exit_code, result.stderr


def test_a_statement_dated_before_its_checkpoint(checkpointed: Path) -> None:
    code, stderr = statement(checkpointed, "1969-12-31")
    assert code == 1
    assert stderr.startswith("Error: --generated-at: 1969-12-31T00:00:00Z is before ")
    assert stderr.endswith(
        "(the last its checkpoint covers) was recorded; a statement is dated when it is made: "
        "give --generated-at from 2025-04-01T09:00:00Z on\n"
    )
    assert list(checkpointed.iterdir()) == []


def test_a_statement_dated_after_its_checkpoint(checkpointed: Path) -> None:
    code, stderr = statement(checkpointed, "2025-04-01T09:00:00Z")
    assert code == 0, stderr


def test_an_smtp_host_with_a_space(engine: Engine, cli_env: dict[str, str]) -> None:
    argv = ["--as", CURATOR, "notify", "--smtp-host", "local host", "--smtp-from", "a@b.example"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 3
    assert result.stderr == (
        "Error: SMTP host: 'local host' is not a host name (it holds a space); set "
        "SAMPLELOANS_SMTP_HOST or --smtp-host to a name like mail.example.org\n"
    )
