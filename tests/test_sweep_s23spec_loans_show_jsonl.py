"""Issue 13 point 2 and docs/json.md: the lists that stream — `loans show`'s consumptions among
them — write JSON Lines with `--jsonl`, "exactly the keys of the `--json` objects". `loans
show` had no `--jsonl` (exit 2, "No such option"), so the one list of a loan that grows with
its analyses could not be read a line at a time."""

import json
from pathlib import Path

from tests.conftest import CURATOR
from tests.i15_statement_helpers import env_for, invoke

LOAN = "L-2025-OU"
OTHER_RESEARCHER = "moynier@ipgp.example"


def consume(ledger: Path, mass: str, when: str) -> None:
    args = ("loans", "consume", LOAN, "--sample", "CE5C0300YJFM00307", "--technique", "EPMA")
    result = invoke(env_for(ledger), *args, "--mass", mass, "--non-destructive", "--at", when)
    assert result.exit_code == 0, result.output


def test_jsonl_writes_the_consumptions_of_json_one_a_line(ledger: Path) -> None:
    consume(ledger, "100 ug", "2026-04-21T10:00:00Z")
    consume(ledger, "200 ug", "2026-04-22T10:00:00Z")
    env = env_for(ledger, CURATOR)
    whole = invoke(env, "loans", "show", LOAN, "--json")
    lines = invoke(env, "loans", "show", LOAN, "--jsonl")
    assert whole.exit_code == 0 and lines.exit_code == 0, lines.output
    rows = [json.loads(line) for line in lines.stdout.splitlines()]
    assert rows == json.loads(whole.stdout)["consumptions"] and len(rows) == 3
    page = invoke(env, "loans", "show", LOAN, "--jsonl", "--limit", "1", "--offset", "1")
    assert [json.loads(line) for line in page.stdout.splitlines()] == rows[1:2]
    assert page.stderr.strip() == "showing 2–2 of 3; --offset 2 for more"


def test_jsonl_and_json_together_are_refused(ledger: Path) -> None:
    result = invoke(env_for(ledger), "loans", "show", LOAN, "--jsonl", "--json")
    assert result.exit_code == 2
    assert result.stderr == "Error: --json and --jsonl: give one of them, not both\n"


def test_another_institutions_loan_is_missing_in_jsonl_too(ledger: Path) -> None:
    result = invoke(env_for(ledger, OTHER_RESEARCHER), "loans", "show", LOAN, "--jsonl")
    assert result.exit_code == 2 and result.stdout == ""
    assert "no such loan among the records you may read" in result.stderr
