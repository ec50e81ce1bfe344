"""Sweep s38, as users meet it.

- An agreement whose longest loan (or extension) is longer than its whole term could never
  grant one: it was drafted without a word, and every loan under it was refused later. It is
  refused when drafted, naming the option and the longest period it takes.
- With no ledger at --db and no acting person either, the first thing to fix was named last:
  "no acting person" (exit 4), then, once given, "no database" (exit 3). The missing ledger
  now comes first, for reads and writes, as it already did for `verify` and `export`.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.errors import InvalidInput
from sampleloans.services.agreements import create_agreement
from tests.cli_steps import ok, refused
from tests.conftest import Run

AGREEMENT = ("agreements", "add", "AG-OU", "--institution", "OU", "--max-mass", "1 g")


@pytest.mark.usefixtures("cli_env", "engine")
@pytest.mark.parametrize(
    ("term", "option", "period", "words"),
    [
        ("1 year", "--max-loan-period", "13 months", "13 months"),
        ("6 months", "--max-loan-period", "P1Y", "1 year"),
        ("1 year", "--max-extension-period", "2 years", "2 years"),
    ],
)
def test_a_period_longer_than_the_term_is_refused_when_drafted(
    runner: CliRunner, db_path: Path, term: str, option: str, period: str, words: str
) -> None:
    args = {"--max-loan-period": "6 months", option: period}
    typed = [x for pair in args.items() for x in pair]
    message = refused(
        runner, db_path, *AGREEMENT, "--term", term, "--purpose", "research", *typed, code=2
    )
    canonical_term = "1 year" if term == "1 year" else "6 months"
    assert message == (
        f"Error: {option}: {words} is longer than the agreement's term ({canonical_term}); "
        f"give at most {canonical_term}\n"
    )
    # the bound it names is taken
    ok(runner, *AGREEMENT, "--term", term, "--purpose", "research",
       *[x for pair in {**args, option: term}.items() for x in pair])  # fmt: skip


@pytest.mark.usefixtures("engine")
def test_the_service_refuses_it_for_an_import_too(run: Run) -> None:
    with pytest.raises(InvalidInput, match=r"^max loan period: 2 years is longer than"):
        run(
            create_agreement, number="AG-OU", institution="OU", term="P1Y",
            max_total_mass_ug=1_000_000, allowed_purposes=["research"], max_loan_period="P2Y",
        )  # fmt: skip


@pytest.mark.parametrize(
    "command",
    [
        ("agreements", "list"),
        ("samples", "list"),
        ("status",),
        ("agreements", "sign", "AG-X", "--signed-by", "LESEC"),
    ],
)
def test_no_ledger_and_no_actor_names_the_missing_ledger_first(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    monkeypatch.delenv("SAMPLELOANS_USER", raising=False)
    monkeypatch.delenv("SAMPLELOANS_DB", raising=False)
    missing = tmp_path / "nothing.db"
    result = runner.invoke(app, ["--db", str(missing), *command])
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert result.stderr.startswith(f"Error: no database at {missing}; run 'sampleloans init'")
    assert result.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def register(runner: CliRunner, code: str, at: str) -> None:
    """Register sample `code` at `at` as the curator."""
    ok(
        runner, "samples", "register", code, "--mission", "CE-5", "--mass", "100 mg",
        "--origin", "drill", "--depth", "28-30", "--material", "regolith", "--form", "powder",
        "--purpose", "research", "--location", "NAOC N2 cabinet A", "--at", at,
    )  # fmt: skip


def named_bound(runner: CliRunner, db_path: Path, *command: str) -> str:
    """The --as-of moment a 'not recorded yet' refusal of `command` says to give from."""
    message = refused(runner, db_path, *command, code=2)
    found = re.search(r"; give --as-of from (\S+) on\n$", message)
    assert found, message
    return found.group(1)


@pytest.mark.usefixtures("cli_env", "engine")
@pytest.mark.parametrize("as_report", [False, True])
def test_not_recorded_yet_names_the_first_moment_that_holds_the_record(
    runner: CliRunner,
    db_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    as_report: bool,
) -> None:
    monkeypatch.setenv("SAMPLELOANS_NOW", "2025-04-02T00:00:00Z")
    register(runner, "CE5Z0200YJFM00901", "2025-04-01T10:00:00.400Z")
    register(runner, "CE5Z0200YJFM00902", "2025-04-01T11:00:00Z")
    out = ("--out", str(tmp_path / "r.pdf"))
    tail = out if as_report else ()
    verb = ("report", "custody") if as_report else ("custody", "history")

    def at(code: str, moment: str) -> tuple[str, ...]:
        return (*verb, "--sample", code, "--as-of", moment, *tail)

    # kept to the microsecond, named from the next whole second, which is taken
    bound = named_bound(runner, db_path, *at("CE5Z0200YJFM00901", "2025-04-01T09:30:00Z"))
    assert bound == "2025-04-01T10:00:01Z"
    refused(runner, db_path, *at("CE5Z0200YJFM00901", "2025-04-01T10:00:00Z"), code=2)
    ok(runner, *at("CE5Z0200YJFM00901", bound))
    # a sample is held from its own date on, whatever was recorded after it
    register(runner, "CE5Z0200YJFM00903", "2025-04-01T09:45:00Z")
    (tmp_path / "r.pdf").unlink(missing_ok=True)
    bound = named_bound(runner, db_path, *at("CE5Z0200YJFM00902", "2025-04-01T09:00:00Z"))
    assert bound == "2025-04-01T11:00:00Z"
    ok(runner, *at("CE5Z0200YJFM00902", bound))


@pytest.mark.usefixtures("cli_env", "engine")
def test_an_institution_is_held_from_the_first_event_dated_up_to_it(
    runner: CliRunner, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reference record is held whatever its date once the cut's head reaches it, so an
    event recorded after it but dated before it brings its moment forward."""
    monkeypatch.setenv("SAMPLELOANS_NOW", "2025-04-02T00:00:00Z")
    ok(
        runner, "institutions", "add", "LAB", "--name", "Lab", "--country", "DE",
        "--city", "Bonn", "--kind", "borrower", "--at", "2025-04-01T10:30:00Z",
    )  # fmt: skip
    history = ("custody", "history", "--institution", "LAB", "--as-of")
    assert named_bound(runner, db_path, *history, "2025-04-01T09:00:00Z") == "2025-04-01T10:30:00Z"
    register(runner, "CE5Z0200YJFM00904", "2025-04-01T09:45:00Z")
    bound = named_bound(runner, db_path, *history, "2025-04-01T09:00:00Z")
    assert bound == "2025-04-01T09:45:00Z"
    ok(runner, *history, bound)
    refused(runner, db_path, *history, "2025-04-01T09:44:59Z", code=2)


def shown_help(*names: str, columns: int = 120) -> str:
    """`sampleloans NAMES --help` in a real process on a terminal `columns` wide (Click's test
    runner draws help 80 wide whatever the terminal)."""
    env = {**os.environ, "COLUMNS": str(columns)}
    argv = [sys.executable, "-m", "sampleloans", *names, "--help"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    return done.stdout


def listed_commands(help_text: str) -> dict[str, str]:
    """The command list of a group's --help: name → its one-line summary."""
    if "Commands:" not in help_text:
        return {}
    lines = help_text.split("Commands:\n", 1)[1].splitlines()
    return {line.split()[0]: line.split(None, 1)[1] for line in lines if line.startswith("  ")}


def test_at_120_columns_no_command_summary_is_cut() -> None:
    """Click draws help at most 80 columns wide, cutting a summary with '...': the first
    line of `sampleloans --help` read 'Check the whole ledger: hash chain, replay =...'.
    Help now follows the terminal up to 120 columns, and every first sentence fits there."""
    top = shown_help()
    cut = {name: s for name, s in listed_commands(top).items() if s.endswith("...")}
    groups = [name for name in listed_commands(top) if "Commands:" in shown_help(name)]
    assert {"loans", "checkpoint", "report", "keys", "db"} <= set(groups)
    for group in groups:
        listed = listed_commands(shown_help(group)).items()
        cut |= {f"{group} {name}": s for name, s in listed if s.endswith("...")}
    assert cut == {}
    assert max(len(line) for line in shown_help(columns=200).splitlines()) <= 120
    # at 80 columns too since s38help80 (tests/test_sweep_s38help80_summaries.py)
    narrow = listed_commands(shown_help(columns=80))
    assert narrow["verify"] == "Check the whole ledger: hash chain, replay, invariants."
