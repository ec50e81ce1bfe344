"""How `verify --since` scales: 1,000 new events after a checkpoint of a 1M-event ledger.

Usage: python bench/since_scale.py [--events 1000000] [--new 1000] [--dir DIR] [--runs 3]

Builds once (kept in DIR, default /tmp/sampleloans-since-scale) the demo ledger extended with
synthetic `sample.moved` events (each a valid hash link, with its event_subject row) up to
--events, keeps a signed checkpoint of it through the service's own functions (without the full
verify `checkpoint` runs first: the synthetic events are not replayed into the projections,
which `--since` does not re-check), appends --new more events, then times the real command
`sampleloans verify --since CHECKPOINT --json` in a fresh process, --runs times, and the raw
recompute of the new events' hashes (hashlib over the stored rows) in the same run. Goal (issue
15): ≤ 2 s for 1,000 new events on a 1M-event ledger. Wall time and the child's CPU time
(user + system) are both printed, with the load average: on a shared machine the wall time
includes waiting for a core; the CPU time is what the command costs.
"""

import argparse
import hashlib
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CURATOR = "curator@naoc.example"
BATCH = 20_000


def build(directory: Path, total: int) -> tuple[Path, Path]:
    """The ledger (demo + synthetic events up to `total`) and a kept checkpoint of it."""
    from sampleloans import db
    from sampleloans.demo import run_demo

    path, note_path = directory / "ledger.db", directory / "checkpoint.txt"
    if path.exists() and note_path.exists():
        return path, note_path
    directory.mkdir(parents=True, exist_ok=True)
    engine = db.open_engine(db.url_for_path(path), create=True)
    for _step in run_demo(engine, "bench"):
        pass
    engine.dispose()
    append(path, total)
    note_path.write_text(keep_checkpoint(path), encoding="utf-8")
    return path, note_path


def append(path: Path, total: int) -> int:
    """Append synthetic `sample.moved` events until the ledger has `total`; the new head."""
    from sampleloans.ledger import chain

    with sqlite3.connect(path) as connection:
        seq, prev = connection.execute(
            "SELECT seq, hash FROM ledger_event ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        codes = [c for (c,) in connection.execute("SELECT code FROM sample ORDER BY code")]
        events, subjects = [], []
        while seq < total:
            seq += 1
            code = codes[seq % len(codes)]
            payload = chain.canonical({"code": code, "storage_location": f"shelf {seq}"})
            body = chain.event_body(
                seq=seq,
                kind="sample.moved",
                payload=payload,
                occurred_at="2026-06-15T10:00:00Z",
                recorded_at="2026-06-15T10:00:00Z",
                actor=CURATOR,
                os_user="bench",
                corrects_seq=None,
                reason="bench",
            )
            digest = chain.link_hash(prev, body)
            events.append((*body.values(), prev, digest))
            subjects.append((seq, "sample", code))
            prev = digest
            if len(events) == BATCH or seq == total:
                connection.executemany(
                    "INSERT INTO ledger_event (seq, kind, payload, occurred_at, recorded_at, "
                    "actor, os_user, corrects_seq, reason, prev_hash, hash) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    events,
                )
                connection.executemany(
                    "INSERT INTO event_subject (seq, subject_type, subject_key) VALUES (?, ?, ?)",
                    subjects,
                )
                connection.commit()
                events, subjects = [], []
    return seq


def keep_checkpoint(path: Path) -> str:
    """Sign and keep a checkpoint of the ledger as it is (the service's own steps)."""
    from datetime import UTC, datetime

    from sampleloans import db
    from sampleloans.ledger import chain
    from sampleloans.ledger import checkpoint as notes
    from sampleloans.ledger.envelope import Context
    from sampleloans.services import checkpoints

    engine = db.open_engine(db.url_for_path(path))
    snap = checkpoints._take_snapshot(engine)
    head = chain.format_head(snap.size, snap.head_hash)
    checkpoint = notes.Checkpoint(
        checkpoints.origin_of(snap.ledger_id),
        snap.size,
        snap.frontier.root(),
        (f"head {head}", f"state {snap.state}", "time 2026-06-15T10:00:00Z"),
    )
    signer = notes.generate_signer("bench.example")
    note = notes.sign_checkpoint(checkpoint, signer)
    ctx = Context(CURATOR, "bench", datetime(2026, 6, 15, 10, tzinfo=UTC))
    checkpoints._keep(engine, note, signer.verifier(), snap.frontier, ctx)
    engine.dispose()
    return note


def raw_recompute(path: Path, after: int) -> float:
    """Seconds to recompute the hashes of the events after seq `after` with hashlib alone."""
    start = time.perf_counter()
    with sqlite3.connect(path) as connection:
        rows = connection.execute(
            "SELECT seq, kind, payload, occurred_at, recorded_at, actor, os_user, corrects_seq, "
            "reason, prev_hash FROM ledger_event WHERE seq > ? ORDER BY seq",
            (after,),
        ).fetchall()
    names = ("seq", "kind", "payload", "occurred_at", "recorded_at", "actor", "os_user")
    for row in rows:
        body = dict(zip((*names, "corrects_seq", "reason"), row[:9], strict=True))
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        hashlib.sha256(row[9].encode() + text.encode()).hexdigest()
    return time.perf_counter() - start


def _children_cpu() -> float:
    """User + system CPU seconds of finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _floor_cpu(env: dict[str, str]) -> float:
    """CPU seconds of a child that only imports what a database command imports."""
    before = _children_cpu()
    code = "import sampleloans.cli, sqlalchemy, sqlmodel, sampleloans.models"
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    return _children_cpu() - before


def main() -> None:
    """Build (once), append the new events, time `verify --since`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--new", type=int, default=1000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/sampleloans-since-scale"))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    path, note_path = build(args.dir, args.events)
    print(f"ledger ready ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    with sqlite3.connect(path) as connection:
        last = connection.execute("SELECT max(seq) FROM ledger_event").fetchone()[0]
    size = int(note_path.read_text().split("\n")[1])
    if last < size + args.new:
        append(path, size + args.new)
    env = {**os.environ, "SAMPLELOANS_DB": str(path), "SAMPLELOANS_USER": CURATOR}
    times: list[float] = []
    cpu_times: list[float] = []
    report: dict[str, object] = {}
    for _ in range(args.runs):
        start = time.perf_counter()
        cpu_before = _children_cpu()
        done = subprocess.run(
            [sys.executable, "-m", "sampleloans", "verify", "--since", str(note_path), "--json"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        times.append(time.perf_counter() - start)
        cpu_times.append(_children_cpu() - cpu_before)
        report = json.loads(done.stdout) if done.stdout else {"error": done.stderr}
    raw = raw_recompute(path, size)
    print(
        json.dumps(
            {
                "checkpoint_size": size,
                "new_events": report.get("new_event_count"),
                "ok": report.get("ok"),
                "verify_since_s": round(statistics.median(times), 3),
                "runs_s": [round(t, 3) for t in times],
                "verify_since_cpu_s": round(statistics.median(cpu_times), 3),
                "import_floor_cpu_s": round(_floor_cpu(env), 3),
                "load_average": round(os.getloadavg()[0], 1),
                "raw_recompute_new_s": round(raw, 4),
                "goal_s": 2.0,
            }
        )
    )


if __name__ == "__main__":
    main()
