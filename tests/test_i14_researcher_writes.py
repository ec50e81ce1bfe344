"""Issue 14 point 5, "enforced by the database", for writes: a researcher's login may change
their own loans' projection rows only as their lab events do. Column-level grants limit what
they may INSERT and UPDATE (`pgsecurity.RESEARCHER_INSERTS`, `RESEARCHER_UPDATES`), and the
deferred constraint trigger `projection_write_needs_event` refuses, at commit, a change in a
transaction that appended no event in their name. Every lab command still works; curators are
untouched; `verify` names a missing guard; revision 0005 brings it to a secured ledger at 0004.

The grants are derived from what the lab commands of the role matrix really write (statements
captured on SQLite), so they stay in sync with `ledger/apply.py`.
"""

import importlib
import os
import re
import shutil
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine, event
from typer.testing import CliRunner, Result

from sampleloans import db, pgsecurity
from sampleloans.cli import app
from tests.conftest import CURATOR, OU_PI
from tests.pgcluster import PgServer
from tests.test_i14_role_matrix import (
    LAB_COMMANDS,
    PASSWORD,
    ROLES,
    SQLITE_NOW,
    WRITES,
    Built,
    _build,
    _case_folder,
    _fill,
    _sqlite_run,
)
from tests.test_services_roles import S112

GUARD = pgsecurity.GUARD_TRIGGER
STATES = ("base", "shipped_l2")  # where the lab commands of the matrix start
# one more lab write the matrix lacks: a loss on the loan (the items' and samples' lost mass)
LOSS = ("base", ("incidents", "report", "--sample", S112, "--kind", "loss", "--description",
                 "spilled", "--mass-lost", "1 mg"))  # fmt: skip
LAB_WRITES = {**{c: (WRITES[c].state, WRITES[c].args) for c in LAB_COMMANDS}, "loss": LOSS}
REVISION = importlib.import_module("sampleloans.migrations.versions.0005_researcher_write_guard")


# --- the grants are what the lab commands write (SQLite, no server needed) --------------------


def _written(statements: list[str]) -> tuple[set[str], dict[str, set[str]]]:
    """The tables inserted into and the columns updated, per table, by these statements."""
    inserts: set[str] = set()
    updates: dict[str, set[str]] = {}
    for statement in statements:
        found = re.match(r"\s*INSERT INTO (\w+)", statement)
        if found:
            inserts.add(found.group(1))
        found = re.match(r"\s*UPDATE (\w+) SET (.*?) WHERE", statement, re.S)
        if found:
            updates.setdefault(found.group(1), set()).update(re.findall(r"(\w+)=", found.group(2)))
    return inserts, updates


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint signing key (the matrix's states keep a checkpoint)."""
    out = tmp_path_factory.mktemp("key") / "cp.key"
    done = CliRunner().invoke(
        app, ["keys", "generate", "--out", str(out), "--name", "naoc.example"]
    )
    assert done.exit_code == 0, done.stderr
    return out


def test_the_grants_cover_exactly_what_the_lab_commands_write(tmp_path: Path, key: Path) -> None:
    """Each lab command, run by the loan's researcher on SQLite: every table it inserts into
    and every column it updates is granted, and every grant is used by one of them."""
    statements: list[str] = []

    def grab(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    templates: dict[str, tuple[Path, Built]] = {}
    for state in STATES:
        path = tmp_path / f"{state}.db"
        engine = db.open_engine(db.url_for_path(path), create=True)
        try:
            templates[state] = (path, _build(engine, state, SQLITE_NOW, key))
        finally:
            engine.dispose()
    inserts: set[str] = set()
    updates: dict[str, set[str]] = {}
    event.listen(Engine, "before_cursor_execute", grab)
    try:
        for name, (state, args) in sorted(LAB_WRITES.items()):
            template, built = templates[state]
            ledger = tmp_path / "case.db"
            shutil.copyfile(template, ledger)
            statements.clear()
            folder = _case_folder(tmp_path / name.replace(" ", "_"))
            done = _sqlite_run(ledger, _fill(args, built, folder, key), ROLES["researcher"])
            assert done.exit_code == 0, (name, done.stderr)
            their_inserts, their_updates = _written(statements)
            assert their_inserts <= set(pgsecurity.RESEARCHER_INSERTS), name
            for table, columns in their_updates.items():
                assert columns <= set(pgsecurity.RESEARCHER_UPDATES.get(table, ())), (name, table)
            inserts |= their_inserts
            for table, columns in their_updates.items():
                updates.setdefault(table, set()).update(columns)
    finally:
        event.remove(Engine, "before_cursor_execute", grab)
    assert inserts == set(pgsecurity.RESEARCHER_INSERTS)
    assert updates == {t: set(c) for t, c in pgsecurity.RESEARCHER_UPDATES.items()}


def test_the_revision_installs_this_releases_grants() -> None:
    """Revision 0005's frozen copy of the grants is what `db secure` installs today."""
    assert REVISION.INSERTS == pgsecurity.RESEARCHER_INSERTS
    assert REVISION.UPDATES == pgsecurity.RESEARCHER_UPDATES
    assert REVISION.GUARDED == pgsecurity.GUARDED_TABLES
    assert REVISION.GUARD == GUARD
    assert REVISION.RESEARCHER_LOGIN == pgsecurity.RESEARCHER_LOGIN


# --- on a secured PostgreSQL ledger --------------------------------------------------------------

_names = iter(range(1, 10**6))


@pytest.fixture(scope="module")
def templates(pg_server: PgServer, key: Path) -> Iterator[dict[str, tuple[str, Built]]]:
    """A secured template database per state; the matrix's people have a password."""
    made: dict[str, tuple[str, Built]] = {}
    with psycopg.connect(pg_server.url()) as connection:
        row = connection.execute("SELECT date_trunc('second', now() - interval '1 day')").fetchone()
    assert row is not None
    now = row[0].astimezone(UTC)
    try:
        for state in STATES:
            name = f"sampleloans_guard{os.getpid()}_{state}"
            pg_server.admin(f"CREATE DATABASE {name} TEMPLATE template0")
            made[state] = (name, Built(0, ""))
            engine = db.open_engine(pg_server.url(name), create=True)
            try:
                made[state] = (name, _build(engine, state, now, key))
            finally:
                engine.dispose()
            secured = _cli(pg_server.url(name), "--as", CURATOR, "db", "secure")
            assert secured.exit_code == 0, secured.stdout + secured.stderr
        for email in ROLES.values():
            pg_server.admin(
                sql.SQL("ALTER ROLE {} PASSWORD {}")
                .format(sql.Identifier(email), sql.Literal(PASSWORD))
                .as_string(None)
            )
        yield made
    finally:
        for name, _built in made.values():
            pg_server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def ledger(pg_server: PgServer, templates: dict[str, tuple[str, Built]]) -> Iterator[str]:
    """A fresh copy of the secured "base" state (OU's loan L-1 received by its researcher)."""
    name = f"sampleloans_guardcase{os.getpid()}_{next(_names)}"
    pg_server.admin(f"CREATE DATABASE {name} TEMPLATE {templates['base'][0]}")
    try:
        yield name
    finally:
        pg_server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _cli(url: str, *args: str) -> Result:
    env = {"SAMPLELOANS_DB": url, "SAMPLELOANS_USER": "", "COLUMNS": "200"}
    return CliRunner().invoke(app, list(args), env=env)


def _login(server: PgServer, database: str, email: str) -> str:
    return PgServer(server.host, server.port, email, PASSWORD).url(database)


def _snapshot(server: PgServer, database: str) -> str:
    """The projections the researcher could reach, as the superuser sees them."""
    with psycopg.connect(server.url(database)) as connection:
        parts = []
        for table in (*pgsecurity.GUARDED_TABLES, "extension", "ledger_event"):
            query = sql.SQL(
                "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {} t"
            )
            found = connection.execute(query.format(sql.Identifier(table))).fetchone()
            parts.append(f"{table}:{found[0] if found else ''}")
    return ";".join(parts)


BARE_WRITES = {
    # a column no lab event changes: refused by the grant at once
    "due date": ("UPDATE loan SET due_at = '2099-01-01T00:00:00Z' WHERE number = 'L-1'", "grant"),
    "obligations": ("UPDATE loan SET obligations = 'none' WHERE number = 'L-1'", "grant"),
    "issued mass": ("UPDATE loan_item SET issued_ug = 1 WHERE loan_number = 'L-1'", "grant"),
    "vault mass": ("UPDATE sample SET vault_ug = 0 WHERE loan_number = 'L-1'", "grant"),
    "an extension": (
        "INSERT INTO extension SELECT * FROM jsonb_populate_record(NULL::extension, "
        '\'{"seq": 1, "loan_number": "L-1"}\'::jsonb)',
        "grant",
    ),
    # a column a lab event changes, but no event: refused by the trigger at commit
    "status": ("UPDATE loan SET status = 'closed' WHERE number = 'L-1'", "commit"),
    "held mass": ("UPDATE loan_item SET held_ug = 0 WHERE loan_number = 'L-1'", "commit"),
    "custodian": ("UPDATE sample SET custodian = 'OU' WHERE loan_number = 'L-1'", "commit"),
    "a consumption": (
        "INSERT INTO consumption SELECT * FROM jsonb_populate_record(NULL::consumption, "
        '(SELECT to_jsonb(i) || \'{"seq": 1, "mass_ug": 5, "technique": "x", '
        '"destructive": false, "occurred_at": "2025-01-01T00:00:00Z"}\'::jsonb '
        "FROM loan_item i WHERE i.loan_number = 'L-1' LIMIT 1))",
        "commit",
    ),
}


@pytest.mark.parametrize("what", sorted(BARE_WRITES))
def test_a_researchers_bare_write_to_their_own_loan_is_refused(
    pg_server: PgServer, ledger: str, what: str
) -> None:
    """psql as OU's researcher, on OU's own loan: refused (InsufficientPrivilege) by the
    grant or, at COMMIT, by the trigger; nothing changes."""
    statement, where = BARE_WRITES[what]
    before = _snapshot(pg_server, ledger)
    with psycopg.connect(_login(pg_server, ledger, OU_PI)) as connection:
        if where == "grant":
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                connection.execute(statement)
        else:
            assert connection.execute(statement).rowcount > 0  # RLS lets them reach the row
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
                connection.commit()
            assert "appended no event" in str(refused.value)
    assert _snapshot(pg_server, ledger) == before


def test_set_constraints_immediate_refuses_at_once(pg_server: PgServer, ledger: str) -> None:
    """Asking for the check now instead of at commit only moves the refusal earlier."""
    with psycopg.connect(_login(pg_server, ledger, OU_PI)) as connection:
        connection.execute("SET CONSTRAINTS ALL IMMEDIATE")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute("UPDATE loan SET status = 'closed' WHERE number = 'L-1'")


@pytest.mark.parametrize("command", sorted(LAB_WRITES))
def test_every_lab_command_still_works_for_the_researcher(
    pg_server: PgServer, templates: dict[str, tuple[str, Built]], key: Path, tmp_path: Path,
    command: str,
) -> None:  # fmt: skip
    """Each lab write by the loan's researcher's own login: recorded in their name, and the
    curator's `verify` is clean (no defence missing, replay equals the projections)."""
    state, args = LAB_WRITES[command]
    template, built = templates[state]
    name = f"sampleloans_guardcase{os.getpid()}_{next(_names)}"
    pg_server.admin(f"CREATE DATABASE {name} TEMPLATE {template}")
    try:
        folder = _case_folder(tmp_path)
        done = _cli(_login(pg_server, name, OU_PI), *_fill(args, built, folder, key))
        assert done.exit_code == 0, (done.stdout, done.stderr)
        with psycopg.connect(pg_server.url(name)) as connection:
            head = connection.execute(
                "SELECT actor FROM ledger_event ORDER BY seq DESC LIMIT 1"
            ).fetchone()
        assert head == (OU_PI,)
        verified = _cli(_login(pg_server, name, CURATOR), "verify")
        assert verified.exit_code == 0, verified.stdout
    finally:
        pg_server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_a_curators_write_is_not_guarded(pg_server: PgServer, ledger: str) -> None:
    """A curator's login keeps its table-wide grants and passes the trigger (not queued for
    them), in psql as through the CLI."""
    with psycopg.connect(_login(pg_server, ledger, CURATOR)) as connection:
        assert (
            connection.execute(
                "UPDATE loan SET obligations = 'report filed' WHERE number = 'L-1'"
            ).rowcount
            == 1
        )
    with psycopg.connect(pg_server.url(ledger)) as admin:
        assert admin.execute("SELECT obligations FROM loan WHERE number = 'L-1'").fetchone() == (
            "report filed",
        )
    extended = _cli(
        _login(pg_server, ledger, CURATOR),
        "loans", "extend", "L-1", "--period", "P1M", "--approver", CURATOR, "--reason", "beam",
    )  # fmt: skip
    assert extended.exit_code == 0, extended.stderr


def test_what_a_researcher_can_still_do_is_caught_by_verify(
    pg_server: PgServer, ledger: str
) -> None:
    """The residual risk: in psql a researcher appends a forged event of their own (the
    database checks its link, actor and clock, not its hash or payload) and, in the same
    transaction, changes a granted column of their loan. The database lets it through;
    `verify` names both."""
    forge = (
        "INSERT INTO ledger_event (seq, kind, payload, occurred_at, recorded_at, actor, os_user, "
        "prev_hash, hash) SELECT h.seq + 1, 'loan.inventory', "
        '\'{"held":[],"note":null,"number":"L-1"}\', '
        "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
        "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
        "session_user, 'psql', h.hash, repeat('f', 64) FROM sampleloans_chain_head() h"
    )
    with psycopg.connect(_login(pg_server, ledger, OU_PI)) as connection:
        connection.execute(forge)
        connection.execute("UPDATE loan SET status = 'closed' WHERE number = 'L-1'")
    found = _cli(_login(pg_server, ledger, CURATOR), "verify")
    assert found.exit_code == 1, found.stdout
    assert "(loan.inventory) does not match its hash" in found.stdout, found.stdout
    assert "loan row L-1: status is 'closed' but the events give 'received'" in found.stdout


@pytest.mark.parametrize(
    ("change", "finding"),
    [
        (f"DROP TRIGGER {GUARD} ON loan", f"trigger {GUARD} on loan is missing"),
        (
            f"ALTER TABLE loan_item DISABLE TRIGGER {GUARD}",
            f"trigger {GUARD} on loan_item is disabled",
        ),
        (
            "GRANT UPDATE ON loan TO sampleloans_researcher",
            "sampleloans_researcher may UPDATE loan (",
        ),
        (
            f'GRANT UPDATE (vault_ug) ON sample TO "{OU_PI}"',
            f"{OU_PI} may UPDATE sample (vault_ug)",
        ),
        ("GRANT INSERT ON extension TO sampleloans_researcher", "may INSERT into extension"),
    ],
    ids=["dropped", "disabled", "table-wide update", "a login's column", "insert"],
)
def test_verify_names_a_missing_guard(
    pg_server: PgServer, ledger: str, change: str, finding: str
) -> None:
    """Each weakened defence is a `[defence]` finding of the curator's `verify` (exit 1)."""
    clean = _cli(_login(pg_server, ledger, CURATOR), "verify")
    assert clean.exit_code == 0, clean.stdout
    _admin(pg_server, ledger, change)
    found = _cli(_login(pg_server, ledger, CURATOR), "verify")
    assert found.exit_code == 1, found.stdout
    assert "[defence]" in found.stdout and finding in found.stdout, found.stdout


def _admin(server: PgServer, database: str, statement: str) -> None:
    """Run one statement as the superuser in `database`."""
    with psycopg.connect(server.url(database), autocommit=True) as connection:
        connection.execute(statement)


# --- upgrading a secured ledger from revision 0004 ----------------------------------------------


def _as_0004_left_it(server: PgServer, database: str) -> None:
    """What `db secure` of revision 0004's release installed: table-wide INSERT and UPDATE for
    researchers on their loans' tables, no guard; the schema stamped 0004."""
    statements = [f"DROP FUNCTION {GUARD}() CASCADE"]
    for table in ("loan", "loan_item", "shipment", "weighing", "consumption", "extension",
                  "inventory", "incident", "sample"):  # fmt: skip
        statements.append(f"GRANT INSERT, UPDATE ON {table} TO sampleloans_researcher")
    statements.append("UPDATE alembic_version SET version_num = '0004_checkpoint'")
    with psycopg.connect(server.url(database)) as connection:
        for statement in statements:
            connection.execute(statement)


def test_upgrade_from_0004_installs_the_guard(pg_server: PgServer, ledger: str) -> None:
    """A secured ledger at 0004: a researcher's bare UPDATE goes through and `verify` says the
    guard is missing; after the DBA's `db upgrade` the UPDATE is refused, the lab commands
    work and `verify` is clean."""
    _as_0004_left_it(pg_server, ledger)
    before = _cli(_login(pg_server, ledger, CURATOR), "verify")
    assert before.exit_code == 1 and f"trigger {GUARD} on loan is missing" in before.stdout
    upgraded = _cli(pg_server.url(ledger), "--as", CURATOR, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.stderr
    assert db.SCHEMA_HEAD in upgraded.stdout
    with psycopg.connect(_login(pg_server, ledger, OU_PI)) as connection:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute("UPDATE loan SET obligations = 'none' WHERE number = 'L-1'")
        connection.rollback()
        connection.execute("UPDATE loan SET status = 'closed' WHERE number = 'L-1'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.commit()
    consumed = _cli(
        _login(pg_server, ledger, OU_PI), "loans", "consume", "L-1", "--sample", S112,
        "--technique", "SIMS", "--mass", "1 mg", "--destructive",
    )  # fmt: skip
    assert consumed.exit_code == 0, consumed.stderr
    after = _cli(_login(pg_server, ledger, CURATOR), "verify")
    assert after.exit_code == 0, after.stdout


def test_upgrade_sql_shows_the_guard(tmp_path: Path) -> None:
    """The offline script a DBA reviews: one DO block, a no-op on an unsecured ledger."""
    done = CliRunner().invoke(
        app,
        ["--db", "postgresql://dba@db.example/ledger", "--as", CURATOR, "db", "upgrade", "--sql",
         "--from", "0004_checkpoint"],
        env={"SAMPLELOANS_USER": ""},
    )  # fmt: skip
    assert done.exit_code == 0, done.stderr
    assert f"CREATE CONSTRAINT TRIGGER {GUARD}" in done.stdout
    assert "GRANT UPDATE (last_event_at" in done.stdout
    assert "IF to_regproc('sampleloans_login_institution') IS NULL THEN RETURN" in done.stdout
    assert "0005_researcher_write_guard" in done.stdout


def test_verify_names_a_privilege_a_login_gets_through_another_role(
    pg_server: PgServer, ledger: str
) -> None:
    """A researcher's login made a member of some other role that may set due dates: the
    login is named, though neither it nor its group was granted anything."""
    extra = f"sampleloans_test_extra{os.getpid()}"
    pg_server.admin(
        f"DO $$ BEGIN IF to_regrole('{extra}') IS NULL THEN CREATE ROLE {extra} NOLOGIN; "
        "END IF; END $$"
    )
    _admin(pg_server, ledger, f"GRANT UPDATE (due_at) ON loan TO {extra}")
    pg_server.admin(f'GRANT {extra} TO "{OU_PI}"')
    try:
        found = _cli(_login(pg_server, ledger, CURATOR), "verify")
    finally:
        pg_server.admin(f'REVOKE {extra} FROM "{OU_PI}"')
        _admin(pg_server, ledger, f"REVOKE UPDATE (due_at) ON loan FROM {extra}")
        pg_server.admin(f"DROP ROLE {extra}")
    assert found.exit_code == 1, found.stdout
    assert f"{OU_PI} may UPDATE loan (due_at)" in found.stdout, found.stdout


def test_the_dba_is_not_taken_for_a_researcher(pg_server: PgServer, ledger: str) -> None:
    """A superuser is a "member" of every role, the researchers' too: the guard leaves them
    out (they are the owner's member as well), so a repair by the DBA commits."""
    with psycopg.connect(pg_server.url(ledger)) as connection:
        assert (
            connection.execute("UPDATE loan SET status = status WHERE number = 'L-1'").rowcount == 1
        )
        connection.commit()
