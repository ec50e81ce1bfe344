"""A schema changed by hand (sweep s19, tamper): an attacker with write access to the SQLite
file adds or drops a column, drops a table or an index, or edits the schema version table.

`verify` names each change as a `[schema]` finding (exit 1; never "the database file is
damaged", and the replay of the other tables still runs); `db upgrade` refuses a version table
it cannot upgrade in one line (exit 3, nothing changed); an ordinary command on a ledger lacking
a column or table says the schema was changed (exit 3), never a traceback.
"""

import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from tests.conftest import COMPLIANCE, CURATOR, demo_env, fingerprint


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger, made once; each test tampers with its own copy."""
    return Path(demo_env(tmp_path_factory, COMPLIANCE)["SAMPLELOANS_DB"])


@pytest.fixture
def ledger(demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's copy of the demo ledger, as SAMPLELOANS_DB."""
    path = tmp_path / "ledger.db"
    shutil.copy(demo, path)
    monkeypatch.setenv("SAMPLELOANS_DB", str(path))
    monkeypatch.setenv("SAMPLELOANS_NOW", "2026-06-01T00:00:00Z")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("SAMPLELOANS_USER", raising=False)
    return path


def tamper(path: Path, script: str) -> None:
    """Change the file with sqlite3, outside the application."""
    connection = sqlite3.connect(path)
    try:
        connection.executescript(script)
        connection.commit()
    finally:
        connection.close()


def cli(*args: str, who: str = COMPLIANCE) -> tuple[int, str, str]:
    """Run the CLI as `who`; its exit code, stdout and stderr."""
    result = CliRunner().invoke(app, ["--as", who, *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def findings(stdout: str) -> list[str]:
    """The finding lines `verify` printed."""
    return [line.strip() for line in stdout.splitlines() if line.strip().startswith("[")]


SCHEMA_CHANGES = {
    "alter table loan add column evil text default 'x'": [
        "[schema] table loan has a column evil the ledger's schema does not define: the schema "
        "was changed by hand"
    ],
    "alter table loan drop column last_loan_wide_event_at": [
        "[schema] table loan lacks its column last_loan_wide_event_at: the schema was changed "
        "by hand"
    ],
    "drop table incident": ["[schema] table incident is missing: the schema was changed by hand"],
    "drop index ix_loan_status": [
        "[schema] index ix_loan_status on loan is missing: the schema was changed by hand"
    ],
    "drop index ux_notification_once": [
        "[schema] index ux_notification_once on notification_sent is missing: the schema was "
        "changed by hand"
    ],
}


@pytest.mark.parametrize("change", sorted(SCHEMA_CHANGES))
def test_verify_names_a_schema_change_and_nothing_else(ledger: Path, change: str) -> None:
    """Each change is one `[schema]` finding, exactly: not "the database file is damaged", and
    no row of any table reported changed (the other tables are still compared)."""
    tamper(ledger, change)
    code, stdout, stderr = cli("verify")
    assert code == 1, (stdout, stderr)
    assert findings(stdout) == SCHEMA_CHANGES[change]
    assert "Traceback" not in stdout + stderr


def test_verify_still_finds_a_changed_row_beside_an_added_column(ledger: Path) -> None:
    """An added column does not hide a projection edit in the same table."""
    tamper(
        ledger,
        "alter table loan add column evil text;"
        "update loan set due_at='2030-01-01T00:00:00Z' where number='L-2025-UoC'",
    )
    code, stdout, _ = cli("verify")
    assert code == 1
    assert findings(stdout) == [
        "[schema] table loan has a column evil the ledger's schema does not define: the schema "
        "was changed by hand",
        "[projection] loan row L-2025-UoC: due_at is '2030-01-01T00:00:00Z' but the events "
        "give '2026-10-25T08:00:00Z'",
    ]


@pytest.mark.parametrize(
    "args",
    [
        ("status", "--institution", "UoC"),
        ("loans", "show", "L-2025-UoC"),
        ("report", "custody", "--loan", "L-2025-UoC", "--out", "OUT"),
    ],
)
def test_a_command_on_a_ledger_lacking_a_column_says_so(
    ledger: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    """A read on a table whose column was dropped: one `Error:` line naming the schema change
    and what SQLite lacks, exit 3, no partial output file (was: a traceback, exit 1)."""
    tamper(ledger, "alter table loan drop column last_loan_wide_event_at")
    out = tmp_path / "custody.pdf"
    code, stdout, stderr = cli(*(str(out) if arg == "OUT" else arg for arg in args))
    assert code == 3, (stdout, stderr)
    assert stderr.splitlines() == [
        f"Error: the schema of the ledger {ledger} is not this release's (SQLite says: no such "
        "column: loan.last_loan_wide_event_at): it was changed by hand; nothing was written; "
        "run 'sampleloans verify' and restore the latest verified backup"
    ]
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.db"]


def test_a_write_on_a_ledger_lacking_a_table_changes_nothing(ledger: Path) -> None:
    """A write that needs a dropped table: exit 3, one line, the file unchanged."""
    tamper(ledger, "drop table incident")
    before = fingerprint(ledger)
    code, stdout, stderr = cli(
        "loans",
        "consume",
        "L-2025-UoC",
        "--sample",
        "CE5C0000YJYX052",
        "--technique",
        "SIMS",
        "--mass",
        "1 ug",
        "--non-destructive",
        who=CURATOR,
    )
    assert code == 3, (stdout, stderr)
    assert stderr.startswith(f"Error: the schema of the ledger {ledger} is not this release's")
    assert "no such table: incident" in stderr
    assert fingerprint(ledger) == before


REVISION_EDITS = {
    "update alembic_version set version_num='9999_future'": (
        "the ledger's schema version table holds '9999_future', a revision this release does "
        f"not know (its newest is {db.SCHEMA_HEAD}): a newer release wrote this ledger (use "
        "it), or the table was edited by hand"
    ),
    "insert into alembic_version values ('0010_researcher_lab_events')": (
        "the ledger's schema version table holds 2 revisions (0010_researcher_lab_events, "
        f"{db.SCHEMA_HEAD}), where every release writes one"
    ),
}


@pytest.mark.parametrize("edit", sorted(REVISION_EDITS))
def test_an_edited_version_table_is_a_finding_and_db_upgrade_refuses_it(
    ledger: Path, edit: str
) -> None:
    """`verify` names it (exit 1) and prints no note telling a curator to upgrade; `db
    upgrade` refuses in one line, exit 3, nothing changed (was: Alembic's traceback)."""
    tamper(ledger, edit)
    code, stdout, stderr = cli("verify")
    assert code == 1
    assert len(findings(stdout)) == 1
    assert findings(stdout)[0].startswith(f"[schema] {REVISION_EDITS[edit]}")
    assert findings(stdout)[0].endswith("edited by hand")
    assert "db upgrade" not in stderr
    before = fingerprint(ledger)
    code, stdout, stderr = cli("db", "upgrade", who=CURATOR)
    assert code == 3, (stdout, stderr)
    assert len(stderr.splitlines()) == 1
    assert stderr.startswith(f"Error: {REVISION_EDITS[edit]}")
    assert stderr.rstrip().endswith("(run 'sampleloans verify'); nothing changed")
    assert fingerprint(ledger) == before


def test_an_emptied_version_table_is_a_finding(ledger: Path) -> None:
    """No revision at all is not "at None": a finding, and no note to upgrade."""
    tamper(ledger, "delete from alembic_version")
    code, stdout, stderr = cli("verify")
    assert code == 1
    assert findings(stdout) == [
        "[schema] the ledger's schema version table holds no revision, where every release "
        "writes one: the table was edited by hand"
    ]
    assert "None" not in stderr


def test_an_older_known_revision_is_still_only_a_note(ledger: Path) -> None:
    """A ledger at a revision this release knows is not tampered with: OK and the note."""
    tamper(ledger, "update alembic_version set version_num='0010_researcher_lab_events'")
    code, stdout, stderr = cli("verify")
    assert code == 0, stdout
    assert "Note: this ledger's schema is at 0010_researcher_lab_events" in stderr


def test_restore_refuses_a_backup_whose_version_table_was_edited(
    ledger: Path, tmp_path: Path
) -> None:
    """A backup stamped with a revision no release wrote fails its verify: exit 1, nothing
    restored (was: restored, the edited version table and all)."""
    backup = tmp_path / "backup.db"
    shutil.copy(ledger, backup)
    tamper(backup, "update alembic_version set version_num='9999_x'")
    before = fingerprint(ledger)
    code, stdout, stderr = cli("restore", str(backup), "--force", who=CURATOR)
    assert code == 1, (stdout, stderr)
    assert stderr.startswith("Error: ") and "fails verify" in stderr
    assert "schema version table holds '9999_x', a revision this release does not know" in stderr
    assert stderr.rstrip().endswith("nothing was restored")
    assert fingerprint(ledger) == before


def test_a_changed_ledger_id_is_named_as_such(ledger: Path) -> None:
    """Editing the ledger id in ledger_meta: the first event no longer links to its genesis,
    said so (was: "does not link to event 0", an event that never exists)."""
    tamper(
        ledger,
        "drop trigger ledger_meta_no_update;"
        "update ledger_meta set value='00000000-0000-0000-0000-000000000000'",
    )
    code, stdout, _ = cli("verify")
    assert code == 1
    assert findings(stdout) == [
        "[schema] append-only trigger ledger_meta_no_update is missing: the ledger was unprotected",
        "[chain] event 1 (ledger.created) does not link to the genesis of this ledger's id "
        "(ledger_meta): the ledger id was changed, or the first events were changed, removed "
        "or inserted",
    ]


@pytest.mark.parametrize(
    "change",
    [
        "alter table loan drop column last_loan_wide_event_at",
        "update alembic_version set version_num='9999_future'",
    ],
)
def test_verify_since_names_a_schema_change_too(
    ledger: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    """The incremental check reads the schema as a full verify does (was: OK, exit 0)."""
    from tests.i15_statement_helpers import make_checkpoint

    monkeypatch.delenv("SAMPLELOANS_NOW")  # make_checkpoint's environment sets its own clock
    checkpoint = make_checkpoint(ledger, tmp_path)["cp"]
    tamper(ledger, change)
    code, stdout, _ = cli("verify", "--since", str(checkpoint))
    assert code == 1, stdout
    assert len(findings(stdout)) == 1
    assert findings(stdout)[0].startswith("[schema] ")
    assert ("last_loan_wide_event_at" in stdout) != ("9999_future" in stdout)
