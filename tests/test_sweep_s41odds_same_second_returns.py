"""Two return shipments of one loan in the same second, one stored whole-second
('…T08:00:00Z') and one with a fraction ('…T08:00:00.400000Z'), straddling the loan's due time
(08:00:00): the loan was sent back 0.4 s late, so it is overdue while it travels. As text the
whole second sorts after the fraction, so a `max` of the stored text took the shipment that
left in time; `models.latest_time` takes the latest in time order (tests/test_s40_latest_time.py
proves it on a table). Here it is proven through the CLI a curator reads it with, `loans show`,
`status`, `loans list` and `overdue` (README: "sent back by its due time … (sent back in
time)"), in both orders of recording, and against two shipments inside the second before the
due time, which every view says were sent back in time."""

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, demo_copy

LOAN = "L-2025-OU"  # due 2026-05-05 08:00 UTC in the demo; three samples held
FIRST = ("CE5C0200YJFM00112", "CE5C0300YJFM00307")  # the rest go in the second shipment
DUE = "2026-05-05T08:00:00Z"
READ_AT = "2026-05-06T10:00:00Z"

CASES = {
    # (first shipment's --at, second's --at): every part left by the later of the two
    "whole second first": (("2026-05-05T08:00:00Z", "2026-05-05T08:00:00.400000Z"), False),
    "fraction first": (("2026-05-05T08:00:00.400000Z", "2026-05-05T08:00:00Z"), False),
    "both before the due time": (("2026-05-05T07:59:59.400000Z", "2026-05-05T07:59:59Z"), True),
}


def _cli(env: dict[str, str], *args: str) -> str:
    """Run the CLI as the curator; it must succeed; its standard output."""
    done = CliRunner().invoke(app, ["--as", CURATOR, *args], env=env)
    assert done.exit_code == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module", params=sorted(CASES))
def returned(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, str], bool]:
    """The demo with LOAN sent back in two shipments (CASES), read the day after it was due:
    the environment, and whether the loan was sent back in time."""
    (first, second), in_time = CASES[request.param]
    folder = tmp_path_factory.mktemp("s41returns")
    env = {"SAMPLELOANS_DB": str(demo_copy(folder)), "NO_COLOR": "1"}
    released = {**env, "SAMPLELOANS_NOW": "2026-05-05T09:00:00Z"}
    back = ["loans", "return", LOAN, "--container", "N2 box"]
    samples = [arg for code in FIRST for arg in ("--sample", code)]
    _cli(released, *back, "--seal", "S-1", *samples, "--at", first)
    _cli(released, *back, "--seal", "S-2", "--at", second)
    assert _stored_shipments(Path(env["SAMPLELOANS_DB"])) == [first, second]
    return {**env, "SAMPLELOANS_NOW": READ_AT}, in_time


def _stored_shipments(path: Path) -> list[str]:
    """The return shipments' stored `shipped_at`, as recorded: one whole, one with a fraction."""
    with closing(sqlite3.connect(path)) as connection:
        rows = connection.execute(
            "SELECT shipped_at FROM shipment WHERE loan_number = ? AND direction = 'return' "
            "ORDER BY seq",
            (LOAN,),
        ).fetchall()
    return [shipped_at for (shipped_at,) in rows]


def test_loans_show(returned: tuple[dict[str, str], bool]) -> None:
    """`loans show`: the due line says sent back in time, or overdue by a day."""
    env, in_time = returned
    due = next(line for line in _cli(env, "loans", "show", LOAN).splitlines() if line[:4] == "due ")
    words = "(sent back in time)" if in_time else "(overdue by 1 day)"
    assert words in due, due


def test_status(returned: tuple[dict[str, str], bool]) -> None:
    """`status`: the return is an obligation overdue only when it left late."""
    env, in_time = returned
    shown = _cli(env, "status", "--loan", LOAN)
    assert ("return overdue by 1 day" in shown) is not in_time, shown
    assert ("(sent back in time)" in shown) is in_time, shown


def test_loans_list(returned: tuple[dict[str, str], bool]) -> None:
    """`loans list --json`: `sent_back_in_time` and `overdue` of the loan."""
    env, in_time = returned
    row = next(r for r in json.loads(_cli(env, "loans", "list", "--json")) if r["number"] == LOAN)
    assert (row["sent_back_in_time"], row["overdue"]) == (in_time, not in_time), row


def test_overdue(returned: tuple[dict[str, str], bool]) -> None:
    """`overdue --json`: the loan's return is listed, a day late, only when it left late."""
    env, in_time = returned
    rows = [r for r in json.loads(_cli(env, "overdue", "--json")) if r["loan_number"] == LOAN]
    late = [{"days_late": 1, "due_at": DUE, "what": "return"}]
    assert [{k: r[k] for k in ("days_late", "due_at", "what")} for r in rows] == (
        [] if in_time else late
    )
