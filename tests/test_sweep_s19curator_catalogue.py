"""Sweep s19 (the whole round, as a curator): a catalogue without a required column is refused
once, by its header.

A catalogue had to name code, mission, origin, material_type, physical_form and mass, but
`samples register` also requires the purpose class and the storage location: a file without
`purpose_class` was read, and every one of its rows refused with the same "purpose class: ''
is not one of …" (named in the service's words, not as the header spells the column). The
header check now asks for both columns, in one line, before any row is read; a refused value
of a catalogue column is named as the header spells it (`purpose_class`), whether or not the
file has the column.
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, fingerprint

pytestmark = pytest.mark.usefixtures("cli_env", "engine")

SHORT_HEADER = "code,mission,origin,material_type,physical_form,mass"
ROWS = ("CE6Z0001,CE-6,scoop,soil,powder,1 mg", "CE6Z0002,CE-6,scoop,soil,powder,2 mg")


def imported(runner: CliRunner, db_path: Path, path: Path, text: str) -> tuple[int, str]:
    """Import `text` (written to `path` with CRLF and a byte-order mark) and require that
    nothing was written; returns the exit code and stderr."""
    path.write_bytes(("\ufeff" + text.replace("\n", "\r\n")).encode("utf-8"))
    before = fingerprint(db_path)
    result = runner.invoke(app, ["--as", CURATOR, "import", str(path)])
    assert fingerprint(db_path) == before
    return result.exit_code, result.stderr


def test_a_catalogue_without_the_required_columns_is_refused_by_its_header(
    runner: CliRunner, db_path: Path, tmp_path: Path
) -> None:
    text = "\n".join((SHORT_HEADER, *ROWS)) + "\n"
    code, stderr = imported(runner, db_path, tmp_path / "short.csv", text)
    assert code == 2, stderr
    assert stderr == (
        "Error: short.csv: the header lacks purpose_class, storage_location; see data/README.md "
        "for the columns\n"
    ), stderr


def test_a_refused_catalogue_value_names_the_column(
    runner: CliRunner, db_path: Path, tmp_path: Path
) -> None:
    header = f"{SHORT_HEADER},purpose_class,storage_location"
    text = f"{header}\n{ROWS[0]},fun,N2\n{ROWS[1]},research,{'L' * 130}\n"
    code, stderr = imported(runner, db_path, tmp_path / "bad.csv", text)
    assert code == 2, stderr
    lines = stderr.splitlines()
    assert lines[0].startswith("bad.csv line 2: purpose_class: 'fun' is not one of "), lines
    assert lines[1] == "bad.csv line 3: storage_location: 130 characters; at most 120 are accepted"
    assert lines[2].startswith("Error: bad.csv: 2 of 2 records refused"), lines
