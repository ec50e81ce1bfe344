"""Sweep s32 "users" (2): a researcher's `report statement` without a scope is their own.

Before, a researcher who ran `report statement --out DIR` was told to "give exactly one of
--institution or --pi", and had to name themselves: their own statement is the one they mean.
Staff still name one (they read every institution's), and a researcher naming a PI of another
institution is still refused in the words of one that does not exist.
"""

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from sampleloans import db
from sampleloans.errors import InvalidInput
from sampleloans.ledger.envelope import Context
from sampleloans.services.statement import build_statements
from tests.i15_statement_helpers import (
    CURATOR,
    NOW,
    copy_ledger,
    env_for,
    invoke,
    make_checkpoint,
    make_demo,
)

OSAKA_PI = "terada@osaka-u.example"
OU_PI = "anand@open.example"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger (never written by these tests: each writer copies it)."""
    return make_demo(tmp_path_factory.mktemp("demo") / "d")


@pytest.fixture
def ledger(demo: Path, tmp_path: Path) -> dict[str, Any]:
    """A copy of the demo ledger with a key pair and a signed checkpoint of its head."""
    path = copy_ledger(demo, tmp_path / "ledger.db")
    return {"db": path, **make_checkpoint(path, tmp_path), "dir": tmp_path}


def _statements(ledger: dict[str, Any], actor: str, *scope: str) -> Any:
    """`report statement` by `actor` into a new folder `st`."""
    out = ledger["dir"] / "st"
    out.mkdir(exist_ok=True)
    args = ["report", "statement", *scope, "--out", str(out), "--checkpoint", str(ledger["cp"])]
    return invoke(env_for(ledger["db"], actor=actor), *args, "--generated-at", NOW)


def _service(ledger: dict[str, Any], actor: str, **scope: Any) -> list[Any]:
    """`build_statements` by `actor` on the ledger's checkpoint."""
    from sampleloans.commands.statement import checkpoint_ref

    engine = db.open_engine(db.url_for_path(ledger["db"]))
    now = datetime.fromisoformat(NOW)
    try:
        with db.transaction(engine, write=False) as session:
            ctx = Context(actor=actor, os_user="tester", now=now)
            ref = checkpoint_ref(ledger["note"], "checkpoint")
            return build_statements(session, ctx, ref, generated_at=now, **scope)
    finally:
        engine.dispose()


def test_a_researcher_naming_no_scope_gets_their_own_statement(ledger: dict[str, Any]) -> None:
    """CLI: exit 0, one file, the researcher's own."""
    result = _statements(ledger, OU_PI)
    assert result.exit_code == 0, result.stderr
    files = sorted(p.name for p in (ledger["dir"] / "st").iterdir())
    assert files == ["statement-anand-at-open.example.pdf"]
    assert f"statement to {OU_PI}" in result.stdout


def test_the_service_reads_no_scope_as_the_researchers_own(ledger: dict[str, Any]) -> None:
    """Service level: the one statement is the acting researcher's, as if they named it."""
    (mine,) = _service(ledger, OSAKA_PI)
    (named,) = _service(ledger, OSAKA_PI, pi=OSAKA_PI)
    assert mine.request.pi == OSAKA_PI
    assert mine.digest == named.digest


def test_staff_still_name_a_scope(ledger: dict[str, Any]) -> None:
    """A curator reads every institution's: naming none stays refused, one line, exit 2."""
    result = _statements(ledger, CURATOR)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "exactly one of" in result.stderr
    assert list((ledger["dir"] / "st").iterdir()) == []
    with pytest.raises(InvalidInput, match="exactly one of"):
        _service(ledger, CURATOR)


def test_another_institutions_pi_reads_as_one_that_does_not_exist(ledger: dict[str, Any]) -> None:
    """Naming a PI who is not theirs: the words of a PI that does not exist (exit 2)."""
    theirs = _statements(ledger, OSAKA_PI, "--pi", OU_PI)
    nobody = _statements(ledger, OSAKA_PI, "--pi", "nobody@nowhere.example")
    assert theirs.exit_code == nobody.exit_code == 2
    assert theirs.stderr.startswith(f"Error: --pi '{OU_PI}': no such person among the records")
    assert theirs.stderr.replace(OU_PI, "X") == nobody.stderr.replace("nobody@nowhere.example", "X")
    assert theirs.stderr.count("\n") == 1
