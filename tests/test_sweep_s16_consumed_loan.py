"""A loan whose samples were all used up (consumed, lost, split or transferred) has nothing to
send back: `status` says so and what it still waits for (the settlement report), for the
curator and the borrower alike, instead of only a return date with nothing to return."""

import json

import pytest
from typer.testing import CliRunner

from tests.cli_steps import ok
from tests.conftest import OU_PI
from tests.test_sweep_rules_losses import CODE, OTHER, lend

pytestmark = pytest.mark.usefixtures("cli_env", "engine")

NOTHING_LEFT = "nothing left to send back"


def obligations(runner: CliRunner, actor: str | None = None) -> list[str]:
    """The open obligations `status --loan L-1 --json` lists, as `actor` (default: curator)."""
    args = ("status", "--loan", "L-1", "--json")
    out = ok(runner, *args) if actor is None else ok(runner, *args, actor=actor)
    (row,) = json.loads(out)["loans"]
    return row["obligations"]


def consume(runner: CliRunner, code: str, mass: str) -> None:
    """An analysis of `mass` of `code` on loan L-1."""
    ok(
        runner, "loans", "consume", "L-1", "--sample", code, "--technique", "ICP-MS",
        "--mass", mass, "--non-destructive",
    )  # fmt: skip


def test_a_loan_all_consumed_says_nothing_is_left_to_send_back(runner: CliRunner) -> None:
    lend(runner, CODE, OTHER)
    consume(runner, CODE, "4.8 mg")
    assert not any(NOTHING_LEFT in o for o in obligations(runner))  # OTHER is still held
    consume(runner, OTHER, "12.4 mg")
    for actor in (None, OU_PI):
        owed = obligations(runner, actor)
        assert any(o.startswith("return due in") for o in owed), owed
        assert any(NOTHING_LEFT in o and "settlement report" in o for o in owed), owed
    text = ok(runner, "status", "--loan", "L-1")
    assert NOTHING_LEFT in " ".join(text.split()), text
    ok(runner, "loans", "settle", "L-1", "--obligations", "results reported")
    assert not any(NOTHING_LEFT in o for o in obligations(runner))
