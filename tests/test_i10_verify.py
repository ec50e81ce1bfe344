"""Issue 10 items 5, 10 and 12: who may verify, a recording clock that goes back, and
append-only triggers neutered under their own names."""

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from sqlalchemy import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.errors import PermissionDenied, RuleViolation
from sampleloans.ledger.store import Context
from sampleloans.services.reference import add_institution
from sampleloans.services.samples import register_sample
from sampleloans.services.verify import expected_triggers, verify, verify_as
from tests.conftest import COMPLIANCE, CURATOR, OU_PI, ctx_for, fingerprint
from tests.test_readme import command_paths

SAMPLE = "CE5C0000YJYX061"
NOBODY = "nobody@example.org"

# --- item 5: every command needs a registered person; researchers get no whole-ledger verify ---

ARGS: dict[str, list[str]] = {
    "agreements add": ["AG-X", "--institution", "OU", "--term", "5 years", "--max-mass", "1 g",
                       "--purpose", "research", "--max-loan-period", "12 months"],
    "agreements expire": ["AG-X", "--reason", "x"],
    "agreements list": [],
    "agreements show": ["AG-X"],
    "agreements sign": ["AG-X", "--signed-by", "x"],
    "agreements terminate": ["AG-X", "--reason", "x"],
    "db upgrade": [],
    "db secure": [],
    "backup": ["{tmp}/copy.db"],
    "checkpoint list": [],
    "checkpoint show": ["1"],
    "checkpoint prove": ["{tmp}/old.txt", "{tmp}/new.txt", "--out", "{tmp}/proof.json"],
    "export": ["--events", "{tmp}/events.jsonl"],
    "balance": ["--sample", SAMPLE],
    "custody correct": ["5", "--text", "x"],
    "custody history": ["--sample", SAMPLE],
    "import": ["{tmp}/history.jsonl"],
    "incidents list": [],
    "incidents report": ["--sample", SAMPLE, "--kind", "damage", "--description", "x"],
    "incidents resolve": ["5", "--resolution", "x"],
    "institutions add": ["ZZ", "--name", "Z", "--country", "CN", "--city", "B",
                         "--kind", "borrower"],
    "institutions list": [],
    "institutions rename": ["OU", "--name", "Open U", "--reason", "x"],
    "institutions set-place": ["OU", "--city", "MK", "--country", "UK", "--reason", "x"],
    "institutions show": ["OU"],
    "loans accept-return": ["L-1", "--seal-intact", "--condition", "x",
                            "--weighed", f"{SAMPLE}=1mg"],
    "loans approve": ["L-1"],
    "loans close": ["L-1"],
    "loans withdraw": ["L-1", "--reason", "declined"],
    "loans consume": ["L-1", "--sample", SAMPLE, "--technique", "x", "--mass", "1 mg",
                      "--destructive"],
    "loans extend": ["L-1", "--period", "P1M", "--approver", CURATOR, "--reason", "x"],
    "loans inventory": ["L-1"],
    "loans issue": ["L-1"],
    "loans list": [],
    "loans recall": ["L-1", "--due", "2025-05-01", "--reason", "x"],
    "loans receive": ["L-1", "--seal-intact", "--condition", "x"],
    "loans request": ["L-1", "--agreement", "AG-X", "--pi", OU_PI, "--sample", SAMPLE],
    "loans return": ["L-1", "--container", "x", "--seal", "S"],
    "loans settle": ["L-1", "--obligations", "x"],
    "loans ship": ["L-1", "--container", "x", "--seal", "S"],
    "loans show": ["L-1"],
    "loans split": ["L-1", "--sample", SAMPLE, "--child", "-G1", "--mass", "1 mg"],
    "overdue": [],
    "people add": ["x@y.example", "--name", "X", "--institution", "OU", "--role", "researcher"],
    "people deactivate": [OU_PI, "--reason", "left"],
    "people list": [],
    "people reactivate": [OU_PI, "--reason", "back"],
    "people rename": [OU_PI, "--name", "Mahesh A.", "--reason", "x"],
    "people set-role": [OU_PI, "--role", "researcher", "--reason", "x"],
    "people show": [OU_PI],
    "report custody": ["--sample", SAMPLE, "--out", "{tmp}/r.pdf"],
    "report inventory": ["--loan", "L-1", "--out", "{tmp}/r.pdf"],
    "report overdue": ["--institution", "OU", "--out", "{tmp}/r.pdf"],
    "report return": ["--loan", "L-1", "--out", "{tmp}/r.pdf"],
    "report statement": ["--institution", "OU", "--out", "{tmp}"],
    "notify": [],
    "restore": ["{tmp}/backup.db", "--force"],
    "samples list": [],
    "samples register": ["CE5CNEW1", "--mission", "CE-5", "--mass", "1 mg", "--origin", "scoop",
                         "--material", "x", "--form", "y", "--purpose", "research",
                         "--location", "z"],
    "samples show": [SAMPLE],
    "samples split": [SAMPLE, "--child", "-01=1mg"],
    "samples move": [SAMPLE, "--location", "x"],
    "samples transfer": [SAMPLE, "--to", "MNHN", "--reference", "gift"],
    "samples tree": [SAMPLE],
    "status": [],
    "verify": [],
    "verify-document": ["{tmp}/report.pdf"],
}  # fmt: skip
OWN_LEDGER = {"init", "demo"}  # they create their own ledger, with its first curator
# they read no ledger: a key pair is made, two checkpoints and a proof are checked offline
NO_LEDGER = {"keys generate", "checkpoint check-consistency", "verify-bag"}


def test_the_matrix_covers_every_command() -> None:
    commands = set(command_paths(typer.main.get_command(app)))
    no_ledger = {c for c in commands if c.startswith("keys ")}  # key files; no ledger opened
    assert commands - OWN_LEDGER - NO_LEDGER - no_ledger == set(ARGS)


def prepare(command: str, db_path: Path, folder: Path) -> None:
    """The file a command reads (a backup, a history, a real report), so it reaches its check."""
    if command == "restore":
        with sqlite3.connect(db_path) as live, sqlite3.connect(folder / "backup.db") as copy:
            live.backup(copy)
    elif command == "import":
        (folder / "history.jsonl").write_text("")
    elif command == "verify-document":
        made = CliRunner().invoke(
            app,
            ["--db", str(db_path), "--as", CURATOR, "report", "custody", "--sample", SAMPLE,
             "--out", str(folder / "report.pdf")],
        )  # fmt: skip
        assert made.exit_code == 0, made.output


@pytest.mark.parametrize("who", [None, f"  {NOBODY.title()} "])
@pytest.mark.parametrize("command", sorted(ARGS))
def test_every_command_refuses_without_a_registered_person(
    command: str,
    who: str | None,
    engine: Engine,
    db_path: Path,
    tmp_path: Path,
    cli_env: dict[str, str],
) -> None:
    prepare(command, db_path, tmp_path)
    before = fingerprint(db_path)
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in ARGS[command]]
    acting = [] if who is None else ["--as", who]
    result = CliRunner().invoke(app, [*acting, *command.split(), *args])
    assert result.exit_code == 4, result.output
    if command != "verify-document":  # its header line before a refusal is item 16's fix
        assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    expected = "no acting person" if who is None else f"{NOBODY!r} is not a registered person"
    assert expected in result.stderr
    assert fingerprint(db_path) == before
    assert not (tmp_path / "r.pdf").exists() and not (tmp_path / "copy.db").exists()
    assert not (tmp_path / "events.jsonl").exists() and not (tmp_path / "proof.json").exists()


def test_a_researcher_gets_no_whole_ledger_verify(
    engine: Engine, db_path: Path, cli_env: dict[str, str], runner: CliRunner
) -> None:
    # a tampered ledger: the problem lines would name another institution's records
    with sqlite3.connect(db_path) as connection:
        connection.execute(f"UPDATE sample SET vault_ug = vault_ug - 1 WHERE code = '{SAMPLE}'")
    for extra in ([], ["--json"], ["--print-head"]):
        result = runner.invoke(app, ["--as", OU_PI, "verify", *extra])
        assert result.exit_code == 4
        assert result.stdout == ""
        assert result.stderr == (
            f"Error: {OU_PI} is a researcher; only curators or compliance officers may verify "
            "the whole ledger\n"
        )
    for staff in (CURATOR, COMPLIANCE):
        found = runner.invoke(app, ["--as", staff, "verify"])
        assert found.exit_code == 1 and SAMPLE in found.stdout


def test_verify_as_refuses_researchers_and_strangers(engine: Engine) -> None:
    for who, role in ((OU_PI, "researcher"), (NOBODY, "not a registered person")):
        with pytest.raises(PermissionDenied, match=role):
            verify_as(engine, ctx_for(who))
    assert verify_as(engine, ctx_for(COMPLIANCE)).ok


# --- item 10: the recording clock never goes back; no sample before its mission returned ------


def lab(session: Session, ctx: Context, name: str) -> None:
    add_institution(
        session,
        ctx,
        short_name=name,
        name="Lab",
        country="CN",
        city="Beijing",
        institution_kind="borrower",
    )


def test_a_write_with_the_clock_set_back_is_refused(
    engine: Engine, db_path: Path, cli_env: dict[str, str], runner: CliRunner
) -> None:
    runner.invoke(app, ["--as", CURATOR, "institutions", "add", "L1", "--name", "Lab 1",
                        "--country", "CN", "--city", "B", "--kind", "borrower"])  # fmt: skip
    before = fingerprint(db_path)
    result = runner.invoke(
        app,
        ["--as", CURATOR, "institutions", "add", "L2", "--name", "Lab 2", "--country", "CN",
         "--city", "B", "--kind", "borrower"],
        env={"SAMPLELOANS_NOW": "1900-01-01T00:00:00Z"},
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("Error: clock: now is 1900-01-01T00:00:00Z, before ")
    assert "2025-04-01T09:00:00Z" in result.stderr and "SAMPLELOANS_NOW" in result.stderr
    assert fingerprint(db_path) == before


def test_append_refuses_a_recorded_at_before_the_head(engine: Engine) -> None:
    earlier = datetime(2025, 3, 31, tzinfo=UTC)
    refused = pytest.raises(RuleViolation, match=r"^clock: now is 2025-03-31T00:00:00Z, before")
    with refused, db.transaction(engine) as session:
        lab(session, ctx_for(now=earlier), "EARLY")
    with db.transaction(engine) as session:  # the same moment as the head is fine
        lab(session, ctx_for(), "SAME")
    assert verify(engine).ok


def test_a_batch_session_refuses_the_clock_going_back_too(engine: Engine) -> None:
    from sampleloans.ledger.unit import batch_unit

    with (
        pytest.raises(RuleViolation, match="clock"),
        db.transaction(engine) as session,
        batch_unit(session),
    ):
        lab(session, ctx_for(), "B1")
        lab(session, ctx_for(now=datetime(2024, 1, 1, tzinfo=UTC)), "B2")


def drop_triggers(path: Path, *statements: str) -> None:
    """Raw sqlite3 outside the app: drop the append-only triggers, run `statements`, put the
    triggers back (as the tamper tests do)."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN")
        for name in db.TRIGGER_NAMES:
            connection.execute(f"DROP TRIGGER {name}")
        for statement in statements:
            connection.execute(statement)
        for statement in db.APPEND_ONLY_TRIGGERS:
            connection.execute(statement)
        connection.execute("COMMIT")
    finally:
        connection.close()


def test_verify_reports_a_recording_clock_that_went_back(
    engine: Engine, db_path: Path, cli_env: dict[str, str], runner: CliRunner
) -> None:
    # stamp event 20 as recorded in 1900, then rehash the chain from there so only the clock
    # is wrong (a rewrite without rehashing is caught by the chain already)
    with sqlite3.connect(db_path) as connection:
        kind = connection.execute("SELECT kind FROM ledger_event WHERE seq = 20").fetchone()[0]
    rehash_from(db_path, 20, recorded_at="1900-01-01T00:00:00Z")
    result = runner.invoke(app, ["--as", COMPLIANCE, "verify"])
    assert result.exit_code == 1
    assert (
        f"event 20 ({kind}) was recorded at 1900-01-01T00:00:00Z, before event 19 "
        "(2025-04-01T09:00:00Z): the recording clock went backwards" in result.stdout
    )
    assert "does not match its hash" not in result.stdout  # the chain itself is consistent


BODY_FIELDS = ("seq", "kind", "payload", "occurred_at", "recorded_at", "actor", "os_user",
               "corrects_seq", "reason")  # fmt: skip


def rehash_from(path: Path, seq: int, *, recorded_at: str) -> None:
    """Change one event's recorded_at and recompute every hash from it on (a forger's edit)."""
    from sampleloans.ledger import chain

    connection = sqlite3.connect(path)
    connection.row_factory = sqlite3.Row
    rows = [dict(r) for r in connection.execute("SELECT * FROM ledger_event ORDER BY seq")]
    connection.close()
    statements, prev_hash = [], rows[seq - 2]["hash"]
    for row in rows[seq - 1 :]:
        if row["seq"] == seq:
            row["recorded_at"] = recorded_at
        body = {k: row[k] for k in BODY_FIELDS}
        new_hash = chain.link_hash(prev_hash, chain.event_body(**body))
        statements.append(
            f"UPDATE ledger_event SET recorded_at = '{row['recorded_at']}', "
            f"prev_hash = '{prev_hash}', hash = '{new_hash}' WHERE seq = {row['seq']}"
        )
        prev_hash = new_hash
    drop_triggers(path, *statements)


def test_a_sample_cannot_be_registered_before_its_mission_returned(
    engine: Engine, db_path: Path, cli_env: dict[str, str], runner: CliRunner
) -> None:
    before = fingerprint(db_path)
    result = runner.invoke(
        app,
        ["--as", CURATOR, "samples", "register", "CE5CEARLY1", "--mission", "CE-5", "--mass",
         "1 mg", "--origin", "scoop", "--material", "x", "--form", "y", "--purpose", "research",
         "--location", "z", "--at", "2020-12-16T12:00:00Z"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output  # time order is a rule
    assert result.stderr == (
        "Error: --at: 2020-12-16T12:00:00Z is before mission CE-5 returned "
        "(2020-12-16T17:59:00Z); a sample cannot be registered before its mission returned: "
        "check --at, and give a time from 2020-12-16T17:59:00Z on\n"
    )
    assert fingerprint(db_path) == before


def test_register_sample_service_checks_the_mission_return(run: Callable[..., object]) -> None:
    fields = dict(
        mission="CE-5", mass_ug=1000, origin="scoop", material_type="x", physical_form="y",
        purpose_class="research", storage_location="z",
    )  # fmt: skip
    with pytest.raises(RuleViolation, match="before mission CE-5 returned"):
        run(register_sample, code="CE5CEARLY2", occurred_at=datetime(1900, 1, 1, tzinfo=UTC),
            **fields)  # fmt: skip
    run(register_sample, code="CE5CLATE", occurred_at=datetime(2020, 12, 16, 18, tzinfo=UTC),
        **fields)  # fmt: skip


# --- item 12: triggers are compared by their whole definition -----------------------------------


def neutered(statement: str) -> str:
    """The same trigger, under the same name, that never fires."""
    return statement.replace(" IF NOT EXISTS", "").replace("\n       BEGIN", " WHEN 0 BEGIN")


@pytest.mark.parametrize("name", db.TRIGGER_NAMES)
def test_a_neutered_trigger_is_named_by_verify(
    engine: Engine, db_path: Path, cli_env: dict[str, str], runner: CliRunner, name: str
) -> None:
    statement = next(s for s in db.APPEND_ONLY_TRIGGERS if f" {name} " in s)
    twin = neutered(statement)
    assert "WHEN 0" in twin
    with sqlite3.connect(db_path) as connection:
        connection.execute(f"DROP TRIGGER {name}")
        connection.execute(twin)
    result = runner.invoke(app, ["--as", COMPLIANCE, "verify"])
    assert result.exit_code == 1
    assert f"append-only trigger {name} was altered (now: CREATE TRIGGER {name}" in result.stdout
    assert "WHEN 0" in result.stdout
    problems = verify(engine).problems
    assert [(p.area, name in p.message) for p in problems] == [("schema", True)]


def test_all_neutered_triggers_are_each_named(engine: Engine, db_path: Path) -> None:
    with sqlite3.connect(db_path) as connection:
        for name, statement in zip(db.TRIGGER_NAMES, db.APPEND_ONLY_TRIGGERS, strict=True):
            connection.execute(f"DROP TRIGGER {name}")
            connection.execute(neutered(statement))
        # the neutered triggers would let this through
        connection.execute("UPDATE ledger_event SET actor = 'x' WHERE seq = 1")
    messages = [p.message for p in verify(engine).problems]
    for name in db.TRIGGER_NAMES:
        assert any(f"append-only trigger {name} was altered" in m for m in messages), name
    assert any("event 1 (ledger.created) does not match its hash" in m for m in messages)


def test_an_extra_trigger_on_the_events_is_named(engine: Engine, db_path: Path) -> None:
    with sqlite3.connect(db_path) as connection:
        connection.execute(
            "CREATE TRIGGER quiet_fix AFTER INSERT ON ledger_event BEGIN SELECT 1; END"
        )
    messages = [p.message for p in verify(engine).problems]
    assert len(messages) == 1
    assert messages[0].startswith("trigger quiet_fix on ledger_event is not part of the ledger")


def test_whitespace_alone_is_no_change(engine: Engine, db_path: Path) -> None:
    name = db.TRIGGER_NAMES[0]
    respaced = "\n\n   ".join(expected_triggers()[name].split(" "))
    with sqlite3.connect(db_path) as connection:
        connection.execute(f"DROP TRIGGER {name}")
        connection.execute(respaced)
    assert verify(engine).ok


def test_a_fresh_ledger_has_exactly_the_expected_triggers(engine: Engine, db_path: Path) -> None:
    with sqlite3.connect(db_path) as connection:
        stored = dict(
            connection.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
        )
    # a fresh ledger also has the checkpoint table (revision 0004) and its two triggers
    checkpoint = {
        statement.split()[5]: " ".join(statement.replace(" IF NOT EXISTS ", " ", 1).split())
        for statement in db.CHECKPOINT_TRIGGERS
    }
    assert set(checkpoint) == {"checkpoint_no_update", "checkpoint_no_delete"}
    # and, from revision 0013, the two of notification_sent
    notification = {
        statement.split()[5]: " ".join(statement.replace(" IF NOT EXISTS ", " ", 1).split())
        for statement in db.NOTIFICATION_TRIGGERS
    }
    assert set(notification) == {"notification_sent_no_update", "notification_sent_no_delete"}
    stored_normalised = {name: " ".join(sql.split()) for name, sql in stored.items()}
    assert stored_normalised == {**expected_triggers(), **checkpoint, **notification}
