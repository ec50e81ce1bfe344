"""Sweep "domain rules": a change to a person is dated after their last part in the ledger.

Before, `people deactivate X --at T` was recorded with T before an event X recorded, or an event
naming X (a loan's PI), so the ledger said X acted after they had been deactivated; a
reactivation could be dated before the deactivation it undoes, and a role change before acts
in the old role. Now each is refused (exit 1, nothing written), naming the event it would
precede; through `import` too.
"""

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.cli_steps import ok, refused, signed_ou_agreement
from tests.conftest import CURATOR, OU_PI, fingerprint

pytestmark = pytest.mark.usefixtures("cli_env", "engine")

CODE = "CE5C0000YJYX070"
COLLEAGUE = "zhou@naoc.example"


@pytest.fixture
def pi_named_on_day_2(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, cli_env: dict[str, str], engine: Engine
) -> None:
    """On 2 April the OU's PI is named by a loan request; a second curator joins; on 3 April
    that curator approves the loan (their own act); the clock then stands on 4 April."""
    monkeypatch.setenv("SAMPLELOANS_NOW", "2025-04-02T09:00:00Z")
    signed_ou_agreement(runner)
    ok(runner, "loans", "request", "L-1", "--agreement", "AG-OU", "--pi", OU_PI, "--sample", CODE)
    ok(runner, "people", "add", COLLEAGUE, "--name", "Zhou Min", "--institution", "NAOC",
       "--role", "curator")  # fmt: skip
    monkeypatch.setenv("SAMPLELOANS_NOW", "2025-04-03T09:00:00Z")
    ok(runner, "loans", "approve", "L-1", actor=COLLEAGUE)
    monkeypatch.setenv("SAMPLELOANS_NOW", "2025-04-04T09:00:00Z")


@pytest.mark.usefixtures("pi_named_on_day_2")
def test_a_deactivation_before_the_persons_last_part_is_refused(
    runner: CliRunner, db_path: Path
) -> None:
    """The PI was last named by the approval, at 09:00 on 3 April: deactivated at 10:00 on 2
    April is refused, at 10:00 on 3 April it is recorded; reactivated before that deactivation
    is refused, after it recorded."""
    message = refused(
        runner, db_path, "people", "deactivate", OU_PI, "--reason", "left",
        "--at", "2025-04-02T10:00:00Z",
    )  # fmt: skip
    assert "--at: 2025-04-02T10:00:00Z is before the last event of person " in message
    assert f"{OU_PI} (event " in message and "2025-04-03T09:00:00Z" in message, message
    assert "date a deactivation from 2025-04-03T09:00:00Z on (--at)" in message
    ok(runner, "people", "deactivate", OU_PI, "--reason", "left", "--at", "2025-04-03T10:00:00Z")
    message = refused(
        runner, db_path, "people", "reactivate", OU_PI, "--reason", "back",
        "--at", "2025-04-03T09:30:00Z",
    )  # fmt: skip
    assert "2025-04-03T10:00:00Z" in message and "a reactivation" in message, message
    ok(runner, "people", "reactivate", OU_PI, "--reason", "back", "--at", "2025-04-03T11:00:00Z")
    ok(runner, "verify")


@pytest.mark.usefixtures("pi_named_on_day_2")
def test_a_role_change_before_the_persons_own_last_act_is_refused(
    runner: CliRunner, db_path: Path
) -> None:
    """The colleague approved L-1 on 3 April as a curator: they cannot have become a compliance
    officer on 2 April; on 3 April after the approval they can."""
    set_role = ("people", "set-role", COLLEAGUE, "--role", "compliance-officer", "--reason", "x")
    message = refused(runner, db_path, *set_role, "--at", "2025-04-02T12:00:00Z")
    assert f"person {COLLEAGUE}" in message and "2025-04-03T09:00:00Z" in message, message
    assert "date a role change from 2025-04-03T09:00:00Z on (--at)" in message
    ok(runner, *set_role, "--at", "2025-04-03T09:00:00Z")  # the same moment: not before it
    shown = ok(runner, "people", "show", COLLEAGUE)
    assert "compliance" in shown


@pytest.mark.usefixtures("pi_named_on_day_2")
def test_an_imported_deactivation_before_the_persons_last_part_is_refused(
    runner: CliRunner, db_path: Path, tmp_path: Path
) -> None:
    """The same rule holds for a history line: the import writes nothing."""
    line = {
        "kind": "person.deactivated",
        "actor": CURATOR,
        "occurred_at": "2025-04-02T08:00:00Z",
        "reason": "left",
        "payload": {"email": OU_PI},
    }
    history = tmp_path / "history.jsonl"
    history.write_text(json.dumps(line) + "\n", encoding="utf-8")
    before = fingerprint(db_path)
    result = runner.invoke(app, ["--as", CURATOR, "import", str(history)])
    assert result.exit_code != 0 and "Traceback" not in result.stderr
    assert "is before the last event of person" in result.stderr, result.stderr
    assert fingerprint(db_path) == before


def test_a_person_the_ledger_never_named_after_joining_is_deactivated_from_then(
    runner: CliRunner, db_path: Path
) -> None:
    """Without any act, the person's own registration is the bound: not before it."""
    message = refused(
        runner, db_path, "people", "deactivate", OU_PI, "--reason", "left",
        "--at", "2025-03-01T00:00:00Z",
    )  # fmt: skip
    assert "is before the last event of person" in message, message
    ok(runner, "people", "deactivate", OU_PI, "--reason", "left")
