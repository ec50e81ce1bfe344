"""A command starts with the cyclic collector paused and resumes it, the start's objects frozen,
once its ledger is open: the collector no longer walks the imported modules again and again
while they load (about a tenth of a cold read's CPU), and what the command then reads and
prints is collected as usual."""

import gc
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sampleloans.gcpause import end_startup, gc_paused, pause_for_startup
from tests.conftest import demo_in_a_process

CURATOR = "curator@naoc.example"

# the console script's own entry, with what the collector looked like when the command ended
_PROBE = """
import atexit, gc, json, sys
from sampleloans.cli import main
atexit.register(lambda: print(json.dumps([gc.isenabled(), gc.get_freeze_count() > 0]),
                              file=sys.stderr))
sys.argv = ["sampleloans", *sys.argv[1:]]
main()
"""


@pytest.fixture
def collector_restored() -> Iterator[None]:
    """Leave the test process's collector as it was found."""
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if enabled:
        gc.enable()


def _probe(folder: Path, *args: str) -> tuple[int, list[bool]]:
    import json

    env = {
        **os.environ,
        "SAMPLELOANS_DB": str(folder / "ledger.db"),
        "SAMPLELOANS_USER": CURATOR,
        "SAMPLELOANS_NOW": "2026-04-28T09:00:00Z",
    }
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], env=env, capture_output=True, text=True
    )
    return done.returncode, json.loads(done.stderr.strip().splitlines()[-1])


def test_the_start_pauses_and_the_open_ledger_resumes(collector_restored: None) -> None:
    """pause_for_startup turns automatic collection off; end_startup turns it on once, with the
    objects made so far frozen; a second end_startup changes nothing."""
    gc.unfreeze()
    pause_for_startup()
    assert not gc.isenabled()
    end_startup()
    assert gc.isenabled() and gc.get_freeze_count() > 0
    gc.disable()
    end_startup()
    assert not gc.isenabled()  # only the pause it made is undone


def test_a_paused_block_inside_a_paused_start_stays_paused(collector_restored: None) -> None:
    """A report's paused layout before the ledger opens leaves the start's pause in place."""
    pause_for_startup()
    with gc_paused():
        pass
    assert not gc.isenabled()
    end_startup()
    assert gc.isenabled()


def test_the_console_script_collects_again_once_the_ledger_is_open(tmp_path: Path) -> None:
    """Through the real entry point: a read, a write and a new ledger end with the collector
    on; a command that never opens a ledger (--help) ends paused, as it started, and exits 0
    (every command freezes what is left at exit: the freeze count alone says nothing there)."""
    folder = tmp_path / "demo"
    demo_in_a_process(folder)
    assert _probe(folder, "status", "--loan", "L-2025-UoC") == (0, [True, True])
    moved = ("samples", "move", "CE5C0400YJFM00505", "--location", "NAOC N2 cabinet C")
    code, collector = _probe(folder, *moved)
    assert (code, collector) == (0, [True, True])
    new = ("--db", str(tmp_path / "new.db"), "init", "--curator-email", "li@naoc.example",
           "--curator-name", "Li Na")  # fmt: skip
    assert _probe(folder, *new) == (0, [True, True])
    code, collector = _probe(folder, "--help")
    assert code == 0 and collector[0] is False
