"""Issue 15 point 3: `verify`'s halves shared by cost, and the stored-row checks run while the
half beside finishes (`ledger/halves.py`, `services/verify_halves.py`, `services/verify.py`).

The process beside takes `BESIDE_SHARE` of the grouped events (not half of them): once its own
half is replayed, the verifying process runs the invariants, the recorders check and the kept
checkpoints (they read only the stored rows) before it waits for the half beside. These tests
hold: the share (a table of equal groups, and the constant itself); the order (the checks start
before the process beside is waited for); a finding in either half, and an invariant found
early, reported as a replay in one piece reports them; and a Ctrl-C or SIGTERM during those
early checks ends the process beside and exits as documented (130 through the CLI).
"""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from sampleloans import db, fileio
from sampleloans.ledger import halves as halves_module
from sampleloans.ledger import replay
from sampleloans.ledger.halves import BESIDE, MAIN, split_in_two
from sampleloans.services import verify as verify_module
from sampleloans.services import verify_halves
from sampleloans.services.verify import verify
from tests.conftest import COMPLIANCE
from tests.test_sweep_s18kill_interrupts import assert_one_interrupt_line
from tests.test_sweep_s31verify8_split import _index_engine
from tests.test_verify_tamper import (  # noqa: F401  (pytest fixtures used by name)
    engine,
    history,
    tamper,
    template,
)


def _equal_groups(groups: int) -> tuple[int, int]:
    """How many of `groups` one-event groups (one loan each) go to MAIN and to BESIDE."""
    entries: list[tuple[object, str, str]] = [
        (seq, "loan", f"L-{seq}") for seq in range(1, groups + 1)
    ]
    ledger = _index_engine(groups, ["sample.moved"], entries)
    try:
        with ledger.connect() as connection:
            halves = split_in_two(connection, groups, replay.REFERENCE_KINDS)
    finally:
        ledger.dispose()
    sides = list(halves.side[1:])
    return sides.count(MAIN), sides.count(BESIDE)


def test_the_half_beside_takes_its_share_not_half() -> None:
    main_only, beside_only = _equal_groups(1000)
    assert main_only + beside_only == 1000
    assert abs(beside_only - 1000 * halves_module.BESIDE_SHARE) <= 1
    assert beside_only > main_only  # it has no stored-row checks after its half


@pytest.mark.parametrize("share", [0.5, 0.25, 0.8])
def test_the_share_is_the_constants(monkeypatch: pytest.MonkeyPatch, share: float) -> None:
    monkeypatch.setattr(halves_module, "BESIDE_SHARE", share)
    _main_only, beside_only = _equal_groups(400)
    assert abs(beside_only - 400 * share) <= 1


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen[str]]:
    """The processes beside that verify starts, with every ledger large enough for halves."""
    processes: list[subprocess.Popen[str]] = []
    real_popen = verify_halves.subprocess.Popen

    def popen(*args: Any, **kwargs: Any) -> subprocess.Popen[str]:
        processes.append(real_popen(*args, **kwargs))
        return processes[-1]

    monkeypatch.setattr(verify_halves.subprocess, "Popen", popen)
    monkeypatch.setattr(verify_halves, "REPLAY_BESIDE_EVENTS", 1)
    return processes


def test_the_stored_row_checks_run_before_the_half_beside_is_waited_for(
    engine: Engine,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    started: list[subprocess.Popen[str]],
) -> None:
    order: list[str] = []
    waited: list[int | None] = []  # the returncode of the process beside as each check starts

    def spied(name: str) -> Any:
        real = getattr(verify_module, name)

        def spy(*args: Any) -> None:
            order.append(name)
            waited.append(started[0].returncode if started else -1)
            real(*args)

        return spy

    for name in ("_check_invariants", "_check_recorders", "_check_kept_checkpoints"):
        monkeypatch.setattr(verify_module, name, spied(name))
    real_add = verify_halves._add_rows

    def merge(*args: Any) -> None:
        order.append("merge")
        real_add(*args)

    monkeypatch.setattr(verify_halves, "_add_rows", merge)
    result = verify(engine)
    assert result.ok, result.problems
    assert order == ["_check_invariants", "_check_recorders", "_check_kept_checkpoints", "merge"]
    assert len(started) == 1 and waited == [None, None, None]  # not yet waited for


def _sample_of_each_half(path: Path) -> tuple[str, str]:
    """A sample whose events the verifying process replays, and one the process beside does."""
    ledger = db.open_engine(db.url_for_path(path))
    try:
        with ledger.connect() as connection:
            head = replay.last_taken(connection, replay.Cut())
            halves = split_in_two(connection, head, replay.REFERENCE_KINDS)
            rows = connection.exec_driver_sql(
                "SELECT subject_key, min(seq) FROM event_subject WHERE subject_type = 'sample' "
                "GROUP BY subject_key ORDER BY subject_key"
            ).all()
    finally:
        ledger.dispose()
    by_side: dict[int, str] = {}
    for code, seq in rows:
        by_side.setdefault(halves.side[seq], code)
    return by_side[MAIN], by_side[BESIDE]


@pytest.mark.parametrize(
    "change",
    [
        # a projection difference, and one that breaks an invariant too, in each half
        "UPDATE sample SET vault_ug = vault_ug - 1 WHERE code IN (?, ?)",
        "UPDATE sample SET on_loan_ug = on_loan_ug + 5 WHERE code IN (?, ?)",
    ],
)
def test_a_finding_in_either_half_is_reported_as_in_one_piece(
    engine: Engine,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    change: str,
) -> None:
    path = db.sqlite_path(engine.url.render_as_string())
    assert path is not None
    engine.dispose()
    here, beside = _sample_of_each_half(path)
    tamper(path, (change, (here, beside)))
    in_one_piece = verify(engine)
    monkeypatch.setattr(verify_halves, "REPLAY_BESIDE_EVENTS", 1)
    in_halves = verify(engine)
    assert in_halves.problems == in_one_piece.problems
    named = " ".join(problem.message for problem in in_halves.problems)
    assert here in named and beside in named
    if "on_loan_ug" in change:
        assert any(problem.area == "invariant" for problem in in_halves.problems)


def test_a_damaged_stored_row_check_early_is_named_as_its_stage(
    engine: Engine,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    started: list[subprocess.Popen[str]],
) -> None:
    """A check that cannot read the file while the half beside runs is its own stage's finding
    (not the replay's), and the proof goes on."""
    from sqlalchemy.exc import DatabaseError

    def unreadable(*_args: object) -> None:
        raise DatabaseError("SELECT", {}, Exception("database disk image is malformed"))

    monkeypatch.setattr(verify_module, "_check_recorders", unreadable)
    result = verify(engine)
    assert len(started) == 1
    assert [problem.area for problem in result.problems] == ["integrity"]
    assert "the recorders check could not run" in result.problems[0].message
    assert result.events > 0


@pytest.mark.parametrize("stop", [KeyboardInterrupt, lambda: fileio.Terminated(143)])
def test_a_stop_during_the_early_checks_ends_the_process_beside(
    engine: Engine,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    started: list[subprocess.Popen[str]],
    stop: Any,
) -> None:
    def stopped(*_args: object) -> None:
        assert started and started[0].returncode is None  # the half beside not waited for
        raise stop()

    monkeypatch.setattr(verify_module, "_check_invariants", stopped)
    with pytest.raises((KeyboardInterrupt, fileio.Terminated)):
        verify(engine)
    assert len(started) == 1 and started[0].poll() is not None  # ended, and waited for


CTRL_C_AT_THE_EARLY_CHECKS = """
import os, signal, sys
from pathlib import Path
from sampleloans.services import verify, verify_halves
verify_halves.REPLAY_BESIDE_EVENTS = 1
pid_file, ledger, reader = sys.argv[1:]
real_popen = verify_halves.subprocess.Popen
def popen(*args, **kwargs):
    process = real_popen(*args, **kwargs)
    Path(pid_file).write_text(str(process.pid))
    return process
verify_halves.subprocess.Popen = popen
real = verify._check_invariants
def ctrl_c(*args):
    os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, as the early checks start
    real(*args)
verify._check_invariants = ctrl_c
sys.argv = ["sampleloans", "--db", ledger, "--as", reader, "verify"]
from sampleloans.__main__ import main
main()
"""


def test_ctrl_c_during_the_early_checks_exits_130_through_the_cli(
    engine: Engine,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A real SIGINT to a real `sampleloans verify` as the early checks start: one line, exit
    130, the ledger unchanged, and the process beside gone."""
    path = db.sqlite_path(engine.url.render_as_string())
    assert path is not None
    engine.dispose()
    before = Path(path).read_bytes()
    pid_file = tmp_path / "beside.pid"
    done = subprocess.run(
        [sys.executable, "-c", CTRL_C_AT_THE_EARLY_CHECKS, str(pid_file), str(path), COMPLIANCE],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert_one_interrupt_line(done)
    assert Path(path).read_bytes() == before
    beside = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):  # ended and waited for (no zombie is left)
        os.kill(beside, 0)
