"""Environment variables set but empty mean "not set" alike: SAMPLELOANS_LOCK_TIMEOUT='' was
refused as not a number while SAMPLELOANS_NOW='' and SAMPLELOANS_SMTP_HOST='' read as unset."""

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_lock_timeout_is_the_default(
    value: str, engine: Engine, cli_env: dict[str, str]
) -> None:
    result = CliRunner().invoke(
        app, ["--as", CURATOR, "loans", "list", "--json"], env={"SAMPLELOANS_LOCK_TIMEOUT": value}
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("value", ["abc", "-1", "nan", "3601"])
def test_a_bad_lock_timeout_is_still_refused(
    value: str, engine: Engine, cli_env: dict[str, str]
) -> None:
    result = CliRunner().invoke(
        app, ["--as", CURATOR, "loans", "list"], env={"SAMPLELOANS_LOCK_TIMEOUT": value}
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: SAMPLELOANS_LOCK_TIMEOUT: ")
    assert result.stderr.count("\n") == 1
