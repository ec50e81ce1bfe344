"""Where the import's cost per event grows with the ledger (issue 13 point 3), two probes.

Usage:
  python -m bench.import_growth cache LEDGER.db --events 40000 --kib 65536 524288 [--rounds 2]
  python -m bench.import_growth snapshot LEDGER.db --touched 200 1000 [--rounds 3]

`cache`: on a copy of LEDGER (a bench ledger: loans `L-000000`…, each on its sample
`SYN0000000`…), imports `--events` consumptions going round the loans (not loans 0 and 1, the
report loans), in one transaction that is rolled back, once per page cache size (`--kib`, set
as `db.IMPORT_CACHE_KIB` before the import asks for it), each in a fresh process, rounds
interleaved. The first half of the consumptions (one round of the loans, at `--events` twice
the loans) warms the page cache and the unit's rows (it is not counted); the CPU of the second
half (`time.process_time`, SQLite's work included) is printed per event, with the bytes the
process read and wrote through system calls meanwhile (`/proc/self/io`: the pages SQLite read
again and wrote out; a count the machine's load does not move).

`snapshot`: the batch's checks (`checks.check_touched`'s snapshot and `run_checks`) of N loans
and their N samples, read-only, CPU per touched loan: what a batch of 1,000 consumptions pays
at its end when they touch N different loans (200 in the 10,000-event bench shape, 1,000 at
100,000 events and above); the loans' samples found by a subquery on their items, and named by
their codes as the batch's unit gives them (`samples_on_loans`).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.generate import CURATOR


def consumptions(loans: int, events: int, after: datetime) -> list[str]:
    """History lines: `events` consumptions of 1 µg round loans 2 … loans-1, one second apart."""
    lines = []
    for j in range(events):
        k = 2 + j % (loans - 2)
        moment = (after + timedelta(seconds=j + 1)).astimezone(UTC)
        record = {
            "kind": "loan.consumed",
            "occurred_at": moment.isoformat().replace("+00:00", "Z"),
            "actor": CURATOR,
            "payload": {
                "number": f"L-{k:06d}",
                "sample": f"SYN{k:07d}",
                "technique": f"probe {j}",
                "mass_ug": 1,
                "destructive": True,
            },
            "reason": None,
            "corrects_seq": None,
        }
        lines.append(json.dumps(record, separators=(",", ":")) + "\n")
    return lines


def _io_bytes() -> dict[str, int]:
    """Bytes this process has read and written through system calls so far (Linux
    `/proc/self/io`: the pages SQLite read again and wrote out, whatever the machine's load)."""
    fields = {}
    for line in Path("/proc/self/io").read_text(encoding="ascii").splitlines():
        name, _, value = line.partition(":")
        fields[name] = int(value)
    return fields


class _RolledBack(Exception):
    """Raised inside the transaction so that it is rolled back."""


def cache_probe(path: Path, events: int, kib: int) -> dict[str, float]:
    """CPU µs per consumption of the second half of `events`, with a `kib` KiB page cache."""
    from sampleloans import db
    from sampleloans.ledger.store import Context
    from sampleloans.services.bulk import import_records

    db.IMPORT_CACHE_KIB = -kib
    engine = db.open_engine(db.url_for_path(path))
    with engine.connect() as connection:
        loans = int(connection.exec_driver_sql("SELECT count(*) FROM loan").scalar() or 0)
        last = str(connection.exec_driver_sql("SELECT max(occurred_at) FROM ledger_event").scalar())
    after = datetime.fromisoformat(last.replace("Z", "+00:00"))
    lines = consumptions(loans, events, after)
    ctx = Context(CURATOR, "bench", after + timedelta(days=3650))
    half = len(lines) // 2
    figures: dict[str, float] = {"loans": loans, "kib": kib}
    marks: list[float] = []

    io: list[dict[str, int]] = []

    def mark(records: int) -> None:
        # one import (one unit, which keeps its rows across batches, as the bench's import
        # does): the CPU at the end of the batch that reaches the half is the warm-up's end
        if records >= half and not marks:
            marks.append(time.process_time())
            io.append(_io_bytes())

    try:
        with db.transaction(engine) as session:
            start = time.process_time()
            import_records(session, ctx, lines, fmt="jsonl", source="probe", progress=mark)
            end = time.process_time()
            io_end = _io_bytes()
            for name in ("rchar", "wchar"):
                figures[f"{name}_kib"] = (io_end[name] - io[0][name]) / (len(lines) - half) / 1024
            figures["warm_us"] = (marks[0] - start) / half * 1e6
            figures["cpu_us"] = (end - marks[0]) / (len(lines) - half) * 1e6
            raise _RolledBack
    except _RolledBack:
        pass
    engine.dispose()
    return figures


def snapshot_probe(path: Path, touched: int, rounds: int) -> dict[str, float]:
    """CPU ms of the checks of `touched` loans and their samples (best of `rounds` × 5), the
    loans' samples found by a subquery ("query") and named by their codes as a batch's unit
    gives them ("named", `samples_on_loans`), the two interleaved."""
    from sampleloans import db
    from sampleloans.ledger import checks

    engine = db.open_engine(db.url_for_path(path))
    best = {"query": float("inf"), "named": float("inf")}
    with engine.connect() as connection:
        loans = [f"L-{k:06d}" for k in range(2, 2 + touched)]
        samples = [f"SYN{k:07d}" for k in range(2, 2 + touched)]
        codes: dict[str, set[str]] = {number: set() for number in loans}
        for number, code in connection.exec_driver_sql(
            "SELECT loan_number, sample_code FROM loan_item"
        ):
            if number in codes:
                codes[number].add(code)
        for _ in range(rounds):
            for way, named in (("query", None), ("named", codes)):
                start = time.process_time()
                for _ in range(5):
                    snapshot = checks.build_snapshot(
                        connection, samples=samples, loans=loans, agreements=(),
                        samples_on_loans=named,
                    )  # fmt: skip
                    assert not checks.run_checks(snapshot)
                best[way] = min(best[way], (time.process_time() - start) / 5 * 1e3)
    engine.dispose()
    return best


def _in_child(args: list[str]) -> dict[str, Any]:
    """Run this module with `args` in a fresh process; its JSON answer."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.import_growth", *args],
        check=True,
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def main(argv: list[str]) -> None:
    """Run the probe named on the command line and print its figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.import_growth")
    parser.add_argument("probe", choices=("cache", "snapshot", "cache-child"))
    parser.add_argument("ledger", type=Path)
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--kib", type=int, nargs="+", default=[65_536, 524_288])
    parser.add_argument("--touched", type=int, nargs="+", default=[200, 1_000])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    if args.probe == "cache-child":
        print(json.dumps(cache_probe(args.ledger, args.events, args.kib[0])), flush=True)
        return
    if args.probe == "snapshot":
        for touched in args.touched:
            found = snapshot_probe(args.ledger, touched, args.rounds)
            for way, ms in found.items():
                print(
                    f"{touched} loans touched, their samples {way}: checks {ms:.1f} CPU ms, "
                    f"{ms / touched * 1e3:.1f} µs a loan"
                )
        return
    with tempfile.TemporaryDirectory(prefix="sampleloans-import-growth-") as work:
        copy = Path(work) / "ledger.db"
        shutil.copyfile(args.ledger, copy)  # the original is never opened for writing
        for _ in range(args.rounds):
            for kib in args.kib:
                child = ["cache-child", str(copy), "--events", str(args.events), "--kib", str(kib)]
                found = _in_child(child)
                print(
                    f"cache {kib} KiB, {found['loans']:.0f} loans: {found['cpu_us']:.1f} CPU "
                    f"µs/event (warm-up half {found['warm_us']:.1f}); read "
                    f"{found['rchar_kib']:.1f} KiB/event, written {found['wchar_kib']:.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main(sys.argv[1:])
