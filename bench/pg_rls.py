"""`status` for a researcher through row-level security, 1M-event ledger / demo ledger, both on
PostgreSQL (issue 14, goal ≤ 1.1×).

Run: `python -m bench.pg_rls --big LEDGER.db [--runs 7]` (also part of `python -m bench`, on
its big ledger). It starts its own
throwaway PostgreSQL 15 cluster (tests/pgcluster.py), or uses SAMPLELOANS_TEST_PG.

The 1M-event ledger is loaded into PostgreSQL by `load_ledger`, a bench-only loader: the
ledger's schema is created by `sampleloans` itself (tables, triggers, Alembic stamp), then every
table of the SQLite file is copied with COPY, in seq order, with triggers off for the copy
(`session_replication_role = replica`, as a superuser): a million one-row trigger checks would
measure the loader, not `status`. (`restore --events` into PostgreSQL is not on main yet.) Both
ledgers are then secured with `db secure` and the researcher connects with their own login, so
every row `status` reads goes through the researcher's policies.
"""

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from bench.generate import CURATOR
from bench.pg_writers import start_server
from tests.pgcluster import PgServer

if TYPE_CHECKING:
    import psycopg

BIN = Path(sys.executable).with_name("sampleloans")
DEMO_ID = "0d9ba0c2-5b8e-4a57-9d0e-6a1f0e3c1a2b"
PASSWORD = "bench-researcher"
BIG = ("pi2@inst2.example", "L-000002", "2025-06-01T09:00:00Z")
DEMO = ("muenker@uni-koeln.example", "L-2025-UoC", "2026-04-28T09:00:00Z")
"""(researcher, one of their institution's loans, the clock) on each ledger."""
COPY_ROWS = 50_000


def load_ledger(sqlite_path: Path, url: str) -> int:
    """Copy a SQLite ledger into an empty PostgreSQL database (bench only, see the module
    docstring); how many events."""
    import psycopg

    from sampleloans import db

    db.open_engine(url, create=True).dispose()  # the schema and defences, as `init` makes them
    source = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    with closing(source), psycopg.connect(url) as target:
        target.execute("SET session_replication_role = replica")  # no triggers for the copy
        tables = [
            str(row[0])
            for row in target.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        ]
        known = {str(row[0]) for row in source.execute("SELECT name FROM sqlite_master")}
        for table in sorted(tables):
            if table in known:
                _copy_table(source, target, table)
        target.commit()
        target.execute("SET session_replication_role = DEFAULT")
        target.commit()
        target.autocommit = True
        target.execute("ANALYZE")
        count = target.execute("SELECT count(*) FROM ledger_event").fetchone()
    return int(count[0]) if count else 0


def _copy_table(source: sqlite3.Connection, target: "psycopg.Connection[Any]", table: str) -> None:
    """COPY one table's rows (the columns both sides have), in primary-key order."""
    columns = [
        str(row[0])
        for row in target.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "ORDER BY ordinal_position",
            (table,),
        )
    ]
    present = {str(row[1]) for row in source.execute(f"PRAGMA table_info({table})")}
    names = [name for name in columns if name in present]
    listed = ", ".join(names)
    rows = source.execute(f"SELECT {listed} FROM {table} ORDER BY rowid")
    with target.cursor().copy(f"COPY {table} ({listed}) FROM STDIN") as copy:
        while batch := rows.fetchmany(COPY_ROWS):
            for row in batch:
                copy.write_row(row)


def secure(server: PgServer, database: str, curator: str) -> None:
    """`db secure` as the superuser on behalf of the curator; the researchers get a password."""
    subprocess.run(
        [str(BIN), "--db", server.url(database), "--as", curator, "db", "secure"],
        check=True, capture_output=True,
    )  # fmt: skip
    for researcher in (BIG[0], DEMO[0]):
        server.admin(
            f"DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{researcher}') "
            f"THEN ALTER ROLE \"{researcher}\" PASSWORD '{PASSWORD}'; END IF; END $$"
        )


def researcher_url(server: PgServer, database: str, email: str) -> str:
    """The researcher's own login to a database."""
    auth = f"{quote(email, safe='')}:{quote(PASSWORD, safe='')}"
    return f"postgresql://{auth}@{server.host}:{server.port}/{database}"


def cold_status(url: str, loan: str, now: str, runs: int) -> float:
    """Median wall time of `status --loan` in a fresh process, as the researcher."""
    env = {**os.environ, "SAMPLELOANS_NOW": now}
    env.pop("SAMPLELOANS_USER", None)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            [str(BIN), "--db", url, "status", "--loan", loan], capture_output=True, env=env
        )
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"status failed: {done.stderr.decode(errors='replace')}")
    return statistics.median(times)


def explain_status(url: str, loan: str) -> list[str]:
    """The plans of the researcher's row reads of one loan (no sequential scan expected)."""
    import psycopg

    queries = [
        "SELECT * FROM loan WHERE number = %s",
        "SELECT * FROM loan_item WHERE loan_number = %s",
        "SELECT * FROM shipment WHERE loan_number = %s",
        "SELECT s.seq FROM event_subject s WHERE s.subject_type = 'loan' AND s.subject_key = %s",
    ]
    plans = []
    with psycopg.connect(url) as connection:
        for query in queries:
            rows = connection.execute("EXPLAIN " + query, (loan,)).fetchall()
            plans.append(query + "\n    " + "\n    ".join(str(row[0]) for row in rows))
    return plans


def run(server: PgServer, big: Path, runs: int) -> tuple[float, float]:
    """Load, secure, measure; (big, demo) median seconds."""
    for name in ("bench_rls_big", "bench_rls_demo"):
        server.admin(f"DROP DATABASE IF EXISTS {name}")
        server.admin(f"CREATE DATABASE {name} TEMPLATE template0")
    started = time.perf_counter()
    events = load_ledger(big, server.url("bench_rls_big"))
    print(f"loaded {events} events into PostgreSQL in {time.perf_counter() - started:.0f} s")
    subprocess.run(
        [str(BIN), "--db", server.url("bench_rls_demo"), "demo", "--ledger-id", DEMO_ID],
        check=True, capture_output=True, env={**os.environ, "SAMPLELOANS_NOW": DEMO[2]},
    )  # fmt: skip
    secure(server, "bench_rls_big", CURATOR)
    secure(server, "bench_rls_demo", "curator@naoc.example")
    big_url = researcher_url(server, "bench_rls_big", BIG[0])
    demo_url = researcher_url(server, "bench_rls_demo", DEMO[0])
    for plan in explain_status(big_url, BIG[1]):
        print(plan)
    big_times, demo_times = [], []
    for _ in range(runs):  # alternate, so load on the machine hits both alike
        big_times.append(cold_status(big_url, BIG[1], BIG[2], 1))
        demo_times.append(cold_status(demo_url, DEMO[1], DEMO[2], 1))
    on_big, on_demo = statistics.median(big_times), statistics.median(demo_times)
    return on_big, on_demo


def main() -> None:
    """Print the RLS row of the performance table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--big", type=Path, required=True, help="the 1M-event SQLite ledger")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    server, cluster = start_server()
    try:
        on_big, on_demo = run(server, args.big, args.runs)
    finally:
        if cluster is not None:
            cluster.stop()
    print(
        f"| `status --loan` as a researcher through RLS, cold (median of {args.runs}) | "
        f"{on_big:.3f} s | demo ledger {on_demo:.3f} s | {on_big / on_demo:.2f}× | ≤ 1.1× |"
    )


if __name__ == "__main__":
    main()
