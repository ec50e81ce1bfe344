"""Sweep s24: the given-twice refusal reads an option in every form Click takes, as one rule.

Before, the rule read `--opt v` and `--opt=v` only, and skipped the value of a single-valued
option alone: after a repeatable option (`--kind`), whose value may start with '-', it took that
value for an option and named the wrong values; `--limit=1 --limit` (no value) was called
"given twice ('1', then '')"; a short option with its value attached (`-n5 -n6`), short flags
before it in one word, or the long and the short name of one option mixed, passed unseen (the
product has no short option today; a command with one is built here on the same root group).
"""

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sampleloans.cli import LazyGroup, app
from tests.conftest import CURATOR, demo_in_a_process, fingerprint


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger (never written by these tests)."""
    return demo_in_a_process(tmp_path_factory.mktemp("twice24") / "demo")


def _run(ledger: Path, *args: str) -> tuple[int, str, str]:
    """Run the CLI on the demo as the curator: exit code, stdout, stderr."""
    env = {"SAMPLELOANS_DB": str(ledger), "NO_COLOR": "1", "SAMPLELOANS_NOW": ""}
    result = CliRunner().invoke(app, ["--as", CURATOR, *args], env=env, prog_name="sampleloans")
    return result.exit_code, result.stdout, result.stderr


def test_equals_form_twice_is_refused(ledger: Path) -> None:
    said = "Error: --limit: given twice ('1', then '2'); give it once\n"
    assert _run(ledger, "loans", "list", "--limit=1", "--limit=2") == (2, "", said)


def test_the_value_of_a_repeatable_option_is_skipped(ledger: Path) -> None:
    """`--kind --loan` gives --kind the text '--loan' (as Click reads it): the --loan given
    twice is '1' then '2'. Before: ('1', then '--loan')."""
    before = fingerprint(ledger)
    args = ("custody", "history", "--loan", "1", "--kind", "--loan", "--loan", "2")
    said = "Error: --loan: given twice ('1', then '2'); give it once\n"
    assert _run(ledger, *args) == (2, "", said)
    assert fingerprint(ledger) == before


def test_a_last_option_without_value_is_clicks_to_report(ledger: Path) -> None:
    """Before: "given twice ('1', then '')" for an option typed once with a value."""
    code, out, err = _run(ledger, "loans", "list", "--limit=1", "--limit")
    assert (code, out) == (2, "")
    assert "given twice" not in err
    assert err.startswith("Error: --limit: ")


def _short_app() -> typer.Typer:
    """A command with a short option and a short flag, on the product's root group."""
    made = typer.Typer(cls=LazyGroup, add_completion=False)

    @made.command("pick")
    def pick(
        limit: int = typer.Option(0, "--limit", "-n"),
        verbose: bool = typer.Option(False, "--verbose", "-v"),
    ) -> None:
        """Print the limit."""
        print(limit, verbose)

    @made.command("other")
    def other() -> None:
        """A second command, so that `pick` is a subcommand."""

    return made


SHORT_CASES = [
    (["-n5", "-n6"], "Error: -n: given twice ('5', then '6'); give it once"),
    (["-n", "5", "-n", "6"], "Error: -n: given twice ('5', then '6'); give it once"),
    (["-n", "5", "--limit=6"], "Error: --limit: given twice (as -n '5', then '6'); give it once"),
    (["--limit", "5", "-n6"], "Error: -n: given twice (as --limit '5', then '6'); give it once"),
    (["-vn5", "--limit", "6"], "Error: --limit: given twice (as -n '5', then '6'); give it once"),
]


@pytest.mark.parametrize(("args", "said"), SHORT_CASES, ids=[" ".join(a) for a, _ in SHORT_CASES])
def test_a_short_option_in_every_form(args: list[str], said: str) -> None:
    """Before: each of these ran with the last value kept, silently."""
    result = CliRunner().invoke(_short_app(), ["pick", *args])
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", said + "\n")


def test_a_short_option_once_still_works() -> None:
    result = CliRunner().invoke(_short_app(), ["pick", "-vn5"])
    assert (result.exit_code, result.stdout) == (0, "5 True\n"), result.stderr
