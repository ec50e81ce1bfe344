"""Sweep "concurrent writers": six real CLI processes write into one SQLite ledger at once —
four kinds of write command in loops and an import — while `verify` runs beside them.

Every write either commits (exit 0) or is refused with exit 3 and one clear line (the lock
timeout); the import is all or nothing; no event is lost, duplicated or forked; every mass
balance still holds (`verify` replays and checks every invariant); and each `verify` run
during the writes answers OK on its own snapshot, its head never going back.
"""

import os
import re
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_concurrency import chain_problems, event_count
from tests.test_sweep_files_damaged import Cli, cli, demo_ledger, sampleloans
from tests.warm_cli import Done, WarmCli

# the module fixtures, shared with test_sweep_files_damaged (its warm server runs the commands
# before and after the races)
__all__ = ["cli", "demo_ledger", "sampleloans"]

SOAK = os.environ.get("SAMPLELOANS_SOAK") == "1"
ROUNDS = 25 if SOAK else 6
IMPORT_ROWS = 3_000
LOCKED = (
    "Error: the database is locked by another writer past the lock timeout; nothing was "
    "written, try again (or raise SAMPLELOANS_LOCK_TIMEOUT)"
)


def writer_commands(worker: int, round_: int) -> list[str]:
    """The write command worker `worker` runs in round `round_` (each adds one event)."""
    tag = f"{worker}{round_:02d}"
    if worker == 0:
        return [
            "institutions", "add", f"KTH{tag}", "--name", f"Lab {tag}", "--country", "SE",
            "--city", "Stockholm", "--kind", "borrower",
        ]  # fmt: skip
    if worker == 1:
        return [
            "samples", "register", f"CE5C0000ZZ{tag}", "--mission", "CE-5", "--mass", "1 mg",
            "--origin", "scoop", "--material", "glass bead", "--form", "rock fragment",
            "--purpose", "research", "--location", "NAOC N2 cabinet B",
        ]  # fmt: skip
    if worker == 2:
        return ["samples", "move", "CE5C0000YJBP005", "--location", f"cabinet {tag}"]
    return ["custody", "correct", "50", "--text", f"note {tag}"]


def catalogue(path: Path) -> Path:
    """A catalogue of IMPORT_ROWS new samples (1 µg each, so the mission's total holds)."""
    header = (
        "code,mission,origin,depth_top_cm,depth_bottom_cm,material_type,physical_form,"
        "purpose_class,mass,mass_source,storage_location,condition,record,source"
    )
    rows = [
        f"SYN{i:07d},CE-5,scoop,,,regolith,powder,research,1 ug,illustrative,vault {i % 9},"
        "pristine,illustrative,bench"
        for i in range(IMPORT_ROWS)
    ]
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


SERVERS = 6
"""Real CLI processes at once, at most (four writers, the import and verify)."""


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[WarmCli]]:
    """One warm server (tests/warm_cli.py) per process that runs at the same time: each runs
    its commands one after another in real processes of their own, forked after the imports,
    so the processes of several servers race as cold ones do, without ~1.3 s of imports each."""
    warm = [WarmCli(tmp_path_factory.mktemp(f"warm{n}")) for n in range(SERVERS)]
    yield warm
    for server in warm:
        server.close()


def start(server: WarmCli, db: Path, args: list[str], timeout_s: str) -> Done:
    """Run the real CLI as the curator with a short writers' lock timeout, to its end."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SAMPLELOANS_")}
    environment.update(
        SAMPLELOANS_DB=str(db),
        SAMPLELOANS_USER="curator@naoc.example",
        SAMPLELOANS_LOCK_TIMEOUT=timeout_s,
        COLUMNS="120",
    )
    return server.run(args, Path.cwd(), environment)


def at_once(
    servers: list[WarmCli], runs: list[tuple[Path, list[str]]], timeout_s: str
) -> list[Done]:
    """Start one run (a ledger, the arguments) per server at the same time; their ends, in
    the order of `runs`."""
    done: list[Done | None] = [None] * len(runs)

    def one(index: int) -> None:
        done[index] = start(servers[index], *runs[index], timeout_s)

    threads = [threading.Thread(target=one, args=(index,)) for index in range(len(runs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(result is not None for result in done), "a run did not report its end"
    return [result for result in done if result is not None]


@pytest.fixture
def ledger(demo_ledger: Path, tmp_path: Path) -> Iterator[Path]:
    """A copy of the demo ledger, with the clock after its last event (the real clock)."""
    path = tmp_path / "ledger.db"
    path.write_bytes(demo_ledger.read_bytes())
    yield path


def writer_loop(
    server: WarmCli, db: Path, worker: int, outcomes: list[tuple[int, int, str]]
) -> None:
    """Run worker `worker`'s rounds one after another, recording each exit code."""
    timeout_s = "0.05" if worker < 2 else "20"  # two impatient writers: some exit 3
    for round_ in range(ROUNDS):
        done = start(server, db, writer_commands(worker, round_), timeout_s)
        outcomes.append((worker, done.returncode, done.stderr))


def verify_loop(
    server: WarmCli, db: Path, stop: threading.Event, heads: list[tuple[int, str]]
) -> None:
    """Run `verify --print-head` again and again until told to stop."""
    while not stop.is_set():
        done = start(server, db, ["verify"], "30")
        heads.append((done.returncode, done.stdout + done.stderr))


def test_six_writers_and_verify_at_once_keep_every_event_once(
    sampleloans: Cli, servers: list[WarmCli], ledger: Path, tmp_path: Path
) -> None:
    before = event_count(ledger)
    outcomes: list[tuple[int, int, str]] = []
    heads: list[tuple[int, str]] = []
    imported: list[Done] = []
    stop = threading.Event()
    batch = ["import", str(catalogue(tmp_path / "batch.csv"))]
    importer = threading.Thread(
        target=lambda: imported.append(start(servers[5], ledger, batch, "20"))
    )
    threads = [
        threading.Thread(target=writer_loop, args=(servers[w], ledger, w, outcomes))
        for w in range(4)
    ]
    checker = threading.Thread(target=verify_loop, args=(servers[4], ledger, stop, heads))
    for thread in (importer, *threads, checker):
        thread.start()
    importer.join()
    for thread in threads:
        thread.join()
    stop.set()
    checker.join()
    imported_err, imported_code = imported[0].stderr, imported[0].returncode

    for worker, code, stderr in outcomes:
        assert "Traceback" not in stderr, stderr[-3000:]
        assert code in (0, 3), (worker, code, stderr)
        if code == 3:
            assert stderr == LOCKED + "\n", stderr
    assert "Traceback" not in imported_err, imported_err[-3000:]
    assert imported_code in (0, 3), imported_err
    committed = sum(1 for _, code, _ in outcomes if code == 0)
    rows = IMPORT_ROWS if imported_code == 0 else 0
    print(
        f"{len(outcomes)} writes: {committed} committed, {len(outcomes) - committed} exit 3; "
        f"import {'committed' if rows else 'refused'}; {len(heads)} verify runs"
    )
    assert committed > 0
    assert event_count(ledger) == before + committed + rows, "lost or duplicated events"
    with sqlite3.connect(ledger) as connection:
        synthetic = connection.execute("SELECT count(*) FROM sample WHERE code GLOB 'SYN*'")
        assert synthetic.fetchone()[0] == rows, "an import that is not all or nothing"
        kinds = Counter(row[0] for row in connection.execute("SELECT kind FROM ledger_event"))
    assert kinds["sample.registered"] >= rows
    assert chain_problems(ledger) == []
    final = sampleloans(ledger, "verify")
    assert final.returncode == 0, final.stdout + final.stderr

    assert heads, "verify never ran while the writers did"
    seen = []
    for code, text in heads:
        assert "Traceback" not in text, text[-3000:]
        assert code == 0, text
        found = re.search(r"verify: OK — (\d+) events", text)
        assert found is not None, text
        seen.append(int(found[1]))
    assert seen == sorted(seen), f"a later verify saw fewer events: {seen}"


def test_db_upgrades_at_once_upgrade_once_and_the_others_find_nothing_to_do(
    sampleloans: Cli, servers: list[WarmCli], tmp_path: Path
) -> None:
    from tests.conftest import GOLDEN

    for round_ in range(3):  # the race is won differently each time
        ledger = tmp_path / f"ledger-{round_}.db"
        ledger.write_bytes((GOLDEN / "ledger-0.1.db").read_bytes())  # before migrations
        outcomes = at_once(servers, [(ledger, ["db", "upgrade"])] * 4, "30")
        for done in outcomes:
            assert "Traceback" not in done.stderr, done.stderr[-3000:]
            assert done.returncode == 0, done.stderr
        said = [done.stdout.strip() for done in outcomes]
        assert sum("nothing to do" in text for text in said) == 3, said
        assert sampleloans(ledger, "verify").returncode == 0


def test_one_key_checkpointing_several_ledgers_at_once_remembers_each(
    sampleloans: Cli, servers: list[WarmCli], tmp_path: Path
) -> None:
    import json

    ledgers = [tmp_path / f"ledger-{i}.db" for i in range(4)]
    for ledger in ledgers:
        made = sampleloans(
            ledger, "init", "--curator-email", "curator@naoc.example", "--curator-name", "Li Na"
        )
        assert made.returncode == 0, made.stderr
    key = sampleloans(ledgers[0], "keys", "generate", "--out", str(tmp_path / "key"))
    assert key.returncode == 0, key.stderr
    signing = ["checkpoint", "--key", str(tmp_path / "key")]
    signed = at_once(servers, [(ledger, signing) for ledger in ledgers], "30")
    for done in signed:
        assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "key.signed").read_text(encoding="utf-8"))
    assert len(record) == len(ledgers), "the key forgot what it signed for some ledgers"
