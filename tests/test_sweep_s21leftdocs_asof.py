"""Sweep s21-leftdocs: a compliance officer reading a loan's history as it stood at a moment
(`custody history --as-of`), through the command line.

They saw: the state replayed as of a moment when an open incident froze a sample read "held",
where every other view (`samples show`, `status`, the reports) says "held (frozen)", and a loan
the lender had recalled by then read "due …" with nothing of the recall. Now the replayed state
says "held (frozen)" (and `--json` carries `frozen`) and "(recalled …)" as of that moment, and
neither once the moment is before the incident or the recall.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import COMPLIANCE, CURATOR, demo_env

OU, SAMPLE = "L-2025-OU", "CE5C0300YJFM00307"
BEFORE, RECALLED, FROZEN, RESOLVED = (
    "2026-04-28T11:00:00Z",
    "2026-04-28T12:00:00Z",
    "2026-04-28T14:00:00Z",
    "2026-04-28T15:00:00Z",
)


def run(env: dict[str, str], *args: str, who: str = COMPLIANCE) -> str:
    """Invoke the CLI as `who` in `env`; it must succeed; what it printed on stdout."""
    result = CliRunner().invoke(app, ["--as", who, *args], env={**env, "COLUMNS": "200"})
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return result.stdout


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo, then OU's loan recalled at 12:00, a sample frozen at 14:00, resolved at 15:00."""
    env = demo_env(tmp_path_factory, COMPLIANCE, "2026-04-28T16:00:00Z")
    recall = ("--due", "2026-05-01T08:00:00Z", "--reason", "needed back", "--at", RECALLED)
    run(env, "loans", "recall", OU, *recall, who=CURATOR)
    incident = ("--kind", "damage", "--description", "vial cracked", "--at", FROZEN)
    said = run(env, "incidents", "report", "--sample", SAMPLE, *incident, who=CURATOR)
    seq = said.split("Incident ")[1].split()[0]
    run(
        env,
        "incidents",
        "resolve",
        seq,
        "--resolution",
        "vial replaced",
        "--at",
        RESOLVED,
        who=CURATOR,
    )
    return env


def replayed(env: dict[str, str], moment: str) -> dict[str, Any]:
    """`custody history --loan OU --as-of moment --json`'s replayed state."""
    out = run(env, "custody", "history", "--loan", OU, "--as-of", moment, "--json")
    state: dict[str, Any] = json.loads(out)["replayed_state"]
    return state


def _sample(state: dict[str, Any]) -> dict[str, Any]:
    """The replayed row of SAMPLE."""
    rows: list[dict[str, Any]] = [s for s in state["samples"] if s["code"] == SAMPLE]
    assert len(rows) == 1
    return rows[0]


@pytest.mark.parametrize(
    "moment, frozen", [(BEFORE, False), ("2026-04-28T14:30:00Z", True), (RESOLVED, False)]
)
def test_the_state_as_of_a_moment_says_frozen_as_it_was_then(
    ledger: dict[str, str], moment: str, frozen: bool
) -> None:
    """Frozen between the incident and its resolution, not before nor after."""
    assert _sample(replayed(ledger, moment))["frozen"] is frozen
    text = run(ledger, "custody", "history", "--sample", SAMPLE, "--as-of", moment)
    assert ("held (frozen)" in text) is frozen


@pytest.mark.parametrize("moment, recalled", [(BEFORE, False), (FROZEN, True)])
def test_the_state_as_of_a_moment_names_a_recall_made_by_then(
    ledger: dict[str, str], moment: str, recalled: bool
) -> None:
    """The loan's line and `recalled_at` say the recall once it was made, never before."""
    loans: list[dict[str, Any]] = replayed(ledger, moment)["loans"]
    assert len(loans) == 1
    loan = loans[0]
    assert loan["recalled_at"] == (RECALLED if recalled else None)
    assert loan["due_at"] == ("2026-05-01T08:00:00Z" if recalled else "2026-05-05T08:00:00Z")
    text = run(ledger, "custody", "history", "--loan", OU, "--as-of", moment)
    line = f"loan {OU} (OU): received by the borrower, due "
    expected = (
        "2026-05-01 08:00 UTC (recalled 2026-04-28 12:00 UTC)"
        if recalled
        else ("2026-05-05 08:00 UTC\n")
    )
    assert line + expected in text + "\n"


def test_the_history_json_keys_are_documented() -> None:
    """`frozen` and `recalled_at` are in docs/json.md with the history command."""
    doc = (Path(__file__).parent.parent / "docs" / "json.md").read_text(encoding="utf-8")
    for key in ("frozen", "recalled_at"):
        (row,) = [line for line in doc.splitlines() if line.startswith(f"| `{key}` |")]
        assert "history" in row
