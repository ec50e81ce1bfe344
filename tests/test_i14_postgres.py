"""PostgreSQL as the ledger's database (issue 14): init, writes, reads, verify, demo parity,
the writers' lock and the database's own defences, on a throwaway PostgreSQL 15 cluster."""

import csv
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from itertools import count
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from sampleloans import db, migrate
from sampleloans.cli import app
from sampleloans.services import setup
from sampleloans.services.verify import verify
from tests.conftest import CURATOR
from tests.pg_secured import database_copy
from tests.pgcluster import PgServer
from tests.warm_cli import WarmCli

LEDGER_ID = "0d9ba0c2-5b8e-4a57-9d0e-6a1f0e3c1a2b"
STAFF = ["--as", CURATOR]


def _cli_on(url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The CLI's environment on `url`, with a fixed clock; the URL."""
    monkeypatch.setenv("SAMPLELOANS_DB", url)
    monkeypatch.setenv("SAMPLELOANS_NOW", "2025-04-01T09:00:00Z")
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.delenv("SAMPLELOANS_USER", raising=False)
    return url


@pytest.fixture
def pg_env(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """CLI environment on this test's PostgreSQL database, with a fixed clock."""
    return _cli_on(pg_url, monkeypatch)


_copies = count(1)


@pytest.fixture
def pg_ledger(
    pg_server: PgServer, pg_ledger_template: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """CLI environment on this test's copy of the session's initialised ledger
    (`pg_ledger_template` in tests/conftest.py: `CREATE DATABASE … TEMPLATE`, where init and
    the rows cost ~1 s of CPU each time), with a fixed clock."""
    with database_copy(pg_server, pg_ledger_template, f"copy{next(_copies)}") as url:
        yield _cli_on(url, monkeypatch)


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarmCli]:
    """Real CLI processes forked from one that has done the imports (tests/warm_cli.py), for
    the kills: each pays for the command, not ~1.3 s of imports."""
    server = WarmCli(tmp_path_factory.mktemp("warm"))
    yield server
    server.close()


def _event_count(url: str) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT count(*) FROM ledger_event").fetchone()
    assert row is not None
    return int(row[0])


def test_init_creates_a_ledger_once(pg_env: str, runner: CliRunner) -> None:
    """init on an empty database, then refused (exit 3) on a database that holds a ledger;
    the password never appears in what is printed."""
    args = ["init", "--curator-email", CURATOR, "--curator-name", "Li Na"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.stderr
    assert "postgresql://postgres:***@" in first.stdout
    events = _event_count(pg_env)
    again = runner.invoke(app, args)
    assert again.exit_code == 3
    assert "already holds a ledger" in again.stderr
    password = psycopg.conninfo.conninfo_to_dict(pg_env)["password"]
    assert str(password) not in again.stderr + first.stdout
    assert _event_count(pg_env) == events


def test_a_database_without_a_ledger_is_refused(pg_env: str, runner: CliRunner) -> None:
    """A read on an empty database: exit 3, one line naming init."""
    result = runner.invoke(app, [*STAFF, "samples", "list"])
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: no ledger in the database")
    assert "Traceback" not in result.stderr


def test_wrong_password_is_an_environment_error(pg_env: str, runner: CliRunner) -> None:
    """scram-sha-256 refuses a wrong password: exit 3, one line, no traceback."""
    wrong = pg_env.replace(
        str(psycopg.conninfo.conninfo_to_dict(pg_env)["password"]), "wrong-password", 1
    )
    result = runner.invoke(app, ["--db", wrong, *STAFF, "samples", "list"])
    assert result.exit_code == 3
    assert "password authentication failed" in result.stderr
    assert "wrong-password" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_writes_and_reads_through_the_cli(pg_ledger: str, runner: CliRunner) -> None:
    """A write command appends one event; reads show it; a refusal writes nothing."""
    before = _event_count(pg_ledger)
    moved = runner.invoke(
        app, [*STAFF, "samples", "move", "CE5C0400YJFM00505", "--location", "Cabinet B-2"]
    )
    assert moved.exit_code == 0, moved.stderr
    assert _event_count(pg_ledger) == before + 1
    shown = runner.invoke(app, [*STAFF, "samples", "show", "CE5C0400YJFM00505", "--json"])
    assert shown.exit_code == 0, shown.stderr
    assert "Cabinet B-2" in shown.stdout
    unknown = runner.invoke(
        app, [*STAFF, "samples", "move", "NO-SUCH-SAMPLE", "--location", "Cabinet B-2"]
    )
    assert unknown.exit_code == 2
    assert unknown.stderr.startswith("Error: ")
    stranger = runner.invoke(
        app,
        ["--as", "nobody@else.example", "samples", "move", "CE5C0400YJFM00505", "--location", "X"],
    )
    assert stranger.exit_code == 4
    assert _event_count(pg_ledger) == before + 1


def test_verify_is_clean_and_sees_a_disabled_trigger(pg_ledger: str, runner: CliRunner) -> None:
    """verify on PostgreSQL: chain, replay and invariants clean; a defence switched off by the
    owner is a finding (exit 1)."""
    clean = runner.invoke(app, [*STAFF, "verify"])
    assert clean.exit_code == 0, clean.stdout + clean.stderr
    # the verdict names what was proved on this engine, never SQLite's integrity check
    assert "PostgreSQL triggers in place" in clean.stdout
    assert "SQLite" not in clean.stdout
    with psycopg.connect(pg_ledger, autocommit=True) as connection:
        connection.execute("ALTER TABLE ledger_event DISABLE TRIGGER ledger_event_no_update")
    found = runner.invoke(app, [*STAFF, "verify"])
    assert found.exit_code == 1
    assert "ledger_event_no_update is disabled" in found.stdout


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("UPDATE ledger_event SET reason = 'x' WHERE seq = 1", "append-only"),
        ("DELETE FROM ledger_event WHERE seq = 2", "append-only"),
        ("TRUNCATE ledger_event CASCADE", "append-only"),
        ("UPDATE ledger_meta SET value = 'x'", "written once"),
        ("DELETE FROM ledger_meta", "written once"),
        ("TRUNCATE ledger_meta", "written once"),
    ],
)
def test_the_database_refuses_changes(pg_ledger: str, statement: str, refusal: str) -> None:
    """Even a client that skips the application (here the superuser) cannot change history."""
    before = _event_count(pg_ledger)
    with (
        psycopg.connect(pg_ledger) as connection,
        pytest.raises(psycopg.errors.IntegrityConstraintViolation, match=refusal),
    ):
        connection.execute(statement)
    assert _event_count(pg_ledger) == before


def _copy_last_event(connection: psycopg.Connection, **changes: object) -> None:
    """Insert a copy of the last event with some columns changed (a forged append)."""
    row = connection.execute("SELECT * FROM ledger_event ORDER BY seq DESC LIMIT 1").fetchone()
    assert row is not None and connection.execute is not None
    columns = [column.name for column in connection.execute(
        "SELECT * FROM ledger_event LIMIT 0").description or []]  # fmt: skip
    values = dict(zip(columns, row, strict=True)) | changes
    placeholders = ", ".join(["%s"] * len(values))
    connection.execute(
        f"INSERT INTO ledger_event ({', '.join(values)}) VALUES ({placeholders})",
        list(values.values()),
    )


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({"seq": 1000, "hash": "a" * 64, "prev_hash": "b" * 64}, "seq .* expected"),
        ({"seq": None, "hash": "c" * 64, "prev_hash": "d" * 64}, "does not link"),
    ],
    ids=["gap in seq", "wrong previous hash"],
)
def test_the_database_requires_the_next_link(
    pg_ledger: str, changes: dict[str, object], refusal: str
) -> None:
    """An INSERT must carry the next seq and the previous event's hash (a trigger), whoever
    sends it."""
    before = _event_count(pg_ledger)
    if changes["seq"] is None:
        changes = changes | {"seq": before + 1}
    with (
        psycopg.connect(pg_ledger) as connection,
        pytest.raises(psycopg.errors.IntegrityConstraintViolation, match=refusal),
    ):
        _copy_last_event(connection, **changes)
    assert _event_count(pg_ledger) == before


def test_prev_hash_is_unique(pg_ledger: str) -> None:
    """Two events can never claim the same predecessor (a unique index, not only the trigger)."""
    with psycopg.connect(pg_ledger) as connection:
        row = connection.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ledger_event_prev_hash_key'"
        ).fetchone()
    assert row is not None and "UNIQUE" in row[0] and "(prev_hash)" in row[0]


def test_transactions_isolation_and_writer_lock(pg_ledger: str) -> None:
    """Writes: READ COMMITTED holding the writers' advisory lock; reads: REPEATABLE READ,
    READ ONLY, with no lock."""
    engine = db.open_engine(pg_ledger)
    lock_query = (
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
    )
    try:
        with db.transaction(engine) as session:
            write_level = session.connection().exec_driver_sql("SHOW transaction_isolation")
            assert write_level.scalar() == "read committed"
            assert session.connection().exec_driver_sql(lock_query).scalar() == 1
        with db.transaction(engine, write=False) as session:
            connection = session.connection()
            assert connection.exec_driver_sql("SHOW transaction_isolation").scalar() == (
                "repeatable read"
            )
            assert connection.exec_driver_sql("SHOW transaction_read_only").scalar() == "on"
            assert connection.exec_driver_sql(lock_query).scalar() == 0
    finally:
        engine.dispose()


def test_a_writer_waiting_past_the_timeout_exits_3(pg_ledger: str, runner: CliRunner) -> None:
    """While another writer holds the lock, a write command waits SAMPLELOANS_LOCK_TIMEOUT,
    then exits 3 (SQLSTATE 55P03) with nothing written; reads are not blocked."""
    before = _event_count(pg_ledger)
    with psycopg.connect(pg_ledger) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (db.WRITER_LOCK_KEY,))
        held_by = db.LockHolder(holder.info.user, holder.info.backend_pid)
        blocked = runner.invoke(
            app,
            [*STAFF, "samples", "move", "CE5C0400YJFM00505", "--location", "Cabinet C"],
            env={"SAMPLELOANS_LOCK_TIMEOUT": "0.3"},
        )
        read = runner.invoke(app, [*STAFF, "samples", "list", "--json"])
    assert blocked.exit_code == 3
    assert blocked.stderr == f"Error: {db.locked_message(held_by)}\n"  # the holder named
    assert read.exit_code == 0
    assert _event_count(pg_ledger) == before


def test_demo_parity_between_engines(pg_env: str, tmp_path: Path) -> None:
    """The demo on SQLite and on PostgreSQL, same clock and ledger id: the same head hash
    (real processes, as a user runs it)."""
    heads = []
    for extra in (["--db", pg_env], []):
        done = subprocess.run(
            [sys.executable, "-m", "sampleloans", *extra, "demo", "--ledger-id", LEDGER_ID,
             *([] if extra else ["--dir", str(tmp_path / "demo")])],
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr
        verify_line = next(line for line in done.stdout.splitlines() if line.startswith("verify:"))
        assert "verify: OK" in verify_line
        heads.append(verify_line.rsplit("head ", 1)[1])
    assert heads[0] == heads[1]
    assert heads[0].startswith("107:")


@pytest.mark.parametrize("command", ["backup", "restore"])
def test_backup_and_restore_name_the_export(
    pg_ledger: str, runner: CliRunner, tmp_path: Path, command: str
) -> None:
    """backup/restore copy SQLite files: on PostgreSQL they refuse (exit 3) and name the
    logical export; no file is written."""
    target = tmp_path / "copy.db"
    args = [*STAFF, command, str(target), *(["--force"] if command == "restore" else [])]
    result = runner.invoke(app, args)
    assert result.exit_code == 3
    assert "is a PostgreSQL database" in result.stderr
    assert "export --events" in result.stderr
    assert not target.exists()


def test_import_a_catalogue(pg_ledger: str, runner: CliRunner, tmp_path: Path) -> None:
    """import on PostgreSQL: the same all-or-nothing catalogue import as on SQLite."""
    first = setup.read_rows("demo/samples.csv")[0].values
    catalogue = tmp_path / "catalogue.csv"
    with catalogue.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(first))
        writer.writeheader()
        writer.writerow(first | {"code": "CE5TEST0001"})
    before = _event_count(pg_ledger)
    result = runner.invoke(app, [*STAFF, "import", str(catalogue)])
    assert result.exit_code == 0, result.stderr
    assert _event_count(pg_ledger) == before + 1


def test_reads_reports_and_verify_document(
    pg_ledger: str, runner: CliRunner, tmp_path: Path
) -> None:
    """A custody history as of a moment, a PDF report and verify-document, on PostgreSQL."""
    history = runner.invoke(
        app,
        [*STAFF, "custody", "history", "--sample", "CE5C0400YJFM00505", "--as-of", "2025-03-20",
         "--json"],
    )  # fmt: skip
    assert history.exit_code == 0, history.stderr
    assert "CE5C0400YJFM00505" in history.stdout
    report = tmp_path / "custody.pdf"
    made = runner.invoke(
        app,
        [*STAFF, "report", "custody", "--sample", "CE5C0400YJFM00505", "--out", str(report),
         "--generated-at", "2025-04-01T09:00:00Z"],
    )  # fmt: skip
    assert made.exit_code == 0, made.stderr
    checked = runner.invoke(app, [*STAFF, "verify-document", str(report)])
    assert checked.exit_code == 0, checked.stdout + checked.stderr
    assert "verified against the ledger" in checked.stdout


WRITER = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path
from sampleloans import db
from sampleloans.ledger.store import Context
from sampleloans.services.reference import add_institution

url, worker, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
engine = db.open_engine(url)
ctx = Context(actor="curator@naoc.example", os_user="tester",
              now=datetime(2025, 4, 1, 9, 0, tzinfo=UTC))
while not go.exists():
    time.sleep(0.005)
for i in range(count):
    with db.transaction(engine) as session:
        add_institution(session, ctx, short_name=f"W{worker}-{i}", name=f"Lab {worker}/{i}",
                        country="CN", city="Beijing", institution_kind="borrower")
"""


def test_concurrent_writers_neither_lose_nor_fork(pg_ledger: str, tmp_path: Path) -> None:
    """8 processes appending at once through the advisory lock: every append lands once, seq
    is gapless, every event links to the one before, and verify is clean."""
    workers, appends = 8, 6
    before = _event_count(pg_ledger)
    go = tmp_path / "go"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, pg_ledger, str(n), str(appends), str(go)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(workers)
    ]
    go.touch()
    errors = [p.communicate(timeout=120)[1] for p in processes]
    assert [p.returncode for p in processes] == [0] * workers, errors
    with psycopg.connect(pg_ledger) as connection:
        rows = connection.execute("SELECT seq, prev_hash, hash FROM ledger_event ORDER BY seq")
        events = rows.fetchall()
        names = connection.execute("SELECT count(*) FROM institution WHERE short_name LIKE 'W%'")
        added = names.fetchone()
    assert len(events) == before + workers * appends
    assert [seq for seq, _, _ in events] == list(range(1, len(events) + 1))
    assert all(events[i][1] == events[i - 1][2] for i in range(1, len(events)))
    assert added == (workers * appends,)
    engine = db.open_engine(pg_ledger)
    try:
        assert verify(engine).problems == []
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("tamper", "finding"),
    [
        (
            "ALTER TABLE ledger_event DISABLE TRIGGER USER; "
            "UPDATE ledger_event SET actor = 'someone@else.example' WHERE seq = 3; "
            "ALTER TABLE ledger_event ENABLE TRIGGER USER",
            "event 3 (",
        ),
        (
            "UPDATE sample SET vault_ug = vault_ug - 1 WHERE code = 'CE5C0400YJFM00505'",
            "CE5C0400YJFM00505",
        ),
    ],
    ids=["event rewritten by the owner", "projection changed"],
)
def test_verify_catches_tampering(
    pg_ledger: str, runner: CliRunner, tamper: str, finding: str
) -> None:
    """As the owner, with the triggers switched off and on again: verify still names it."""
    with psycopg.connect(pg_ledger, autocommit=True) as connection:
        for statement in tamper.split("; "):
            connection.execute(statement)
    result = runner.invoke(app, [*STAFF, "verify"])
    assert result.exit_code == 1
    assert finding in result.stdout


@pytest.mark.parametrize(
    ("point", "appended"),
    [("after_event_insert", 0), ("after_apply", 0), ("before_commit", 0), ("after_commit", 1)],
)
def test_sigkill_during_a_write(
    warm: WarmCli, pg_ledger: str, tmp_path: Path, point: str, appended: int
) -> None:
    """A write command killed (SIGKILL) at each instrumented point: the database holds the
    state before or after it, never a part, and verifies; the writers' lock is released."""
    before = _event_count(pg_ledger)
    done = warm.run(
        [*STAFF, "samples", "move", "CE5C0400YJFM00505", "--location", "Cabinet K"],
        tmp_path,
        {**os.environ, "SAMPLELOANS_CRASH_AT": point},
    )
    assert done.returncode == -9, done.stderr
    assert _event_count(pg_ledger) == before + appended
    engine = db.open_engine(pg_ledger, lock_timeout_ms=2000)
    try:
        with db.transaction(engine) as session:  # the lock is free again: a write gets it
            session.connection()
        assert verify(engine).problems == []
    finally:
        engine.dispose()


def test_unreachable_server_and_missing_database(pg_env: str, runner: CliRunner) -> None:
    """No server at the address, or no such database: exit 3, one line, password hidden."""
    password = str(psycopg.conninfo.conninfo_to_dict(pg_env)["password"])
    nowhere = f"postgresql://postgres:{password}@127.0.0.1:1/ledger"
    missing = pg_env.rsplit("/", 1)[0] + "/no_such_database"
    for url, said in ((nowhere, "cannot connect to the database"), (missing, "does not exist")):
        result = runner.invoke(app, ["--db", url, *STAFF, "samples", "list"])
        assert result.exit_code == 3, result.stderr
        assert said in result.stderr
        assert password not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_db_upgrade_on_postgres(pg_ledger: str, runner: CliRunner) -> None:
    """init stamped the head on PostgreSQL too: `db upgrade` has nothing to do."""
    with psycopg.connect(pg_ledger) as connection:
        stamped = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    assert stamped == [(migrate.head_revision(),)]
    result = runner.invoke(app, [*STAFF, "db", "upgrade"])
    assert result.exit_code == 0, result.stderr
    assert f"at {migrate.head_revision()} already; nothing to do" in result.stdout


def test_demo_never_writes_to_sampleloans_db_from_the_environment(
    pg_env: str, runner: CliRunner, tmp_path: Path
) -> None:
    """SAMPLELOANS_DB naming a PostgreSQL database does not send the demo there: only a --db
    typed on the command line does, so a real ledger's setting never receives the demo."""
    result = runner.invoke(app, ["demo", "--dir", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "demo" / "ledger.db").is_file()
    with psycopg.connect(pg_env) as connection:
        tables = connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert tables == (0,)


def test_events_export_from_postgres_restores_on_sqlite(
    pg_ledger: str, runner: CliRunner, tmp_path: Path
) -> None:
    """The logical backup of a PostgreSQL ledger: `export --events` there, `restore --events`
    into a fresh SQLite ledger, the same head."""
    head = runner.invoke(app, [*STAFF, "verify", "--print-head"])
    assert head.exit_code == 0, head.stderr
    exported = tmp_path / "events.jsonl"
    done = runner.invoke(app, [*STAFF, "export", "--events", str(exported)])
    assert done.exit_code == 0, done.stderr
    assert head.stdout.strip() in done.stdout
    restored = tmp_path / "restored.db"
    back = runner.invoke(app, ["--db", str(restored), *STAFF, "restore", "--events", str(exported)])
    assert back.exit_code == 0, back.stdout + back.stderr
    again = runner.invoke(app, ["--db", str(restored), *STAFF, "verify", "--print-head"])
    assert again.exit_code == 0, again.stdout + again.stderr
    assert again.stdout == head.stdout
    with sqlite3.connect(restored) as connection:  # rebuilt with this release's schema
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (migrate.head_revision(),)
        ]
