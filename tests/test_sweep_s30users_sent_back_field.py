"""Sweep s30 "users" (2): "(sent back in time)" is the service's answer, not the CLI's guess.

`status`, `loans show` and `loans list` said a return was met by dispatch by inferring it from
the loan's status and a missing day count (`commands/loans._due_text`, `commands/compliance._days`);
a script reading `--json` had to infer it the same way. The services now say it
(`sent_back_in_time`, `ledger/overdue.sent_back_in_time`), `--json` carries it (docs/json.md),
and the CLI only words it.
"""

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.dates import from_iso
from sampleloans.services import loan_views, standing
from tests.conftest import CURATOR, GOLDEN, OU_PI, ctx_for

LATER = "2027-05-20T00:00:00Z"  # L-1 still on its way back


def run(db_path: Path, now: str, actor: str, *args: str) -> str:
    """The CLI on `db_path` at `now` as `actor`; exit 0; stdout."""
    env = {"SAMPLELOANS_DB": str(db_path), "SAMPLELOANS_NOW": now, "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["--as", actor, *args], env=env)
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return result.stdout


def answers(db_path: Path) -> dict[str, object]:
    """What each service and each `--json` says of L-1's `sent_back_in_time` at LATER."""
    engine = db.open_engine(db.url_for_path(db_path))
    ctx = ctx_for(OU_PI, from_iso(LATER))
    try:
        with db.transaction(engine, write=False) as session:
            found: dict[str, object] = {
                "status service": standing.loan_status(session, ctx)[0].sent_back_in_time,
                "show service": loan_views.loan_detail(session, ctx, "L-1").sent_back_in_time,
                "list service": loan_views.list_loans(session, ctx)[0].sent_back_in_time,
            }
    finally:
        engine.dispose()
    status = json.loads(run(db_path, LATER, OU_PI, "status", "--json"))["loans"][0]
    shown = json.loads(run(db_path, LATER, OU_PI, "loans", "show", "L-1", "--json"))
    (listed,) = json.loads(run(db_path, LATER, OU_PI, "loans", "list", "--json"))
    found |= {
        "status --json": status.get("sent_back_in_time"),
        "loans show --json": shown.get("sent_back_in_time"),
        "loans list --json": listed.get("sent_back_in_time"),
    }
    return found


def test_a_return_sent_back_in_time_is_said_so_by_every_service_and_json(tmp_path: Path) -> None:
    db_path = Path(shutil.copy(GOLDEN / "ledger-sent-back-layout11.db", tmp_path / "s.db"))
    found = answers(db_path)
    assert found == dict.fromkeys(found, True), found
    assert "(sent back in time)" in run(db_path, LATER, OU_PI, "status")


def test_a_return_sent_late_or_held_is_not(tmp_path: Path) -> None:
    db_path = Path(shutil.copy(GOLDEN / "ledger-statement-big-mass-layout10.db", tmp_path / "l.db"))
    held = answers(db_path)
    assert held == dict.fromkeys(held, False), held
    run(db_path, "2027-04-28T10:01:00Z", CURATOR, "loans", "return", "L-1", "--container", "b",
        "--seal", "S-9")  # fmt: skip
    late = answers(db_path)
    assert late == dict.fromkeys(late, False), late
    assert "(sent back in time)" not in run(db_path, LATER, OU_PI, "status")
    assert "(sent back in time)" not in run(db_path, LATER, OU_PI, "loans", "list")
