"""PostgreSQL write figures (issue 14): a cold write command against SQLite's, and 8 concurrent
writers' committed events per second against a raw psycopg baseline.

Run: `python -m bench.pg_writers [--runs 12] [--appends 25]` (also part of `python -m bench`);
`--tree A --tree B` compares checkouts: the 8 writers' figure of each, taking turns, the raw loop
after every turn, and how long each turn's writers held the lock, wall time and client CPU per
write (with `--one-writer`: one writer's CPU per write).
It starts its own throwaway PostgreSQL 15 cluster (tests/pgcluster.py: fsync off, loopback,
scram-sha-256), or uses SAMPLELOANS_TEST_PG. The baseline takes the same advisory lock and
inserts one row per transaction, so the ratio is what the ledger's rules (head, hash, apply,
checks) cost.
"""

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from sampleloans.db import WRITER_LOCK_KEY
from tests.pgcluster import LocalCluster, PgServer, _server_from_env, find_binaries

LEDGER_ID = "0d9ba0c2-5b8e-4a57-9d0e-6a1f0e3c1a2b"
WORKERS = 8
BIN = Path(sys.executable).with_name("sampleloans")  # this environment's command, not PATH's

_WRITER = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path
from sampleloans import db
from sampleloans.ledger.store import Context
from sampleloans.services.reference import add_institution
from sampleloans.services.samples import move_sample

url, worker, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
tag = sys.argv[5] if len(sys.argv) > 5 else ""  # a run's own names, on a ledger used before
engine = db.open_engine(url)
ctx = Context(actor="curator@naoc.example", os_user="bench",
              now=datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
with db.transaction(engine, write=False) as session:  # connected before the start
    session.connection()
Path(f"{go}.{worker}").touch()
while not go.exists():
    time.sleep(0.001)
for i in range(count):
    with db.transaction(engine) as session:
        WRITE
print("committed", flush=True)  # the clock stops at the last commit, not at the exit
"""

LEDGER_WRITER = _WRITER.replace(
    "WRITE",
    'add_institution(session, ctx, short_name=f"W{tag}{worker}-{i}", name=f"Lab {worker}/{i}", '
    'country="CN", city="Beijing", institution_kind="borrower")',
)
"""Writers adding institutions: a write that changes no sample or loan (no checks to read)."""

MOVING_WRITER = _WRITER.replace(
    "WRITE",
    'move_sample(session, ctx, code="CE5C0400YJFM00505", storage_location=f"Shelf {worker}/{i}")',
)
"""The same writers, each moving a sample of the demo (a write that changes a sample, so the
write path's checks read the sample, its children and its items while the lock is held)."""

_HELD_SPANS = """
import time as _time
_held = [0.0, 0.0, 0]  # wall s, thread CPU s, writes: from the lock's answer to the rows sent
_at = [0.0, 0.0]
_begin_write = db._begin_write


def _timed_begin_write(connection, **options):
    _begin_write(connection, **options)
    _at[0], _at[1] = _time.monotonic(), _time.thread_time()


db._begin_write = _timed_begin_write
_send_writes = getattr(db, "_send_writes", None)  # (a tree that sends them below psycopg)


def _timed_send_writes(*args, **options):
    sent = _send_writes(*args, **options)
    if options.get("commit"):
        _held[0] += _time.monotonic() - _at[0]
        _held[1] += _time.thread_time() - _at[1]
        _held[2] += 1
    return sent


if _send_writes is not None:
    db._send_writes = _timed_send_writes
"""

_OPEN = "engine = db.open_engine(url)"
SPANNED_WRITER = (
    LEDGER_WRITER.replace(_OPEN, _HELD_SPANS + _OPEN) + 'print("held", *_held, flush=True)\n'
)
"""LEDGER_WRITER that also says, after its last commit, how long it held the writers' lock:
wall time and its thread's CPU from the lock's answer to its rows and COMMIT sent, summed over
its writes (a tree whose rows are not sent by `db._send_writes` counts none). A hold much
longer than its CPU is the holder waiting for a core while the other writers wait for it."""

RAW_WRITER = """
import sys, time
from pathlib import Path
import psycopg

url, worker, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
key = int(sys.argv[5])
connection = psycopg.connect(url)
Path(f"{go}.{worker}").touch()
while not go.exists():
    time.sleep(0.001)
for i in range(count):
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
        connection.execute("INSERT INTO raw_event (worker, n) VALUES (%s, %s)", (worker, i))
print("committed", flush=True)  # the clock stops at the last commit, not at the exit
"""


ONE_WRITER = """
import contextlib, os, sys, time
from datetime import UTC, datetime
from sampleloans import db
from sampleloans.ledger.store import Context
from sampleloans.services.reference import add_institution
from sampleloans.services.samples import move_sample

url, tag, kind = sys.argv[1], sys.argv[2], sys.argv[3]
engine = db.open_engine(url)
ctx = Context(actor="curator@naoc.example", os_user="bench",
              now=datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
with db.transaction(engine, write=False) as session:
    backend = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
stat = f"/proc/{backend}/stat"  # the server process of this writer's connection


def server_cpu_s():
    fields = open(stat).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


begin_write = db._begin_write  # (every write asks for the lock here: `_on_begin`)
at_lock = [0.0, 0.0]  # this thread's CPU when the lock is asked for, and once it is answered


def timed_begin_write(connection, **options):
    at_lock[0] = time.thread_time()
    begin_write(connection, **options)
    at_lock[1] = time.thread_time()


db._begin_write = timed_begin_write
pipelined = db.pipelined  # (a write's last pipelined block sends its rows and the COMMIT)
at_commit = [0.0]  # this thread's CPU once that block's statements are sent, before the answer


@contextlib.contextmanager
def timed_pipelined(connection):
    with pipelined(connection):
        yield
        at_commit[0] = time.thread_time()


db.pipelined = timed_pipelined
send_writes = getattr(db, "_send_writes", None)  # (a tree that sends them below psycopg)


def timed_send_writes(*args, **options):
    sent = send_writes(*args, **options)
    if options.get("commit"):  # the rows and the COMMIT sent by libpq, before the answer
        at_commit[0] = time.thread_time()
    return sent


if send_writes is not None:
    db._send_writes = timed_send_writes
done = 0


def write():
    global done
    done += 1
    with db.transaction(engine) as session:
        if kind == "move":
            move_sample(session, ctx, code="CE5C0400YJFM00505",
                        storage_location=f"Shelf {tag}/{done}")
        else:
            add_institution(session, ctx, short_name=f"{tag}-{done}", name=f"Lab {done}",
                            country="CN", city="Beijing", institution_kind="borrower")


for _ in range(30):  # warm: imports, compiled and prepared statements
    write()
print("ready", flush=True)
for line in sys.stdin:
    count = int(line)
    server, client = server_cpu_s(), time.thread_time()
    before = after = held = 0.0
    for _ in range(count):
        started = time.thread_time()
        write()
        ended = time.thread_time()
        before += at_lock[0] - started
        after += ended - at_lock[1]
        held += at_commit[0] - at_lock[1]
    print(time.thread_time() - client, server_cpu_s() - server, before, after, held, flush=True)
"""
"""One long-lived writer adding institutions (`kind` "move": moving a sample), `count` at a
time when told (a line on stdin): its thread's CPU (`time.thread_time`, which other processes'
load does not inflate as a wall clock's would) and its server process's (from /proc, the server
on this machine) per batch, and of its thread's CPU the part before the writers' lock is asked
for and the part after its answer (the lock's own call, sending and reading its pipeline, is
in neither), and of that last part the span while the lock is held: from the lock's answer to
the end of the write's last pipelined block, its rows and COMMIT sent (the server releases the
lock at the COMMIT; what follows, the COMMIT's answer and SQLAlchemy's commit and pool return,
is client CPU of the write, not of the lock's span). A tree that sends its rows and COMMIT by
libpq's own pipeline (`db._send_writes`) ends that span when they are sent."""


OneWrite = tuple[float, float, float, float, float]
"""Per write of one writer, ms: client CPU, server CPU, client CPU before the lock, after its
answer, and of that the part up to the COMMIT sent (while the lock is held)."""


def one_writer_cpu(
    server: PgServer, trees: list[Path | None], rounds: int, writes: int, kind: str = "add"
) -> dict[str, list[OneWrite]]:
    """CPU ms per write of one writer per tree (a checkout's code through PYTHONPATH; None:
    this one), each on its own demo ledger, the trees taking turns; `kind` "move": each write
    moves a sample, else it adds an institution."""
    env = {**os.environ, "SAMPLELOANS_NOW": "2026-06-01T09:00:00Z"}
    writers: dict[str, subprocess.Popen[str]] = {}
    for n, tree in enumerate(trees):
        name = f"bench_one_{n}"
        server.admin(f"DROP DATABASE IF EXISTS {name}")
        server.admin(f"CREATE DATABASE {name} TEMPLATE template0")
        code = {**env, "PYTHONPATH": str(tree)} if tree else env
        where = str(tree) if tree else None  # `python -c` reads modules from its folder first
        subprocess.run(
            [str(BIN), "--db", server.url(name), "demo", "--ledger-id", LEDGER_ID],
            check=True, capture_output=True, env=code, cwd=where,
        )  # fmt: skip
        writers[f"{tree or 'this tree'} #{n}"] = subprocess.Popen(
            [sys.executable, "-c", ONE_WRITER, server.url(name), f"ONE{n}", kind],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=code, cwd=where,
        )  # fmt: skip
    found: dict[str, list[OneWrite]] = {label: [] for label in writers}
    try:
        for label, writer in writers.items():
            if writer.stdout is None or writer.stdout.readline() != "ready\n":
                raise SystemExit(f"the writer of {label} failed to start")
        for round_ in range(rounds):
            order = list(writers.items())
            for label, writer in order[round_ % len(order) :] + order[: round_ % len(order)]:
                assert writer.stdin is not None and writer.stdout is not None
                writer.stdin.write(f"{writes}\n")
                writer.stdin.flush()
                client, server_s, before, after, held = map(float, writer.stdout.readline().split())
                per_write = (client, server_s, before, after, held)
                found[label].append(cast(OneWrite, tuple(x / writes * 1e3 for x in per_write)))
    finally:
        for writer in writers.values():
            if writer.stdin is not None:
                writer.stdin.close()
            writer.wait(timeout=60)
    return found


@dataclass(frozen=True)
class Rate:
    """Committed appends per second of the writers' processes: up to the last commit, and (for
    comparison with earlier waves) up to the last process's exit."""

    committed: float
    exited: float
    held_wall_s: float = 0.0
    held_cpu_s: float = 0.0
    held_writes: int = 0


def _concurrent(
    script: str,
    url: str,
    appends: int,
    extra: list[str],
    tree: Path | None = None,
    workers: int = WORKERS,
) -> Rate:
    """Committed appends per second of `workers` processes started together (running a
    checkout's code through PYTHONPATH and its folder when `tree` is given).

    The clock stops when the last writer has committed its last append (each says so on its
    stdout), not when the processes have exited: an interpreter's shutdown (SQLAlchemy's and
    the models' objects freed, ~0.1 s of CPU each, eight at once on a small machine) is no
    part of the ledger's write throughput, and counting it made the figure mostly that.
    """
    env = {**os.environ, "PYTHONPATH": str(tree)} if tree else None
    with tempfile.TemporaryDirectory() as folder:
        go = Path(folder) / "go"
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", script, url, str(n), str(appends), str(go), *extra],
                stdout=subprocess.PIPE,
                text=True,
                env=env,
                cwd=str(tree) if tree else None,  # `python -c` reads modules from its folder first
            )
            for n in range(workers)
        ]
        # every process has imported and connected before the clock starts
        while not all(Path(f"{go}.{n}").exists() for n in range(workers)):
            time.sleep(0.01)
        started = time.perf_counter()
        go.touch()
        said = [p.stdout.readline() if p.stdout else "" for p in processes]
        committed = time.perf_counter() - started
        codes = [p.wait(timeout=600) for p in processes]
        exited = time.perf_counter() - started
        held = [_held_of(p.stdout.read() if p.stdout else "") for p in processes]
    if any(codes) or said != ["committed\n"] * workers:
        raise SystemExit(f"a writer failed: exit codes {codes}")
    return Rate(
        committed=workers * appends / committed,
        exited=workers * appends / exited,
        held_wall_s=sum(wall for wall, _cpu, _n in held),
        held_cpu_s=sum(cpu for _wall, cpu, _n in held),
        held_writes=sum(n for _wall, _cpu, n in held),
    )


def _held_of(said: str) -> tuple[float, float, int]:
    """A SPANNED_WRITER's last line (`held WALL CPU WRITES`), or nothing held (another writer)."""
    for line in said.splitlines():
        if line.startswith("held "):
            wall, cpu, writes = line.split()[1:]
            return float(wall), float(cpu), int(writes)
    return 0.0, 0.0, 0


WritersRound = tuple[float, float, float, float]
"""One turn of a tree in `writers_by_tree`: the writers' committed events/s, and the raw
loop's, measured right after it; the writers' hold of the lock, wall and client CPU ms per
write (0 for a tree whose rows are not sent by `db._send_writes`)."""


def writers_by_tree(
    server: PgServer,
    trees: list[Path | None],
    rounds: int,
    appends: int,
    workers: int = WORKERS,
) -> dict[str, list[WritersRound]]:
    """The 8-writer figure of each tree (a checkout's code through PYTHONPATH; None: this
    one), each on its own demo ledger in one cluster, the trees taking turns (A B, then B A)
    and the raw loop measured after every turn: on a shared machine the raw loop's rate
    swings with the load as much as the writers' do, so each turn's ratio is to the raw rate
    of its own minute, and the trees' ratios are compared turn by turn."""
    env = {**os.environ, "SAMPLELOANS_NOW": "2026-06-01T09:00:00Z"}
    urls: dict[str, tuple[str, Path | None]] = {}
    for n, tree in enumerate(trees):
        name = f"bench_trees_{n}"
        server.admin(f"DROP DATABASE IF EXISTS {name}")
        server.admin(f"CREATE DATABASE {name} TEMPLATE template0")
        code = {**env, "PYTHONPATH": str(tree)} if tree else env
        subprocess.run(
            [str(BIN), "--db", server.url(name), "demo", "--ledger-id", LEDGER_ID],
            check=True, capture_output=True, env=code, cwd=str(tree) if tree else None,
        )  # fmt: skip
        urls[f"{tree or 'this tree'} #{n}"] = (server.url(name), tree)
    server.admin("DROP DATABASE IF EXISTS bench_trees_raw")
    server.admin("CREATE DATABASE bench_trees_raw TEMPLATE template0")
    raw_url = server.url("bench_trees_raw")
    _create_raw_table(raw_url)
    found: dict[str, list[WritersRound]] = {label: [] for label in urls}
    for round_ in range(rounds):
        order = list(urls.items())
        for label, (url, tree) in order if round_ % 2 == 0 else order[::-1]:
            ours = _concurrent(SPANNED_WRITER, url, appends, [f"R{round_}x"], tree, workers)
            raw = _concurrent(RAW_WRITER, raw_url, appends, [str(WRITER_LOCK_KEY)], tree, workers)
            writes = max(ours.held_writes, 1)
            held = (ours.held_wall_s / writes * 1e3, ours.held_cpu_s / writes * 1e3)
            found[label].append((ours.committed, raw.committed, *held))
    return found


def _create_raw_table(url: str) -> None:
    """The raw loop's table, in a database of its own."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE TABLE raw_event (id bigserial PRIMARY KEY, worker int, n int)")


_SHELVES = itertools.count()
"""Each cold move's place: a move to where the sample already is is refused."""


def _cold_write(database: str, runs: int, env: dict[str, str]) -> list[float]:
    """Wall time of one write command in a fresh process, `runs` times."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(
            [str(BIN), "--db", database, "--as", "curator@naoc.example", "samples", "move",
             "CE5C0400YJFM00505", "--location", f"Shelf {next(_SHELVES)}"],
            check=True, capture_output=True, env=env,
        )  # fmt: skip
        times.append(time.perf_counter() - started)
    return times


@dataclass(frozen=True)
class WriteFigures:
    """The two write figures on PostgreSQL, each with its reference measured in the same run."""

    pg_write_s: float
    sqlite_write_s: float
    ledger_rate: Rate
    moving_rate: Rate
    raw_rate: Rate
    runs: int
    appends: int
    workers: int = WORKERS


def main() -> None:
    """Print the two PostgreSQL rows of the performance table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--appends", type=int, default=25)
    parser.add_argument(
        "--one-writer", type=int, default=0, metavar="WRITES",
        help="instead: client and server CPU per write of one long-lived writer, WRITES a round",
    )  # fmt: skip
    parser.add_argument("--rounds", type=int, default=8, help="with --one-writer")
    parser.add_argument(
        "--kind", choices=("add", "move"), default="add",
        help="with --one-writer: each write adds an institution, or moves a sample",
    )  # fmt: skip
    parser.add_argument(
        "--tree", type=Path, action="append", default=[],
        help="a checkout whose code a writer runs (repeat, even the same one: they take "
        "turns); without --one-writer: the 8 writers' figure of each, --runs turns of "
        "--appends each, the raw loop after every turn",
    )  # fmt: skip
    args = parser.parse_args()
    server, cluster = start_server()
    try:
        if args.one_writer:
            trees: list[Path | None] = list(args.tree) or [None]
            found_one = one_writer_cpu(server, trees, args.rounds, args.one_writer, args.kind)
            _print_one_writer(found_one)
            return
        if args.tree:
            _print_by_tree(writers_by_tree(server, list(args.tree), args.runs, args.appends))
            return
        found = measure(server, args.runs, args.appends)
    finally:
        if cluster is not None:
            cluster.stop()
    print("| figure | PostgreSQL | reference | ratio | goal |")
    print("|---|---|---|---|---|")
    print(
        f"| write command, cold process (`samples move`, median of {found.runs}) | "
        f"{found.pg_write_s:.3f} s | SQLite {found.sqlite_write_s:.3f} s | "
        f"{found.pg_write_s / found.sqlite_write_s:.2f}× | ≤ 1.5× |"
    )
    print(
        f"| {found.workers} concurrent writers × {found.appends} appends, committed events/s | "
        f"{found.ledger_rate.committed:.0f} | raw psycopg + same lock "
        f"{found.raw_rate.committed:.0f} | "
        f"{found.ledger_rate.committed / found.raw_rate.committed:.2f}× | ≥ 0.3× |"
    )
    print(
        f"| the same writers moving a sample (`samples move`), committed events/s | "
        f"{found.moving_rate.committed:.0f} | raw psycopg + same lock "
        f"{found.raw_rate.committed:.0f} | "
        f"{found.moving_rate.committed / found.raw_rate.committed:.2f}× | (no goal of its own) |"
    )
    print(
        f"(to the writers' exit, as measured before: {found.ledger_rate.exited:.0f} / "
        f"{found.raw_rate.exited:.0f} = {found.ledger_rate.exited / found.raw_rate.exited:.2f}×)"
    )
    print(f"load average {os.getloadavg()[0]:.1f}")


def _print_one_writer(found: dict[str, list[OneWrite]]) -> None:
    """The one-writer figures: median (and least) CPU ms per write, client and server."""
    print(
        "| code | client CPU ms/write, median (least) | before the lock | after its answer | "
        "of which with the lock held (to the COMMIT sent) | server CPU ms/write, median (least) |"
    )
    print("|---|---|---|---|---|---|")
    for label, figures in found.items():
        cells = []
        for column in (0, 2, 3, 4, 1):
            values = [figure[column] for figure in figures]
            cells.append(f"{statistics.median(values):.3f} ({min(values):.3f})")
        print(f"| {label} | {' | '.join(cells)} |")
    print(f"load average {os.getloadavg()[0]:.1f}")


def _print_by_tree(found: dict[str, list[WritersRound]]) -> None:
    """Each tree's turns: writers' and raw loop's events/s and their ratio, and the median;
    and each turn's hold of the lock, wall (client CPU) ms per write."""
    print(
        "| code | each turn: writers / raw loop events/s (ratio) | median ratio | "
        "each turn: lock held ms per write, wall (client CPU) |"
    )
    print("|---|---|---|---|")
    for label, turns in found.items():
        cells = "; ".join(f"{ours:.0f} / {raw:.0f} ({ours / raw:.2f}×)" for ours, raw, *_ in turns)
        median = statistics.median(ours / raw for ours, raw, *_ in turns)
        holds = "; ".join(f"{wall:.2f} ({cpu:.2f})" for *_, wall, cpu in turns)
        print(f"| {label} | {cells} | {median:.2f}× | {holds} |")
    print(f"load average {os.getloadavg()[0]:.1f}")


def start_server() -> tuple[PgServer, LocalCluster | None]:
    """SAMPLELOANS_TEST_PG, else a throwaway cluster (stop it after); SystemExit with the
    reason where neither exists."""
    existing = os.environ.get("SAMPLELOANS_TEST_PG")
    if existing:
        return _server_from_env(existing), None
    binaries = find_binaries()
    if binaries is None:
        raise SystemExit(
            "skipped: no PostgreSQL 15 server binaries (initdb and pg_ctl in "
            "/usr/lib/postgresql/15/bin or SAMPLELOANS_PG_BIN) and no SAMPLELOANS_TEST_PG"
        )
    cluster = LocalCluster(binaries)
    return cluster.start(), cluster


def measure(server: PgServer, runs: int, appends: int, workers: int = WORKERS) -> WriteFigures:
    """Build both ledgers and the raw table, measure the two write figures (`workers`
    concurrent writers: fewer only in the tests' smoke run, where each costs its imports)."""
    for name in ("bench_ledger", "bench_raw"):
        server.admin(f"DROP DATABASE IF EXISTS {name}")
        server.admin(f"CREATE DATABASE {name} TEMPLATE template0")
    pg = server.url("bench_ledger")
    env = {**os.environ, "SAMPLELOANS_NOW": "2026-06-01T09:00:00Z"}
    env.pop("SAMPLELOANS_DB", None)
    env.pop("SAMPLELOANS_USER", None)
    with tempfile.TemporaryDirectory() as folder:
        sqlite = str(Path(folder) / "demo" / "ledger.db")
        for extra in (["--db", pg], []):
            subprocess.run(
                [str(BIN), *extra, "demo", "--ledger-id", LEDGER_ID,
                 *([] if extra else ["--dir", str(Path(folder) / "demo")])],
                check=True, capture_output=True, env=env,
            )  # fmt: skip
        sqlite_times, pg_times = [], []
        for _ in range(runs):  # alternate, so load on the machine hits both alike
            sqlite_times += _cold_write(sqlite, 1, env)
            pg_times += _cold_write(pg, 1, env)
    _create_raw_table(server.url("bench_raw"))
    ledger_rate = _concurrent(LEDGER_WRITER, pg, appends, [], workers=workers)
    moving_rate = _concurrent(MOVING_WRITER, pg, appends, [], workers=workers)
    raw_url = server.url("bench_raw")
    raw_rate = _concurrent(RAW_WRITER, raw_url, appends, [str(WRITER_LOCK_KEY)], workers=workers)
    return WriteFigures(
        pg_write_s=statistics.median(pg_times),
        sqlite_write_s=statistics.median(sqlite_times),
        ledger_rate=ledger_rate,
        moving_rate=moving_rate,
        raw_rate=raw_rate,
        runs=runs,
        appends=appends,
        workers=workers,
    )


if __name__ == "__main__":
    main()
