"""Sweep s31 "users" (1): where no inventory is owed, `status` and `loans show` say why.

Before, both printed "next inventory —" for a loan not yet issued, one withdrawn, one whose
every part left was sent back before the inventory fell due, and one returned, settled or
closed: the PI could not tell a loan that owes none from a missing date. Now the dash carries its
reason, in the words one function gives both commands (`readmodels.report.no_inventory_words`).
The `--json` keys are unchanged (`next_inventory_due_at` null, docs/json.md says when).
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.readmodels.report import no_inventory_words
from sampleloans.services import loan_views, loans, standing
from sampleloans.vocab import LoanStatus
from tests import factories
from tests.conftest import CURATOR, OU_PI, ctx_for, run_on

AT = "2025-06-01T09:00:00Z"  # the fixture's clock (tests.conftest.NOW) two months on
STAGES = ("approved", "withdrawn", "sent back", "returned", "settled", "closed")
WHY = {
    "approved": "— (none owed before issue)",
    "withdrawn": "— (none owed: withdrawn before issue)",
    "sent back": "— (none owed: everything left was sent back by its due time)",
    "returned": "— (none owed: the loan is returned)",
    "settled": "— (none owed: the loan is settled)",
    "closed": "— (none owed: the loan is closed)",
}


def _to_stage(engine: Engine, stage: str) -> None:
    """L-1 of OU brought to `stage`."""
    run = run_on(engine)
    factories.signed_agreement(run, "OU")
    if stage in ("approved", "withdrawn"):
        factories.approved_loan(run)
        if stage == "withdrawn":
            run(loans.withdraw_loan, number="L-1", reason="the PI withdrew it")
        return
    factories.received_loan(run)
    run(loans.release_return, number="L-1", container="N2 box", seal_number="S-2")
    if stage == "sent back":
        return
    weighed = {"CE5C0200YJFM00112": factories.held_ug(run, "L-1", "CE5C0200YJFM00112")}
    run(loans.accept_return, number="L-1", seal_intact=True, condition="pristine",
        weighed_ug=weighed)  # fmt: skip
    if stage in ("settled", "closed"):
        run(loans.settle_loan, number="L-1", obligations="return report filed")
    if stage == "closed":
        run(loans.close_loan, number="L-1")


@pytest.fixture(params=STAGES)
def staged(request: pytest.FixtureRequest, engine: Engine) -> Iterator[str]:
    """The ledger with L-1 at one stage that owes no inventory."""
    _to_stage(engine, request.param)
    yield request.param


def _cli(db_path: Path, actor: str, *args: str) -> str:
    """The CLI's stdout, exit 0, on a wide terminal."""
    env = {"SAMPLELOANS_DB": str(db_path), "SAMPLELOANS_NOW": AT, "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["--as", actor, *args], env=env)
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return result.stdout


def test_status_says_why_no_inventory_is_owed(staged: str, db_path: Path) -> None:
    """The PI's `status`: "next inventory — (why)" instead of a bare dash."""
    out = _cli(db_path, OU_PI, "status", "--loan", "L-1")
    assert f"next inventory {WHY[staged]}" in out, out


def test_loans_show_says_why_no_inventory_is_owed(staged: str, db_path: Path) -> None:
    """`loans show`'s "next inventory" line gives the same reason."""
    out = _cli(db_path, CURATOR, "loans", "show", "L-1")
    line = next(line for line in out.splitlines() if line.startswith("next inventory"))
    assert line.split(None, 2)[2].strip() == WHY[staged], line


def test_the_views_and_the_words_agree(staged: str, engine: Engine) -> None:
    """Service level: both views give no inventory date, and the words name the view's state."""
    from sampleloans import db
    from tests.conftest import NOW

    later = NOW.replace(month=6)
    with db.transaction(engine) as session:
        detail = loan_views.loan_detail(session, ctx_for(CURATOR, later), "L-1")
        row = standing.loan_status(session, ctx_for(OU_PI, later), loan="L-1")[0]
    for view in (detail, row):
        assert view.next_inventory_due_at is None
        words = no_inventory_words(view.status, withdrawn=view.withdrawn_reason is not None)
        assert words == WHY[staged]


def test_a_loan_that_owes_an_inventory_has_no_reason_words() -> None:
    """A loan that is out and owes its inventory shows its date: the words are for none."""
    for status in (LoanStatus.ISSUED, LoanStatus.IN_TRANSIT, LoanStatus.RECEIVED):
        assert no_inventory_words(status, withdrawn=False) == "—"
