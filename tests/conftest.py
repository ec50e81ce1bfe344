"""Shared fixtures: a temp ledger per test, a fixed clock, an isolated CLI environment."""

import atexit
import compileall
import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest
from sqlalchemy import Engine, event
from typer.testing import CliRunner

import sampleloans
from sampleloans import db
from sampleloans.ledger.store import Context
from sampleloans.services import setup
from tests.pgcluster import (  # noqa: F401  (issue 14: PostgreSQL fixtures)
    demo_url,
    pg_ledger_template,
    pg_server,
    pg_url,
)

NOW = datetime(2025, 4, 1, 9, 0, tzinfo=UTC)
CURATOR = "curator@naoc.example"
COMPLIANCE = "compliance@naoc.example"
OU_PI = "anand@open.example"
UOC_PI = "muenker@uni-koeln.example"
BROWN_PI = "pi@brown.example"

T = TypeVar("T")


def pytest_configure(config: pytest.Config) -> None:
    """Compile the package's bytecode once, before any test starts a CLI process."""
    # Hundreds of tests run `python -m sampleloans` in a process of its own. Where writing
    # bytecode is off (PYTHONDONTWRITEBYTECODE, set on some machines), each such process would
    # compile every module of the package from source again: ~0.3 s of CPU per process.
    if "PYTEST_XDIST_WORKER" not in os.environ:
        compileall.compile_dir(Path(sampleloans.__file__).parent, quiet=1)


class Run(Protocol):
    """The `run` fixture: call a service in its own transaction and return what it returns."""

    def __call__(
        self, fn: Callable[..., T], /, *, actor: str = ..., now: datetime = ..., **kw: object
    ) -> T: ...


def ctx_for(actor: str = CURATOR, now: datetime = NOW) -> Context:
    """A service context for one actor at a fixed time."""
    return Context(actor=actor, os_user="tester", now=now)


def demo_in_a_process(folder: Path) -> Path:
    """The demo ledger written by a real `python -m sampleloans demo --dir FOLDER`; its path."""
    made = subprocess.run(
        [sys.executable, "-m", "sampleloans", "demo", "--dir", str(folder)],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    return folder / "ledger.db"


_DEMO_BUILT: list[Path] = []
"""The demo ledger this test process built, once (see `demo_copy`)."""


def demo_copy(folder: Path) -> Path:
    """The demo ledger (`sampleloans demo --dir`, run through the CLI once per test process)
    copied into `folder`, made if new; the copy's path.

    For tests that start from the 2025 round rather than test the demo itself: the demo costs
    ~3 s of CPU and a copy ~1 ms, and every demo ends in the same state (only the random ledger
    id differs between two demos, and the copies share one)."""
    from sampleloans.cli import app

    if not _DEMO_BUILT:
        build = Path(tempfile.mkdtemp(prefix="sampleloans-demo-")) / "demo"
        atexit.register(shutil.rmtree, build.parent, ignore_errors=True)
        # built as a fresh shell would: no setting of the test that asks first comes along
        unset = {name: None for name in os.environ if name.startswith("SAMPLELOANS_")}
        made = CliRunner().invoke(app, ["demo", "--dir", str(build)], env=unset)
        assert made.exit_code == 0, made.stderr
        _DEMO_BUILT.append(build / "ledger.db")
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / "ledger.db"
    shutil.copy2(_DEMO_BUILT[0], copy)
    return copy


DEMO_NOW = "2026-04-28T10:00:00Z"
"""A moment after the demo's 2025 round (its loans out, one of them overdue)."""


def demo_env(factory: pytest.TempPathFactory, user: str, now: str = DEMO_NOW) -> dict[str, str]:
    """A new demo ledger made through the CLI, and the environment to read it as `user` at
    `now`, without colour (for a module-scoped fixture)."""

    folder = factory.mktemp("round") / "demo"
    demo_copy(folder)
    return {
        "SAMPLELOANS_DB": str(folder / "ledger.db"),
        "SAMPLELOANS_USER": user,
        "SAMPLELOANS_NOW": now,
        "NO_COLOR": "1",
    }


OU_RETURNED = "CE5C0300YJFM00307"
"""A 20.000 mg sample of the demo's L-2025-OU, which `demo_with_a_return_in_flight` releases."""


def demo_with_a_return_in_flight(factory: pytest.TempPathFactory, user: str) -> dict[str, str]:
    """`demo_env` with one OU sample (OU_RETURNED) released for return: on its way back, the
    rest of the loan still held (a partial return in flight)."""
    from sampleloans.cli import app

    env = demo_env(factory, user)
    args = ["--as", CURATOR, "loans", "return", "L-2025-OU", "--container", "box", "--seal", "S1"]
    released = CliRunner().invoke(app, [*args, "--sample", OU_RETURNED], env=env)
    assert released.exit_code == 0, released.stderr
    return env


def run_at_width(env: dict[str, str], *args: str, columns: int) -> Any:
    """Invoke the CLI in `env` at a terminal width; it must succeed."""
    from sampleloans.cli import app

    result = CliRunner().invoke(app, list(args), env={**env, "COLUMNS": str(columns)})
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return result


def fingerprint(path: Path) -> str:
    """A digest of every row of every table: equal means nothing was written."""
    digest = hashlib.sha256()
    # closed here, not when the collector gets to it: an open connection keeps the database's
    # -wal and -shm beside it, which tests of what a command left in a folder would see
    with closing(sqlite3.connect(path)) as connection:
        for line in connection.iterdump():
            digest.update(line.encode("utf-8"))
    return digest.hexdigest()


@pytest.fixture(autouse=True)
def _sigint_as_it_was() -> Iterator[None]:
    """Put SIGINT's handler back after each test. A CLI run in this process that reports a
    Ctrl-C sets SIGINT to be ignored on its way out (`interrupts.py`), and every process a
    later test of this worker starts inherits an ignored SIGINT, so its Ctrl-C tests read
    exit 0 for 130 (seen when the suite's files were scheduled in another order)."""
    before = signal.getsignal(signal.SIGINT)
    yield
    if before is not None and signal.getsignal(signal.SIGINT) is not before:
        signal.signal(signal.SIGINT, before)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where this test's ledger lives."""
    return tmp_path / "ledger.db"


@pytest.fixture(scope="session")
def seeded_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ledger file with the reference data, demo people and demo samples, built once per
    session (per xdist worker) for `engine` to copy: building it costs ~0.4 s of CPU, and
    thousands of tests start from it."""
    path = tmp_path_factory.mktemp("seeded") / "ledger.db"
    eng = db.open_engine(db.url_for_path(path), create=True)
    with db.transaction(eng) as session:
        setup.init_ledger(session, ctx_for(), curator_name="Li Na (test curator)")
        setup.add_people_rows(session, ctx_for(), setup.read_rows("demo/people.csv"))
        setup.register_sample_rows(session, ctx_for(), setup.read_rows("demo/samples.csv"))
    eng.dispose()  # the last connection closed: the WAL is folded back, one file to copy
    assert sorted(p.name for p in path.parent.iterdir()) == ["ledger.db"]
    return path


@pytest.fixture
def engine(db_path: Path, seeded_ledger: Path) -> Iterator[Engine]:
    """A fresh ledger file with the reference data, demo people and demo samples (a copy of
    `seeded_ledger`, opened as a user's existing ledger is)."""
    shutil.copy2(seeded_ledger, db_path)
    eng = db.open_engine(db.url_for_path(db_path))
    yield eng
    eng.dispose()


def run_on(engine: Engine) -> Run:
    """A `run` on any engine: each call is one committed transaction as `actor` at `now`."""

    def call(
        fn: Callable[..., T], /, *, actor: str = CURATOR, now: datetime = NOW, **kw: object
    ) -> T:
        with db.transaction(engine) as session:
            return fn(session, ctx_for(actor, now), **kw)

    return call


StartFrom = Callable[[Callable[[Run], object]], None]
"""The `start_from` fixture: start_from(setup)."""

_STATES: dict[Callable[[Run], object], Path] = {}
"""Each setup's ledger file, built once per test process (see `start_from`): keyed by the
function itself, so two closures of one factory (other captured values) are two setups."""


@pytest.fixture
def start_from(
    engine: Engine, db_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> StartFrom:
    """start_from(setup): this test's ledger (the `engine` fixture's file) becomes what
    `setup(run)` leaves.

    A setup that only calls services at fixed clocks ends in the same rows every time, so it
    runs once per test process and later tests get a copy of its file: many tests build the
    same small history, and building it again for each cost most of their time."""

    def start(setup: Callable[[Run], object]) -> None:
        if setup not in _STATES:
            setup(run_on(engine))
            engine.dispose()  # the last connection folds the write-ahead log into the file
            built = tmp_path_factory.mktemp("state") / "ledger.db"
            shutil.copy2(db_path, built)
            _STATES[setup] = built
        else:
            engine.dispose()  # the next connection opens the copy
            shutil.copy2(_STATES[setup], db_path)
        assert sorted(p.name for p in db_path.parent.glob(db_path.name + "*")) == [db_path.name]

    return start


@pytest.fixture
def run(engine: Engine) -> Run:
    """Call a service in its own committed transaction: run(fn, actor=…, now=…, **kwargs)."""
    return run_on(engine)


@pytest.fixture
def cli_env(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for CLI tests: this test's database, a fixed clock, no inherited actor."""
    env = {
        "SAMPLELOANS_DB": str(db_path),
        "SAMPLELOANS_NOW": "2025-04-01T09:00:00Z",
        "COLUMNS": "120",
        "NO_COLOR": "1",
    }
    monkeypatch.delenv("SAMPLELOANS_USER", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def runner() -> CliRunner:
    """Typer's CliRunner (stderr is kept apart from stdout)."""
    return CliRunner()


GOLDEN = Path(__file__).parent / "golden"
"""The golden ledger of release 0.1 and the reports printed from it (docs/migrations.md)."""
AFTER_THE_REPORTS = "2026-01-01T00:00:00Z"  # the golden reports say 2025-09-01


@pytest.fixture
def golden_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of release 0.1's golden ledger as this test's database, with a clock after the
    golden reports were printed."""
    ledger = tmp_path / "ledger.db"
    shutil.copy(GOLDEN / "ledger-0.1.db", ledger)
    monkeypatch.setenv("SAMPLELOANS_DB", str(ledger))
    monkeypatch.setenv("SAMPLELOANS_NOW", AFTER_THE_REPORTS)
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.delenv("SAMPLELOANS_USER", raising=False)
    return ledger


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """Every statement SQLAlchemy sends on any engine in this test, in order, white space
    folded (pipelined ones included; not those sent on the driver itself)."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger, made once per test file (a file may define its own `demo`)."""
    from tests.i15_statement_helpers import make_demo  # imports the CLI: only when asked for

    return make_demo(tmp_path_factory.mktemp("demo") / "d")


@pytest.fixture
def ledger(demo: Path, tmp_path: Path) -> Path:
    """A copy of the demo ledger this test may write to."""
    return Path(shutil.copy(demo, tmp_path / "ledger.db"))
