"""Sweep s23 "reads" (6): a command line Click cannot parse is one line, as every refusal is.

Before, `sampleloans loans list --bogus` printed "Usage: …", "Try … --help" and a blank line
above "Error: No such option: --bogus" (four lines); a missing option said "Missing option
'--container'." Now every Click/Typer usage error, whatever the command, is one `Error:` line
led by the option or argument as typed, exit 2, nothing written (one place: `cli.py`).
"""

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
    return demo_in_a_process(tmp_path_factory.mktemp("usage") / "demo")


CASES = [
    (
        ["loans", "list", "--bogus"],
        "Error: --bogus: no such option (try 'sampleloans loans list --help')",
    ),
    (
        ["loans", "return", "L-2025-OU", "--sta", "x"],
        "Error: --sta: no such option; did you mean --at, --sample or --seal? "
        "(try 'sampleloans loans return --help')",
    ),
    (["loans", "bogus"], "Error: 'bogus': no such command (try 'sampleloans loans --help')"),
    (
        ["loans", "lst"],
        "Error: 'lst': no such command; did you mean 'list'? (try 'sampleloans loans --help')",
    ),
    (["bogus"], "Error: 'bogus': no such command (try 'sampleloans --help')"),
    (
        ["loans", "return", "L-2025-OU", "--seal", "S"],
        "Error: --container: missing; this command requires it "
        "(try 'sampleloans loans return --help')",
    ),
    (
        ["loans", "show"],
        "Error: NUMBER: missing; this command requires it (try 'sampleloans loans show --help')",
    ),
    (
        ["loans", "accept-return", "L-2025-OU", "--condition", "ok"],
        "Error: --seal-intact / --seal-broken: missing; give one of them "
        "(try 'sampleloans loans accept-return --help')",
    ),
    (
        ["loans", "show", "L-2025-OU", "extra"],
        "Error: extra: unexpected extra argument (try 'sampleloans loans show --help')",
    ),
    (
        ["samples", "list", "--limit", "ten"],
        "Error: --limit: 'ten' is not a whole number; give digits, e.g. 50",
    ),
    (["loans", "list", "--status"], "Error: --status: give it a value"),
]


@pytest.mark.parametrize(("args", "said"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_a_usage_error_is_one_line_naming_what_was_typed(
    ledger: Path, args: list[str], said: str
) -> None:
    before = fingerprint(ledger)
    env = {"SAMPLELOANS_DB": str(ledger), "NO_COLOR": "1"}
    result = CliRunner().invoke(app, ["--as", CURATOR, *args], env=env, prog_name="sampleloans")
    assert result.exit_code == 2, result.output
    assert (result.stdout, result.stderr) == ("", said + "\n")
    assert fingerprint(ledger) == before


def test_the_installed_command_says_it_in_one_line_too(ledger: Path) -> None:
    """Through a real process (the program name Click detects), no "Usage:" line."""
    done = subprocess.run(
        [sys.executable, "-m", "sampleloans", "--db", str(ledger), "loans", "list", "--bogus"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: --bogus: no such")
    assert "Usage:" not in done.stderr and "Traceback" not in done.stderr


def test_a_group_typed_alone_still_shows_its_help() -> None:
    """`sampleloans loans` with no command lists its commands: the help is the answer."""
    result = CliRunner().invoke(app, ["loans"])
    assert result.exit_code == 2
    assert "Commands:" in result.output and "accept-return" in result.output
