"""How the custody report scales: 10,000 vs 100,000 events, each size in a fresh process.

Usage: python bench/report_scale.py [--sizes 10000,100000] [--dir DIR] [--no-baseline]

For each size, builds once (and keeps in DIR, default /tmp/sampleloans-report-scale) a ledger
with one loan L-BIG of that many events (bench/report_10k.py's builder: 10,000 take a minute
or two, 100,000 half an hour), then runs a child process that times what `python -m bench`
times as "ours" (`build_report` + `render`, the first report of the process, so imports and
the font load count), reads its peak RSS, and times the bare platypus baseline of the same
number of rows (`bench.__main__.platypus_baseline`) after it. Prints one line per size, then
the ratio of the largest size's time to the smallest's (issue #6 goal: ≤ 12 for 100k vs 10k,
peak < 500 MB).
"""

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `bench` and `sampleloans` importable
    sys.path.insert(0, str(ROOT))


def child(path: Path, baseline: bool) -> None:
    """Time one report of the ledger at `path` and print the figures as JSON."""
    from bench.report_10k import CURATOR, NOW
    from sampleloans import db
    from sampleloans.ledger.store import Context
    from sampleloans.readmodels.report import CustodyBody
    from sampleloans.services.reporting import build_report, make_request

    engine = db.open_engine(db.url_for_path(path))
    later = NOW + timedelta(days=1)
    ctx = Context(CURATOR, "bench", later)
    start = time.perf_counter()
    cpu = time.process_time()
    with db.transaction(engine, write=False) as session:
        report = build_report(
            session, ctx, make_request("custody", loan="L-BIG"), generated_at=later
        )
    read = time.perf_counter() - start
    from sampleloans.reports import render

    data = render(report)
    total = time.perf_counter() - start
    cpu = time.process_time() - cpu
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert isinstance(report.body, CustodyBody)  # a custody report
    events = len(report.body.events)
    figures = {
        "events": events,
        "read_s": read,
        "total_s": total,
        "cpu_s": cpu,
        "peak_mb": peak_mb,
        "pdf_mb": len(data) / 1e6,
        "pages": data.count(b"/Type /Page") - data.count(b"/Type /Pages"),
    }
    if baseline:
        from bench.__main__ import platypus_baseline

        figures["baseline_s"] = platypus_baseline(events)
    print(json.dumps(figures))


def main() -> None:
    """Build the ledgers that are missing, then measure each size in its own process."""
    parser = argparse.ArgumentParser(prog="python bench/report_scale.py")
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/sampleloans-report-scale"))
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, not args.no_baseline)
        return
    from bench.report_10k import build_ledger

    args.dir.mkdir(parents=True, exist_ok=True)
    results = []
    for size in [int(s) for s in args.sizes.split(",")]:
        path = args.dir / f"ledger-{size}.db"
        if not path.exists():
            print(f"building a ledger of {size} events in {path} ...", flush=True)
            start = time.perf_counter()
            build_ledger(path, size)
            print(f"  built in {time.perf_counter() - start:.0f} s", flush=True)
        command = [sys.executable, __file__, "--child", str(path)]
        if args.no_baseline:
            command.append("--no-baseline")
        out = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(figures)
        line = (
            f"{figures['events']} events: {figures['total_s']:.2f} s (read model "
            f"{figures['read_s']:.2f} s, cpu {figures['cpu_s']:.2f} s), peak RSS "
            f"{figures['peak_mb']:.0f} MB, {figures['pages']} pages, {figures['pdf_mb']:.1f} MB"
        )
        if "baseline_s" in figures:
            ratio = figures["total_s"] / figures["baseline_s"]
            line += f" | platypus baseline {figures['baseline_s']:.2f} s, ratio {ratio:.2f}"
        print(line, flush=True)
    if len(results) > 1:
        small, large = results[0], results[-1]
        print(
            f"{large['events']} vs {small['events']} events: time ×"
            f"{large['total_s'] / small['total_s']:.1f}, peak RSS {large['peak_mb']:.0f} MB"
        )


if __name__ == "__main__":
    main()
