"""Sweep s18 "kill": Ctrl-C at any moment of a real `python -m sampleloans` run, as a terminal
sends it (SIGINT to the whole process group), its start-up included.

Each interrupted run exits 130 (README "Exit codes") with exactly one `Error:` line and no
traceback, leaves the ledger as it was (or, after its commit, as the finished run left it),
no temp file and no output file, and the rerun works. Before, an interrupt while the modules
loaded printed a KeyboardInterrupt traceback and died by the signal, and one during the command
exited 130 without a word.
"""

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from sampleloans import fileio
from sampleloans.interrupts import INTERRUPTED_EXIT, INTERRUPTED_LINE
from tests.conftest import CURATOR, demo_in_a_process, fingerprint
from tests.terminal import sigint_as_in_a_terminal

NOW = "2026-06-15T10:00:00Z"
CATALOGUE_ROWS = 20_000
START_UP_OFFSETS_S = (0.0, 0.02, 0.04, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5)
"""Moments after the bare interpreter would have started, through the imports into the command:
each a moment a user may press Ctrl-C (a busy machine only moves them later into the command,
which is checked too)."""


@pytest.fixture(scope="module")
def interpreter_start_s() -> float:
    """How long this interpreter takes to start and load our first module: before that, no
    code of ours runs and Python's own start-up reports an interrupt."""
    began = time.monotonic()
    subprocess.run([sys.executable, "-c", "import sampleloans.interrupts"], check=True)
    return time.monotonic() - began


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger and a large catalogue to import."""
    folder = tmp_path_factory.mktemp("sources")
    demo_in_a_process(folder / "demo")
    shutil.copyfile(folder / "demo" / "ledger.db", folder / "ledger.db")
    header = (
        "code,mission,origin,depth_top_cm,depth_bottom_cm,material_type,physical_form,"
        "purpose_class,mass,mass_source,storage_location,condition,record,source"
    )
    rows = [
        f"SYN{i:07d},CE-5,scoop,,,regolith,powder,research,5 mg,illustrative,vault {i % 50},"
        "pristine,illustrative,bench"
        for i in range(CATALOGUE_ROWS)
    ]
    (folder / "big.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return folder


def workspace(sources: Path, folder: Path) -> Path:
    """A fresh folder with a copy of the demo ledger and the catalogue."""
    folder.mkdir()
    shutil.copyfile(sources / "ledger.db", folder / "ledger.db")
    shutil.copyfile(sources / "big.csv", folder / "big.csv")
    return folder


def environment(folder: Path) -> dict[str, str]:
    """The CLI's environment: this ledger, the curator, a fixed clock, TMPDIR in the folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAMPLELOANS_")}
    env.update(SAMPLELOANS_DB=str(folder / "ledger.db"), SAMPLELOANS_USER=CURATOR)
    env.update(SAMPLELOANS_NOW=NOW, COLUMNS="120", TMPDIR=str(folder))
    return env


def started(folder: Path, args: list[str]) -> "subprocess.Popen[str]":
    """The real CLI in `folder`, in a process group of its own, as a terminal's job is."""
    return subprocess.Popen(
        [sys.executable, "-m", "sampleloans", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(folder),
        cwd=folder,
        start_new_session=True,
        preexec_fn=sigint_as_in_a_terminal,
    )


def interrupted(folder: Path, args: list[str], after_s: float) -> subprocess.CompletedProcess[str]:
    """The real CLI in `folder`, sent Ctrl-C `after_s` seconds after it started, as a terminal
    does: to its whole process group (any helper process it started gets it too)."""
    process = started(folder, args)
    try:
        process.wait(timeout=after_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=300)
    if process.returncode == -signal.SIGINT and not stderr:
        # only an interpreter that has not yet installed its own SIGINT handler dies silently
        # of the signal (ours ends in exit 130, Python's prints a traceback): a loaded machine
        pytest.skip("the interrupt came before Python installed its Ctrl-C handler")
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


GUARDED_FRAMES = ("in main", "in run_reporting_interrupts", "in _watch_load_and_run")
"""Frames of the entry point's guard (`sampleloans/__main__.py`, `interrupts.py`)."""


def in_pythons_start_up(stderr: str) -> bool:
    """Whether a KeyboardInterrupt traceback lies wholly before the entry point's guard exists:
    in Python's own start-up (`runpy` finding the module) or the module-level imports of the
    guard itself, a few milliseconds no code can catch an interrupt in."""
    frames = re.findall(r'^  File "[^"]*", line \d+, (in .*)$', stderr, flags=re.M)
    return (
        bool(frames)
        and stderr.rstrip().endswith("KeyboardInterrupt")
        and not any(frame in GUARDED_FRAMES for frame in frames)
    )


def assert_one_interrupt_line(
    done: subprocess.CompletedProcess[str], in_place: str | None = None
) -> None:
    """Exit 130 and exactly the one documented line on stderr: once the output `in_place` was
    moved into place, the line says it was kept whole (no rerun asked for)."""
    assert done.returncode == INTERRUPTED_EXIT, (done.returncode, done.stderr[-3000:])
    line = INTERRUPTED_LINE
    if in_place is not None:
        line = (
            f"Error: interrupted (Ctrl-C) after its output was in place: {in_place} was written "
            "whole; nothing to run again"
        )
    assert done.stderr.splitlines() == [line], done.stderr[-3000:]


def visible_files(folder: Path) -> set[str]:
    """Every name in the folder but SQLite's own files beside the ledger (a run stopped with
    its ledger open leaves them; SQLite takes them up at the next open)."""
    return {p.name for p in folder.iterdir()} - {"ledger.db-wal", "ledger.db-shm"}


def integrity(ledger: Path) -> str:
    """SQLite's own check of the file."""
    with closing(sqlite3.connect(ledger)) as connection:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])


@pytest.mark.parametrize("offset_s", START_UP_OFFSETS_S)
def test_ctrl_c_while_starting_is_one_line_and_exit_130(
    sources: Path, tmp_path: Path, interpreter_start_s: float, offset_s: float
) -> None:
    folder = workspace(sources, tmp_path / "w")
    before = fingerprint(folder / "ledger.db")
    done = interrupted(folder, ["backup", "copy.db"], interpreter_start_s + offset_s)
    if "Fatal Python error: init_import_site" in done.stderr or in_pythons_start_up(done.stderr):
        pytest.skip("the interrupt came while Python itself was starting, before any code of ours")
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    if done.returncode == 0:  # the machine was fast enough to finish first
        assert (folder / "copy.db").exists()
        return
    left = visible_files(folder) - {"ledger.db", "big.csv"}
    assert_one_interrupt_line(done, "copy.db" if left == {"copy.db"} else None)
    assert fingerprint(folder / "ledger.db") == before
    assert left <= {"copy.db"}, f"a partial or temp file was left: {left}"
    if left:  # interrupted after the copy was in place: it must be the whole backup
        assert fingerprint(folder / "copy.db") == before and integrity(folder / "copy.db") == "ok"


def assert_whole_output(folder: Path, args: list[str], output: str) -> None:
    """An output left by an interrupted run is whole: an events file is byte for byte a new
    export's, a bag passes `verify-bag`."""
    if (folder / output).is_dir():
        check = [sys.executable, "-m", "sampleloans", "verify-bag", output]
    else:
        check = [sys.executable, "-m", "sampleloans", *args[:-1], "again.jsonl"]
    done = subprocess.run(
        check, capture_output=True, env=environment(folder), cwd=folder, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    if (folder / output).is_file():
        assert (folder / output).read_bytes() == (folder / "again.jsonl").read_bytes()


@pytest.mark.parametrize(
    ("args", "after_s", "output"),
    [
        (["import", "big.csv"], 1.5, None),
        (["verify"], 0.45, None),
        (["export", "--bag", "bag"], 0.5, "bag"),
        (["export", "--events", "events.jsonl"], 0.35, "events.jsonl"),
    ],
    ids=["import", "verify", "export-bag", "export-events"],
)
def test_ctrl_c_during_a_long_command_is_one_line_exit_130_and_nothing_half_done(
    sources: Path, tmp_path: Path, args: list[str], after_s: float, output: str | None
) -> None:
    folder = workspace(sources, tmp_path / "w")
    before = fingerprint(folder / "ledger.db")
    began = time.monotonic()
    done = interrupted(folder, args, after_s)
    if done.returncode == 0:
        pytest.skip(f"{args[0]} finished in {time.monotonic() - began:.2f} s, before Ctrl-C")
    left = visible_files(folder) - {"ledger.db", "big.csv"}
    assert_one_interrupt_line(done, output if output is not None and left == {output} else None)
    assert fingerprint(folder / "ledger.db") == before
    assert integrity(folder / "ledger.db") == "ok"
    assert fileio.temp_names(folder) == []
    if left and output is not None and left == {output}:
        # the Ctrl-C came after the output was moved into place (the atomic rename), while the
        # command was ending: it must then be the whole export, never a part of it
        assert_whole_output(folder, args, output)
        return
    assert left == set(), f"a partial or temp file was left: {left}"
    rerun = run_to_the_end(folder, args)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    if output is not None:
        assert (folder / output).exists()


def run_to_the_end(folder: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    """The real CLI in `folder`, uninterrupted (a rerun, or a check of what was left)."""
    return subprocess.run(
        [sys.executable, "-m", "sampleloans", *args],
        capture_output=True,
        text=True,
        env=environment(folder),
        cwd=folder,
        timeout=600,
    )


def test_a_second_ctrl_c_while_reporting_the_first_does_not_add_a_traceback(
    sources: Path, tmp_path: Path
) -> None:
    folder = workspace(sources, tmp_path / "w")
    process = started(folder, ["import", "big.csv"])
    time.sleep(1.5)
    for _ in range(5):  # a user pressing Ctrl-C again and again
        if process.poll() is not None:
            break
        os.killpg(process.pid, signal.SIGINT)
        time.sleep(0.01)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == INTERRUPTED_EXIT, stderr[-3000:]
    assert stderr.splitlines() == [INTERRUPTED_LINE], stderr[-3000:]
