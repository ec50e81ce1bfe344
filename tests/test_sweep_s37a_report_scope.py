"""Sweep s37 (task A, users): a report of one kind of record, its option left out.

`report inventory --out F` (and `report return`, `report overdue`) without its one scope option
said "give exactly one of --loan": a choice of one, worded as if the user had given two. It now
says what Click says of any required option left out (`--loan: missing; …`), exit 2, no file.
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.errors import InvalidInput
from sampleloans.services.reporting import make_request
from tests.conftest import CURATOR


@pytest.mark.parametrize(
    ("kind", "option"),
    [("inventory", "--loan"), ("return", "--loan"), ("overdue", "--institution")],
)
@pytest.mark.usefixtures("cli_env", "engine")
def test_the_missing_scope_option_is_named(kind: str, option: str, tmp_path: Path) -> None:
    out = tmp_path / "r.pdf"
    result = CliRunner().invoke(app, ["--as", CURATOR, "report", kind, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert result.stderr == f"Error: {option}: missing; report {kind} requires it\n"
    assert not out.exists()
    with pytest.raises(InvalidInput, match=rf"^{option}: missing; report {kind} requires it$"):
        make_request(kind)


def test_two_scopes_of_a_custody_report_still_name_the_choice() -> None:
    with pytest.raises(InvalidInput, match=r"give exactly one of --loan or --sample or --inst"):
        make_request("custody", loan="L-1", sample="X")
