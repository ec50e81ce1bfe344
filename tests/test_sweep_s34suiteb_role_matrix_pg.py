"""Issue 14 point 6: the role matrix on PostgreSQL, every write command × every role, each
role by its own login on a secured ledger (`db secure`, no `--as`).

The commands, roles, states and expected answers are `tests/test_i14_role_matrix.py`'s (which
runs the same matrix on SQLite with `--as`); this half lives in a file of its own so that the
suite's workers (`--dist loadfile`) run the two engines at the same time.
"""

import os
import shutil
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner, Result

from sampleloans import db
from sampleloans.cli import app
from tests.conftest import CURATOR
from tests.pgcluster import PgServer
from tests.test_i14_role_matrix import (  # noqa: F401  (`key`: a pytest fixture by name)
    PASSWORD,
    ROLES,
    SETUPS,
    WRITES,
    Built,
    _build_on_prefix,
    _build_prefix,
    _case_folder,
    _check_refused,
    _files,
    _fill,
    expected_exit,
    key,
)

_clones = iter(range(1, 10**6))


@pytest.fixture(scope="module")
def pg_templates(
    pg_server: PgServer,
    key: Path,  # noqa: F811
) -> Iterator[dict[str, tuple[str, Built]]]:
    """One secured template database per state (cloned per case with CREATE DATABASE …
    TEMPLATE); every person of the matrix has a password."""
    made: dict[str, tuple[str, Built]] = {}
    # the server's clock records events on a secured ledger: build the states just before it
    with psycopg.connect(pg_server.url()) as connection:
        row = connection.execute("SELECT date_trunc('second', now() - interval '1 day')").fetchone()
    assert row is not None
    now = row[0].astimezone(UTC)
    prefix = f"sampleloans_matrix{os.getpid()}_prefix"
    try:
        # what every state starts from, built once and cloned for each state
        pg_server.admin(f"CREATE DATABASE {prefix} TEMPLATE template0")
        engine = db.open_engine(pg_server.url(prefix), create=True)
        try:
            _build_prefix(engine, now)
        finally:
            engine.dispose()  # a template must have no connection when it is cloned
        for state in SETUPS:
            name = f"sampleloans_matrix{os.getpid()}_{state}"
            pg_server.admin(f"CREATE DATABASE {name} TEMPLATE {prefix}")
            made[state] = (name, Built(0, ""))
            url = pg_server.url(name)
            engine = db.open_engine(url)
            try:
                built = _build_on_prefix(engine, state, now, key)
            finally:
                engine.dispose()
            made[state] = (name, built)
            secured = CliRunner().invoke(app, ["--db", url, "--as", CURATOR, "db", "secure"])
            assert secured.exit_code == 0, secured.stdout + secured.stderr
        for email in ROLES.values():
            pg_server.admin(
                sql.SQL("ALTER ROLE {} PASSWORD {}")
                .format(sql.Identifier(email), sql.Literal(PASSWORD))
                .as_string(None)
            )
        yield made
    finally:
        for name in [prefix, *(name for name, _built in made.values())]:
            pg_server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _clone(server: PgServer, template: str) -> str:
    name = f"sampleloans_case{os.getpid()}_{next(_clones)}"
    server.admin(f"CREATE DATABASE {name} TEMPLATE {template}")
    return name


def _pg_run(server: PgServer, database: str, args: list[str], email: str) -> Result:
    url = PgServer(server.host, server.port, email, PASSWORD).url(database)
    env = {"SAMPLELOANS_DB": url, "SAMPLELOANS_USER": "", "COLUMNS": "200"}
    return CliRunner().invoke(app, args, env=env)


def _pg_fingerprint(server: PgServer, database: str) -> str:
    """Every row of every table, as the superuser sees them (row-level security aside)."""
    with psycopg.connect(server.url(database)) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        parts = []
        for table in tables:
            query = sql.SQL(
                "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {} t"
            )
            found = connection.execute(query.format(sql.Identifier(table))).fetchone()
            parts.append(f"{table}:{found[0] if found else ''}")
    return ";".join(parts)


def _pg_events(server: PgServer, database: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(server.url(database)) as connection:
        return connection.execute("SELECT seq, actor FROM ledger_event ORDER BY seq").fetchall()


@pytest.mark.parametrize("command", sorted(WRITES))
def test_role_matrix_on_postgres(
    command: str,
    pg_server: PgServer,
    pg_templates: dict[str, tuple[str, Built]],
    key: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Each role by its own login: refusals write nothing, allowed writes succeed and the
    event's actor is the login."""
    write = WRITES[command]
    template, built = pg_templates[write.state]
    folder = _case_folder(tmp_path)
    args = _fill(write.args, built, folder, key)
    files = _files(folder)
    refused_db = _clone(pg_server, template)
    clones = [refused_db]
    try:
        before = _pg_fingerprint(pg_server, refused_db)  # every refusal must leave it so
        for role, email in ROLES.items():
            code = expected_exit(command, role)
            if code:
                _check_refused(_pg_run(pg_server, refused_db, args, email), code, role, command)
                assert _pg_fingerprint(pg_server, refused_db) == before, (command, role)
                assert _files(folder) == files, (command, role)
                continue
            database = _clone(pg_server, template)
            clones.append(database)
            before_events = _pg_events(pg_server, database)
            done = _pg_run(pg_server, database, args, email)
            assert done.exit_code == 0, (command, role, done.stdout, done.stderr)
            if write.event:
                after = _pg_events(pg_server, database)
                assert len(after) > len(before_events) and after[-1][1] == email
            # the curator sees the borrower's event marked, and so does the researcher (one
            # rule, read from the rows row-level security shows them)
            for reader in (CURATOR, email) if role == "researcher" else ():
                shown = _pg_run(
                    pg_server,
                    database,
                    ["custody", "history", "--institution", "OU", "--json"],
                    reader,
                )
                assert shown.exit_code == 0, shown.stderr
                assert '"recorded_by_borrower": true' in shown.stdout
            shutil.rmtree(folder)
            folder = _case_folder(tmp_path)
    finally:
        for name in clones:
            pg_server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
