"""Sweep s37 (task A, users): a record not yet recorded at `--as-of` is refused naming the moment
as typed, to its second.

Before, `--as-of 2025-04-01T08:59:30Z` for a sample registered at 09:00 said "not recorded yet
by 2025-04-01 08:59 UTC": a moment the user had not typed, half a minute earlier than theirs.
Whole minutes read as before (`dates.format_moment`).
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR

pytestmark = pytest.mark.usefixtures("cli_env", "engine")

S = "CE5C0200YJFM00112"  # registered when the test ledger was made, 2025-04-01 09:00 UTC


@pytest.mark.parametrize(
    "command",
    [("custody", "history", "--sample", S), ("report", "custody", "--sample", S, "--out", "r.pdf")],
)
def test_the_as_of_moment_is_named_to_its_second(command: tuple[str, ...], tmp_path: Path) -> None:
    argv = ["--as", CURATOR, *command, "--as-of", "2025-04-01T08:59:30Z"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(
        f"Error: --sample '{S}': not recorded yet by 2025-04-01 08:59:30 UTC, the --as-of moment "
    ), result.stderr
    whole = CliRunner().invoke(app, [*argv[:-1], "2025-04-01T08:59:00Z"])
    assert "not recorded yet by 2025-04-01 08:59 UTC, " in whole.stderr, whole.stderr
