"""Issue 10, item 8: roles belong to institutions, and people are deactivated or change role
by events (never edited, never deleted)."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.errors import Conflict, PermissionDenied, RuleViolation
from sampleloans.ledger import events as ev
from sampleloans.ledger.store import append
from sampleloans.models import Person
from sampleloans.services import catalog, loans, reference
from tests.conftest import BROWN_PI, COMPLIANCE, CURATOR, OU_PI, ctx_for, fingerprint
from tests.factories import received_loan, signed_agreement

Run = Callable[..., Any]


@pytest.fixture(autouse=True)
def ledger(engine: Any, cli_env: dict[str, str]) -> None:
    """Every test has the reference ledger and the CLI environment."""


def cli(runner: CliRunner, actor: str, *args: str) -> Any:
    """Run one command as `actor`."""
    return runner.invoke(app, ["--as", actor, *args])


def refused(runner: CliRunner, db_path: Path, actor: str, args: list[str], code: int) -> str:
    """The command fails with `code`, one `Error:` line, and nothing written; its stderr."""
    before = fingerprint(db_path)
    result = cli(runner, actor, *args)
    assert result.exit_code == code, result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert fingerprint(db_path) == before
    return result.stderr


def verified(runner: CliRunner, actor: str = CURATOR) -> None:
    """`verify` replays every event, the new kinds included, and finds nothing."""
    result = cli(runner, actor, "verify")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("verify: OK")


# --- staff roles belong to lender or curator institutions ---------------------------------------


@pytest.mark.parametrize("role", ["curator", "compliance-officer"])
def test_people_add_refuses_staff_at_a_borrower(
    runner: CliRunner, db_path: Path, cli_env: dict[str, str], role: str
) -> None:
    args = ["people", "add", "boss@open.example", "--name", "Boss", "--institution", "OU"]
    err = refused(runner, db_path, CURATOR, [*args, "--role", role], 1)
    words = role.replace("-", " ")
    assert err.startswith(
        f"Error: --role: a {words} must belong to a lender or curator institution"
    )
    assert "OU is a borrower" in err
    ok = cli(runner, CURATOR, "people", "add", "new@naoc.example", "--name", "New", "--role", role,
             "--institution", "NAOC")  # fmt: skip
    assert ok.exit_code == 0, ok.output


def test_import_refuses_staff_at_a_borrower(
    runner: CliRunner, db_path: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    history = tmp_path / "people.jsonl"
    lines = [
        {"kind": "person.added", "actor": CURATOR, "payload": {
            "email": "ok@naoc.example", "name": "Ok", "institution": "NAOC", "role": "curator"}},
        {"kind": "person.added", "actor": CURATOR, "payload": {
            "email": "co@open.example", "name": "Co", "institution": "OU",
            "role": "compliance_officer"}},
    ]  # fmt: skip
    history.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    before = fingerprint(db_path)
    result = cli(runner, CURATOR, "import", str(history))
    assert result.exit_code == 1, result.output
    assert "line 2: role: a compliance officer must belong to a lender or curator" in result.stderr
    assert "line 1" not in result.stderr
    assert fingerprint(db_path) == before


def test_a_staff_role_at_a_borrower_from_before_the_rule_cannot_act(
    engine: Any, run: Run, runner: CliRunner, cli_env: dict[str, str]
) -> None:
    """A ledger written before the rule: the event is there, but the role is not honoured."""
    with db.transaction(engine) as session:
        append(
            session,
            ctx_for(),
            ev.PersonAdded(email="old@open.example", name="Old", institution="OU", role="curator"),
        )
    with pytest.raises(PermissionDenied, match="not a lender or curator institution"):
        run(catalog.list_samples, actor="old@open.example")
    result = cli(runner, "old@open.example", "loans", "list")
    assert result.exit_code == 4 and "'people set-role'" in result.stderr
    fixed = cli(runner, CURATOR, "people", "set-role", "old@open.example", "--role", "researcher",
                "--reason", "a borrower's staff are researchers")  # fmt: skip
    assert fixed.exit_code == 0, fixed.output
    assert cli(runner, "old@open.example", "loans", "list").exit_code == 0


# --- deactivation -------------------------------------------------------------------------------


def test_deactivated_person_is_refused_and_history_stays(
    run: Run, runner: CliRunner, db_path: Path, cli_env: dict[str, str]
) -> None:
    signed_agreement(run)
    received_loan(run)
    result = cli(runner, CURATOR, "people", "deactivate", OU_PI, "--reason", "left the OU")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Deactivated {OU_PI}; event ")
    for args in (["status"], ["loans", "inventory", "L-1"], ["loans", "show", "L-1"]):
        err = refused(runner, db_path, OU_PI, args, 4)
        assert err.startswith(f"Error: {OU_PI} is deactivated and may no longer act")
    shown = json.loads(cli(runner, CURATOR, "people", "show", OU_PI, "--json").stdout)
    assert (shown["email"], shown["active"], shown["role"]) == (OU_PI, False, "researcher")
    assert "deactivated" in cli(runner, CURATOR, "people", "list", "--institution", "OU").stdout
    # the loan and the person's earlier acts stay as they were
    assert (
        json.loads(cli(runner, COMPLIANCE, "loans", "show", "L-1", "--json").stdout)["pi_email"]
        == OU_PI
    )
    events = json.loads(
        cli(runner, COMPLIANCE, "custody", "history", "--institution", "OU", "--json").stdout
    )["events"]
    (change,) = [e for e in events if e["kind"] == "person.deactivated"]
    assert (
        change["description"]
        == f"person {OU_PI} deactivated: may no longer act; reason: left the OU"
    )
    verified(runner)
    pdf = db_path.parent / "ou.pdf"
    report = cli(runner, COMPLIANCE, "report", "custody", "--institution", "OU", "--out", str(pdf))
    assert report.exit_code == 0, report.output  # the new kinds print in the custody report
    again = cli(runner, CURATOR, "people", "reactivate", OU_PI, "--reason", "back from leave")
    assert again.exit_code == 0, again.output
    assert cli(runner, OU_PI, "status").exit_code == 0
    verified(runner)


def test_people_changes_are_curators_only(
    runner: CliRunner, db_path: Path, cli_env: dict[str, str]
) -> None:
    for actor in (COMPLIANCE, OU_PI):
        for args in (
            ["people", "deactivate", BROWN_PI, "--reason", "x"],
            ["people", "reactivate", BROWN_PI, "--reason", "x"],
            ["people", "set-role", BROWN_PI, "--role", "researcher", "--reason", "x"],
        ):
            assert "only curators may" in refused(runner, db_path, actor, args, 4)


def test_the_last_active_curator_stays(
    runner: CliRunner, db_path: Path, cli_env: dict[str, str]
) -> None:
    err = refused(runner, db_path, CURATOR, ["people", "deactivate", CURATOR, "--reason", "bye"], 1)
    assert f"{CURATOR} is the last active curator" in err
    args = ["people", "set-role", CURATOR, "--role", "compliance-officer", "--reason", "step down"]
    assert "the last active curator" in refused(runner, db_path, CURATOR, args, 1)
    promote = ["people", "set-role", COMPLIANCE, "--role", "curator", "--reason", "promoted"]
    assert cli(runner, CURATOR, *promote).exit_code == 0
    # with a second curator, the first may now step down
    assert (
        cli(runner, CURATOR, "people", "deactivate", CURATOR, "--reason", "retired").exit_code == 0
    )
    assert cli(runner, CURATOR, "people", "list").exit_code == 4
    split = ["samples", "split", "CE5C0500YJFM00415", "--child", "-01=1mg"]
    assert cli(runner, COMPLIANCE, *split).exit_code == 0  # now a curator
    err = refused(
        runner, db_path, COMPLIANCE, ["people", "deactivate", COMPLIANCE, "--reason", "x"], 1
    )
    assert "last active curator" in err
    verified(runner, COMPLIANCE)  # the retired curator may no longer run it


def test_set_role_keeps_the_institution_rule_and_refuses_no_change(
    runner: CliRunner, db_path: Path, cli_env: dict[str, str]
) -> None:
    args = ["people", "set-role", OU_PI, "--role", "curator", "--reason", "helping out"]
    err = refused(runner, db_path, CURATOR, args, 1)
    assert err.startswith("Error: --role: a curator must belong to a lender or curator institution")
    same = ["people", "set-role", COMPLIANCE, "--role", "compliance-officer", "--reason", "x"]
    assert "already a compliance officer" in refused(runner, db_path, CURATOR, same, 1)
    bad = ["people", "set-role", COMPLIANCE, "--role", "boss", "--reason", "x"]
    assert refused(runner, db_path, CURATOR, bad, 2).startswith("Error: --role: 'boss' is not one")
    missing = ["people", "set-role", "no@naoc.example", "--role", "curator", "--reason", "x"]
    gone = "EMAIL 'no@naoc.example': no such person"
    assert gone in refused(runner, db_path, CURATOR, missing, 2)
    empty = ["people", "deactivate", BROWN_PI, "--reason", " "]
    assert refused(runner, db_path, CURATOR, empty, 2).startswith(
        "Error: --reason: must not be empty"
    )


def test_deactivated_person_is_no_pi_or_approver(run: Run) -> None:
    """Service level: a deactivated person may not be named to act for a loan."""
    signed_agreement(run)
    run(reference.deactivate_person, email=OU_PI, reason="left")
    with pytest.raises(Conflict, match=f"^pi: {OU_PI} is deactivated"):
        run(
            loans.request_loan, number="L-9", agreement="AG-OU", pi=OU_PI,
            samples=["CE5C0200YJFM00112"],
        )  # fmt: skip
    with pytest.raises(Conflict, match="already deactivated"):
        run(reference.deactivate_person, email=OU_PI, reason="again")


def test_service_role_change_is_an_event_that_replays(run: Run, engine: Any) -> None:
    envelope = run(reference.change_role, email=COMPLIANCE, role="curator", reason="promoted")
    assert envelope.kind == "person.role_changed" and envelope.reason == "promoted"
    payload = json.loads(envelope.payload)
    assert payload == {
        "email": COMPLIANCE,
        "previous_role": "compliance_officer",
        "role": "curator",
    }
    with db.transaction(engine) as session:
        person = session.get(Person, COMPLIANCE)
        assert person is not None and person.role == "curator" and person.active
    with pytest.raises(RuleViolation, match="OU is a borrower"):
        run(reference.change_role, email=OU_PI, role="compliance_officer", reason="x")


def test_import_replays_the_new_kinds(
    runner: CliRunner, cli_env: dict[str, str], tmp_path: Path
) -> None:
    history = tmp_path / "changes.jsonl"
    lines = [
        {"kind": "person.role_changed", "actor": CURATOR, "reason": "promoted",
         "payload": {"email": COMPLIANCE, "role": "curator"}},
        {"kind": "person.deactivated", "actor": CURATOR, "reason": "left",
         "payload": {"email": BROWN_PI}},
        {"kind": "person.reactivated", "actor": CURATOR, "reason": "back",
         "payload": {"email": BROWN_PI}},
        {"kind": "person.deactivated", "actor": CURATOR, "reason": "left for good",
         "payload": {"email": BROWN_PI}},
    ]  # fmt: skip
    history.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    result = cli(runner, CURATOR, "import", str(history))
    assert result.exit_code == 0, result.output
    people = {
        p["email"]: p for p in json.loads(cli(runner, CURATOR, "people", "list", "--json").stdout)
    }
    assert people[COMPLIANCE]["role"] == "curator" and people[BROWN_PI]["active"] is False
    verified(runner)
