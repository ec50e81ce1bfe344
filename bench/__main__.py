"""`python -m bench [--scale tiny|small|full] [--write]`: the figures of issue #6.

Every figure is printed as `name: ratio R (goal G) | ours X | baseline Y`, the baseline measured
in the same run on the same machine. `--write` also writes bench/RESULTS.md.
"""

import argparse
import hashlib
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import text as sqltext

from bench.generate import CURATOR, NOW, SCALES

BIN = Path(sys.executable).with_name("sampleloans")
HOT_QUERIES = {
    "ledger head": "SELECT seq, hash FROM ledger_event WHERE seq = "
    "(SELECT max(seq) FROM ledger_event)",
    "event by seq": "SELECT payload FROM ledger_event WHERE seq = 5",
    "history of a loan": "SELECT e.seq FROM event_subject s JOIN ledger_event e ON e.seq = s.seq "
    "WHERE s.subject_type = 'loan' AND s.subject_key = 'L-000000' ORDER BY s.seq",
    "items of a sample": "SELECT * FROM loan_item WHERE sample_code = 'SYN0000001'",
    "children of a sample": "SELECT * FROM sample WHERE parent_code = 'SYN0000001'",
    "issued under an agreement": "SELECT loan.agreement, sum(loan_item.issued_ug) FROM loan "
    "JOIN loan_item ON loan_item.loan_number = loan.number WHERE loan_item.source = 'issued' "
    "AND loan.agreement IN ('AG-INST000') GROUP BY loan.agreement",
    "open incidents of a sample": "SELECT sample_code FROM incident WHERE status = 'open' "
    "AND sample_code IN ('SYN0000001')",
}
rows: list[tuple[str, float, str, str, str]] = []


def figure(name: str, ours: float, base: float, goal: str, unit: str) -> None:
    """Record and print one figure: ratio = ours / baseline (for a rate, higher is better)."""
    ratio = ours / base if base else float("inf")
    rows.append((name, ratio, goal, f"{ours:.3f} {unit}", f"{base:.3f} {unit}"))
    print(
        f"{name}: ratio {ratio:.3g} (goal {goal}) | ours {ours:.3f} {unit} | "
        f"baseline {base:.3f} {unit}",
        flush=True,
    )


def cold(args: list[str], runs: int, env: dict[str, str] | None = None) -> float:
    """Median wall time of a fresh process."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            args,
            env={**os.environ, **(env or {})},
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cold_peak(args: list[str], runs: int, env: dict[str, str]) -> tuple[float, float]:
    """Median wall time and peak RSS (MB) of a fresh process of `args` (exit 0 or 1: a
    verify-document that finds a report out of date exits 1), timed by a wrapper process."""
    wrapper = (
        "import resource, subprocess, sys, time\nstart = time.perf_counter()\n"
        "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)"
        "\nseconds = time.perf_counter() - start\n"
        # the one child's own maxrss: at least this small wrapper's (~10 MB), never the bench's
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(seconds, peak, done.returncode)\n"
    )
    times, peaks = [], []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", wrapper, *args],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=True,
        )
        seconds, peak, code = done.stdout.split()
        if int(code) not in (0, 1):
            raise RuntimeError(f"{' '.join(args)} exited {code}")
        times.append(float(seconds))
        peaks.append(float(peak))
    return statistics.median(times), max(peaks)


def repeated(
    engine: Any, path: Path, call: Callable[[Any], object], sql: str, at: str, calls: int
) -> tuple[float, float]:
    """Median seconds of `call(session)` and of the hand-written `sql` over `calls` calls each,
    interleaved (the first call of either pays for cold pages, as a user's first call does)."""
    from sampleloans import db as dbm

    ours, base = [], []
    con = sqlite3.connect(path)
    for _ in range(calls):
        with dbm.transaction(engine, write=False) as session:
            # open the connection first: the baseline's sqlite3.connect is outside its timer too
            session.execute(sqltext("SELECT 1"))
            start = time.perf_counter()
            call(session)
            ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        con.execute(sql, {"now": at}).fetchall()
        base.append(time.perf_counter() - start)
    con.close()
    return statistics.median(ours), statistics.median(base)


def mid_loan_moment(path: Path, loan: str) -> str:
    """The date of the middle event of a loan: an "as of" inside its life."""
    con = sqlite3.connect(path)
    dates = [
        r[0]
        for r in con.execute(
            "SELECT e.occurred_at FROM event_subject s JOIN ledger_event e ON e.seq = s.seq "
            "WHERE s.subject_type = 'loan' AND s.subject_key = ? ORDER BY s.seq",
            (loan,),
        )
    ]
    con.close()
    return dates[len(dates) // 2]


def as_of_rows(big: Path, big_env: dict[str, str], demo: Path, demo_env: dict[str, str],
               work: Path, runs: int) -> None:  # fmt: skip
    """Issue 13 point 1: `custody history --as-of` and `verify-document` of a report after one
    later event, on the big ledger against the demo ledger (time and the child's peak RSS)."""
    cases = (("big", big, big_env, "L-000002", "SYN0000002"),
             ("demo", demo, demo_env, "L-2025-UoC", "CE5C0000YJYX052"))  # fmt: skip
    history: dict[str, tuple[float, float]] = {}
    checked: dict[str, tuple[float, float]] = {}
    for name, path, env, loan, sample in cases:
        moment = mid_loan_moment(path, loan)
        history[name] = cold_peak(
            [str(BIN), "custody", "history", "--loan", loan, "--as-of", moment], runs, env
        )
        pdf = work / f"as-of-{name}.pdf"
        pdf.unlink(missing_ok=True)  # `report --out` never overwrites (a --reuse run)
        made = [str(BIN), "report", "custody", "--loan", loan, "--out", str(pdf)]
        subprocess.run(made, env={**os.environ, **env}, check=True, stdout=subprocess.DEVNULL)
        later = [str(BIN), "loans", "consume", loan, "--sample", sample, "--technique", "bench",
                 "--mass", "1 ug", "--destructive"]  # fmt: skip
        subprocess.run(later, env={**os.environ, **env}, check=True, stdout=subprocess.DEVNULL)
        checked[name] = cold_peak([str(BIN), "verify-document", str(pdf)], runs, env)
    for label, measured in (
        ("custody history --as-of", history),
        ("verify-document after a later event", checked),
    ):
        figure(f"{label} big / demo ledger", measured["big"][0], measured["demo"][0], "≤ 1.1", "s")
        figure(f"{label} peak RSS, big ledger", measured["big"][1], 200, "≤ 1 (200 MB)", "MB")
        note(f"{label}: peak RSS on the demo ledger {measured['demo'][1]:.0f} MB")


notes: list[str] = []


def note(text: str) -> None:
    """Print and keep one line of context for RESULTS.md."""
    notes.append(text)
    print(f"  {text}", flush=True)


PEAK_MB = (
    "def peak_mb() -> float:\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            return int(line.split()[1]) / 1024\n"
    "    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
)
"""The child's own peak RSS in MB. Not `ru_maxrss`: Linux carries a process's `ru_maxrss` over
`execve` from the memory of the parent it was spawned from (`setmax_mm_hiwater_rss`), so every
child of this 73 MB bench process read at least 73 MB. VmHWM is the high-water mark of the
child's own address space, the figure `/usr/bin/time -v` also reports when its parent is small."""


def in_child(code: str) -> dict[str, float]:
    """Run `code` in a fresh Python process; it sets `result`; add the child's peak RSS in MB."""
    wrapper = (
        "import json, resource, time\nfrom pathlib import Path\n"
        + PEAK_MB
        + code
        + "result['peak_mb'] = peak_mb()\n"
        "print(json.dumps(result))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def raw_ingest(path: Path, n: int) -> float:
    """rows/s of sqlite3.executemany of ledger_event-width rows, same indexes, one transaction."""
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute(
        "CREATE TABLE e (seq INTEGER PRIMARY KEY, kind TEXT, payload TEXT, occurred_at "
        "TEXT, recorded_at TEXT, actor TEXT, os_user TEXT, corrects_seq INT, reason TEXT, "
        "prev_hash TEXT, hash TEXT UNIQUE)"
    )
    con.execute("CREATE INDEX ix_e_kind ON e (kind)")
    data = (
        (
            i,
            "loan.consumed",
            '{"mass_ug":1,"number":"L-000002","sample":"SYN0000001",'
            '"technique":"spot","destructive":true}',
            "2025-01-01T00:00:00Z",
            "2025-01-01T00:00:00Z",
            CURATOR,
            "bench",
            None,
            None,
            "0" * 64,
            hashlib.sha256(str(i).encode()).hexdigest(),
        )
        for i in range(1, n + 1)
    )
    start = time.perf_counter()
    con.execute("BEGIN")
    con.executemany("INSERT INTO e VALUES (?,?,?,?,?,?,?,?,?,?,?)", data)
    con.execute("COMMIT")
    con.close()
    return n / (time.perf_counter() - start)


def raw_chain(path: Path) -> float:
    """Seconds to recompute the chain with sqlite3 + hashlib only."""
    start = time.perf_counter()
    con = sqlite3.connect(path)
    (ledger_id,) = con.execute("SELECT value FROM ledger_meta WHERE key='ledger_id'").fetchone()
    prev = hashlib.sha256(("sampleloans-genesis-v1:" + ledger_id).encode()).hexdigest()
    keys = (
        "seq",
        "kind",
        "payload",
        "occurred_at",
        "recorded_at",
        "actor",
        "os_user",
        "corrects_seq",
        "reason",
    )
    cur = con.execute(f"SELECT {', '.join(keys)}, prev_hash, hash FROM ledger_event ORDER BY seq")
    while batch := cur.fetchmany(5000):
        for row in batch:
            body = json.dumps(
                dict(zip(keys, row[:9], strict=True)),
                sort_keys=True,
                separators=(",", ":"),
                ensure_ascii=False,
            )
            digest = hashlib.sha256((prev + body).encode()).hexdigest()
            assert digest == row[10] and row[9] == prev
            prev = digest
    con.close()
    return time.perf_counter() - start


def explain(path: Path) -> bool:
    """Print the plans of the hot queries; False on a full scan of ledger_event."""
    con = sqlite3.connect(path)
    ok = True
    for name, query in HOT_QUERIES.items():
        plan = [r[3] for r in con.execute(f"EXPLAIN QUERY PLAN {query}")]
        print(f"  plan {name}: {' / '.join(plan)}")
        if any(p.startswith("SCAN ledger_event") or p == "SCAN e" for p in plan):
            ok = False
            print(f"  FULL SCAN of ledger_event in {name!r}")
    con.close()
    return ok


def platypus_baseline(n: int) -> float:
    """Seconds for a bare platypus document of n rows as Tables of 500 rows."""
    import io

    from reportlab.lib.pagesizes import A4
    from reportlab.platypus import Flowable, SimpleDocTemplate, Table

    data = [
        [str(i), "loan.consumed", "2025-01-01T00:00:00Z", CURATOR, f"spot {i}, 1 µg"]
        for i in range(n)
    ]
    start = time.perf_counter()
    story: list[Flowable] = [Table(data[i : i + 500], repeatRows=0) for i in range(0, n, 500)]
    SimpleDocTemplate(io.BytesIO(), pagesize=A4).build(story)
    return time.perf_counter() - start


def time_report(path: str, loan: int, *, baseline: bool = True) -> dict[str, float]:
    """Seconds to build and render the custody report of loan `loan`, in this (fresh) process.

    reportlab and the font are loaded before the clock starts, as the baseline's imports are.
    """
    from sampleloans import db as dbm
    from sampleloans.ledger.store import Context
    from sampleloans.readmodels.report import CustodyBody
    from sampleloans.reports import layout, render
    from sampleloans.services.reporting import build_report, make_request

    layout.register_font()
    engine = dbm.open_engine(dbm.url_for_path(Path(path)))
    ctx = Context(CURATOR, "bench", NOW)
    start = time.perf_counter()
    with dbm.transaction(engine, write=False) as session:
        request = make_request("custody", loan=f"L-{loan:06d}")
        report = build_report(session, ctx, request, generated_at=NOW)
    data = render(report)
    seconds = time.perf_counter() - start
    engine.dispose()
    assert isinstance(report.body, CustodyBody)  # a custody report
    events = len(report.body.events)
    return {
        "seconds": seconds,
        "events": events,
        "pages": data.count(b"/Type /Page") - data.count(b"/Type /Pages"),
        "baseline": platypus_baseline(events) if baseline else 0.0,
    }


def scaling_figures(
    work: Path, ingest: dict[str, float], checked: dict[str, float], base_events: int
) -> None:
    """Issue 13: import and verify per event, bench ledger / a ledger of `base_events` (10k but
    at tiny scale) of the same shape, and the import against a raw executemany of exactly the
    rows it writes (`bench.scaling`)."""
    # a fresh folder: the same-rows floor replays onto copies it keeps there, and a copy left by
    # an earlier run (`--reuse`) would already hold the events it replays
    shutil.rmtree(work / "scaling", ignore_errors=True)
    small = in_child(
        "from bench.scaling import per_event\n"
        f"result = per_event({base_events}, Path({str(work / 'scaling')!r}))\n"
    )
    big_import_us = ingest["seconds"] / ingest["events"] * 1e6
    big_verify_us = checked["seconds"] / checked["events"] * 1e6
    figure(
        f"import µs/event, bench ledger / {base_events:,}",
        big_import_us,
        small["import_us"],
        "≤ 1.2",
        "µs",
    )
    figure(
        f"verify µs/event, bench ledger / {base_events:,}",
        big_verify_us,
        small["verify_us"],
        "≤ 1.2",
        "µs",
    )
    # a rate: the raw floor's time over ours (higher is better)
    figure(
        f"import / same-rows raw executemany ({small['events']:.0f} events)",
        small["same_rows_s"],
        small["import_s"],
        "≥ 0.5",
        "s",
    )
    note(
        f"same-rows floor: the INSERT/UPDATE statements of a real {small['events']:.0f}-event "
        "import, recorded and replayed with sqlite3 executemany in one transaction; import CPU "
        f"{small['import_cpu_us']:.0f} µs/event (wall {small['import_us']:.0f})"
    )


def cli_in_child(db_path: Path, args: list[str]) -> dict[str, float]:
    """Seconds and peak RSS (MB) of one command run in a fresh process, its stdout discarded.

    The clock starts at the command (the interpreter's start-up is not counted; the imports the
    command does when it runs are).
    """
    env = {"SAMPLELOANS_DB": str(db_path), "SAMPLELOANS_USER": CURATOR,
           "SAMPLELOANS_NOW": NOW.isoformat()}  # fmt: skip
    return in_child(
        "import os, sys\n"
        f"os.environ.update({env!r})\n"
        f"sys.argv = ['sampleloans', *{args!r}]\n"
        "from sampleloans.cli import main\n"
        "real, sys.stdout = sys.stdout, open(os.devnull, 'w')\n"
        "start = time.perf_counter()\n"
        "try:\n    main()\nexcept SystemExit as done:\n    assert not done.code, done.code\n"
        "sys.stdout.flush()\nresult = {'seconds': time.perf_counter() - start}\n"
        "sys.stdout = real\n"
    )


def streaming_json_baseline(
    db_path: Path, table: str, key: str, *, lines: bool
) -> dict[str, float]:
    """The hand-written floor of a streamed `--json`/`--jsonl` list: sqlite3 rows a batch at a
    time, each row `json.dumps`'d (two-space indent in an array, or one line each), in a fresh
    process; seconds and peak RSS."""
    dump = (
        "out.write(json.dumps(dict(zip(cols, row)), sort_keys=True, ensure_ascii=False) + '\\n')"
        if lines
        else "out.write(('[\\n  ' if first else ',\\n  ') + json.dumps(dict(zip(cols, row)), "
        "indent=2, sort_keys=True, ensure_ascii=False).replace('\\n', '\\n  '))\n"
        "            first = False"
    )
    return in_child(
        "import json, os, sqlite3\n"
        "start = time.perf_counter()\n"
        f"con = sqlite3.connect({str(db_path)!r})\n"
        f"cur = con.execute('SELECT * FROM {table} ORDER BY {key}')\n"
        "cols = [d[0] for d in cur.description]\n"
        "out, first = open(os.devnull, 'w'), True\n"
        "while batch := cur.fetchmany(500):\n"
        "    for row in batch:\n"
        f"            {dump}\n"
        f"out.write({'' if lines else ']' + chr(10)!r})\nout.close()\n"
        "result = {'seconds': time.perf_counter() - start}\n"
    )


def list_figures(big: Path, loan: str = "L-000001") -> None:
    """Issue 13 point 2: streamed lists against the hand-written streaming floor, in this run;
    peak memory of the lists that grew with the ledger, against the 150 MB goal."""
    for name, args, table, key, lines in (
        ("samples list --jsonl", ["samples", "list", "--jsonl"], "sample", "code", True),
        ("loans list --json", ["loans", "list", "--json"], "loan", "number", False),
    ):
        ours = cli_in_child(big, args)
        base = streaming_json_baseline(big, table, key, lines=lines)
        figure(f"{name} time", ours["seconds"], base["seconds"], "≤ 2", "s")
        figure(f"{name} peak RSS", ours["peak_mb"], base["peak_mb"], "< 150 MB", "MB")
    for args in (
        ["samples", "list"],
        ["loans", "list"],
        ["custody", "history", "--loan", loan],  # 100,000 events at full scale
        ["loans", "show", loan],
    ):
        ours = cli_in_child(big, args)
        figure(f"{' '.join(args)} peak RSS", ours["peak_mb"], 150, "< 1 (150 MB)", "MB")
        note(f"{' '.join(args)} (piped, every row): {ours['seconds']:.1f} s")


PARTS = ("ingest", "cold", "as-of", "verify", "overdue", "lists", "report", "postgres")
"""The groups of rows `--only` can pick."""


def ingest_figures(ingest: dict[str, float]) -> None:
    """The bulk ingest rate against a raw executemany of ledger_event-width rows."""
    figure("bulk ingest events/s", ingest["rate"], ingest["baseline"], "≥ 0.20", "ev/s")
    note(
        f"bulk ingest: {ingest['events']:.0f} events in {ingest['seconds']:.1f} s; peak RSS of "
        f"the importing process {ingest['peak_mb']:.0f} MB"
    )


def help_figures(work: Path, runs: int) -> str:
    """`--help` cold against a bare two-command Typer app; returns the heavy modules it loads."""
    bare = work / "bare.py"
    bare.write_text(
        "import typer\napp = typer.Typer()\n@app.command()\ndef noop() -> None:\n"
        "    pass\n@app.command()\ndef other() -> None:\n    pass\napp()\n"
    )
    py = sys.executable
    figure(
        "--help cold",
        cold([str(BIN), "--help"], runs),
        cold([py, str(bare), "--help"], runs),
        "≤ 1.2",
        "s",
    )
    probe = subprocess.run(
        [
            py,
            "-c",
            "import sys\nsys.argv=['sampleloans','--help']\ntry:\n"
            "    from sampleloans.cli import main; main()\nexcept SystemExit:\n"
            "    pass\nprint(sorted(m for m in ('sqlalchemy','reportlab') "
            "if m in sys.modules), file=sys.stderr)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    heavy = probe.stderr.strip()
    print(f"  heavy modules loaded by --help: {heavy}")
    return heavy


def cold_figures(
    big_env: dict[str, str], demo_env: dict[str, str], floor: float, runs: int
) -> None:
    """Issue 12: cold read commands and a cold write against the import floor (`import typer,
    rich.table, sqlmodel` in a fresh interpreter) and against the demo ledger."""
    for name, big_args, demo_args in (
        ("status", ["status", "--loan", "L-000002"], ["status", "--loan", "L-2025-UoC"]),
        ("loans show", ["loans", "show", "L-000002"], ["loans", "show", "L-2025-UoC"]),
        (
            "custody history",
            ["custody", "history", "--loan", "L-000002"],
            ["custody", "history", "--loan", "L-2025-UoC"],
        ),
    ):
        on_big = cold([str(BIN), *big_args], runs, big_env)
        on_demo = cold([str(BIN), *demo_args], runs, demo_env)
        figure(f"{name} cold, big ledger", on_big, floor, "≤ 1.25", "s")
        figure(f"{name} big / demo ledger", on_big, on_demo, "≤ 1.1", "s")
    consume = ["--technique", "bench", "--mass", "1 ug", "--destructive"]
    w_big = cold(
        [str(BIN), "loans", "consume", "L-000002", "--sample", "SYN0000002", *consume],
        runs,
        big_env,
    )
    w_demo = cold(
        [str(BIN), "loans", "consume", "L-2025-UoC", "--sample", "CE5C0000YJYX052", *consume],
        runs,
        demo_env,
    )
    figure("loans consume cold, big ledger", w_big, floor, "≤ 1.35", "s")
    figure("loans consume big / demo ledger", w_big, w_demo, "≤ 1.1", "s")


def verify_figures(work: Path, big: Path, ingest: dict[str, float], base_events: int) -> None:
    """Issues 13 and 15: full verify and its chain stage against the raw chain recompute, then
    the per-event scaling of import and verify."""
    # CPU: this process's threads and the processes verify starts beside (chain, half replay)
    checked = in_child(
        "import resource\n"
        "from sampleloans import db\nfrom sampleloans.services.verify import verify\n"
        "def children():\n"
        "    used = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "    return used.ru_utime + used.ru_stime\n"
        f"engine = db.open_engine(db.url_for_path({str(big)!r}))\n"
        "start, cpu, beside = time.perf_counter(), time.process_time(), children()\n"
        "found = verify(engine)\n"
        "result = {'seconds': time.perf_counter() - start, 'ok': found.ok, "
        "'cpu': time.process_time() - cpu + children() - beside, 'events': found.events, "
        "'beside_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}\n"
    )
    start_cpu = time.process_time()
    raw_chain_s = raw_chain(big)
    raw_chain_cpu = time.process_time() - start_cpu
    figure("verify", checked["seconds"], raw_chain_s, "≤ 5 (#15), ≤ 10 (#13)", "s")
    note(
        f"verify: ok={checked['ok']} over {checked['events']:.0f} events; peak RSS "
        f"{checked['peak_mb']:.0f} MB (the largest process beside: "
        f"{checked['beside_mb']:.0f} MB); CPU {checked['cpu']:.1f} s (every thread and "
        f"process) against the raw chain's {raw_chain_cpu:.1f} s: "
        f"{checked['cpu'] / raw_chain_cpu:.1f}×"
    )
    stage = in_child(
        "from bench.scaling import chain_stage\n"
        f"result = {{'seconds': chain_stage(Path({str(big)!r}))}}\n"
    )
    figure("verify chain stage / raw chain", stage["seconds"], raw_chain_s, "≤ 1.2", "s")
    scaling_figures(work, ingest, checked, base_events)


def report_figures(big: Path, large_report_events: int) -> None:
    """Custody reports of 10k and 100k events against a bare platypus document."""
    timer = "from bench.__main__ import time_report\nresult = time_report"
    ten_k = in_child(f"{timer}({str(big)!r}, 0)\n")
    figure(
        f"custody report ({ten_k['events']:.0f} events)",
        ten_k["seconds"],
        ten_k["baseline"],
        "≤ 1.25",
        "s",
    )
    note(
        f"custody report of loan 0: {ten_k['pages']:.0f} pages, peak RSS {ten_k['peak_mb']:.0f} MB"
    )
    if large_report_events:
        large = in_child(f"{timer}({str(big)!r}, 1, baseline=False)\n")
        figure(
            f"custody report {large['events']:.0f} / {ten_k['events']:.0f} events",
            large["seconds"],
            ten_k["seconds"],
            "≤ 12",
            "s",
        )
        figure("custody report 100k peak RSS", large["peak_mb"], 500, "< 1 (500 MB)", "MB")
        note(f"custody report of loan 1: {large['pages']:.0f} pages")


def drain(rows: Iterable[object]) -> None:
    """Run through every row of a list or a stream, keeping none (in C: adds no Python work)."""
    deque(rows, maxlen=0)


def overdue_figures(engine: Any, big: Path) -> None:
    """Issue 13 point 6: `overdue` and the collection balance against hand-written SQL, the
    median of 7 interleaved calls each (our rows are all read, whether a list or a stream)."""
    from sampleloans.ledger.store import Context
    from sampleloans.services import standing

    # overdue at a moment every loan's inventory and return are late: the full list (20k loans
    # at full scale, two rows each), not the empty list of the ledger's own "now"
    late_now = NOW.replace(year=NOW.year + 5)
    late_text = late_now.isoformat().replace("+00:00", "Z")
    active = "status IN ('issued','in_transit','received','return_in_transit')"
    for name, call, sql, at in (
        (
            "overdue",
            lambda s: drain(standing.overdue(s, Context(CURATOR, "bench", late_now))),
            f"SELECT number, due_at FROM loan WHERE {active} "
            "AND (due_at < :now OR next_inventory_due_at < :now) ORDER BY due_at",
            late_text,
        ),
        (
            "overdue (baseline: the same columns)",
            lambda s: drain(standing.overdue(s, Context(CURATOR, "bench", late_now))),
            f"SELECT number, institution, pi_email, status, due_at, next_inventory_due_at "
            f"FROM loan WHERE {active} AND (due_at < :now OR next_inventory_due_at < :now)",
            late_text,
        ),
        (
            "balance (collection)",
            lambda s: standing.mass_balance(s, Context(CURATOR, "bench", NOW)),
            "SELECT sum(initial_mass_ug), sum(vault_ug), sum(on_loan_ug), sum(split_ug), "
            "sum(consumed_ug), sum(lost_ug), sum(transferred_ug) FROM sample "
            "WHERE parent_code IS NULL",
            NOW.isoformat().replace("+00:00", "Z"),
        ),
    ):
        ours_q, base_q = repeated(engine, big, call, sql, at, calls=7)
        figure(f"{name}, median of 7 calls", ours_q, base_q, "≤ 2", "s")


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        epilog="Single rows: python -m bench.pg_writers (PostgreSQL writes), python -m "
        "bench.pg_model P,U,S … (what 8 writers reach at a given cost per write), python -m "
        "bench.pg_rls --big LEDGER.db (status through row-level security), python -m "
        "bench.since_scale, python -m bench.report_scale, python -m bench.scaling.",
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--write", action="store_true", help="write bench/RESULTS.md")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--reuse", action="store_true", help="reuse --workdir's ledger and its ingest figures"
    )
    parser.add_argument(
        "--only",
        type=lambda text: set(text.split(",")),
        default=None,
        help=f"measure only these rows, comma-separated: {', '.join(PARTS)} (with --reuse: on "
        "the ledger already in --workdir)",
    )
    args = parser.parse_args()
    unknown = (args.only or set()) - set(PARTS)
    if unknown:
        parser.error(f"--only: {', '.join(sorted(unknown))}; give some of {', '.join(PARTS)}")
    if args.only is not None and args.write:
        parser.error("--write records a whole run; not with --only")

    def want(part: str) -> bool:
        """Whether this run measures the rows of `part`."""
        return args.only is None or part in args.only

    scale = SCALES[args.scale]
    work = args.workdir or Path(tempfile.mkdtemp(prefix="sampleloans-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    big = work / "big.db"
    print(f"scale {args.scale}: {scale}", flush=True)

    from sampleloans import db  # noqa: F401  (warm imports outside the timed sections)

    saved = work / "ingest.json"
    if args.reuse and saved.exists() and big.exists():
        ingest = json.loads(saved.read_text())
        note("--reuse: the ledger and the ingest figures are those of the run that built it")
    else:
        built = in_child(
            "from bench.generate import SCALES, build\n"
            f"result = build(Path({str(big)!r}), SCALES[{args.scale!r}], Path({str(work)!r}))\n",
        )
        ingest = {
            **built,
            "rate": built["events"] / built["seconds"],
            "baseline": raw_ingest(work / "raw.db", max(int(built["events"]), 10_000)),
        }
        saved.write_text(json.dumps(ingest))
    if want("ingest"):
        ingest_figures(ingest)
    py = sys.executable
    runs = scale.runs
    heavy = "not measured (--only)"
    if want("cold"):
        heavy = help_figures(work, runs)
    floor = cold([py, "-c", "import typer, rich.table, sqlmodel"], runs) if want("cold") else 0.0
    demo_dir = work / "demo"
    if want("cold") or want("as-of"):
        shutil.rmtree(demo_dir, ignore_errors=True)
        subprocess.run(
            [str(BIN), "demo", "--dir", str(demo_dir)], check=True, stdout=subprocess.DEVNULL
        )
    demo_env = {
        "SAMPLELOANS_DB": str(demo_dir / "ledger.db"),
        "SAMPLELOANS_USER": CURATOR,
        "SAMPLELOANS_NOW": "2026-04-28T09:00:00Z",
    }
    big_env = {
        "SAMPLELOANS_DB": str(big),
        "SAMPLELOANS_USER": CURATOR,
        "SAMPLELOANS_NOW": NOW.isoformat(),
    }
    if want("cold"):
        cold_figures(big_env, demo_env, floor, runs)
    if want("as-of"):
        as_of_rows(big, big_env, demo_dir / "ledger.db", demo_env, work, runs)

    from sampleloans import db as dbm

    engine = dbm.open_engine(dbm.url_for_path(big))
    if want("verify"):
        verify_figures(work, big, ingest, scale.base_events)
    if want("overdue"):
        overdue_figures(engine, big)
    if want("lists"):
        list_figures(big)
    if want("report"):
        report_figures(big, scale.large_report_events)
    engine.dispose()

    if args.scale == "tiny":  # the smoke test's scale: a PostgreSQL cluster alone takes longer
        note("PostgreSQL rows: skipped at --scale tiny (python -m bench.pg_writers, bench.pg_rls)")
    elif want("postgres"):
        postgres_rows(big, runs)
    print("EXPLAIN QUERY PLAN of the hot queries:")
    plans_ok = explain(big)
    if args.write:
        reused = f" --workdir {args.workdir} --reuse" if args.reuse else ""
        write_results(args.scale, heavy, plans_ok, reused)
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if plans_ok else 1


def postgres_rows(big: Path, runs: int) -> None:
    """Issue 14's rows on PostgreSQL, on a throwaway cluster the bench starts itself (as the
    tests do) or SAMPLELOANS_TEST_PG; skipped, with the reason printed, where neither exists."""
    from bench import pg_rls, pg_writers

    try:
        server, cluster = pg_writers.start_server()
    except SystemExit as skipped:
        note(f"PostgreSQL rows {skipped}")
        return
    try:
        found = pg_writers.measure(server, runs, appends=25)
        figure(
            "write command cold (`samples move`), PostgreSQL / SQLite",
            found.pg_write_s,
            found.sqlite_write_s,
            "≤ 1.5",
            "s",
        )
        figure(
            f"{found.workers} concurrent writers, PostgreSQL ledger / raw psycopg + same lock",
            found.ledger_rate.committed,
            found.raw_rate.committed,
            "≥ 0.3",
            "ev/s",
        )
        figure(
            f"{found.workers} concurrent writers moving a sample, PostgreSQL / raw psycopg",
            found.moving_rate.committed,
            found.raw_rate.committed,
            "— (a write that changes a sample)",
            "ev/s",
        )
        on_big, on_demo = pg_rls.run(server, big, runs)
        figure(
            "`status --loan` as a researcher through RLS, big / demo ledger (PostgreSQL)",
            on_big,
            on_demo,
            "≤ 1.1",
            "s",
        )
        note(
            "PostgreSQL rows: the big ledger is copied into PostgreSQL by bench/pg_rls.py's "
            "COPY loader (triggers off for the copy), then secured with `db secure`"
        )
    finally:
        if cluster is not None:
            cluster.stop()


def write_results(scale: str, heavy: str, plans_ok: bool, extra: str = "") -> None:
    """bench/RESULTS.md: machine, command (with `extra` options), figures."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    free = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout
    lines = [
        "# Benchmark results (issue #6)",
        "",
        f"Command: `python -m bench --scale {scale} --write{extra}`",
        "",
        f"Machine: {os.cpu_count()} CPUs (`nproc`), {cpu}; Python {platform.python_version()}",
        "",
        "```",
        free.strip(),
        "```",
        "",
        "| figure | ratio | goal | ours | baseline |",
        "|---|---|---|---|---|",
        *[f"| {n} | {r:.3g} | {g} | {o} | {b} |" for n, r, g, o, b in rows],
        "",
        f"Heavy modules loaded by `--help`: {heavy}; hot-query plans without a full scan of "
        f"ledger_event: {plans_ok}.",
        "",
        *[f"- {line}" for line in notes],
        "",
    ]
    path = Path(__file__).with_name("RESULTS.md")
    previous = path.read_text(encoding="utf-8") if path.exists() else ""
    marker = "<!-- measured -->"
    keep = previous.split(marker)[0] if marker in previous else previous
    path.write_text(keep + marker + "\n" + "\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
