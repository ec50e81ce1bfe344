"""verify-document with no ledger at --db and nothing to check the file by alone: one `Error:`
line saying so and what to give (exit 3, as for any missing database), nothing created at
--db; before, it asked for an acting person (exit 4), whom a check without a ledger never
needs."""

from pathlib import Path

from sqlalchemy import Engine
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR


def test_no_ledger_and_no_key_or_root(
    engine: Engine, cli_env: dict[str, str], tmp_path: Path
) -> None:
    pdf = tmp_path / "custody.pdf"
    made = CliRunner().invoke(
        app,
        ["--as", CURATOR, "report", "custody", "--sample", "CE5C0200YJFM00112", "--out", str(pdf)],
    )
    assert made.exit_code == 0, made.stderr
    missing = tmp_path / "elsewhere" / "ledger.db"
    result = CliRunner().invoke(app, ["--db", str(missing), "verify-document", str(pdf)])
    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: no ledger at {missing}: to check {pdf} without one, give --trust-root "
        "ROOT.pem (its signature) or --public-key KEY.pub (the checkpoint it names)\n"
    )
    assert not missing.parent.exists()
    # with the ledger, the same file verifies as before (an acting person is asked for then)
    again = CliRunner().invoke(app, ["--as", CURATOR, "verify-document", str(pdf)])
    assert again.exit_code == 0, again.stdout + again.stderr
