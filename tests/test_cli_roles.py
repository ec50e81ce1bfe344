"""The role matrix: every write command × every role, through the CLI, in one table.

Curators may write (the command may still be refused by a rule, but never with exit 4);
compliance officers and researchers are refused with exit 4 and nothing is written. The
exception is what happens in the borrower's lab (receipt, consumption, a split, an incident,
the inventory), which the loan's own institution records too (issue 14 point 6).
"""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.services import setup
from tests import factories
from tests.conftest import COMPLIANCE, CURATOR, OU_PI, UOC_PI, ctx_for, fingerprint, run_on

S = "CE5C0200YJFM00112"
WRITE_COMMANDS: dict[str, list[str]] = {
    "samples register": [
        "samples",
        "register",
        "CE5C0000YJYX099",
        "--mission",
        "CE-5",
        "--mass",
        "1 mg",
        "--origin",
        "scoop",
        "--material",
        "regolith",
        "--form",
        "powder",
        "--purpose",
        "research",
        "--location",
        "NAOC N2 cabinet A",
    ],
    "samples split": ["samples", "split", "CE5C0000YJYX070", "--child", "-01=1mg"],
    "samples move": ["samples", "move", "CE5C0000YJYX070", "--location", "NAOC N2 cabinet Z"],
    "samples transfer": [
        "samples",
        "transfer",
        "CE5C0000YJYX070",
        "--to",
        "MNHN",
        "--reference",
        "gift",
    ],
    "institutions rename": ["institutions", "rename", "OU", "--name", "O", "--reason", "typo"],
    "institutions set-place": [
        "institutions",
        "set-place",
        "OU",
        "--city",
        "MK",
        "--country",
        "UK",
        "--reason",
        "typo",
    ],
    "institutions add": [
        "institutions",
        "add",
        "NEW",
        "--name",
        "New U",
        "--country",
        "Chile",
        "--city",
        "Santiago",
        "--kind",
        "borrower",
    ],
    "people add": [
        "people",
        "add",
        "new@ou.example",
        "--name",
        "New",
        "--institution",
        "OU",
        "--role",
        "researcher",
    ],
    "people deactivate": ["people", "deactivate", "pi@brown.example", "--reason", "left"],
    "people reactivate": ["people", "reactivate", "pi@brown.example", "--reason", "back"],
    "people rename": ["people", "rename", "pi@brown.example", "--name", "B", "--reason", "typo"],
    "people set-role": [
        "people",
        "set-role",
        "compliance@naoc.example",
        "--role",
        "curator",
        "--reason",
        "promoted",
    ],
    "agreements add": [
        "agreements",
        "add",
        "AG-NEW",
        "--institution",
        "IPGP",
        "--term",
        "5 years",
        "--max-mass",
        "1 g",
        "--purpose",
        "research",
        "--max-loan-period",
        "12 months",
    ],
    "agreements sign": ["agreements", "sign", "AG-UoC", "--signed-by", "LESEC"],
    "agreements expire": ["agreements", "expire", "AG-UoC", "--reason", "term over"],
    "agreements terminate": ["agreements", "terminate", "AG-UoC", "--reason", "withdrawn"],
    "loans request": [
        "loans",
        "request",
        "L-2",
        "--agreement",
        "AG-OU",
        "--pi",
        OU_PI,
        "--sample",
        "CE5C0300YJFM00307",
    ],
    "loans approve": ["loans", "approve", "L-1"],
    "loans issue": ["loans", "issue", "L-1"],
    "loans ship": ["loans", "ship", "L-1", "--container", "box", "--seal", "S-9"],
    "loans receive": ["loans", "receive", "L-1", "--seal-intact", "--condition", "ok"],
    "loans consume": [
        "loans",
        "consume",
        "L-1",
        "--sample",
        S,
        "--technique",
        "SIMS",
        "--mass",
        "1 mg",
        "--destructive",
    ],
    "loans split": ["loans", "split", "L-1", "--sample", S, "--child", "-G1", "--mass", "1 mg"],
    "loans return": ["loans", "return", "L-1", "--container", "box", "--seal", "S-R"],
    "loans accept-return": [
        "loans",
        "accept-return",
        "L-1",
        "--seal-intact",
        "--condition",
        "ok",
        "--weighed",
        f"{S}=20mg",
    ],
    "loans extend": [
        "loans",
        "extend",
        "L-1",
        "--period",
        "P6M",
        "--approver",
        CURATOR,
        "--reason",
        "instrument down",
    ],
    "loans recall": ["loans", "recall", "L-1", "--due", "2025-06-01", "--reason", "audit"],
    "loans inventory": ["loans", "inventory", "L-1"],
    "loans settle": ["loans", "settle", "L-1", "--obligations", "report filed"],
    "loans close": ["loans", "close", "L-1"],
    "loans withdraw": ["loans", "withdraw", "L-1", "--reason", "declined"],
    "incidents report": [
        "incidents",
        "report",
        "--sample",
        S,
        "--kind",
        "damage",
        "--description",
        "vial cracked",
    ],
    "custody correct": ["custody", "correct", "5", "--text", "institution name misspelt"],
    "incidents resolve": ["incidents", "resolve", "1", "--resolution", "checked"],
    "import": ["import", "no-such-catalogue.csv"],
}
ROLES = {
    "curator": CURATOR,
    "compliance_officer": COMPLIANCE,
    "researcher": OU_PI,
    "researcher_elsewhere": UOC_PI,
}


LAB = {"loans receive", "loans consume", "loans split", "incidents report", "loans inventory"}
"""What happens in the borrower's lab: its own researchers record it too (issue 14 point 6)."""


def allowed(command: str, role: str) -> bool:
    """Who may run a write command: curators; the loan's own institution in its lab."""
    return role == "curator" or (command in LAB and role == "researcher")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One ledger with a received OU loan L-1 and a pending UoC agreement, copied per case."""
    path = tmp_path_factory.mktemp("roles") / "template.db"
    engine = db.open_engine(db.url_for_path(path), create=True)

    run = run_on(engine)

    with db.transaction(engine) as session:
        setup.init_ledger(session, ctx_for(), curator_name="Li Na")
        setup.add_people_rows(session, ctx_for(), setup.read_rows("demo/people.csv"))
        setup.register_sample_rows(session, ctx_for(), setup.read_rows("demo/samples.csv"))
    factories.signed_agreement(run, "OU")
    factories.draft_agreement(run, "UoC", number="AG-UoC")
    factories.received_loan(run)
    engine.dispose()
    yield path


def test_matrix_covers_every_write_command() -> None:
    import typer

    from tests.test_readme import command_paths

    commands = set(command_paths(typer.main.get_command(app)))
    reads = {c for c in commands if c.split()[-1] in ("list", "show", "tree", "history")}
    reads |= {"balance", "overdue", "status", "verify", "demo", "init"}
    reads |= {c for c in commands if c.startswith("report ")} | {"verify-document"}
    # backup (curators and compliance officers) and restore (curators) have their own role
    # tests in tests/test_backup.py: they copy whole files rather than append events;
    # db upgrade (curators) changes the schema, not the events: tests/test_i14_migrations.py
    maintenance = {"backup", "restore", "db upgrade"}
    # db secure is the DBA's (the server's privileges decide): tests/test_i14_logins.py
    maintenance |= {"db secure"}
    maintenance |= {c for c in commands if c.startswith("keys ")}  # key files, not events
    # e-mail and the archival bag have their own role tests:
    # tests/test_i15_notify.py and tests/test_i15_bag.py
    maintenance |= {"notify", "export", "verify-bag"}
    # proofs between checkpoints write no event; their roles are in tests/test_i15_checkpoints.py
    maintenance |= {"checkpoint prove", "checkpoint check-consistency"}
    assert commands - reads - maintenance == set(WRITE_COMMANDS)


@pytest.mark.parametrize("role", sorted(ROLES))
@pytest.mark.parametrize("command", sorted(WRITE_COMMANDS))
def test_role_matrix(
    command: str, role: str, template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ledger.db"
    shutil.copy(template, path)
    monkeypatch.setenv("SAMPLELOANS_DB", str(path))
    monkeypatch.setenv("SAMPLELOANS_NOW", "2025-04-02T09:00:00Z")
    monkeypatch.delenv("SAMPLELOANS_USER", raising=False)
    before = fingerprint(path)
    result = CliRunner().invoke(app, ["--as", ROLES[role], *WRITE_COMMANDS[command]])
    assert "Traceback" not in result.output
    if allowed(command, role):
        assert result.exit_code != 4, result.output
    else:
        # a researcher elsewhere meets another institution's loan as a missing one (exit 2)
        foreign = command in LAB and role == "researcher_elsewhere"
        assert result.exit_code == (2 if foreign else 4), result.output
        assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
        assert fingerprint(path) == before
