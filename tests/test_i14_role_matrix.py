"""Issue 14 point 6: the role matrix, every write command × every role, on both engines.

On SQLite the role is `--as`; on a secured PostgreSQL ledger (`db secure`) it is the login
(each person connects with their own password, no `--as`). The write commands are enumerated
from the CLI itself: a new command that is neither a read nor in this table fails
`test_matrix_covers_every_write_command`, so it cannot escape the matrix.

Roles: a curator, a compliance officer, a researcher of the loan's institution (OU), a
researcher of another institution (UoC), a deactivated person (an OU researcher whose login is
revoked). Curators write everything; compliance officers export; what happens in the borrower's
lab (receipt, consumption, a split, an incident, the inventory) the loan's own researchers
record too, and the curator then sees it marked as recorded by the borrower. A refusal is exit
4 with one line and nothing written (another institution's loan reads as a missing one: exit 2,
the same answer as for a loan that does not exist); an allowed write succeeds.
"""

import csv
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from sampleloans import db
from sampleloans.cli import app
from sampleloans.services import checkpoints, loans, reference, setup
from tests.conftest import COMPLIANCE, CURATOR, OU_PI, UOC_PI, ctx_for, fingerprint
from tests.test_readme import command_paths
from tests.test_services_roles import (
    S112,
    approved_l2,
    base,
    brown_deactivated,
    incident_seq,
    issued_l2,
    returned,
    returning,
    settled,
)

GONE = "gone@open.example"  # an OU researcher, deactivated in every ledger of the matrix
PASSWORD = "s3cret-login"  # the same as tests/test_i14_logins.py: login roles are cluster-wide
ROLES = {
    "curator": CURATOR,
    "compliance": COMPLIANCE,
    "researcher": OU_PI,  # of the loan's institution (OU)
    "researcher_elsewhere": UOC_PI,
    "deactivated": GONE,
}
SQLITE_NOW = datetime(2025, 4, 1, 9, 0, tzinfo=UTC)


def requested_l2(run: Any) -> None:
    base(run)
    run(
        loans.request_loan, number="L-2", agreement="AG-OU", pi=OU_PI, samples=["CE5C0300YJFM00307"]
    )


def shipped_l2(run: Any) -> None:
    issued_l2(run)
    run(loans.ship_loan, number="L-2", container="box", seal_number="S-9")


SETUPS: dict[str, Callable[[Any], None]] = {
    "base": base,
    "brown_deactivated": brown_deactivated,
    "requested_l2": requested_l2,
    "approved_l2": approved_l2,
    "issued_l2": issued_l2,
    "shipped_l2": shipped_l2,
    "returning": returning,
    "returned": returned,
    "settled": settled,
}


@dataclass(frozen=True)
class Write:
    """One write command: the ledger state it starts from, its arguments (`{due}`, `{tmp}`,
    `{incident}`, `{key}` are filled in per case), and who may run it."""

    state: str
    args: tuple[str, ...]
    allowed: frozenset[str] = frozenset({"curator"})
    event: bool = True  # appends an event (its actor is then the acting person)


LAB = frozenset({"curator", "researcher"})
STAFF = frozenset({"curator", "compliance"})
WRITES: dict[str, Write] = {
    "samples register": Write("base", (
        "samples", "register", "CE5C0000YJYX099", "--mission", "CE-5", "--mass", "1 mg",
        "--origin", "scoop", "--material", "regolith", "--form", "powder", "--purpose",
        "research", "--location", "NAOC N2 cabinet A",
    )),
    "samples split": Write("base", ("samples", "split", "CE5C0500YJFM00415", "--child", "-01=1mg")),
    "samples move": Write("base", ("samples", "move", "CE5C0500YJFM00415", "--location", "shelf")),
    "samples transfer": Write("base", (
        "samples", "transfer", "CE5C0500YJFM00415", "--to", "MNHN", "--reference", "gift",
    )),
    "institutions rename": Write(
        "base", ("institutions", "rename", "OU", "--name", "Open U", "--reason", "typo")
    ),
    "institutions set-place": Write("base", (
        "institutions", "set-place", "OU", "--city", "MK", "--country", "UK", "--reason", "typo",
    )),
    "institutions add": Write("base", (
        "institutions", "add", "NEW", "--name", "New U", "--country", "Chile", "--city",
        "Santiago", "--kind", "borrower",
    )),
    "people add": Write("base", (
        "people", "add", "new@open.example", "--name", "New", "--institution", "OU", "--role",
        "researcher",
    )),
    "people deactivate": Write(
        "base", ("people", "deactivate", "pi@brown.example", "--reason", "left")
    ),
    "people reactivate": Write(
        "brown_deactivated", ("people", "reactivate", "pi@brown.example", "--reason", "back")
    ),
    "people rename": Write(
        "base", ("people", "rename", "pi@brown.example", "--name", "Brown PI", "--reason", "typo")
    ),
    "people set-role": Write("base", (
        "people", "set-role", COMPLIANCE, "--role", "curator", "--reason", "promoted",
    )),
    "agreements add": Write("base", (
        "agreements", "add", "AG-NEW", "--institution", "IPGP", "--term", "5 years",
        "--max-mass", "1 g", "--purpose", "research", "--max-loan-period", "12 months",
    )),
    "agreements sign": Write("base", ("agreements", "sign", "AG-UoC", "--signed-by", "LESEC")),
    "agreements expire": Write("base", ("agreements", "expire", "AG-UoC", "--reason", "term over")),
    "agreements terminate": Write(
        "base", ("agreements", "terminate", "AG-UoC", "--reason", "withdrawn")
    ),
    "loans request": Write("base", (
        "loans", "request", "L-2", "--agreement", "AG-OU", "--pi", OU_PI, "--sample",
        "CE5C0300YJFM00307",
    )),
    "loans approve": Write("requested_l2", ("loans", "approve", "L-2")),
    "loans issue": Write("approved_l2", ("loans", "issue", "L-2")),
    "loans ship": Write(
        "issued_l2", ("loans", "ship", "L-2", "--container", "box", "--seal", "S-9")
    ),
    "loans receive": Write(
        "shipped_l2", ("loans", "receive", "L-2", "--seal-intact", "--condition", "ok"), LAB
    ),
    "loans consume": Write("base", (
        "loans", "consume", "L-1", "--sample", S112, "--technique", "SIMS", "--mass", "1 mg",
        "--destructive",
    ), LAB),
    "loans split": Write(
        "base", ("loans", "split", "L-1", "--sample", S112, "--child", "-G1", "--mass", "1 mg"), LAB
    ),
    "loans return": Write(
        "base", ("loans", "return", "L-1", "--container", "box", "--seal", "S-R")
    ),
    "loans accept-return": Write("returning", (
        "loans", "accept-return", "L-1", "--seal-intact", "--condition", "ok", "--weighed",
        f"{S112}=20mg",
    )),
    "loans extend": Write("base", (
        "loans", "extend", "L-1", "--period", "P1M", "--approver", CURATOR, "--reason", "beam time",
    )),
    "loans recall": Write(
        "base", ("loans", "recall", "L-1", "--due", "{due}", "--reason", "audit")
    ),
    "loans inventory": Write("base", ("loans", "inventory", "L-1"), LAB),
    "loans settle": Write("returned", ("loans", "settle", "L-1", "--obligations", "report filed")),
    "loans close": Write("settled", ("loans", "close", "L-1")),
    "loans withdraw": Write("approved_l2", ("loans", "withdraw", "L-2", "--reason", "declined")),
    "incidents report": Write("base", (
        "incidents", "report", "--sample", S112, "--kind", "damage", "--description",
        "vial cracked",
    ), LAB),
    "incidents resolve": Write(
        "base", ("incidents", "resolve", "{incident}", "--resolution", "ok")
    ),
    "custody correct": Write("base", ("custody", "correct", "5", "--text", "name misspelt")),
    "import": Write("base", ("import", "{tmp}/catalogue.csv")),
    "checkpoint": Write("base", ("checkpoint", "--key", "{key}"), event=False),
    "notify": Write("base", ("notify", "--outbox", "{tmp}/outbox"), event=False),
    "export": Write("base", ("export", "--events", "{tmp}/events.jsonl"), STAFF, event=False),
    "db upgrade": Write("base", ("db", "upgrade"), event=False),
}  # fmt: skip
OUTSIDE = {
    # no ledger, or a new one, so no acting person: init and demo create a ledger; keys write
    # key files; verify-bag checks a bag on its own
    "init", "demo", "verify-bag", "keys generate", "keys lender-root", "keys signing-cert",
    # whole-file copies of a SQLite ledger (refused on PostgreSQL for everyone, exit 3); their
    # roles: tests/test_backup.py, tests/test_i10_restore.py, tests/test_i14_restore_pg.py
    "backup", "restore",
    # the DBA's (the server's own privileges decide): tests/test_i14_logins.py
    "db secure",
    # offline proofs between checkpoints: they read, write nothing
    "checkpoint prove", "checkpoint check-consistency",
}  # fmt: skip
LAB_COMMANDS = {name for name, write in WRITES.items() if "researcher" in write.allowed}


def _reads(commands: set[str]) -> set[str]:
    """The read commands: they write neither events nor tables nor ledger files."""
    reads = {c for c in commands if c.split()[-1] in ("list", "show", "tree", "history")}
    reads |= {"balance", "overdue", "status", "verify", "verify-document"}
    return reads | {c for c in commands if c.startswith("report ")}


def cli_commands(group: Any, prefix: tuple[str, ...] = ()) -> set[str]:
    """Every command of the CLI as typed ('loans consume'), a group that runs on its own
    (`checkpoint`) included."""
    found = set(command_paths(group, prefix))
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            if command.invoke_without_command:
                found.add(" ".join((*prefix, name)))
            found |= cli_commands(command, (*prefix, name))
    return found


def test_matrix_covers_every_write_command() -> None:
    """Every command the CLI has is a read, outside the ledger, or in the matrix."""
    commands = cli_commands(typer.main.get_command(app))
    assert set(WRITES) | OUTSIDE <= commands, "the matrix names a command the CLI lacks"
    assert commands - _reads(commands) - OUTSIDE == set(WRITES)
    assert {
        "loans receive", "loans consume", "loans split", "incidents report", "loans inventory",
    } == LAB_COMMANDS  # fmt: skip


def expected_exit(command: str, role: str) -> int:
    """0 for an allowed write; 2 for another institution's loan in a lab command (the answer
    for a missing one); 4 for every other refusal."""
    if role in WRITES[command].allowed:
        return 0
    if command in LAB_COMMANDS and role == "researcher_elsewhere":
        return 2
    return 4


# --- building the ledgers ---------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    """What a template ledger's case needs: the incident to resolve, a recall date after now."""

    incident: int
    due: str


def _build(engine: Engine, state: str, now: datetime, key: Path) -> Built:
    """The reference data, the demo people and samples, a deactivated OU researcher, the
    state's loans and agreements, then a signed checkpoint (statements are built on one), all
    through the services as the curator at `now`."""
    _build_prefix(engine, now)
    return _build_on_prefix(engine, state, now, key)


def _run_at(engine: Engine, now: datetime) -> Callable[..., Any]:
    """`run(fn, **kw)`: one committed service call as the curator at `now`."""

    def run(fn: Callable[..., Any], *, actor: str = CURATOR, now: datetime = now, **kw: Any) -> Any:
        with db.transaction(engine) as session:
            return fn(session, ctx_for(actor, now), **kw)

    return run


def _build_prefix(engine: Engine, now: datetime) -> None:
    """What every state starts from: the reference data, the demo people and samples, and a
    deactivated OU researcher (built once per engine, then copied for each state)."""
    run = _run_at(engine, now)
    with db.transaction(engine) as session:
        setup.init_ledger(session, ctx_for(CURATOR, now), curator_name="Li Na")
        setup.add_people_rows(session, ctx_for(CURATOR, now), setup.read_rows("demo/people.csv"))
        setup.register_sample_rows(
            session, ctx_for(CURATOR, now), setup.read_rows("demo/samples.csv")
        )
    run(reference.add_person, email=GONE, name="Gone", institution="OU", role="researcher")
    run(reference.deactivate_person, email=GONE, reason="left")


def _build_on_prefix(engine: Engine, state: str, now: datetime, key: Path) -> Built:
    """On a ledger `_build_prefix` made: the state's loans and agreements, then a signed
    checkpoint (statements are built on one)."""
    run = _run_at(engine, now)
    SETUPS[state](run)
    checkpoints.make_checkpoint(engine, ctx_for(CURATOR, now), checkpoints.read_signer(key))
    return Built(incident=incident_seq(run), due=(now + timedelta(days=30)).date().isoformat())


def _catalogue(folder: Path) -> None:
    """A one-sample catalogue for `import`."""
    first = setup.read_rows("demo/samples.csv")[0].values
    with (folder / "catalogue.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(first))
        writer.writeheader()
        writer.writerow(first | {"code": "CE5TEST0001"})


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint signing key."""
    out = tmp_path_factory.mktemp("key") / "cp.key"
    done = CliRunner().invoke(
        app, ["keys", "generate", "--out", str(out), "--name", "naoc.example"]
    )
    assert done.exit_code == 0, done.stderr
    return out


def _fill(args: tuple[str, ...], built: Built, tmp: Path, key: Path) -> list[str]:
    values = {"due": built.due, "incident": str(built.incident), "tmp": str(tmp), "key": str(key)}
    return [arg.format(**values) for arg in args]


def _case_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "case"
    (folder / "outbox").mkdir(parents=True)
    _catalogue(folder)
    return folder


def _files(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


def _check_refused(result: Result, code: int, role: str, command: str) -> None:
    assert result.exit_code == code, (command, role, result.stdout, result.stderr)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), (command, role, result.stderr)


# --- SQLite: the role is --as ----------------------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_templates(
    tmp_path_factory: pytest.TempPathFactory, key: Path
) -> dict[str, tuple[Path, Built]]:
    """One template ledger file per state, each a copy of one prefix ledger built once (the
    prefix costs as much as a state's own history and its checkpoint together)."""
    folder = tmp_path_factory.mktemp("matrix-sqlite")
    prefix = folder / "prefix.db"
    engine = db.open_engine(db.url_for_path(prefix), create=True)
    try:
        _build_prefix(engine, SQLITE_NOW)
    finally:
        engine.dispose()  # the last connection folds the write-ahead log into the file
    made = {}
    for state in SETUPS:
        path = folder / f"{state}.db"
        shutil.copyfile(prefix, path)
        engine = db.open_engine(db.url_for_path(path))
        try:
            made[state] = (path, _build_on_prefix(engine, state, SQLITE_NOW, key))
        finally:
            engine.dispose()
    return made


def _sqlite_run(path: Path, args: list[str], email: str) -> Result:
    env = {
        "SAMPLELOANS_DB": str(path),
        "SAMPLELOANS_NOW": (SQLITE_NOW + timedelta(hours=1)).isoformat(),
        "SAMPLELOANS_USER": "",
        "COLUMNS": "200",
    }
    return CliRunner().invoke(app, ["--as", email, *args], env=env)


def _sqlite_events(path: Path) -> list[tuple[Any, ...]]:
    import sqlite3

    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT seq, actor FROM ledger_event ORDER BY seq").fetchall()


@pytest.mark.parametrize("command", sorted(WRITES))
def test_role_matrix_on_sqlite(
    command: str,
    sqlite_templates: dict[str, tuple[Path, Built]],
    key: Path,
    tmp_path: Path,
) -> None:
    """Each role with --as: refusals write nothing (no row, no file), allowed writes succeed
    and record the acting person."""
    write = WRITES[command]
    template, built = sqlite_templates[write.state]
    refused_db = tmp_path / "refused.db"
    shutil.copyfile(template, refused_db)
    folder = _case_folder(tmp_path)
    args = _fill(write.args, built, folder, key)
    files = _files(folder)
    before = fingerprint(refused_db)  # every refusal must leave it so
    for role, email in ROLES.items():
        code = expected_exit(command, role)
        if code:
            _check_refused(_sqlite_run(refused_db, args, email), code, role, command)
            assert fingerprint(refused_db) == before, (command, role)
            assert _files(folder) == files, (command, role)
            continue
        ledger = tmp_path / f"{role}.db"
        shutil.copyfile(template, ledger)
        before_events = _sqlite_events(ledger)
        done = _sqlite_run(ledger, args, email)
        assert done.exit_code == 0, (command, role, done.stdout, done.stderr)
        if write.event:
            after = _sqlite_events(ledger)
            assert len(after) > len(before_events) and after[-1][1] == email
        if role == "researcher":
            _curator_sees_borrower_mark_sqlite(ledger)
        shutil.rmtree(folder)
        folder = _case_folder(tmp_path)


def _curator_sees_borrower_mark_sqlite(ledger: Path) -> None:
    """The curator's history of the OU loans shows the researcher's event as the borrower's."""
    shown = _sqlite_run(ledger, ["custody", "history", "--institution", "OU"], CURATOR)
    assert shown.exit_code == 0, shown.stderr
    assert "(recorded by the" in shown.stdout  # the table may wrap the mark
    as_json = _sqlite_run(ledger, ["custody", "history", "--institution", "OU", "--json"], CURATOR)
    assert '"recorded_by_borrower": true' in as_json.stdout
    assert '"recorded_by_borrower": false' in as_json.stdout  # the curator's own events


@pytest.mark.parametrize("command", sorted(LAB_COMMANDS))
def test_a_foreign_loan_answers_as_a_missing_one(
    command: str, sqlite_templates: dict[str, tuple[Path, Built]], key: Path, tmp_path: Path
) -> None:
    """Issue 14 point 5 for the lab commands: a researcher of another institution gets the
    same exit code and the same words for OU's loan (or sample) as for one that does not
    exist, so a refusal discloses nothing."""
    write = WRITES[command]
    template, built = sqlite_templates[write.state]
    ledger = tmp_path / "ledger.db"
    shutil.copyfile(template, ledger)
    args = _fill(write.args, built, tmp_path, key)
    real = "L-2" if "L-2" in args else ("L-1" if "L-1" in args else S112)
    missing = [("L-NONE" if real.startswith("L-") else "CE5C9999ZZZZ99999") if a == real else a
               for a in args]  # fmt: skip
    foreign = _sqlite_run(ledger, args, UOC_PI)
    absent = _sqlite_run(ledger, missing, UOC_PI)
    assert foreign.exit_code == absent.exit_code == 2, (foreign.stderr, absent.stderr)
    gone = "L-NONE" if real.startswith("L-") else "CE5C9999ZZZZ99999"
    assert foreign.stderr.replace(real, "KEY") == absent.stderr.replace(gone, "KEY")
