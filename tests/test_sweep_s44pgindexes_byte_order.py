"""Sweep s44 pgindexes: on a PostgreSQL database not in byte order, indexes answer again.

On a database made in `en_US.UTF-8` or an ICU locale, every listing's ORDER BY of a text key
and every case-twin lookup reads the key `COLLATE "C"` (`models.byte_order`, `byte_lower`), so
the key indexes and the `lower(…)` indexes of 0007/0009, made in the database's collation, no
longer answered: a case-twin lookup scanned its table under the writers' lock and the first
page of `samples list` sorted every sample. Revision 0017 (and `init`) make indexes in the "C"
collation on exactly those expressions, on PostgreSQL only. The plans are read from the
statements the CLI itself sends (`auto_explain`, its plans sent to the client as notices), on
a database of a few thousand rows of each table, analysed.
"""

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, event
from sqlmodel import SQLModel

from sampleloans import db
from sampleloans.errors import NoSuchRecord
from sampleloans.models import BYTE_ORDER_INDEXES
from sampleloans.services.common import get_agreement, get_institution, get_loan
from tests.i15_statement_helpers import CURATOR
from tests.pgcluster import PgServer
from tests.test_sweep_s44determinism_collation import (  # noqa: F401  (fixtures)
    Maker,
    demo_events,
    icu_database,
    ok,
    run,
)

COPIES = 4000
"""Rows added to each table a lookup or listing reads: enough that a scan costs more."""
BEFORE = "0016_event_size_limit"
TWIN_READS = {  # the text of each case-twin lookup → its table and the index to answer it
    'lower(institution.short_name COLLATE "C")': (
        "institution",
        "ix_institution_short_name_lower_c",
    ),
    'lower(agreement.number COLLATE "C")': ("agreement", "ix_agreement_number_lower_c"),
    'lower(loan.number COLLATE "C")': ("loan", "ix_loan_number_lower_c"),
}
PAGES = {  # a listing's first page → the ORDER BY its statement holds, its table and index
    ("samples", "list"): ('ORDER BY sample.code COLLATE "C"', "sample", "ix_sample_code_c"),
    ("loans", "list"): ('ORDER BY loan.number COLLATE "C"', "loan", "ix_loan_number_c"),
}
ADD_TWINS = [  # writes refused for a case twin: each sends its twin lookup under the lock
    ("institutions", "add", "ipgp", "--name", "Another", "--country", "France", "--city",
     "Paris", "--kind", "borrower", "--at", "2026-06-01T00:00:00Z"),
    ("agreements", "add", "ag-2025-ou", "--institution", "OU", "--term", "5 years",
     "--max-mass", "1 g", "--purpose", "research", "--max-loan-period", "12 months",
     "--at", "2026-06-01T00:00:00Z"),
    ("loans", "request", "l-2025-ou", "--agreement", "AG-2025-OU", "--pi",
     "pi@ou.example", "--sample", "CE5C0100YJFM00201", "--at", "2026-06-01T00:00:00Z"),
]  # fmt: skip

Plans = Callable[[], list[str]]
"""The plans of the statements sent since the last call (each: its query text, then plan)."""


def _clone(connection: psycopg.Connection[Any], table: str, key: str, copies: int) -> None:
    """`copies` rows more in a projection table, each a copy of its first row under a new key
    (raw SQL: the plans need rows, not events; this database is never verified)."""
    columns = [column.name for column in SQLModel.metadata.tables[table].columns]
    chosen = ", ".join(f"t.{key} || '-' || g" if name == key else f"t.{name}" for name in columns)
    connection.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {chosen} "
        f"FROM {table} t, generate_series(1, {copies}) g "
        f"WHERE t.{key} = (SELECT min({key}) FROM {table})"
    )


@pytest.fixture
def big_icu_ledger(
    icu_database: Maker,  # noqa: F811  (the imported fixture)
    demo_events: Path,  # noqa: F811
    pg_server: PgServer,
) -> str:
    """The demo's events in an ICU `en-US` database, with a few thousand institutions,
    agreements, samples and loans more, analysed, its plans logged to the client: its URL."""
    url = icu_database("en-US", demo_events)
    with psycopg.connect(url, autocommit=True) as connection:
        for table, key in (
            ("institution", "short_name"),
            ("agreement", "number"),
            ("sample", "code"),
            ("loan", "number"),
        ):
            _clone(connection, table, key, COPIES)
        connection.execute("ANALYZE")
        database = url.rsplit("/", 1)[1]
        for setting in (  # every new session explains each statement it runs to its client
            "session_preload_libraries = 'auto_explain'",
            "auto_explain.log_min_duration = 0",
            "auto_explain.log_level = 'notice'",
        ):
            connection.execute(f"ALTER DATABASE {database} SET {setting}")
    return url


@pytest.fixture
def plans() -> Iterator[Plans]:
    """The plans `auto_explain` sends on every connection the program opens from now on."""
    seen: list[str] = []

    def listen(diagnostic: psycopg.errors.Diagnostic) -> None:
        if "plan:" in (diagnostic.message_primary or ""):
            seen.append(diagnostic.message_primary or "")

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.add_notice_handler(listen)

    event.listen(Engine, "connect", on_connect)

    def taken() -> list[str]:
        got = list(seen)
        seen.clear()
        return got

    yield taken
    event.remove(Engine, "connect", on_connect)


def _query_text(plan: str) -> str:
    """The statement an `auto_explain` plan is of."""
    # the text runs from "Query Text: " to the plan's first node, the first line with a cost
    found = re.search(r"Query Text: (.*?)\n[^\n]*\(cost=", plan, re.S)
    return found.group(1) if found else ""


def _plans_of(plans: list[str], words: str) -> list[str]:
    """The plans of the statements holding `words` (there must be one)."""
    chosen = [plan for plan in plans if words in _query_text(plan)]
    assert chosen, f"no statement holds {words!r}: {[_query_text(p)[:120] for p in plans]}"
    return chosen


def _first_pages(plans: list[str], order: str) -> list[str]:
    """The plans of a listing's page: its ORDER BY and a LIMIT (not the lookups of the page's
    own rows, such as the children of its samples, which sort only those)."""
    pages = [plan for plan in _plans_of(plans, order) if "LIMIT" in _query_text(plan)]
    assert pages, f"no page ordered {order!r}"
    return pages


def _by_index(plan: str, table: str, index: str) -> bool:
    """Whether a plan reads `table` through `index` (an index or bitmap scan) and never
    scans it whole."""
    through = f"using {index} on {table}" in plan or f"Bitmap Index Scan on {index}" in plan
    return through and not _scans(plan, table)


def _scans(plan: str, table: str) -> bool:
    """Whether a plan reads every row of `table` (not another table named alike: `loan_item`)."""
    return re.search(rf"Seq Scan on {table}\b", plan) is not None


def _assert_twins_by_index(plans: list[str]) -> None:
    """Each case-twin lookup among `plans` reads its "C" `lower(…)` index."""
    for words, (table, index) in TWIN_READS.items():
        for plan in _plans_of(plans, words):
            assert _by_index(plan, table, index), plan


def _twin_writes(url: str) -> None:
    """Each case-twin write, refused as on SQLite (nothing recorded)."""
    for args in ADD_TWINS:
        refused = run(url, CURATOR, *args)
        assert refused.exit_code == 1, (args, refused.output)
        assert "differs only in case from" in refused.stderr, refused.stderr


def _downgraded(url: str) -> None:
    """The ledger as revision 0016 left it: none of the "C" indexes (a ledger made before)."""
    with psycopg.connect(url, autocommit=True) as connection:
        for name in sorted(BYTE_ORDER_INDEXES):
            connection.execute(f"DROP INDEX {name}")
        connection.execute(f"UPDATE alembic_version SET version_num = '{BEFORE}'")


def test_upgrade_from_0016_makes_the_twin_lookups_and_first_pages_index_reads(
    big_icu_ledger: str, plans: Plans
) -> None:
    """At 0016 each case-twin lookup the writes send under the lock scans its table and each
    first page sorts every row (the test can fail); `db upgrade` adds the indexes, and the same
    commands then read one index entry, or the page's rows in index order."""
    url = big_icu_ledger
    _downgraded(url)
    _twin_writes(url)
    before = plans()
    for words, (table, _index) in TWIN_READS.items():
        assert any(_scans(plan, table) for plan in _plans_of(before, words)), words
    for command, (order, table, _index) in PAGES.items():
        ok(url, CURATOR, *command, "--limit", "50", "--csv")
        assert any(_scans(plan, table) for plan in _first_pages(plans(), order)), command
    upgraded = run(url, CURATOR, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert f"from {BEFORE} to {db.SCHEMA_HEAD}" in upgraded.stdout
    plans()  # the upgrade's own statements
    _twin_writes(url)
    _assert_twins_by_index(plans())
    for command, (order, table, index) in PAGES.items():
        ok(url, CURATOR, *command, "--limit", "50", "--csv")
        for plan in _first_pages(plans(), order):
            assert _by_index(plan, table, index), plan
            assert not re.search(r'Sort Key: [^\n]*COLLATE "C"', plan), plan  # no sort of the rows


def test_a_lookup_of_a_key_in_another_case_reads_the_index(
    big_icu_ledger: str, plans: Plans
) -> None:
    """Service level: `get_loan`, `get_agreement` and `get_institution` of a key typed in
    another case name the recorded one, found through the "C" `lower(…)` index."""
    engine = db.open_engine(big_icu_ledger)
    try:
        with db.transaction(engine, write=False) as session:
            for lookup, typed, twin in (
                (get_loan, "l-2025-ou", "L-2025-OU"),
                (get_agreement, "ag-2025-ou", "AG-2025-OU"),
                (get_institution, "ipgp", "IPGP"),
            ):
                with pytest.raises(NoSuchRecord) as refused:
                    lookup(session, typed)
                assert refused.value.twin == twin
    finally:
        engine.dispose()
    _assert_twins_by_index(plans())


def _byte_order_indexes(url: str) -> dict[str, str]:
    """Name → definition of each "C" index a PostgreSQL database holds."""
    with psycopg.connect(url, autocommit=True) as connection:
        rows = connection.execute("SELECT indexname, indexdef FROM pg_indexes").fetchall()
    return {name: definition for name, definition in rows if name in BYTE_ORDER_INDEXES}


def test_init_makes_them_on_postgresql_only_and_verify_wants_them(
    icu_database: Maker,  # noqa: F811
    demo_events: Path,  # noqa: F811
    pg_server: PgServer,
    tmp_path: Path,
) -> None:
    """`init` on a new ICU database makes every "C" index (`import` into an empty one too),
    and `verify` names one dropped by hand; a SQLite ledger has none and verifies clean."""
    name = f"s44_init_icu_{os.getpid()}"  # one per test process (workers share a server)
    pg_server.admin(
        f"CREATE DATABASE {name} TEMPLATE template0 "
        "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'"
    )
    try:
        url = pg_server.url(name)
        ok(url, CURATOR, "init", "--curator-email", CURATOR, "--curator-name", "Li Na")
        made = _byte_order_indexes(url)
        assert set(made) == BYTE_ORDER_INDEXES, made
        assert all('COLLATE "C"' in definition for definition in made.values()), made
        ok(url, CURATOR, "verify")
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("DROP INDEX ix_loan_number_lower_c")
        found = run(url, CURATOR, "verify")
        assert found.exit_code == 1, found.output
        assert "index ix_loan_number_lower_c on loan is missing" in found.stdout
    finally:
        pg_server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    assert set(_byte_order_indexes(icu_database("en-US", demo_events))) == BYTE_ORDER_INDEXES
    ledger = tmp_path / "ledger.db"
    ok(str(ledger), CURATOR, "init", "--curator-email", CURATOR, "--curator-name", "Li Na")
    engine = db.make_engine(db.url_for_path(ledger))
    try:
        with engine.connect() as connection:
            assert not db.index_names(connection) & BYTE_ORDER_INDEXES
    finally:
        engine.dispose()
    ok(str(ledger), CURATOR, "verify")


@pytest.mark.parametrize(
    ("database", "expected"),
    [("ledger.db", 0), ("postgresql://dba@db.example/ledger", len(BYTE_ORDER_INDEXES))],
    ids=["sqlite", "postgresql"],
)
def test_upgrade_sql_shows_them_for_the_dba(tmp_path: Path, database: str, expected: int) -> None:
    """`db upgrade --sql --from 0016` prints each index for PostgreSQL (none for SQLite), and
    the script from an empty database makes them too."""
    target = database if "://" in database else str(tmp_path / database)
    for since in (["--from", BEFORE], []):
        script = ok(target, CURATOR, "db", "upgrade", "--sql", *since).stdout
        made = {
            name for name in BYTE_ORDER_INDEXES if f"CREATE INDEX IF NOT EXISTS {name} " in script
        }
        assert len(made) == expected, script[-2000:]
        assert ('ON loan (lower(number COLLATE "C"))' in script) is bool(expected)
