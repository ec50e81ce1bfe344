"""The README's exit code 4 said the role is "checked before anything typed is read ...
whatever the value", but a command line malformed as typed (`incidents resolve abc`, an empty
`--resolution ''`, a value given twice) is refused first, exit 2, for anyone: those rules read
nothing from the ledger. The README now says so; these prove both halves through the CLI."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import COMPLIANCE, demo_env

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo, read as its compliance officer, who may resolve no incident."""
    return demo_env(tmp_path_factory, COMPLIANCE)


def _refusal(env: dict[str, str], *args: str) -> tuple[int, str]:
    """Exit code and stderr of a command that must be refused."""
    done = CliRunner().invoke(app, list(args), env=env)
    assert done.exit_code != 0, done.stdout
    return done.exit_code, done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("incidents", "resolve", "5", "--resolution", "ok", "--at", "garbage"),
        ("custody", "correct", "99", "--mass", "abc", "--reason", "reweighed"),
        ("incidents", "report", "--sample", "X", "--kind", "fire", "--description", "a"),
    ],
)
def test_a_bad_value_hears_about_the_role(env: dict[str, str], args: tuple[str, ...]) -> None:
    """A value the command reads (a time, a mass, a kind) is refused by role first, exit 4."""
    code, stderr = _refusal(env, *args)
    assert (code, "is a compliance officer" in stderr) == (4, True), stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("incidents", "resolve", "abc", "--resolution", "ok"), "SEQ: 'abc' is not a whole"),
        (("incidents", "resolve", "5", "--resolution", ""), "--resolution: must not be empty"),
        (("custody", "correct", "99", "--text", "a", "--text", "b"), "--text: given twice"),
    ],
)
def test_a_malformed_command_line_is_refused_first(
    env: dict[str, str], args: tuple[str, ...], words: str
) -> None:
    """A command line malformed as typed is exit 2 for anyone, before the role, as documented."""
    code, stderr = _refusal(env, *args)
    assert (code, stderr.startswith(f"Error: {words}")) == (2, True), stderr


def test_the_readme_says_which_comes_first() -> None:
    """Exit code 4's row names the exception, so no reader expects exit 4 for `SEQ` `abc`."""
    row = next(line for line in README.read_text().splitlines() if line.startswith("| 4 |"))
    assert "malformed as typed" in row and "`SEQ` `abc`" in row, row
