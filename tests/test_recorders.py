"""`verify` checks who recorded each event (`services/recorders.py`): an event written with a
correct hash and matching rows but without the command's role check (a researcher's login on
PostgreSQL inserting by hand, an edited file) is a finding, exit 1; what the commands let each
role record is not."""

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.services import common, gate, loans, samples
from sampleloans.services.recorders import recorder_findings
from tests.conftest import COMPLIANCE, CURATOR, OU_PI
from tests.test_borrower_mark import demo  # noqa: F401  (the demo after its last event)

OU_SAMPLE = "CE5C0300YJFM00307"  # held on L-2025-OU in the demo
VAULT_SAMPLE = "CE5C0400YJFM00505"  # in the vault
BROWN_PI = "pi@brown.example"  # a researcher whose loan is only approved


def cli(actor: str, *args: str) -> Any:
    return CliRunner().invoke(app, ["--as", actor, *args])


def ok(actor: str, *args: str) -> None:
    done = cli(actor, *args)
    assert done.exit_code == 0, done.output


def verify_findings() -> list[str]:
    """`verify --json` as the compliance officer: the recorder findings (exit 1 if any)."""
    done = cli(COMPLIANCE, "verify", "--json")
    found = json.loads(done.stdout)
    messages = [p["message"] for p in found["problems"] if p["area"] == "recorder"]
    assert done.exit_code == (1 if found["problems"] else 0), done.output
    return messages


def skip_role_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a client that skips the application does: the same event and rows, no role check."""

    def lenient(session: Any, ctx: Any, *_roles: str, action: str) -> Any:
        return common.acting_person(session, ctx)

    def any_loan(
        session: Any,
        ctx: Any,
        number: str,
        action: str,
        _doing: str,
        _samples: Any = (),
        *,
        at: Any = None,
    ) -> Any:
        loan = common.get_loan(session, number)
        loans.require_loan_transition(loan, action, at=at)
        return loan

    monkeypatch.setattr(gate, "require_command_role", lambda *args, **kwargs: None)
    monkeypatch.setattr(loans, "_curator", lambda *args, **kwargs: None)
    monkeypatch.setattr(loans, "_lab_loan", any_loan)
    monkeypatch.setattr(samples, "require_role", lenient)


@pytest.mark.usefixtures("demo")
def test_what_the_commands_let_each_role_record_is_no_finding() -> None:
    ok(OU_PI, "loans", "consume", "L-2025-OU", "--sample", OU_SAMPLE, "--technique", "SIMS",
       "--mass", "1 mg", "--destructive")  # fmt: skip
    ok(OU_PI, "loans", "inventory", "L-2025-OU")
    ok(CURATOR, "samples", "move", VAULT_SAMPLE, "--location", "Shelf 9")
    assert verify_findings() == []


@pytest.mark.usefixtures("demo")
def test_a_researcher_extending_their_own_loan_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    skip_role_checks(monkeypatch)
    ok(OU_PI, "loans", "extend", "L-2025-OU", "--period", "P1M", "--approver", CURATOR,
       "--reason", "more time")  # fmt: skip
    found = verify_findings()
    assert len(found) == 1
    assert "(loan.extended) was recorded by 'anand@open.example'" in found[0]
    assert "a researcher: only curators record it" in found[0]


@pytest.mark.usefixtures("demo")
def test_a_researcher_consuming_on_another_institutions_loan_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    skip_role_checks(monkeypatch)
    ok(OU_PI, "loans", "consume", "L-2025-UoC", "--sample", "CE5C0000YJYX052",
       "--technique", "SIMS", "--mass", "1 ug", "--destructive")  # fmt: skip
    [found] = verify_findings()
    assert "(loan.consumed)" in found and "not lent to their institution" in found


@pytest.mark.usefixtures("demo")
def test_a_researcher_accepting_their_own_return_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    ok(CURATOR, "loans", "return", "L-2025-OU", "--container", "box", "--seal", "S-1",
       "--method", "courier")  # fmt: skip
    shown = json.loads(cli(CURATOR, "loans", "show", "L-2025-OU", "--json").stdout)
    weighed = [
        f"{item['sample_code']}={item['held_ug']}ug"
        for item in shown["items"]
        if item["held_ug"] > 0
    ]
    skip_role_checks(monkeypatch)
    weighings = [arg for pair in weighed for arg in ("--weighed", pair)]
    ok(OU_PI, "loans", "accept-return", "L-2025-OU", "--seal-intact", "--condition", "fine",
       "--received-by", CURATOR, *weighings)  # fmt: skip
    [found] = verify_findings()
    assert "(loan.received)" in found and "only curators accept a return" in found


@pytest.mark.usefixtures("demo")
def test_a_compliance_officer_deactivated_or_unknown_actor_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    skip_role_checks(monkeypatch)
    ok(COMPLIANCE, "samples", "move", VAULT_SAMPLE, "--location", "Shelf 1")
    ok(CURATOR, "people", "deactivate", BROWN_PI, "--reason", "left")
    monkeypatch.setattr(samples, "require_role", lambda *args, **kwargs: None)  # not even a person
    ok(BROWN_PI, "samples", "move", VAULT_SAMPLE, "--location", "Shelf 2")
    ok("mallory@example.org", "samples", "move", VAULT_SAMPLE, "--location", "Shelf 3")
    found = verify_findings()
    assert len(found) == 3, found
    assert "compliance officer, who records nothing" in found[0]
    assert f"'{BROWN_PI}', who was deactivated then" in found[1]
    assert "'mallory@example.org', who was not a registered person then" in found[2]


def test_the_demo_has_no_recorder_finding_at_service_level(demo: Path) -> None:  # noqa: F811
    from sampleloans import db

    engine = db.open_engine(db.url_for_path(demo))
    try:
        with engine.connect() as connection:
            assert recorder_findings(connection) == []
    finally:
        engine.dispose()
