"""Bytes that are not UTF-8 in an argument or in SAMPLELOANS_USER/SAMPLELOANS_DB (Python keeps
them as lone surrogates): one `Error:` line naming where, exit 2, before any lookup; before,
every lookup by code, e-mail or filter stopped with a UnicodeEncodeError traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, fingerprint

XFF = "\udcff"  # how Python decodes the byte 0xff of an argv or environment value

COMMANDS = {
    "samples list --material": (["samples", "list", "--material", XFF], "--material"),
    "samples list --custodian": (["samples", "list", "--custodian", XFF], "--custodian"),
    "samples show": (["samples", "show", "CE5C" + XFF], "argument 5"),
    "loans list --pi": (["loans", "list", "--pi", XFF], "--pi"),
    "loans list --institution": (["loans", "list", "--institution", XFF], "--institution"),
    "balance --loan": (["balance", "--loan", XFF], "--loan"),
    "overdue --institution": (["overdue", "--institution", XFF], "--institution"),
    "people show": (["people", "show", XFF], "argument 5"),
    "institutions show": (["institutions", "show", XFF], "argument 5"),
    "agreements list --institution": (
        ["agreements", "list", "--institution", XFF],
        "--institution",
    ),
    "custody history --seal": (
        ["custody", "history", "--sample", "CE5C0200YJFM00112", "--seal", XFF],
        "--seal",
    ),
    "incidents resolve": (["incidents", "resolve", XFF, "--resolution", "x"], "argument 5"),
    "loans consume --technique": (
        ["loans", "consume", "L-1", "--sample", "X", "--technique", XFF, "--mass", "1 mg"],
        "--technique",
    ),
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_an_undecodable_argument_is_one_error_line(
    name: str, engine: Engine, db_path: Path, cli_env: dict[str, str]
) -> None:
    argv, field = COMMANDS[name]
    before = fingerprint(db_path)
    result = CliRunner().invoke(app, ["--as", CURATOR, *argv])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {field}: ")
    assert "not UTF-8 text" in result.stderr
    assert result.stderr.count("\n") == 1
    assert fingerprint(db_path) == before


@pytest.mark.parametrize("variable", ["SAMPLELOANS_USER", "SAMPLELOANS_DB"])
def test_an_undecodable_environment_value_is_one_error_line(
    variable: str, engine: Engine, db_path: Path, cli_env: dict[str, str]
) -> None:
    result = CliRunner().invoke(app, ["loans", "list"], env={variable: "x" + XFF})
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --")
    assert f"({variable}): 'x\\xff' holds bytes that are not UTF-8 text" in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_real_process_given_latin1_bytes(
    engine: Engine, db_path: Path, cli_env: dict[str, str]
) -> None:
    before = fingerprint(db_path)
    done = subprocess.run(
        [
            os.fsencode(sys.executable),
            b"-m",
            b"sampleloans",
            b"--as",
            CURATOR.encode(),
            b"loans",
            b"list",
            b"--pi",
            "münker@uni-koeln.example".encode("latin-1"),  # a terminal set to Latin-1
        ],
        capture_output=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        b"Error: --pi: 'm\\xfcnker@uni-koeln.example' holds bytes that are not UTF-8 text; "
        b"type it in UTF-8\n"
    )
    assert done.stdout == b""
    assert fingerprint(db_path) == before
