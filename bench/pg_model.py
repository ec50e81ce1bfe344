"""What 8 writers' throughput a write's cost allows (issue 14's ≥ 0.3× goal): the raw psycopg
loop of `bench.pg_writers`, each writer made to spend given CPU before it asks for the writers'
lock (P ms, client), and after the grant (U ms, client; S rows of `generate_series` counted by
the server, ~0.065 ms per 1,000 rows), then inserting its row as the raw loop does.

Run: `python -m bench.pg_model 0,0,0 0.4,0.35,4000 0.4,0,0` (each argument P,U,S; two runs of
8 writers × 150 appends each). Measured where the ledger's own figures are: a ledger write
spends about 0.4 ms of client CPU before the lock, 0.35 ms after the grant and 0.2–0.3 ms of the
server's, so the line P=0.4,U=0.35,S=4000 is the ledger's writers as the model sees them, and
the others say what a write path costing less would reach (bench/RESULTS.md).
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.pg_writers import WORKERS, start_server
from tests.pgcluster import PgServer

WRITER = """
import sys, time
from pathlib import Path
import psycopg

url, worker, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
client_before_ms, client_locked_ms, server_rows = map(float, sys.argv[5:8])


def spend(ms):
    end = time.thread_time() + ms / 1000
    while time.thread_time() < end:
        pass


connection = psycopg.connect(url)
Path(f"{go}.{worker}").touch()
while not go.exists():
    time.sleep(0.001)
for i in range(count):
    spend(client_before_ms)
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(7)")
        spend(client_locked_ms)
        with connection.pipeline():  # the server's work and the row: one round trip
            if server_rows:
                connection.execute("SELECT count(*) FROM generate_series(1, %s)",
                                   (int(server_rows),))
            connection.execute("INSERT INTO raw_event (worker, n) VALUES (%s, %s)", (worker, i))
print("committed", flush=True)
"""


def rate(url: str, costs: tuple[float, float, float], appends: int) -> float:
    """Committed events per second of WORKERS writers with the given costs."""
    with tempfile.TemporaryDirectory() as folder:
        go = Path(folder) / "go"
        args = [str(appends), str(go), *map(str, costs)]
        writers = [
            subprocess.Popen([sys.executable, "-c", WRITER, url, str(n), *args],
                             stdout=subprocess.PIPE, text=True)
            for n in range(WORKERS)
        ]  # fmt: skip
        while not all(Path(f"{go}.{n}").exists() for n in range(WORKERS)):
            time.sleep(0.01)
        started = time.perf_counter()
        go.touch()
        said = [w.stdout.readline() if w.stdout else "" for w in writers]
        elapsed = time.perf_counter() - started
        if [w.wait(timeout=600) for w in writers] != [0] * WORKERS or set(said) != {"committed\n"}:
            raise SystemExit("a writer failed")
    return WORKERS * appends / elapsed


def measure(
    server: PgServer, costs: list[tuple[float, float, float]], appends: int
) -> list[tuple[tuple[float, float, float], list[float]]]:
    """Each cost (P, U, S) and its two rates, on a new database of the server."""
    import psycopg

    server.admin("DROP DATABASE IF EXISTS bench_model")
    server.admin("CREATE DATABASE bench_model TEMPLATE template0")
    url = server.url("bench_model")
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE TABLE raw_event (worker int, n int)")
    return [(cost, [rate(url, cost, appends) for _ in range(2)]) for cost in costs]


def _cost(given: str) -> tuple[float, float, float]:
    """P,U,S as given on the command line."""
    parts = [float(part) for part in given.split(",")]
    if len(parts) != 3:
        raise SystemExit(f"{given}: each cost is P,U,S (three numbers)")
    return parts[0], parts[1], parts[2]


def main() -> None:
    """Print the rate of each P,U,S given, twice."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("costs", nargs="+", help="P,U,S: client ms before, after; server rows")
    parser.add_argument("--appends", type=int, default=150)
    args = parser.parse_args()
    costs = [_cost(given) for given in args.costs]
    server, cluster = start_server()
    try:
        print("| client ms before the lock | client ms after the grant | server rows | events/s |")
        print("|---|---|---|---|")
        for (before, locked, rows), found in measure(server, costs, args.appends):
            shown = ", ".join(f"{r:,.0f}" for r in found)
            print(f"| {before} | {locked} | {rows:.0f} | {shown} |", flush=True)
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
