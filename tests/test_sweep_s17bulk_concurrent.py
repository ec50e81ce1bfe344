"""Sweep "a curator loads a large collection": two imports at once, and a writer beside them.

Two curators import overlapping catalogues at the same moment while a third moves a sample:
each import is all or nothing (the one that comes second finds the shared codes registered and
writes none of its rows), the move is recorded, and `verify` passes. Proved with real
processes on one SQLite file (the writers' lock is the file's).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CURATOR
from tests.test_sweep_s17bulk_import import HEADER, row

pytestmark = pytest.mark.usefixtures("engine")


def start(db: Path, *args: str) -> subprocess.Popen[str]:
    """The real CLI as the curator on `db`, waiting up to a minute for the writers' lock."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SAMPLELOANS_")}
    environment.update(
        SAMPLELOANS_DB=str(db),
        SAMPLELOANS_USER=CURATOR,
        SAMPLELOANS_NOW="2025-04-01T09:00:00Z",
        SAMPLELOANS_LOCK_TIMEOUT="60",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "sampleloans", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Wait for a process; its exit code, stdout and stderr."""
    out, err = process.communicate(timeout=600)
    return process.returncode, out, err


def catalogue(path: Path, numbers: range) -> Path:
    """A catalogue of new 1 mg samples, one per number."""
    path.write_text("\n".join([HEADER, *(row(n) for n in numbers)]) + "\n", encoding="utf-8")
    return path


def test_two_overlapping_imports_and_a_writer_at_once(db_path: Path, tmp_path: Path) -> None:
    first = catalogue(tmp_path / "first.csv", range(0, 3000))
    second = catalogue(tmp_path / "second.csv", range(2000, 5000))  # 1,000 codes shared
    imports = [start(db_path, "import", str(first)), start(db_path, "import", str(second))]
    move = finish(
        start(db_path, "samples", "move", "CE5C0000YJYX070", "--location", "B2", "--reason", "x")
    )
    results = [finish(process) for process in imports]
    assert move[0] == 0, move
    codes = sorted(code for code, _out, _err in results)
    assert codes == [0, 1], results  # one whole, the other refused whole (a rule: exit 1)
    for code, out, err in results:
        assert "Traceback" not in err
        if code == 1:
            assert err.splitlines()[-1].endswith(
                ": 1000 of 3000 records refused; nothing was imported (fix every line listed "
                "and run the import again)"
            ), err[-500:]
            assert "is already registered" in err
        else:
            assert out.startswith("Imported 3000 samples from "), out
    listed = subprocess.run(
        [sys.executable, "-m", "sampleloans", "--as", CURATOR, "samples", "list", "--jsonl"],
        capture_output=True,
        text=True,
        env={**os.environ, "SAMPLELOANS_DB": str(db_path)},
        check=True,
    ).stdout.splitlines()
    imported = [line for line in listed if '"code": "CE5C7' in line]
    assert len(imported) == 3000
    verified = finish(start(db_path, "verify"))
    assert verified[0] == 0 and verified[1].startswith("verify: OK"), verified
