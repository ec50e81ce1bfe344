"""The README said "the list commands ... take `--csv`", but `checkpoint list` does not (its
row says `[--json]`: a checkpoint is a signed note, not a spreadsheet's row). The README now
names that exception; this proves through the CLI which list commands take `--csv`."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, demo_env

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo, read by its curator."""
    return demo_env(tmp_path_factory, CURATOR)


@pytest.mark.parametrize(
    "group", ["samples", "loans", "agreements", "institutions", "people", "incidents"]
)
def test_a_list_command_takes_csv(env: dict[str, str], group: str) -> None:
    """Every list command but `checkpoint list` writes its table as CSV."""
    done = CliRunner().invoke(app, [group, "list", "--csv"], env=env)
    assert done.exit_code == 0, done.stderr
    header = done.stdout.splitlines()[0]
    assert "," in header and "┃" not in header, done.stdout


def test_checkpoint_list_takes_json_only(env: dict[str, str]) -> None:
    """`checkpoint list --csv` is an unknown option, exit 2, as the README now says."""
    done = CliRunner().invoke(app, ["checkpoint", "list", "--csv"], env=env)
    assert (done.exit_code, done.stderr.startswith("Error: --csv: no such option")) == (2, True)
    assert "(all but `checkpoint list`, whose rows are signed notes" in README.read_text()
