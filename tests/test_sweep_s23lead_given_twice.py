"""An option that takes one value, given twice, is refused (exit 2), as a repeatable option's
repeated value and both sides of an on/off flag are: Click kept the last one silently, so
`loans list --status closed --status received` listed received loans and said nothing."""

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, demo_in_a_process, fingerprint


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger (never written by these tests)."""
    return demo_in_a_process(tmp_path_factory.mktemp("twice") / "demo")


CASES = [
    (
        ["--as", CURATOR, "loans", "list", "--limit", "1", "--limit", "2"],
        "Error: --limit: given twice ('1', then '2'); give it once",
    ),
    (
        ["--as", CURATOR, "loans", "list", "--status=closed", "--status", "received"],
        "Error: --status: given twice ('closed', then 'received'); give it once",
    ),
    (
        ["--as", CURATOR, "--as", "terada@osaka-u.example", "loans", "list"],
        "Error: --as: given twice ('curator@naoc.example', then 'terada@osaka-u.example'); "
        "give it once",
    ),
    (
        [
            "--as",
            CURATOR,
            "samples",
            "move",
            "CE5C0000YJYX070",
            "--location",
            "a",
            "--location",
            "b",
        ],
        "Error: --location: given twice ('a', then 'b'); give it once",
    ),
]


@pytest.mark.parametrize(("args", "said"), CASES, ids=[" ".join(a[2:]) for a, _ in CASES])
def test_a_single_value_given_twice_is_refused(ledger: Path, args: list[str], said: str) -> None:
    before = fingerprint(ledger)
    env = {"SAMPLELOANS_DB": str(ledger), "NO_COLOR": "1"}
    result = CliRunner().invoke(app, args, env=env, prog_name="sampleloans")
    assert result.exit_code == 2, result.output
    assert (result.stdout, result.stderr) == ("", said + "\n")
    assert fingerprint(ledger) == before


def test_a_value_that_looks_like_an_option_is_a_value(ledger: Path) -> None:
    """`--description --kind` gives the text '--kind': it is not --kind typed twice."""
    env = {"SAMPLELOANS_DB": str(ledger), "NO_COLOR": "1"}
    args = ["--as", CURATOR, "incidents", "report", "--sample", "NOPE", "--kind", "loss"]
    result = CliRunner().invoke(app, [*args, "--description", "--kind"], env=env)
    assert result.exit_code == 2
    assert "given twice" not in result.stderr and "NOPE" in result.stderr


def test_once_each_still_works_through_a_process(ledger: Path) -> None:
    command = [sys.executable, "-m", "sampleloans", "--db", str(ledger), "--as", CURATOR]
    done = subprocess.run(
        [*command, "loans", "list", "--limit", "2", "--offset", "1", "--json"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count('"number"') == 2
