"""Sweep s18 "a newcomer reading `--help`": each option says what it accepts, and truly.

Before: `report statement --out` said the folder "must exist" and `notify --outbox` "this
existing folder", though both make a missing one (README, `tests/test_sweep_docs_commands.py`);
`institutions list --kind` offered "lenders, curators, …", which the command refuses (it takes
`lender`); `loans list --status` and `people list --role` named no value at all; the time
filters of `loans list` and `custody history` named no format; `loans accept-return
--condition` said "on receipt".
"""

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app


def help_of(*path: str) -> str:
    """`sampleloans PATH --help`, wide enough that no phrase is split, as one line of words."""
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "400", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return " ".join(result.stdout.replace("│", " ").split())


@pytest.mark.parametrize(
    ("path", "says"),
    [
        (("report", "statement"), "made, mode 0700, if missing; its parent must exist"),
        (("notify",), "into this folder (made, mode 0700, if missing)"),
        (("institutions", "list"), "lender, curator, borrower or recipient"),
        (("loans", "list"), "requested, approved, issued, in-transit, received, return-in-transit"),
        (("loans", "list"), "due before this time (ISO 8601, UTC if no offset)"),
        (("people", "list"), "curator, compliance-officer or researcher"),
        (("custody", "history"), "at or after this time (ISO 8601, UTC if no offset)"),
        (("custody", "history"), "at or before this time (ISO 8601, UTC if no offset)"),
        (("loans", "accept-return"), "Condition as found on arrival"),
        (("loans", "recall"), "When it must be back (ISO 8601, UTC if no offset)"),
        (("custody", "history"), "up to this time (ISO 8601, UTC if no offset)"),
        (("report", "custody"), "as it stood then (ISO 8601, UTC if no offset)"),
    ],
)
def test_the_help_says_what_the_option_accepts(path: tuple[str, ...], says: str) -> None:
    assert says in help_of(*path)


@pytest.mark.parametrize(
    ("args", "refused"),
    [
        (["institutions", "list", "--kind", "lenders"], "lender, curator, borrower, recipient"),
        (["loans", "list", "--status", "out"], "in-transit"),
        (["people", "list", "--role", "boss"], "compliance-officer"),
    ],
)
def test_the_values_the_help_names_are_the_ones_the_command_takes(
    args: list[str], refused: str, engine: object, cli_env: dict[str, str]
) -> None:
    """A value outside the list the help gives is refused naming that same list (exit 2)."""
    result = CliRunner().invoke(app, ["--as", "curator@naoc.example", *args], env=cli_env)
    assert result.exit_code == 2
    assert refused in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["loans", "frobnicate"],  # an unknown command
        ["samples", "list", "--colour"],  # an unknown option
        ["samples", "list", "--limit", "ten"],  # a number option given text
        ["incidents", "resolve", "--resolution", "x"],  # a required argument left out
    ],
)
def test_a_command_line_click_cannot_parse_is_what_the_readme_says(args: list[str]) -> None:
    """README, "Exit codes": exit 2, one `Error:` line naming what was typed (and, for Click's
    own refusals, where help is)."""
    result = CliRunner().invoke(app, args, env={"NO_COLOR": "1"})
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: ") and "Usage:" not in result.stderr
    assert args[-1] in line or "RESOLUTION" in line or "SEQ" in line, line
    assert "Traceback" not in result.stderr
