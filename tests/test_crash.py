"""T2 crash safety: SIGKILL a real `python -m sampleloans` at every instrumented point of each
write command, and at random moments of a long command (docs/reliability.md).

After every kill: SQLite's integrity_check is ok, `verify` is clean, and the database equals
exactly the state before the command or the state after it, never something between.
"""

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sampleloans import crashpoints, db
from sampleloans.services import setup
from sampleloans.services.verify import verify
from tests.conftest import CURATOR, ctx_for, fingerprint, run_on
from tests.factories import approved_loan, draft_agreement, received_loan, signed_agreement

SOAK = os.environ.get("SAMPLELOANS_SOAK") == "1"
RANDOM_KILLS = 200 if SOAK else 10
SEED = int(os.environ.get("SAMPLELOANS_SEED", "20250424"))

DB_POINTS = ("after_event_insert", "after_apply", "before_commit", "after_commit")
COMMANDS = {
    "samples register": [
        "samples", "register", "CE5Z0200YJFM00999", "--mission", "CE-5", "--mass", "100 mg",
        "--origin", "drill", "--depth", "28-30", "--material", "regolith", "--form", "powder",
        "--purpose", "research", "--location", "NAOC N2 cabinet A",
    ],
    "agreements sign": ["agreements", "sign", "AG-UoC", "--signed-by", "LESEC and UoC"],
    "loans issue": ["loans", "issue", "L-1"],
    "loans consume": [
        "loans", "consume", "L-2", "--sample", "CE5C0300YJFM00307", "--technique", "SIMS",
        "--mass", "1 mg", "--destructive",
    ],
}  # fmt: skip


def cli(db_file: Path, args: list[str], crash_at: str | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI on `db_file` as the curator, optionally crashing at a point."""
    env = {
        **os.environ,
        "SAMPLELOANS_DB": str(db_file),
        "SAMPLELOANS_USER": CURATOR,
        "SAMPLELOANS_NOW": "2025-04-01T09:00:00Z",
        "COLUMNS": "120",
    }
    env.pop(crashpoints.ENV_VAR, None)
    if crash_at:
        env[crashpoints.ENV_VAR] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "sampleloans", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def problems(db_file: Path) -> list[str]:
    """integrity_check and verify problems of a database file (empty when all is well)."""
    with sqlite3.connect(db_file) as connection:
        integrity = [row[0] for row in connection.execute("PRAGMA integrity_check")]
    found = [] if integrity == ["ok"] else [f"integrity: {integrity}"]
    engine = db.make_engine(db.url_for_path(db_file))
    try:
        found += [f"{p.area}: {p.message}" for p in verify(engine).problems]
    finally:
        engine.dispose()
    return found


def copy_db(source: Path, target: Path) -> Path:
    """A copy of a closed (checkpointed) database file."""
    shutil.copyfile(source, target)
    return target


@pytest.fixture(scope="module")
def base_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A ledger where each command above can succeed: a draft agreement to sign, an approved
    loan to issue, a received loan to consume from."""
    path = tmp_path_factory.mktemp("crash") / "base.db"
    engine = db.open_engine(db.url_for_path(path), create=True)
    with db.transaction(engine) as session:
        setup.init_ledger(session, ctx_for(), curator_name="Li Na (test curator)")
        setup.add_people_rows(session, ctx_for(), setup.read_rows("demo/people.csv"))
        setup.register_sample_rows(session, ctx_for(), setup.read_rows("demo/samples.csv"))

    run = run_on(engine)

    signed_agreement(run, "OU")
    draft_agreement(run, "UoC")
    approved_loan(run, number="L-1")
    received_loan(run, number="L-2", samples=("CE5C0300YJFM00307",))
    engine.dispose()
    yield path


@pytest.fixture(scope="module")
def after_states(base_db: Path) -> dict[str, str]:
    """Fingerprint of the database after each command ran normally."""
    states = {}
    for name, args in COMMANDS.items():
        target = copy_db(base_db, base_db.with_name(f"after-{name.replace(' ', '-')}.db"))
        result = cli(target, args)
        assert result.returncode == 0, result.stderr
        states[name] = fingerprint(target)
    return states


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("point", DB_POINTS)
def test_kill_at_every_point_leaves_before_or_after_state(
    point: str, command: str, base_db: Path, after_states: dict[str, str], tmp_path: Path
) -> None:
    target = copy_db(base_db, tmp_path / "ledger.db")
    before = fingerprint(target)
    assert before != after_states[command]
    result = cli(target, COMMANDS[command], crash_at=point)
    assert result.returncode == -signal.SIGKILL, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert problems(target) == []
    state = fingerprint(target)
    expected = after_states[command] if point == "after_commit" else before
    assert state == expected, f"{command} killed at {point}: neither before nor after state"


def test_crash_hook_is_inert_without_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(crashpoints.ENV_VAR, raising=False)
    for point in crashpoints.POINTS:
        crashpoints.reached(point)  # still alive
    monkeypatch.setenv(crashpoints.ENV_VAR, "somewhere_else")
    crashpoints.reached("after_commit")


def committed_state_is_sound(folder: Path) -> str:
    """After a kill of `demo`: what was committed is intact and verifies (or nothing is)."""
    path = folder / "ledger.db"
    if not path.exists() or path.stat().st_size == 0:
        return "no ledger yet"
    with sqlite3.connect(path) as connection:
        tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
        initialised = (
            "ledger_meta" in tables
            and connection.execute("SELECT count(*) FROM ledger_meta").fetchone()[0]
        )
        integrity = [row[0] for row in connection.execute("PRAGMA integrity_check")]
    assert integrity == ["ok"], f"{path}: {integrity}"
    if not initialised:
        return "schema, no ledger yet"  # killed between creating the file and init's commit
    found = problems(path)
    assert found == [], f"{path}: {found}"
    return "verified"


def demo_started(folder: Path) -> bool:
    """Whether `demo --dir folder` has begun writing (its ledger is built in a hidden folder
    there and put in place once complete)."""
    return folder.is_dir() and any(folder.iterdir())


def kill_demo(folder: Path, delay: float) -> tuple[float, int, str]:
    """Start `demo --dir folder`, SIGKILL it `delay` seconds after it created its database,
    and check what is left."""
    env = {k: v for k, v in os.environ.items() if k != crashpoints.ENV_VAR}
    process = subprocess.Popen(
        [sys.executable, "-m", "sampleloans", "demo", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    deadline = time.monotonic() + 60
    while not demo_started(folder) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)  # start the clock once the demo is writing, not while Python starts
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate(timeout=60)
    assert b"Traceback" not in stderr, stderr.decode()
    return delay, process.returncode, committed_state_is_sound(folder)


def demo_writing_seconds(folder: Path) -> float:
    """How long a whole `demo` runs after it has created its database."""
    process = subprocess.Popen(
        [sys.executable, "-m", "sampleloans", "demo", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not demo_started(folder) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    started = time.monotonic()
    assert process.wait(timeout=120) == 0
    return time.monotonic() - started


@pytest.mark.skipif(SOAK, reason="fast tier only (the soak tier runs the long version)")
def test_random_kills_of_a_long_command(tmp_path: Path) -> None:
    random_kills(tmp_path, RANDOM_KILLS)


@pytest.mark.skipif(not SOAK, reason="soak tier: set SAMPLELOANS_SOAK=1")
def test_random_kills_soak(tmp_path: Path) -> None:
    random_kills(tmp_path, RANDOM_KILLS)


def random_kills(tmp_path: Path, count: int) -> None:
    """`count` kills of `demo` at seeded random delays, two at a time."""
    rng = random.Random(SEED)
    # the delays span the demo's own writing time on this machine, so kills land mid-run
    # however fast or slow the machine (a fixed span went stale when the demo got faster)
    span = demo_writing_seconds(tmp_path / "timed")
    print(
        f"random kills: seed {SEED} (set SAMPLELOANS_SEED to repeat), {count} kills, "
        f"demo writes for {span:.2f} s"
    )
    delays = [rng.uniform(0.0, 0.8 * span) for _ in range(count)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda i: kill_demo(tmp_path / f"d{i}", delays[i]), range(count)))
    killed = sum(1 for _, code, _ in outcomes if code == -signal.SIGKILL)
    states = Counter(state for *_, state in outcomes)
    print(f"random kills: {killed} killed mid-run; states left: {dict(states)}")
    assert killed >= count // 2, "most kills should land while the demo is still running"
